//! `audit verify` replays each contact's ledger against its stored record (issue 12,
//! point 6): state edited directly in the database, without an event, is named; and the
//! digest of all chain heads changes when a chain is rewritten consistently.

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Actor, Authority, ContactPatch};
use herald::contacts::{audit, edit, suppression};
use herald::domain::{EmailAddress, ListName, OptInStatus, Purpose};

const CSV: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
                   ann@example.com,Ann,double_opt_in,consent,2025-01-01,newsletter;product_updates,newsletter:confirmed\n\
                   ben@example.com,Ben,double_opt_in,consent,2025-01-01,newsletter;product_updates,newsletter:confirmed\n\
                   cat@example.com,Cat,single_opt_in_user,consent,2025-01-01,newsletter,newsletter\n";

/// Ann unsubscribed from the newsletter, Ben withdrew product updates, Cat asked staff
/// to opt her out and was suppressed: each through Herald, so each with its event.
async fn history(t: &TestDb) -> [herald::domain::ContactId; 3] {
    let path = t.write("contacts.csv", CSV);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    let staff = Authority::new(Actor::Cli("tester".into()));
    let set = |who: &str, patch: ContactPatch| {
        let staff = staff.clone();
        let who = EmailAddress::parse(who).unwrap();
        async move { edit::set(&t.app, &who, &patch, &staff).await.unwrap().0.id.unwrap() }
    };
    let newsletter = ListName::parse("newsletter").unwrap();
    let ann = set("ann@example.com", ContactPatch { unsubscribe: vec![newsletter], ..Default::default() }).await;
    let updates = Purpose::parse("product_updates").unwrap();
    let ben = set("ben@example.com", ContactPatch { withdraw: vec![updates], ..Default::default() }).await;
    let cat =
        set("cat@example.com", ContactPatch { opt_in: Some(OptInStatus::OptedOutUser), ..Default::default() }).await;
    let cat_email = EmailAddress::parse("cat@example.com").unwrap();
    suppression::add(&t.app, &cat_email, "asked by phone", &Actor::Cli("tester".into())).await.unwrap();
    [ann, ben, cat]
}

/// Each diverged contact with its fields as `field: ledger -> stored`.
async fn diverged(t: &TestDb) -> Vec<(herald::domain::ContactId, Vec<String>)> {
    let report = audit::verify(&t.app, &|_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "the chains themselves are intact: {:?}", report.broken);
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    report
        .diverged
        .into_iter()
        .map(|d| {
            (
                d.contact_id,
                d.fields.iter().map(|m| format!("{}: {} -> {}", m.field, show(&m.ledger), show(&m.stored))).collect(),
            )
        })
        .collect()
}

on_both_backends! {
    async fn a_database_changed_only_through_herald_replays_cleanly(t) {
        history(&t).await;
        let report = audit::verify(&t.app, &|_| {}).await.unwrap();
        assert!(report.intact(), "broken {:?}, diverged {:?}", report.broken, report.diverged);
        assert_eq!(report.contacts, 3);
        let out = t.herald(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    }

    async fn a_subscription_switched_back_to_confirmed_in_the_database_is_named(t) {
        let [ann, ..] = history(&t).await;
        t.app.store.execute_raw(&format!("UPDATE subscriptions SET status = 'confirmed' WHERE contact_id = {ann}")).await.unwrap();
        assert_eq!(diverged(&t).await, vec![(ann, vec!["list.newsletter: unsubscribed -> confirmed".to_owned()])]);
        let out = t.herald(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(text.contains("ann@example.com") && text.contains("list.newsletter: ledger says unsubscribed, stored confirmed"), "{text}");
        let report = json(&t.herald(&["audit", "verify", "--json"]));
        assert_eq!(report["diverged"][0]["contact_id"], ann.get(), "{report}");
        assert_eq!(report["diverged"][0]["fields"][0]["stored"], "confirmed", "{report}");
    }

    async fn an_opt_in_status_edited_in_the_database_is_named(t) {
        let [_, _, cat] = history(&t).await;
        t.app.store.execute_raw(&format!("UPDATE contacts SET opt_in_status = 'double_opt_in' WHERE id = {cat}")).await.unwrap();
        assert_eq!(diverged(&t).await, vec![(cat, vec!["opt_in_status: opted_out_user -> double_opt_in".to_owned()])]);
        assert_eq!(t.herald(&["audit", "verify"]).status.code(), Some(1));
    }

    async fn a_purpose_granted_again_in_the_database_is_named(t) {
        let [_, ben, _] = history(&t).await;
        t.app.store.execute_raw(&format!("UPDATE consents SET state = 'granted' WHERE contact_id = {ben} AND purpose = 'product_updates'")).await.unwrap();
        assert_eq!(diverged(&t).await, vec![(ben, vec!["purpose.product_updates: withdrawn -> granted".to_owned()])]);
        assert_eq!(t.herald(&["audit", "verify"]).status.code(), Some(1));
    }

    async fn a_subscription_added_in_the_database_is_named(t) {
        let [_, ben, _] = history(&t).await;
        t.app.store.execute_raw("INSERT INTO lists (name, created_at) VALUES ('partners', '2025-01-01T00:00:00Z') ON CONFLICT (name) DO NOTHING").await.unwrap();
        t.app.store.execute_raw(&format!("INSERT INTO subscriptions (contact_id, list, status, updated_at) VALUES ({ben}, 'partners', 'confirmed', '2025-01-01T00:00:00Z')")).await.unwrap();
        assert_eq!(diverged(&t).await, vec![(ben, vec!["list.partners: - -> confirmed".to_owned()])]);
    }

    async fn the_digest_changes_when_a_chain_is_rewritten_consistently(t) {
        use sha2::Digest;
        let [ann, ..] = history(&t).await;
        let before = audit::verify(&t.app, &|_| {}).await.unwrap();
        let printed = stdout(&t.herald(&["audit", "verify", "--digest"]));
        assert!(printed.contains(&format!("Digest of all chain heads: {}", before.digest)), "{printed}");
        assert_eq!(json(&t.herald(&["audit", "verify", "--json"]))["digest"], before.digest.as_str());

        // Drop Ann's unsubscribe event and re-seal what follows: every hash still links.
        let entries = t.app.store.ledger(ann).await.unwrap();
        assert_eq!(entries.len(), 2, "created, unsubscribed");
        t.app.store.execute_raw(&format!("DELETE FROM ledger WHERE contact_id = {ann} AND seq = 2")).await.unwrap();
        t.app.store.execute_raw(&format!("UPDATE contacts SET ledger_seq = 1, ledger_hash = '{}' WHERE id = {ann}", entries[0].hash)).await.unwrap();
        t.app.store.execute_raw(&format!("UPDATE subscriptions SET status = 'confirmed' WHERE contact_id = {ann}")).await.unwrap();
        let after = audit::verify(&t.app, &|_| {}).await.unwrap();
        assert!(after.intact(), "the rewrite is consistent: {:?} {:?}", after.broken, after.diverged);
        assert_ne!(after.digest, before.digest, "the anchored digest exposes the rewrite");

        // The digest is over the heads alone: recomputing it by hand gives the same value.
        let mut heads = Vec::new();
        let mut after_id = herald::domain::ContactId::default();
        loop {
            let chains = t.app.store.chains(after_id, 1000).await.unwrap();
            let Some(last) = chains.last() else { break };
            after_id = last.contact_id;
            heads.extend(chains.into_iter().map(|c| format!("{}:{}:{}\n", c.contact_id, c.head.seq, c.head.hash)));
        }
        let mut h = sha2::Sha256::new();
        h.update(heads.concat().as_bytes());
        assert_eq!(hex::encode(h.finalize()), after.digest);
    }
}
