//! The ledger detects edited, removed and reordered events made directly in the
//! database (issue #2), on both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Actor, Authority, ContactPatch};
use herald::contacts::{audit, edit};
use herald::domain::{EmailAddress, OptInStatus};

/// Three contacts with three events each.
async fn history(t: &TestDb) -> Vec<herald::domain::ContactId> {
    let staff = Authority::new(Actor::Cli("tester".into()));
    let mut ids = Vec::new();
    for who in ["a@example.com", "b@example.com", "c@example.com"] {
        let e = EmailAddress::parse(who).unwrap();
        for s in [OptInStatus::SingleOptInUser, OptInStatus::DoubleOptIn, OptInStatus::OptedOutUser] {
            let patch = ContactPatch { opt_in: Some(s), ..Default::default() };
            let c = match s {
                OptInStatus::SingleOptInUser => edit::add(&t.app, &e, &patch, &staff).await.unwrap(),
                _ => edit::set(&t.app, &e, &patch, &staff).await.unwrap().0,
            };
            if s == OptInStatus::OptedOutUser {
                ids.push(c.id.unwrap());
            }
        }
    }
    ids
}

async fn broken(t: &TestDb) -> Vec<herald::domain::ContactId> {
    audit::verify(&t.app, &|_| {}).await.unwrap().broken.into_iter().map(|b| b.contact_id).collect()
}

on_both_backends! {
    async fn an_untouched_ledger_verifies(t) {
        history(&t).await;
        let report = audit::verify(&t.app, &|_| {}).await.unwrap();
        assert_eq!((report.contacts, report.events, report.broken.len()), (3, 9, 0));
    }

    async fn an_edited_event_is_caught(t) {
        let ids = history(&t).await;
        t.app.store.execute_raw(&format!("UPDATE ledger SET body = REPLACE(body, 'opted_out_user', 'double_opt_in') WHERE contact_id = {} AND seq = 3", ids[1])).await.unwrap();
        assert_eq!(broken(&t).await, vec![ids[1]]);
    }

    async fn an_event_rewritten_with_a_valid_hash_of_its_own_is_still_caught(t) {
        use sha2::Digest;
        let ids = history(&t).await;
        let entries = t.app.store.ledger(ids[0]).await.unwrap();
        let forged = entries[1].body.replace("double_opt_in", "single_opt_in_user");
        let mut h = sha2::Sha256::new();
        h.update(entries[0].hash.as_bytes());
        h.update(forged.as_bytes());
        let hash = hex::encode(h.finalize());
        let sql = format!("UPDATE ledger SET body = '{}', hash = '{hash}' WHERE contact_id = {} AND seq = 2", forged.replace('\'', "''"), ids[0]);
        t.app.store.execute_raw(&sql).await.unwrap();
        // The forged event verifies on its own, but the next one no longer links to it.
        assert_eq!(broken(&t).await, vec![ids[0]]);
    }

    async fn a_deleted_event_is_caught_in_the_middle_or_at_the_end(t) {
        let ids = history(&t).await;
        t.app.store.execute_raw(&format!("DELETE FROM ledger WHERE contact_id = {} AND seq = 2", ids[0])).await.unwrap();
        t.app.store.execute_raw(&format!("DELETE FROM ledger WHERE contact_id = {} AND seq = 3", ids[2])).await.unwrap();
        assert_eq!(broken(&t).await, vec![ids[0], ids[2]]);
    }

    async fn reordered_events_are_caught(t) {
        let ids = history(&t).await;
        let c = ids[1];
        t.app.store.execute_raw(&format!("UPDATE ledger SET seq = 100 WHERE contact_id = {c} AND seq = 1")).await.unwrap();
        t.app.store.execute_raw(&format!("UPDATE ledger SET seq = 1 WHERE contact_id = {c} AND seq = 2")).await.unwrap();
        t.app.store.execute_raw(&format!("UPDATE ledger SET seq = 2 WHERE contact_id = {c} AND seq = 100")).await.unwrap();
        assert_eq!(broken(&t).await, vec![c]);
    }

    async fn audit_verify_exits_1_and_names_the_broken_contact(t) {
        let ids = history(&t).await;
        let ok = t.herald(&["audit", "verify", "--json"]);
        assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
        t.app.store.execute_raw(&format!("DELETE FROM ledger WHERE contact_id = {} AND seq = 1", ids[2])).await.unwrap();
        let out = t.herald(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("c@example.com"), "{}", stdout(&out));
        let log = json(&t.herald(&["audit", "log", "a@example.com", "--json"]));
        assert_eq!(log["events"].as_array().unwrap().len(), 3);
        assert_eq!(log["events"][2]["changes"]["opt_in_status"][1], "opted_out_user");
    }
}
