//! `contacts list`, `contacts export` and `bulk-set --dry-run` (issue 19, point 12).

use crate::helpers::*;
use crate::on_both_backends;
use herald::contacts::import::{ImportOptions, import};
use herald::domain::{BounceStatus, LegalBasis, OptInStatus, SourceType};

/// Every column import reads, awkward values included: formula-like cells, a cell that
/// already starts with an apostrophe and a trigger, quotes and commas, non-ASCII text,
/// lists in each status, granted and withdrawn purposes, custom attributes that only
/// some rows have.
const RICH: &str = "\
email,first_name,last_name,company,title,phone,website,country,crm_id,opt_in_status,legal_basis,legal_basis_note,consent_date,consent_purposes,withdrawn_purposes,source_type,source_note,lists,tracking_consent,plan,=formula_key
Ann@Example.com,=HYPERLINK(\"http://x\"),Müller-Lüdenscheidt,\"Acme, Inc.\",CTO,+49 30 1234,https://ann.example,DE,crm-1,double_opt_in,consent,\"said \"\"yes\"\"\",2024-05-01T10:30:00Z,newsletter,,webform,\"form, page 2\",newsletter:confirmed;promo:unsubscribed,true,pro,=1+1
bob@example.org,-minus,@at,''=quoted,,'+44 20,,GB,,single_opt_in_user,legitimate_interest,,,,newsletter,crm_sync,,promo:unconfirmed,false,,
carol@example.net,Carol,,,,,,,,opted_out_user,,,,,,manual,,,,free,plain
'-dash@example.com,'hello,it's,,,,,,,none,other,a note,,,,other,why not,,,,
";

async fn import_file(t: &TestDb, name: &str, csv: &str) {
    let path = t.write(name, csv);
    let report = import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report;
    assert_eq!(report.rejected, 0, "{report:?}");
}

/// The card as `contacts show --json` prints it, without what a new database numbers or
/// dates afresh (ids, creation and change times, when a purpose changed).
fn card(t: &TestDb, email: &str) -> serde_json::Value {
    let mut card = json(&t.herald(&["contacts", "show", "--json", "--", email]));
    let obj = card.as_object_mut().unwrap();
    assert!(obj.contains_key("purposes"), "no card for {email}: {obj:?}");
    for volatile in ["id", "created_at", "updated_at"] {
        obj.remove(volatile);
    }
    for consent in obj["purposes"].as_object_mut().unwrap().values_mut() {
        consent.as_object_mut().unwrap().remove("at");
    }
    card
}

fn emails(listing: &serde_json::Value) -> Vec<String> {
    listing["contacts"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap().to_owned()).collect()
}

async fn same_backend(t: &TestDb) -> TestDb {
    let backend = if t.url.starts_with("sqlite") { Backend::Sqlite } else { Backend::Postgres };
    TestDb::new(backend).await.expect("a second database")
}

on_both_backends! {
    async fn export_then_import_into_a_fresh_database_gives_every_contact_the_same_card(t) {
        import_file(&t, "rich.csv", RICH).await;
        let out = t.dir.path().join("export.csv");
        let done = t.herald(&["contacts", "export", "--out", out.to_str().unwrap(), "--json"]);
        assert!(done.status.success(), "{}", stderr(&done));
        assert_eq!(json(&done)["contacts"], 4);

        let text = std::fs::read_to_string(&out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula-like cell exported as is: {cell:?}");
            }
        }

        let fresh = same_backend(&t).await;
        import_file(&fresh, "again.csv", &text).await;
        assert_eq!(fresh.app.store.count_contacts().await.unwrap(), 4);
        for email in ["ann@example.com", "bob@example.org", "carol@example.net", "-dash@example.com"] {
            assert_eq!(card(&fresh, email), card(&t, email), "{email}");
        }
        let ann = card(&t, "ann@example.com");
        assert_eq!(ann["first_name"], "=HYPERLINK(\"http://x\")");
        assert_eq!(ann["attributes"]["=formula_key"], "=1+1");
        assert_eq!(card(&t, "bob@example.org")["company"], "'=quoted");
        // A hand-made file's apostrophe before a trigger is the spreadsheet's, not the value's.
        assert_eq!(card(&t, "-dash@example.com")["first_name"], "'hello");
        assert_eq!(card(&t, "bob@example.org")["phone"], "+44 20");
    }

    async fn list_filters_by_list_opt_in_purpose_bounce_and_search(t) {
        import_file(&t, "rich.csv", RICH).await;
        t.app.store.execute_raw("UPDATE contacts SET bounce_status = 'hard' WHERE email_norm = 'carol@example.net'").await.unwrap();
        let list = |args: &[&str]| {
            let mut all = vec!["contacts", "list", "--json"];
            all.extend_from_slice(args);
            let out = t.herald(&all);
            assert!(out.status.success(), "{}", stderr(&out));
            emails(&json(&out))
        };
        assert_eq!(list(&[]).len(), 4);
        assert_eq!(list(&["--list", "promo"]), ["Ann@Example.com", "bob@example.org"]);
        assert_eq!(list(&["--opt-in", "opted_out_user"]), ["carol@example.net"]);
        assert_eq!(list(&["--purpose", "newsletter"]), ["Ann@Example.com"]);
        assert_eq!(list(&["--bounce", "hard"]), ["carol@example.net"]);
        assert_eq!(list(&["--search", "EXAMPLE.ORG"]), ["bob@example.org"]);
        assert_eq!(list(&["--search", "lüdenscheidt"]), ["Ann@Example.com"]);
        assert_eq!(list(&["--search", "%"]), Vec::<String>::new(), "a wildcard is searched for, not used");
        assert_eq!(list(&["--list", "promo", "--opt-in", "double_opt_in"]), ["Ann@Example.com"]);
        let limited = json(&t.herald(&["contacts", "list", "--json", "--limit", "2"]));
        assert_eq!(emails(&limited).len(), 2);
        assert_eq!(limited["more"], true);
    }

    async fn export_writes_only_the_filtered_contacts(t) {
        import_file(&t, "rich.csv", RICH).await;
        let out = t.dir.path().join("promo.csv");
        let done = t.herald(&["contacts", "export", "--list", "promo", "--out", out.to_str().unwrap()]);
        assert!(done.status.success(), "{}", stderr(&done));
        let mut reader = csv::Reader::from_path(&out).unwrap();
        let exported: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        assert_eq!(exported, ["Ann@Example.com", "bob@example.org"]);
        assert!(!t.dir.path().join("promo.csv.partial").exists());
    }

    async fn bulk_set_dry_run_reports_the_changes_and_writes_nothing(t) {
        import_file(&t, "rich.csv", RICH).await;
        let out = t.herald(&["contacts", "bulk-set", "--list", "promo", "--source", "api", "--dry-run", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["matched"], 2);
        assert_eq!(report["updated"], 2);
        for email in ["ann@example.com", "bob@example.org"] {
            assert_ne!(card(&t, email)["source_type"], "api", "{email} changed by a dry run");
        }
        let out = t.herald(&["contacts", "bulk-set", "--list", "promo", "--source", "api", "--json"]);
        assert_eq!(json(&out)["updated"], 2);
        assert_eq!(card(&t, "bob@example.org")["source_type"], "api");
    }
}

#[test]
fn contacts_help_names_the_allowed_values_and_no_unshipped_documents() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald")).args(args).arg("--help").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for command in ["list", "export"] {
        let text = help(&["contacts", command]);
        for value in OptInStatus::ALL.iter().map(|v| v.as_str()).chain(BounceStatus::ALL.iter().map(|v| v.as_str())) {
            assert!(text.contains(value), "`contacts {command} --help` does not name {value}:\n{text}");
        }
        for flag in ["--list", "--opt-in", "--purpose", "--bounce", "--search", "--limit"] {
            assert!(text.contains(flag), "`contacts {command} --help` lacks {flag}");
        }
    }
    for command in ["set", "bulk-set"] {
        let text = help(&["contacts", command]);
        let values = OptInStatus::ALL
            .iter()
            .map(|v| v.as_str())
            .chain(LegalBasis::ALL.iter().map(|v| v.as_str()))
            .chain(SourceType::ALL.iter().map(|v| v.as_str()));
        for value in values {
            assert!(text.contains(value), "`contacts {command} --help` does not name {value}:\n{text}");
        }
    }
    for command in ["import", "show", "set", "bulk-set", "list", "export"] {
        let text = help(&["contacts", command]);
        assert!(!text.contains("DESIGN"), "`contacts {command} --help` refers to a document that does not ship");
    }
}
