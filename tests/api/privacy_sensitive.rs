//! Sensitive fields (issue 14 point 6): sealed at rest with HERALD_FIELD_KEY, masked in
//! every reader, revealed only with a logged reason, re-sealed by `privacy rotate-key`,
//! given to templates only when the campaign allows them, and erased and locked when the
//! person withdraws `data_storage`. Through the `herald` binary, on both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::domain::ContactId;
use herald::privacy::field_key::FieldKey;
use std::process::Output;

const KEY_A: &str = "00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0fffeeddccbbaa99887766554433221100";
const SECRET: &str = "AB-123456789";
const MASK: &str = "•••••6789";

const CONTACTS: &str = "\
email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists,national_id,plan
ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;data_storage,newsletter:confirmed,AB-123456789,pro
";

fn key_id(hex: &str) -> String {
    FieldKey::parse("test", hex).unwrap().id().to_owned()
}

/// The test workspace with `national_id` declared sensitive and no DNS look-ups.
fn sensitive_workspace(t: &TestDb) {
    let path = t.config_path();
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(
        "[purposes.data_storage]\n[dns]\ncheck_domains = false\n[privacy]\nsensitive_fields = [\"national_id\"]\n",
    );
    std::fs::write(&path, config).unwrap();
}

/// `herald` with the test keys and the given field keys (`None` leaves one unset).
fn herald_keys(t: &TestDb, current: Option<&str>, previous: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(t.dir.path())
        .arg("--config")
        .arg(t.config_path())
        .args(args)
        .env_remove("HERALD_DATABASE__URL")
        .env_remove("HERALD_FIELD_KEY")
        .env_remove("HERALD_FIELD_KEY_PREVIOUS")
        .envs(env());
    if let Some(k) = current {
        cmd.env("HERALD_FIELD_KEY", k);
    }
    if let Some(k) = previous {
        cmd.env("HERALD_FIELD_KEY_PREVIOUS", k);
    }
    cmd.output().expect("run herald")
}

fn with_key(t: &TestDb, args: &[&str]) -> Output {
    herald_keys(t, Some(KEY_A), None, args)
}

fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    out
}

async fn imported(t: &TestDb) -> ContactId {
    sensitive_workspace(t);
    let csv = t.write("c.csv", CONTACTS);
    let out = ok(with_key(t, &["contacts", "import", csv.to_str().unwrap(), "--json"]));
    assert_eq!(json(&out)["created"], 1, "{}", stdout(&out));
    t.contact("ada@example.com").await.unwrap().id.unwrap()
}

fn reveal(t: &TestDb, current: Option<&str>, previous: Option<&str>) -> Output {
    herald_keys(
        t,
        current,
        previous,
        &["contacts", "reveal", "ada@example.com", "--field", "national_id", "--reason", "tax form", "--actor", "dpo"],
    )
}

/// The SQLite database's files (with its write-ahead log), as bytes; none on PostgreSQL.
fn sqlite_bytes(t: &TestDb) -> Option<Vec<u8>> {
    let db = t.dir.path().join("herald.db");
    let mut bytes = std::fs::read(&db).ok()?;
    for extra in ["herald.db-wal", "herald.db-journal"] {
        bytes.extend(std::fs::read(t.dir.path().join(extra)).unwrap_or_default());
    }
    Some(bytes)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

on_both_backends! {
    async fn a_sensitive_field_is_stored_encrypted_and_every_reader_sees_it_masked(t) {
        let id = imported(&t).await;
        let ada = t.contact("ada@example.com").await.unwrap();
        assert_eq!(ada.identity.attributes["national_id"], MASK);
        assert_eq!(ada.identity.attributes["plan"], "pro", "other attributes stay as they are");
        let sealed = t.app.store.sensitive_value(id, "national_id").await.unwrap().expect("a sealed value");
        assert_eq!(sealed.key_id, key_id(KEY_A));
        assert!(!contains(&sealed.bytes, SECRET) && !contains(&sealed.bytes, "123456789"));
        for entry in t.app.store.ledger(id).await.unwrap() {
            assert!(!entry.body.contains("123456789"), "{}", entry.body);
        }
        if let Some(bytes) = sqlite_bytes(&t) {
            assert!(!contains(&bytes, "123456789"), "the plaintext is nowhere in the database files");
        }

        let show = ok(with_key(&t, &["contacts", "show", "ada@example.com", "--json"]));
        assert!(stdout(&show).contains(MASK) && !stdout(&show).contains("123456789"), "{}", stdout(&show));
        let csv = t.dir.path().join("out.csv");
        ok(with_key(&t, &["contacts", "export", "--out", csv.to_str().unwrap()]));
        let exported = std::fs::read_to_string(&csv).unwrap();
        assert!(exported.contains(MASK) && !exported.contains("123456789"), "{exported}");
        let privacy = ok(with_key(&t, &["privacy", "export", "ada@example.com"]));
        assert!(stdout(&privacy).contains(MASK) && !stdout(&privacy).contains("123456789"), "{}", stdout(&privacy));

        // Importing the export again (masks and all) leaves the sealed value as it was.
        ok(with_key(&t, &["contacts", "import", csv.to_str().unwrap()]));
        assert_eq!(stdout(&ok(reveal(&t, Some(KEY_A), None))).trim(), SECRET);
    }

    async fn a_later_row_for_the_same_address_wins_for_a_sensitive_field_too(t) {
        imported(&t).await;
        let later = CONTACTS.lines().last().unwrap().replace(SECRET, "CD-000011112");
        let csv = t.write("twice.csv", format!("{CONTACTS}{later}\n"));
        ok(with_key(&t, &["contacts", "import", csv.to_str().unwrap()]));
        assert_eq!(stdout(&ok(reveal(&t, Some(KEY_A), None))).trim(), "CD-000011112");
        assert_eq!(t.contact("ada@example.com").await.unwrap().identity.attributes["national_id"], "•••••1112");
    }

    async fn without_a_field_key_a_sensitive_field_is_refused_naming_the_variable(t) {
        sensitive_workspace(&t);
        let args = ["contacts", "add", "bo@example.com", "--attr", "national_id=XY-987654321"];
        let out = herald_keys(&t, None, None, &args);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(stderr(&out).contains("HERALD_FIELD_KEY") && stderr(&out).contains("national_id"), "{}", stderr(&out));
        assert!(t.contact("bo@example.com").await.is_none(), "nothing is written");
        // A malformed key is refused before anything runs, naming its variable.
        let out = herald_keys(&t, Some("not-a-key"), None, &["contacts", "show", "bo@example.com"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("HERALD_FIELD_KEY"), "{}", stderr(&out));
        // Other attributes need no key.
        ok(herald_keys(&t, None, None, &["contacts", "add", "bo@example.com", "--attr", "plan=pro"]));
    }

    async fn reveal_prints_the_value_and_logs_who_asked_and_why(t) {
        let id = imported(&t).await;
        let log = ok(with_key(&t, &["privacy", "access-log", "--json"]));
        assert_eq!(json(&log), serde_json::json!([]));
        let out = ok(reveal(&t, Some(KEY_A), None));
        assert_eq!(stdout(&out).trim(), SECRET);
        let log = ok(with_key(&t, &["privacy", "access-log", "--json"]));
        let entries = json(&log);
        assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
        let e = &entries[0];
        assert_eq!((&e["actor"], &e["field"], &e["reason"]), (&"cli:dpo".into(), &"national_id".into(), &"tax form".into()));
        assert_eq!(e["contact_id"], id.get());
        assert!(!stdout(&log).contains("123456789"), "the log holds no value");

        // No reason, or a field that is not sensitive: refused, and not logged.
        let blank = with_key(&t, &["contacts", "reveal", "ada@example.com", "--field", "national_id", "--reason", " "]);
        assert_eq!(blank.status.code(), Some(2), "{}", stdout(&blank));
        let plain = with_key(&t, &["contacts", "reveal", "ada@example.com", "--field", "plan", "--reason", "x"]);
        assert_eq!(plain.status.code(), Some(2), "{}", stdout(&plain));
        assert!(stderr(&plain).contains("'plan' is not a sensitive field"), "{}", stderr(&plain));
        assert_eq!(t.app.store.sensitive_access_log().await.unwrap().len(), 1);
    }

    async fn a_value_under_a_key_not_at_hand_fails_closed_naming_its_key_id(t) {
        imported(&t).await;
        let out = reveal(&t, Some(KEY_B), None);
        assert_ne!(out.status.code(), Some(0));
        assert!(stdout(&out).is_empty(), "nothing printed: {}", stdout(&out));
        assert!(stderr(&out).contains(&key_id(KEY_A)), "{}", stderr(&out));
        assert!(!stderr(&out).contains("123456789"), "{}", stderr(&out));
        assert!(t.app.store.sensitive_access_log().await.unwrap().is_empty(), "a failed reveal reveals nothing");
    }

    async fn rotate_key_reseals_every_value_so_the_old_key_can_go(t) {
        let id = imported(&t).await;
        // The new key alone cannot rotate what the old one sealed.
        let out = herald_keys(&t, Some(KEY_B), None, &["privacy", "rotate-key", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(&key_id(KEY_A)), "{}", stderr(&out));

        let out = ok(herald_keys(&t, Some(KEY_B), Some(KEY_A), &["privacy", "rotate-key", "--json"]));
        let report = json(&out);
        assert_eq!((report["values"].as_u64(), report["rotated"].as_u64()), (Some(1), Some(1)), "{report}");
        assert_eq!(report["key_id"], key_id(KEY_B));
        let sealed = t.app.store.sensitive_value(id, "national_id").await.unwrap().unwrap();
        assert_eq!(sealed.key_id, key_id(KEY_B));

        // Readable with the new key alone; the old key alone no longer opens it.
        assert_eq!(stdout(&ok(reveal(&t, Some(KEY_B), None))).trim(), SECRET);
        let old = reveal(&t, Some(KEY_A), None);
        assert_ne!(old.status.code(), Some(0));
        assert!(stderr(&old).contains(&key_id(KEY_B)), "{}", stderr(&old));
        // Running it again changes nothing.
        let again = json(&ok(herald_keys(&t, Some(KEY_B), None, &["privacy", "rotate-key", "--json"])));
        assert_eq!((again["rotated"].as_u64(), again["current"].as_u64()), (Some(0), Some(1)), "{again}");
    }

    async fn templates_see_a_sensitive_field_only_when_the_campaign_allows_it(t) {
        imported(&t).await;
        t.write("ids.html.hbs", "<p>Your ID: {{attributes.national_id}} ({{attributes.plan}})</p>");
        let campaign = |name: &str, extra: &str| {
            t.write(
                &format!("{name}.toml"),
                format!("name = \"{name}\"\nsubject = \"IDs\"\ntemplate = \"ids\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n{extra}"),
            )
        };
        let preview = |file: &std::path::Path| {
            let args = ["campaign", "preview", file.to_str().unwrap(), "--contact", "ada@example.com", "--decoded"];
            stdout(&ok(with_key(&t, &args)))
        };
        let refused = preview(&campaign("masked", ""));
        assert!(refused.contains(&format!("Your ID: {MASK} (pro)")), "{refused}");
        assert!(!refused.contains("123456789"), "{refused}");
        let allowed = campaign("allowed", "sensitive_fields = [\"national_id\"]\n");
        let shown = preview(&allowed);
        assert!(shown.contains(&format!("Your ID: {SECRET} (pro)")), "{shown}");

        // A field the config does not declare sensitive, or no key to open it: refused
        // before anything is recorded.
        let undeclared = campaign("undeclared", "sensitive_fields = [\"plan\"]\n");
        let out = with_key(&t, &["campaign", "send", undeclared.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        assert!(stderr(&out).contains("'plan'"), "{}", stderr(&out));
        let out = herald_keys(&t, None, None, &["campaign", "send", allowed.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        assert!(stderr(&out).contains("HERALD_FIELD_KEY"), "{}", stderr(&out));

        // The real send renders the same way (the engine opens the value per batch).
        let out = ok(with_key(&t, &["campaign", "send", allowed.to_str().unwrap(), "--json"]));
        assert_eq!(json(&out)["sent"], 1, "{}", stdout(&out));
        let outbox = t.dir.path().join("data/outbox");
        let messages: Vec<String> = walk(&outbox).into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains(SECRET), "{}", messages[0]);
    }

    async fn erasure_deletes_the_sealed_values_with_the_record(t) {
        let id = imported(&t).await;
        assert_eq!(t.app.store.count_sensitive_values(id).await.unwrap(), 1);
        ok(with_key(&t, &["privacy", "erase", "ada@example.com"]));
        assert_eq!(t.app.store.count_sensitive_values(id).await.unwrap(), 0, "the sealed value went with the record");
        assert!(t.contact("ada@example.com").await.is_none(), "the address is gone too");
    }

    async fn withdrawing_data_storage_erases_the_sensitive_fields_and_locks_them(t) {
        let id = imported(&t).await;
        assert_eq!(t.app.store.count_sensitive_values(id).await.unwrap(), 1);
        ok(with_key(&t, &["contacts", "set", "ada@example.com", "--withdraw", "data_storage"]));
        assert_eq!(t.app.store.count_sensitive_values(id).await.unwrap(), 0, "the sealed value is gone");
        let ada = t.contact("ada@example.com").await.unwrap();
        assert!(!ada.identity.attributes.contains_key("national_id"), "{:?}", ada.identity.attributes);
        assert_eq!(ada.identity.attributes["plan"], "pro");
        assert_eq!(reveal(&t, Some(KEY_A), None).status.code(), Some(1), "nothing left to reveal");

        // Locked while withdrawn: by hand and by import.
        let out = with_key(&t, &["contacts", "set", "ada@example.com", "--attr", "national_id=ZZ-111122223"]);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(stderr(&out).contains("data_storage"), "{}", stderr(&out));
        let csv = t.write("again.csv", CONTACTS.replace("newsletter;data_storage", "newsletter"));
        let out = ok(with_key(&t, &["contacts", "import", csv.to_str().unwrap(), "--json"]));
        assert_eq!(json(&out)["rejected"], 1, "{}", stdout(&out));
        assert_eq!(t.app.store.count_sensitive_values(id).await.unwrap(), 0);
        assert!(!t.contact("ada@example.com").await.unwrap().identity.attributes.contains_key("national_id"));
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
