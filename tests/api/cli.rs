//! The command-line contract of DESIGN §7: exit codes, JSON shapes, clear errors.

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends! {
    async fn import_json_has_exactly_the_contract_keys(t) {
        let csv = t.write("c.csv", "email,opt_in_status\na@example.com,double_opt_in\nbad,\n");
        let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v = json(&out);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        // The counts of DESIGN §7, and the warnings list (issue 19 point 13).
        let mut want = ["rows", "created", "updated", "unchanged", "rejected", "suppressed", "protected", "warnings"];
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!((v["rows"].as_u64(), v["created"].as_u64(), v["rejected"].as_u64()), (Some(2), Some(1), Some(1)));
        assert!(t.dir.path().join("c.rejects.csv").exists());
    }

    async fn files_that_are_not_csv_are_refused_before_any_write(t) {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty.csv", Vec::new(), "is empty"),
            ("binary.csv", vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0xFF, 0x00], "binary"),
            ("nomail.csv", b"name,phone\nAnn,123\n".to_vec(), "no 'email' column"),
            ("utf16.csv", vec![0xFF, 0xFE, b'e', 0, b'm', 0], "UTF-16"),
        ];
        for (name, bytes, says) in cases {
            let path = t.write(name, bytes);
            let out = t.herald(&["contacts", "import", path.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
            assert!(stderr(&out).contains(says) && stderr(&out).contains(name), "{name}: {}", stderr(&out));
            let out = t.herald(&["contacts", "import", path.to_str().unwrap(), "--json"]);
            assert!(json(&out)["error"].as_str().unwrap().contains(says));
        }
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 0);
    }

    async fn set_and_show_round_trip_the_compliance_card(t) {
        let out = t.herald(&["contacts", "add", "Ann@Example.com", "--opt-in", "double_opt_in", "--legal-basis", "consent", "--consent-date", "2025-01-02", "--grant", "newsletter", "--subscribe", "newsletter", "--first-name", "Ann", "--actor", "alice"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let card = json(&t.herald(&["contacts", "show", "ann@example.com", "--json"]));
        assert_eq!(card["email"], "Ann@Example.com");
        assert_eq!(card["opt_in_status"], "double_opt_in");
        assert_eq!(card["legal_basis"], "consent");
        assert_eq!(card["lists"]["newsletter"], "confirmed");
        assert_eq!(card["purposes"]["newsletter"]["state"], "granted");
        assert_eq!(card["suppressed"], false);
        assert_eq!(card["first_name"], "Ann");
    }

    async fn bad_flags_and_protected_changes_have_distinct_exit_codes(t) {
        let out = t.herald(&["contacts", "set", "x@example.com", "--opt-in", "sorta"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("sorta"));
        let out = t.herald(&["contacts", "set", "not-an-address"]);
        assert_eq!(out.status.code(), Some(2));
        let out = t.herald(&["contacts", "set", "x@example.com", "--consent-date", "2024-13-45"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("2024-13-45"));
        t.herald(&["contacts", "add", "x@example.com", "--opt-in", "opted_out_contact"]);
        let out = t.herald(&["contacts", "set", "x@example.com", "--opt-in", "double_opt_in", "--proof", "x", "--json"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(json(&out)["error"].as_str().unwrap().contains("only their own confirmed double opt-in"));
        let out = t.herald(&["contacts", "show", "nobody@example.com"]);
        assert_eq!(out.status.code(), Some(1));
    }

    async fn set_and_bulk_set_on_an_unknown_address_exit_1_naming_it_and_create_nothing(t) {
        let out = t.herald(&["contacts", "set", "ann@exmaple.com", "--first-name", "Ann"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("ann@exmaple.com") && stderr(&out).contains("contacts add"), "{}", stderr(&out));
        assert!(!stdout(&out).contains("Created"), "{}", stdout(&out));
        let file = t.write("emails.txt", "ann@exmaple.com\n");
        let out = t.herald(&["contacts", "bulk-set", "--email-file", file.to_str().unwrap(), "--opt-in", "single_opt_in_user", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(json(&out)["error"].as_str().unwrap().contains("line 1: ann@exmaple.com"), "{}", stdout(&out));
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 0);
    }

    async fn add_creates_a_manual_contact_once_with_the_protections_of_an_import(t) {
        let out = t.herald(&["contacts", "add", "Bo@Example.com", "--opt-in", "single_opt_in_user", "--legal-basis", "consent", "--consent-date", "2025-03-04", "--grant", "newsletter", "--subscribe", "newsletter", "--first-name", "Bo", "--title", "Dr", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let card = json(&out);
        assert_eq!((card["source_type"].as_str(), card["title"].as_str()), (Some("manual"), Some("Dr")));
        assert_eq!(card["lists"]["newsletter"], "unconfirmed");
        let id = card["id"].as_i64().unwrap();
        assert!(stdout(&t.herald(&["contacts", "add", "cy@example.com"])).contains("Created contact #"));

        let out = t.herald(&["contacts", "add", "bo@example.com", "--first-name", "Other"]);
        assert_eq!(out.status.code(), Some(1), "an existing address is refused");
        assert!(stderr(&out).contains("use `herald contacts set bo@example.com"), "{}", stderr(&out));
        let card = json(&t.herald(&["contacts", "show", "bo@example.com", "--json"]));
        assert_eq!((card["first_name"].as_str(), card["id"].as_i64()), (Some("Bo"), Some(id)));

        let out = t.herald(&["contacts", "add", "c@example.com", "--legal-basis", "consent", "--grant", "newsletter"]);
        assert_eq!(out.status.code(), Some(2), "consent needs its date, as in an import");
        assert!(stderr(&out).contains("consent_date"), "{}", stderr(&out));
        let out = t.herald(&["contacts", "add", "d@example.com", "--subscribe", "newsletter:confirmed"]);
        assert_eq!(out.status.code(), Some(1), "confirmed needs double opt-in");
        assert!(stderr(&out).contains("double_opt_in"), "{}", stderr(&out));
        assert_eq!(t.herald(&["suppression", "add", "s@example.com"]).status.code(), Some(0));
        let out = t.herald(&["contacts", "add", "S@example.com", "--opt-in", "double_opt_in", "--proof", "phone call"]);
        assert_eq!(out.status.code(), Some(1), "a suppressed address is refused");
        assert!(stderr(&out).contains("suppression list"), "{}", stderr(&out));
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 2);
    }

    async fn suppression_commands_work_through_the_cli(t) {
        assert_eq!(t.herald(&["suppression", "add", "s@example.com", "--reason", "complaint"]).status.code(), Some(0));
        let out = t.herald(&["suppression", "remove", "s@example.com"]);
        assert_eq!(out.status.code(), Some(2), "--proof is required");
        let list = json(&t.herald(&["suppression", "list", "--json"]));
        assert_eq!(list.as_array().unwrap().len(), 1);
        let csv = t.write("s.csv", "email\nS@example.com\n");
        let r = json(&t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]));
        assert_eq!(r["suppressed"], 1);
        assert_eq!(t.herald(&["suppression", "remove", "s@example.com", "--proof", "asked again in writing"]).status.code(), Some(0));
        assert_eq!(json(&t.herald(&["suppression", "list", "--json"])).as_array().unwrap().len(), 0);
    }

    async fn bulk_set_through_the_cli(t) {
        let csv = t.write("c.csv", "email,source_type,lists\na@example.com,crm_sync,customers\nb@example.com,crm_sync,\nc@example.com,webform,customers\n");
        t.herald(&["contacts", "import", csv.to_str().unwrap()]);
        let out = t.herald(&["contacts", "bulk-set", "--where-source", "crm_sync", "--legal-basis", "contract", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(json(&out)["updated"], 2);
        let out = t.herald(&["contacts", "bulk-set", "--list", "customers", "--opt-in", "single_opt_in_user", "--json"]);
        assert_eq!(json(&out)["matched"], 2);
        let out = t.herald(&["contacts", "bulk-set", "--opt-in", "none"]);
        assert_eq!(out.status.code(), Some(2), "a selection is required");
    }
}

#[test]
fn init_scaffolds_a_workspace_that_imports_its_example() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald")).arg("init").arg(&ws).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in [
        "config/herald.toml",
        "campaigns/example.toml",
        "contacts.example.csv",
        "templates/example.html.hbs",
        "data/herald.db",
        "data/secrets.toml",
    ] {
        assert!(ws.join(f).exists(), "{f}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(&ws)
        .args(["contacts", "import", "contacts.example.csv", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["created"], v["rows"]);
    assert_eq!(v["rejected"], 0);
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_herald")).arg("init").arg(&ws).output().unwrap();
    assert!(stdout(&again).contains("kept"), "existing files are never overwritten");
}

#[test]
fn production_config_without_secrets_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("herald.toml");
    std::fs::write(&cfg, "[database]\nurl = \"sqlite://h.db\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(dir.path())
        .env_remove("HERALD_LINK_KEY")
        .env_remove("HERALD_SUPPRESSION_KEY")
        .args(["--config", cfg.to_str().unwrap(), "contacts", "show", "a@example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HERALD_SUPPRESSION_KEY"), "{}", stderr(&out));
}

#[tokio::test]
async fn postgres_needs_an_explicit_migration() {
    let Some(t) = TestDb::new(Backend::Postgres).await else {
        eprintln!("skipped: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    // A second, empty schema: commands refuse until `db migrate` has run.
    let base = std::env::var("HERALD_TEST_POSTGRES_URL").unwrap();
    let schema = format!("herald_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let cfg = t.write("pg.toml", format!("[database]\nurl = \"{url}\"\n{CONFIG}"));
    let out = herald_in(t.dir.path(), &cfg, &["contacts", "show", "a@example.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("herald db migrate"), "{}", stderr(&out));
    let out = herald_in(t.dir.path(), &cfg, &["db", "migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = herald_in(t.dir.path(), &cfg, &["contacts", "show", "a@example.com"]);
    assert_eq!(out.status.code(), Some(1), "migrated: now simply not found");
}

#[test]
fn with_json_anywhere_on_the_line_a_usage_error_is_json_on_stdout_with_exit_2() {
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_herald")).args(args).output().unwrap();
    for args in [
        &["--json", "contacts", "frobnicate"][..],
        &["contacts", "import", "--json"],
        &["campaign", "send", "x.toml", "--no-such-flag", "--json"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let message = json(&out)["error"].as_str().unwrap_or_else(|| panic!("{args:?}: {}", stdout(&out))).to_owned();
        assert!(!message.is_empty() && !message.starts_with("error:"), "{args:?}: {message}");
    }
    let out = run(&["contacts", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty() && stderr(&out).contains("frobnicate"), "without --json: text on stderr");
}
