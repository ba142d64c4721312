//! The contacts API (issue 15 point 5, DESIGN §13): `POST /api/contacts` upserts one
//! contact or a batch of up to 1 000 with import's validation, protection rules and
//! report (`source_type = api`, actor `api:KEYID` in the ledger, never the key), and
//! `GET /api/contacts/{email}` answers the compliance card of `contacts show --json`, or
//! a JSON 404. Both backends.

use crate::api_events::{KEY, api_with, call, post};
use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Authority, unsubscribe_from_everything};
use herald::contacts::change::{Selector, change_contact};
use herald::domain::{EmailAddress, OptInStatus, SourceType, SubscriptionStatus};
use serde_json::json;

fn report(r: &Reply) -> [u64; 7] {
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    ["rows", "created", "updated", "unchanged", "rejected", "suppressed", "protected"]
        .map(|k| j[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {j}")))
}

fn ada() -> EmailAddress {
    EmailAddress::parse("ada@example.com").unwrap()
}

on_both_backends! {
    async fn one_contact_is_created_then_updated_then_unchanged_as_source_api(t) {
        let web = api_with(t, "").await;
        let body = json!({"email": "Ada@Example.com", "first_name": "Ada", "opt_in_status": "double_opt_in",
            "legal_basis": "consent", "consent_date": "2025-01-01", "consent_purposes": ["newsletter"], "lists": ["newsletter:confirmed"],
            "plan": "pro", "tracking_consent": true});
        assert_eq!(report(&post(&web, "/api/contacts", &body).await), [1, 1, 0, 0, 0, 0, 0]);
        let c = web.db.contact("ada@example.com").await.unwrap();
        assert_eq!(c.source_type, SourceType::Api);
        assert_eq!(c.identity.first_name.as_deref(), Some("Ada"));
        assert_eq!(c.identity.attributes["plan"], "pro");
        assert_eq!(c.lists[&herald::domain::ListName::parse("newsletter").unwrap()], SubscriptionStatus::Confirmed);
        let ledger = web.app.store.ledger(c.id.unwrap()).await.unwrap();
        let actors: Vec<String> = ledger.iter().map(|e| e.body.clone()).collect();
        let keyed = actors.iter().all(|b| b.contains("\"api:") && !b.contains(KEY));
        assert!(keyed, "the ledger names the key's id, never the key: {actors:?}");
        assert_eq!(report(&post(&web, "/api/contacts", &json!({"email": "ada@example.com", "first_name": "Ada L."})).await),
            [1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(report(&post(&web, "/api/contacts", &json!({"email": "ada@example.com", "first_name": "Ada L."})).await),
            [1, 0, 0, 1, 0, 0, 0]);
    }

    async fn a_batch_counts_each_contact_once_and_says_which_were_rejected(t) {
        let web = api_with(t, "").await;
        let body = json!({"contacts": [
            {"email": "a@example.com", "opt_in_status": "single_opt_in_user"},
            {"email": "not an address"},
            {"email": "b@example.com", "opt_in_status": "maybe"},
            {"email": "c@example.com", "consent_date": "2099-01-01"},
            {"email": "d@example.com", "country": {"nested": true}},
            {"email": "e@example.com", "lists": "newsletter"},
        ]});
        let r = post(&web, "/api/contacts", &body).await;
        assert_eq!(report(&r), [6, 2, 0, 0, 4, 0, 0]);
        let rejects: Vec<u64> = r.json()["rejects"].as_array().unwrap().iter().map(|x| x["index"].as_u64().unwrap()).collect();
        assert_eq!(rejects, vec![1, 2, 3, 4]);
        assert!(r.json()["rejects"][1]["reason"].as_str().unwrap().contains("maybe"));
        assert!(web.db.contact("b@example.com").await.is_none());
        assert!(web.db.contact("e@example.com").await.is_some());
    }

    async fn more_than_a_thousand_contacts_are_refused_whole(t) {
        let web = api_with(t, "max_body_bytes = 4194304\n").await;
        let many: Vec<_> = (0..1001).map(|i| json!({"email": format!("p{i}@example.com")})).collect();
        let r = post(&web, "/api/contacts", &json!({"contacts": many})).await;
        assert_eq!(r.status, 413, "{r:?}");
        assert!(r.json()["error"].as_str().unwrap().contains("1000"), "{r:?}");
        assert_eq!(web.app.store.count_contacts().await.unwrap(), 0, "nothing of it was applied");
        let thousand: Vec<_> = (0..1000).map(|i| json!({"email": format!("p{i}@example.com")})).collect();
        assert_eq!(report(&post(&web, "/api/contacts", &json!({"contacts": thousand})).await)[1], 1000);
        for bad in [json!({"contacts": "x"}), json!({"contacts": [1]}), json!({"contacts": [], "email": "a@example.com"})] {
            let r = post(&web, "/api/contacts", &bad).await;
            assert_eq!(r.status, 422, "{bad}: {r:?}");
            assert!(r.json()["error"].as_str().unwrap().contains("contacts"), "{r:?}");
        }
    }

    async fn the_api_cannot_resubscribe_a_person_who_opted_out_as_import_cannot(t) {
        let web = api_with(t, "").await;
        let body = json!({"email": "ada@example.com", "opt_in_status": "double_opt_in", "legal_basis": "consent", "consent_date": "2025-01-01",
            "consent_purposes": ["newsletter"], "lists": ["newsletter:confirmed"]});
        assert_eq!(report(&post(&web, "/api/contacts", &body).await)[1], 1);
        change_contact(&web.app, &Selector::Email(ada()), &unsubscribe_from_everything(), &Authority::contact(false))
            .await
            .unwrap();
        let opted_out = web.db.contact("ada@example.com").await.unwrap();
        assert_eq!(opted_out.opt_in, OptInStatus::OptedOutContact);
        // The CRM still thinks she is subscribed and says so again.
        let r = post(&web, "/api/contacts", &body).await;
        assert_eq!(report(&r), [1, 0, 0, 0, 0, 0, 1], "counted as protected, as import counts it");
        let after = web.db.contact("ada@example.com").await.unwrap();
        assert_eq!(after.opt_in, OptInStatus::OptedOutContact, "the opt-out stays");
        assert_eq!(after.lists, opted_out.lists, "no list re-subscribed");
        assert_eq!(after.purposes, opted_out.purposes, "no purpose re-granted");

        // A suppressed address is not imported either.
        let bob = EmailAddress::parse("bob@example.com").unwrap();
        herald::contacts::suppression::add(&web.app, &bob, "complaint", &herald::consent::Actor::Cli("dpo".into())).await.unwrap();
        assert_eq!(report(&post(&web, "/api/contacts", &json!({"email": "bob@example.com"})).await), [1, 0, 0, 0, 0, 1, 0]);
        assert!(web.db.contact("bob@example.com").await.is_none());
        // Nor is a known contact whose address was suppressed since, as import refuses it.
        let carol = EmailAddress::parse("carol@example.com").unwrap();
        assert_eq!(report(&post(&web, "/api/contacts", &json!({"email": "carol@example.com"})).await)[1], 1);
        herald::contacts::suppression::add(&web.app, &carol, "complaint", &herald::consent::Actor::Cli("dpo".into())).await.unwrap();
        let r = post(&web, "/api/contacts", &json!({"email": "carol@example.com", "first_name": "Carol", "lists": "newsletter"})).await;
        assert_eq!(report(&r), [1, 0, 0, 0, 0, 1, 0]);
        let after = web.db.contact("carol@example.com").await.unwrap();
        assert!(after.identity.first_name.is_none() && after.lists.is_empty(), "{after:?}");
    }

    async fn the_card_is_the_cli_card_and_an_unknown_address_is_a_json_404(t) {
        let web = api_with(t, "").await;
        let body = json!({"email": "ada@example.com", "first_name": "Ada", "opt_in_status": "double_opt_in",
            "legal_basis": "consent", "consent_date": "2025-01-01", "consent_purposes": "newsletter", "lists": "newsletter:confirmed"});
        report(&post(&web, "/api/contacts", &body).await);
        let r = call(&web, "GET", "/api/contacts/Ada%40Example.com", Some(KEY), None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let cli = web.db.herald(&["contacts", "show", "ada@example.com", "--json"]);
        assert_eq!(r.json(), json(&cli), "the same card as the CLI's");
        assert_eq!(r.json()["source_type"], "api");
        let r = call(&web, "GET", "/api/contacts/nobody@example.com", Some(KEY), None).await;
        assert_eq!(r.status, 404, "{r:?}");
        assert!(r.json()["error"].is_string());
        assert_eq!(call(&web, "GET", "/api/contacts/nobody", Some(KEY), None).await.status, 422);
        assert_eq!(call(&web, "GET", "/api/contacts/ada@example.com", None, None).await.status, 401);
    }
}
