//! `herald report compliance` (issue 14 point 8) on a small known dataset: the counts by
//! legal basis, opt-in status and source; consents without a date, without evidence or
//! older than `[retention] consent_max_age`; open and overdue requests; the suppression
//! list by reason; the last `audit verify` result. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{Value, json as j};

/// Dated relative to the real clock the command runs on: `old` is years back, `recent`
/// a few months back at most.
const CONTACTS: &str = "\
email,opt_in_status,legal_basis,legal_basis_note,consent_date,consent_purposes,source_type,lists
old@example.com,double_opt_in,consent,,2020-01-01,newsletter,import,newsletter:confirmed
recent@example.com,single_opt_in_user,consent,,2026-06-01,newsletter,crm_sync,newsletter
li@example.com,double_opt_in,legitimate_interest,,,,manual,newsletter:confirmed
contract@example.com,none,contract,,,,webform,
gone@example.com,double_opt_in,legitimate_interest,,,,import,newsletter:confirmed
";

fn report(t: &TestDb) -> Value {
    let out = t.herald(&["report", "compliance", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)
}

fn ok(t: &TestDb, args: &[&str]) {
    let out = t.herald(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}{}", stdout(&out), stderr(&out));
}

fn imported(t: &TestDb) {
    let csv = t.write("c.csv", CONTACTS);
    let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
    assert_eq!(json(&out)["created"], 5, "{}", stdout(&out));
}

async fn seeded(t: &TestDb) {
    imported(t);
    // Consent recorded by staff with no proof: the one consent with no evidence.
    ok(
        t,
        &[
            "contacts",
            "add",
            "noproof@example.com",
            "--legal-basis",
            "consent",
            "--consent-date",
            "2026-01-01",
            "--grant",
            "newsletter",
            "--opt-in",
            "single_opt_in_user",
            "--source",
            "manual",
        ],
    );
    ok(t, &["suppression", "add", "spam@example.com", "--reason", "complaint"]);
    ok(t, &["suppression", "add", "nope@example.com"]);
    ok(t, &["suppression", "add", "again@example.com"]);
    ok(t, &["privacy", "request", "add", "old@example.com", "--kind", "access"]);
    ok(t, &["privacy", "request", "add", "li@example.com", "--kind", "erasure"]);
    ok(t, &["privacy", "request", "add", "li@example.com", "--kind", "restriction"]);
    ok(t, &["privacy", "restrict", "li@example.com", "--reason", "asked"]);
    // One request past its due date; erased: one contact, as the erasure leaves it.
    t.app
        .store
        .execute_raw("UPDATE privacy_requests SET due_at = '2020-02-01T00:00:00+00:00' WHERE kind = 'erasure'")
        .await
        .unwrap();
    t.app
        .store
        .execute_raw("UPDATE contacts SET processing = 'erased' WHERE email_norm = 'gone@example.com'")
        .await
        .unwrap();
}

on_both_backends! {
    async fn the_compliance_report_counts_a_known_dataset(t) {
        seeded(&t).await;
        let r = report(&t);
        assert_eq!(r["contacts"], j!({"total": 6, "active": 4, "restricted": 1, "erasure_requested": 0, "erased": 1}), "{r}");
        assert_eq!(r["by_legal_basis"], j!({"consent": 3, "legitimate_interest": 1, "contract": 1, "legal_obligation": 0,
            "vital_interests": 0, "public_interest": 0, "other": 0, "none": 0}), "{r}");
        assert_eq!(r["by_opt_in_status"], j!({"none": 1, "single_opt_in_user": 2, "single_opt_in_webform": 0,
            "double_opt_in": 2, "opted_out_user": 0, "opted_out_contact": 0}), "{r}");
        assert_eq!(r["by_source_type"], j!({"crm_sync": 1, "import": 1, "manual": 2, "browser_extension": 0,
            "webform": 1, "api": 0, "other": 0}), "{r}");
        assert_eq!(r["consents"], j!({"total": 3, "without_date": 0, "without_evidence": 1, "older_than_max_age": 1,
            "max_age": "730d"}), "{r}");
        assert_eq!(r["requests"], j!({"open": 2, "overdue": 1, "by_kind": {
            "access": {"open": 1, "overdue": 0}, "erasure": {"open": 1, "overdue": 1},
            "restriction": {"open": 0, "overdue": 0}, "objection": {"open": 0, "overdue": 0}}}), "{r}");
        assert_eq!(r["suppression"], j!({"total": 3, "by_reason": {"complaint": 1, "manual": 2}}), "{r}");
        assert_eq!(r["last_audit_verify"], Value::Null, "{r}");

        let human = t.herald(&["report", "compliance"]);
        assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
        let text = stdout(&human);
        assert!(text.contains("never run") && text.contains("older than 730d"), "{text}");
        assert!(!text.contains("@example.com"), "counts only: {text}");
    }

    async fn a_consent_without_a_date_and_a_shorter_max_age_are_counted(t) {
        seeded(&t).await;
        t.app.store.execute_raw("UPDATE contacts SET consent_date = NULL WHERE email_norm = 'recent@example.com'").await.unwrap();
        let mut text = std::fs::read_to_string(t.config_path()).unwrap();
        text.push_str("[retention]\nconsent_max_age = \"1d\"\n");
        std::fs::write(t.config_path(), text).unwrap();
        let r = report(&t);
        assert_eq!(r["consents"]["without_date"], 1, "{r}");
        assert_eq!(r["consents"]["older_than_max_age"], 2, "old and noproof, not the one without a date: {r}");
        assert_eq!(r["consents"]["max_age"], "1d");
    }

    async fn the_report_shows_the_last_audit_verify_result(t) {
        imported(&t);
        let out = t.herald(&["audit", "verify", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let v = &report(&t)["last_audit_verify"];
        assert_eq!((v["ok"].as_bool(), v["contacts"].as_u64(), v["broken"].as_u64(), v["diverged"].as_u64()),
            (Some(true), Some(5), Some(0), Some(0)), "{v}");
        assert!(v["events"].as_u64().unwrap() >= 5, "{v}");
        let first_at: chrono::DateTime<chrono::Utc> = v["at"].as_str().unwrap().parse().unwrap();

        // The stored state edited behind the ledger's back: the next verify fails, and says so.
        t.app.store.execute_raw("UPDATE contacts SET opt_in_status = 'double_opt_in' WHERE email_norm = 'contract@example.com'").await.unwrap();
        let out = t.herald(&["audit", "verify", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let v = &report(&t)["last_audit_verify"];
        assert_eq!((v["ok"].as_bool(), v["diverged"].as_u64()), (Some(false), Some(1)), "{v}");
        assert!(v["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap() >= first_at);
        let text = stdout(&t.herald(&["report", "compliance"]));
        assert!(text.contains("FAILED"), "{text}");
    }
}
