//! Restriction, objection and the requests register (issue 14 points 4 and 7), through
//! the `herald privacy` commands, the library on a fixed clock, and the preference
//! centre's erasure button. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use crate::unsubscribe::{ADA, id_of, message_token, served};
use chrono::{DateTime, Duration, TimeZone, Utc};
use herald::clock::FixedClock;
use herald::consent::Actor;
use herald::domain::{ConsentState, EmailAddress, Processing, Purpose, RequestKind, RequestSource};
use herald::privacy::requests;
use herald::privacy::restriction::{self, Restriction};
use std::sync::Arc;

const CONTACTS: &str = "\
email,opt_in_status,legal_basis,consent_date,consent_purposes,lists
keep@example.com,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed
rest@example.com,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed
li@example.com,double_opt_in,legitimate_interest,,newsletter,newsletter:confirmed
";

const CAMPAIGN: &str =
    "name = \"n\"\nsubject = \"s\"\ntemplate = \"t\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

fn imported(t: &TestDb) {
    let csv = t.write("c.csv", CONTACTS);
    let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
    assert_eq!(json(&out)["created"], 3, "{}", stdout(&out));
}

fn plan(t: &TestDb) -> serde_json::Value {
    let file = t.write("n.toml", CAMPAIGN);
    let out = t.herald(&["campaign", "plan", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)
}

fn requests_json(t: &TestDb, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["privacy", "requests", "--json"];
    args.extend_from_slice(extra);
    let out = t.herald(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out).as_array().unwrap().clone()
}

fn at(raw: &serde_json::Value) -> DateTime<Utc> {
    raw.as_str().unwrap().parse().unwrap()
}

fn month_after(t: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    t.checked_add_months(chrono::Months::new(months)).unwrap()
}

on_both_backends! {
    async fn a_restricted_contact_gets_no_campaign_message_and_refuses_edits_until_unrestricted(t) {
        imported(&t);
        let before = plan(&t);
        assert_eq!(before["excluded"]["restricted"], 0, "{before}");
        let out = t.herald(&["privacy", "restrict", "rest@example.com", "--reason", "asked by letter", "--actor", "dpo"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(t.contact("rest@example.com").await.unwrap().processing, Processing::Restricted);
        let after = plan(&t);
        assert_eq!(after["excluded"]["restricted"], 1, "{after}");
        assert_eq!(after["eligible"].as_i64().unwrap(), before["eligible"].as_i64().unwrap() - 1, "{after}");

        let edit = t.herald(&["contacts", "set", "rest@example.com", "--company", "Acme"]);
        assert_ne!(edit.status.code(), Some(0), "a restricted record is locked: {}", stdout(&edit));
        assert_eq!(t.contact("rest@example.com").await.unwrap().identity.company, None);

        let events = t.app.store.ledger(t.contact("rest@example.com").await.unwrap().id.unwrap()).await.unwrap();
        let last: serde_json::Value = serde_json::from_str(&events.last().unwrap().body).unwrap();
        assert_eq!(last["changes"]["processing"], serde_json::json!(["active", "restricted"]), "{last}");
        assert_eq!(last["actor"], "cli:dpo", "{last}");

        let out = t.herald(&["privacy", "unrestrict", "rest@example.com", "--reason", "dispute settled"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let edit = t.herald(&["contacts", "set", "rest@example.com", "--company", "Acme"]);
        assert_eq!(edit.status.code(), Some(0), "{}", stderr(&edit));
        assert_eq!(plan(&t)["excluded"]["restricted"], 0);
    }

    async fn restrict_needs_a_reason(t) {
        imported(&t);
        let out = t.herald(&["privacy", "restrict", "rest@example.com", "--reason", "  "]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        assert_eq!(t.contact("rest@example.com").await.unwrap().processing, Processing::Active);
    }

    async fn an_objection_withdraws_the_purpose_whatever_the_legal_basis(t) {
        imported(&t);
        let newsletter = Purpose::parse("newsletter").unwrap();
        let before = plan(&t)["eligible"].as_i64().unwrap();
        for email in ["li@example.com", "keep@example.com"] {
            assert_eq!(t.contact(email).await.unwrap().purposes[&newsletter].state, ConsentState::Granted);
            let out = t.herald(&["privacy", "restrict", email, "--object", "newsletter", "--reason", "objected by mail"]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let c = t.contact(email).await.unwrap();
            assert_eq!(c.purposes[&newsletter].state, ConsentState::Withdrawn, "{email}");
            assert_eq!(c.processing, Processing::Active, "an objection restricts nothing else");
        }
        let after = plan(&t)["eligible"].as_i64().unwrap();
        assert!(after < before, "the consent contact who objected is planned out: {before} -> {after}");
    }

    async fn a_staff_request_is_due_one_month_out_and_extends_once_only(t) {
        imported(&t);
        let out = t.herald(&["privacy", "request", "add", "keep@example.com", "--kind", "access", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let row = json(&out);
        assert_eq!((row["kind"].as_str(), row["source"].as_str()), (Some("access"), Some("staff")));
        let created = at(&row["created_at"]);
        assert_eq!(at(&row["due_at"]), month_after(created, 1));
        let id = row["id"].to_string();

        let out = t.herald(&["privacy", "request", "extend", &id, "--reason", "many requests at once", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(at(&json(&out)["due_at"]), month_after(month_after(created, 1), 2));
        let again = t.herald(&["privacy", "request", "extend", &id, "--reason", "still busy"]);
        assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
        let rows = requests_json(&t, &[]);
        assert_eq!(rows.len(), 1);
        assert_eq!(at(&rows[0]["due_at"]), month_after(month_after(created, 1), 2), "the refused extension moved nothing");
        assert_eq!(rows[0]["extension_reason"], "many requests at once");

        let unknown = t.herald(&["privacy", "request", "add", "nobody@example.com", "--kind", "access"]);
        assert_ne!(unknown.status.code(), Some(0));
        let bad = t.herald(&["privacy", "request", "add", "keep@example.com", "--kind", "rectify"]);
        assert_eq!(bad.status.code(), Some(2));
    }

    async fn restriction_and_objection_close_the_open_request_of_their_kind(t) {
        imported(&t);
        for kind in ["restriction", "objection", "access"] {
            let out = t.herald(&["privacy", "request", "add", "rest@example.com", "--kind", kind]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
        let out = t.herald(&["privacy", "restrict", "rest@example.com", "--object", "newsletter", "--reason", "objected"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = t.herald(&["privacy", "restrict", "rest@example.com", "--reason", "asked", "--json"]);
        assert_eq!(json(&out)["closed_requests"], 1, "{}", stdout(&out));
        let rows = requests_json(&t, &[]);
        let state = |kind: &str| {
            let r = rows.iter().find(|r| r["kind"] == kind).unwrap();
            (r["closed_at"].is_null(), r["outcome"].as_str().map(str::to_owned))
        };
        assert_eq!(state("restriction"), (false, Some("restricted".into())));
        assert_eq!(state("objection"), (false, Some("purpose withdrawn".into())));
        assert_eq!(state("access"), (true, None), "another kind stays open");
    }

    async fn overdue_lists_open_requests_past_their_due_date_on_a_fixed_clock(t) {
        imported(&t);
        let start = Utc.with_ymd_and_hms(2027, 1, 10, 9, 0, 0).unwrap();
        let clock = Arc::new(FixedClock::new(start));
        let app = open_app(&t.config_path(), clock.clone()).await;
        let keep = EmailAddress::parse("keep@example.com").unwrap();
        let rest = EmailAddress::parse("rest@example.com").unwrap();
        let (late, _) = requests::register_for(&app, &keep, RequestKind::Access).await.unwrap();
        let (extended, _) = requests::register_for(&app, &keep, RequestKind::Erasure).await.unwrap();
        let _ = requests::register_for(&app, &rest, RequestKind::Restriction).await.unwrap();
        requests::extend(&app, extended, "complex").await.unwrap();
        restriction::apply(&app, &rest, &Restriction::Restrict, "asked", Actor::Cli("test".into())).await.unwrap();

        clock.advance(Duration::days(30));
        assert!(requests::list(&app, true).await.unwrap().is_empty(), "due on 10 February, not yet overdue");
        clock.advance(Duration::days(2));
        let overdue: Vec<i64> = requests::list(&app, true).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(overdue, vec![late], "extended and closed requests are not overdue");
        assert_eq!(requests::list(&app, false).await.unwrap().len(), 3);
        clock.advance(Duration::days(60));
        assert_eq!(requests::list(&app, true).await.unwrap().len(), 2, "the extension runs out on 10 April");
    }

    async fn the_preference_centres_erasure_button_registers_one_erasure_request(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let page = web.get(&format!("/p/{token}")).await;
        let (_, rest) = page.body.split_once(r#"name="csrf" value=""#).unwrap();
        let csrf = rest.split('"').next().unwrap().to_owned();
        let before = web.app.clock.now();
        let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "erase")]).await;
        assert_eq!(r.status, 200, "{r:?}");
        let _ = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "erase")]).await;
        let rows = requests::list(&web.app, false).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!((row.kind, row.source, row.contact_id), (RequestKind::Erasure, RequestSource::Web, id_of(&web, ADA).await));
        assert!(row.created_at >= before && row.closed_at.is_none());
        assert_eq!(row.due_at, month_after(row.created_at, 1));
    }
}
