//! `herald privacy export` (issue 14, point 2): access and portability.

use crate::helpers::*;
use crate::on_both_backends;
use herald::contacts::cells::unneutralise;
use herald::contacts::import::{ImportOptions, import};

/// Non-ASCII text and values a spreadsheet would run as formulas, in profile fields and
/// custom attributes (a tab, a leading minus, plus and at sign).
const PEOPLE: &str = "\
email,first_name,last_name,company,title,phone,opt_in_status,legal_basis,consent_date,consent_purposes,source_type,lists,plan,note
zoe@example.com,Zoë,Ångström,=1+1,@SUM(A1),-2,double_opt_in,consent,2024-05-01T10:30:00Z,newsletter,webform,newsletter:confirmed,+x,
ann@example.org,Ann,,,,,double_opt_in,consent,2024-05-01T10:30:00Z,newsletter,webform,newsletter:confirmed,,
bob@example.net,Bob,,,,,double_opt_in,consent,2024-05-01T10:30:00Z,newsletter,webform,promo:confirmed,,
";

async fn seed(t: &TestDb) {
    let path = t.write("people.csv", PEOPLE);
    let report = import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report;
    assert_eq!(report.rejected, 0, "{report:?}");
    // Import trims cells; a tab kept at the start of a value comes through an edit.
    let set = t.herald(&["contacts", "set", "zoe@example.com", "--crm-id", "\tcrm", "--attr", "note=\tx"]);
    assert!(set.status.success(), "{}", stderr(&set));
}

fn export(t: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all = vec!["privacy", "export"];
    all.extend_from_slice(args);
    t.herald(&all)
}

on_both_backends! {
    async fn json_export_of_one_contact_round_trips_non_ascii_and_formula_like_values(t) {
        seed(&t).await;
        let out = t.dir.path().join("zoe.json");
        let done = export(&t, &["zoe@example.com", "--out", out.to_str().unwrap()]);
        assert!(done.status.success(), "{}", stderr(&done));

        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(doc["email"], "zoe@example.com");
        let profile = &doc["profile"];
        assert_eq!(profile["first_name"], "Zoë");
        assert_eq!(profile["last_name"], "Ångström");
        assert_eq!(profile["company"], "=1+1");
        assert_eq!(profile["title"], "@SUM(A1)");
        assert_eq!(profile["phone"], "-2");
        assert_eq!(profile["crm_id"], "\tcrm");
        assert_eq!(doc["attributes"]["plan"], "+x");
        assert_eq!(doc["attributes"]["note"], "\tx");
        assert_eq!(doc["compliance"]["opt_in_status"], "double_opt_in");
        assert_eq!(doc["compliance"]["legal_basis"], "consent");
        assert_eq!(doc["compliance"]["source_type"], "webform");
        assert_eq!(doc["subscriptions"]["newsletter"], "confirmed");
        assert_eq!(doc["purposes"]["newsletter"]["state"], "granted");
        assert!(doc["exported_at"].is_string(), "{doc}");
        let ledger = doc["ledger"].as_array().unwrap();
        assert!(!ledger.is_empty(), "the import's ledger events are part of the export");
        assert!(ledger.iter().all(|e| e["event"].is_object() && e["hash"].is_string()), "{ledger:?}");
        // The evidence lives in its own table (only its digest is in the chain); the
        // export puts it back: the import's line number.
        assert!(ledger[0]["event"]["evidence_digest"].is_string(), "{ledger:?}");
        assert!(ledger[0]["event"]["evidence"]["line"].is_string(), "{ledger:?}");
        // Exactly what the store holds, as `contacts show` prints it.
        let shown = json(&t.herald(&["contacts", "show", "--json", "zoe@example.com"]));
        for field in ["first_name", "last_name", "company", "title", "phone", "crm_id"] {
            assert_eq!(profile[field], shown[field], "{field}");
        }
        assert_eq!(doc["attributes"], shown["attributes"]);
    }

    async fn csv_export_neutralises_every_formula_like_cell(t) {
        seed(&t).await;
        let out = t.dir.path().join("zoe.csv");
        let done = export(&t, &["zoe@example.com", "--format", "csv", "--out", out.to_str().unwrap()]);
        assert!(done.status.success(), "{}", stderr(&done));

        let text = std::fs::read_to_string(&out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula-like cell exported as is: {cell:?}");
        }
        let cell = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
        assert_eq!(cell("first_name"), "Zoë");
        assert_eq!(cell("last_name"), "Ångström");
        assert_eq!(cell("company"), "'=1+1");
        assert_eq!(cell("title"), "'@SUM(A1)");
        assert_eq!(cell("phone"), "'-2");
        assert_eq!(cell("crm_id"), "'\tcrm");
        assert_eq!(unneutralise(&cell("company")), "=1+1");
        let attributes: serde_json::Value = serde_json::from_str(&cell("attributes")).unwrap();
        assert_eq!(attributes["plan"], "+x");
        assert_eq!(attributes["note"], "\tx");
        let ledger: serde_json::Value = serde_json::from_str(&cell("ledger")).unwrap();
        assert!(!ledger.as_array().unwrap().is_empty());
    }

    async fn list_export_holds_only_that_lists_contacts(t) {
        seed(&t).await;
        let out = t.dir.path().join("newsletter.jsonl");
        let done = export(&t, &["--list", "newsletter", "--out", out.to_str().unwrap(), "--json"]);
        assert!(done.status.success(), "{}", stderr(&done));
        assert_eq!(json(&done)["contacts"], 2);
        let text = std::fs::read_to_string(&out).unwrap();
        let mut emails: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["email"].as_str().unwrap().to_owned())
            .collect();
        emails.sort();
        assert_eq!(emails, ["ann@example.org", "zoe@example.com"]);

        let all = export(&t, &["--all", "--format", "csv"]);
        assert!(all.status.success(), "{}", stderr(&all));
        assert_eq!(csv::Reader::from_reader(all.stdout.as_slice()).records().count(), 3);
    }

    async fn unknown_address_exits_1_and_writes_no_file(t) {
        seed(&t).await;
        let out = t.dir.path().join("nobody.json");
        let done = export(&t, &["nobody@example.com", "--out", out.to_str().unwrap()]);
        assert_eq!(done.status.code(), Some(1), "{}", stderr(&done));
        assert!(stderr(&done).contains("no contact"), "{}", stderr(&done));
        assert!(!out.exists());
        assert!(!t.dir.path().join("nobody.json.partial").exists());
    }
}

on_both_backends! {
    async fn export_holds_the_contacts_sends_and_bounces(t) {
        seed(&t).await;
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n")).unwrap();
        t.write("news.html.hbs", "<p>Hello {{first_name}}</p>");
        let campaign = t.write(
            "spring.toml",
            "name = \"spring\"\nsubject = \"News\"\ntemplate = \"news\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n",
        );
        let sent = t.herald(&["campaign", "send", campaign.to_str().unwrap()]);
        assert!(sent.status.success(), "{}{}", stdout(&sent), stderr(&sent));
        let zoe = t.contact("zoe@example.com").await.unwrap().id.unwrap();
        let send = t.app.store.sends_of_contact(zoe, 10).await.unwrap().remove(0);
        let bounce = herald::store::BounceInsert {
            send_id: Some(send.send_id),
            campaign_id: Some(send.campaign_id),
            contact_id: Some(zoe),
            kind: herald::domain::BounceKind::Soft,
            status: Some("4.2.2".into()),
            reason: Some("mailbox full".into()),
            diagnostic: None,
            source: "dsn".into(),
            fingerprint: "zoe-full".into(),
            received_at: chrono::Utc::now(),
            unmatched: false,
        };
        assert!(t.app.store.insert_bounce(&bounce).await.unwrap());

        let done = export(&t, &["zoe@example.com"]);
        assert!(done.status.success(), "{}", stderr(&done));
        let doc = json(&done);
        let sends = doc["sends"].as_array().unwrap();
        assert_eq!(sends.len(), 1, "{doc}");
        assert_eq!(sends[0]["campaign"], "spring");
        assert_eq!(sends[0]["state"], "sent");
        assert!(sends[0]["sent_at"].is_string(), "{doc}");
        assert!(sends[0].get("opened_at").is_some() && sends[0].get("clicked_at").is_some(), "{doc}");
        let bounces = doc["bounces"].as_array().unwrap();
        assert_eq!(bounces.len(), 1, "{doc}");
        assert_eq!((bounces[0]["kind"].as_str(), bounces[0]["campaign"].as_str()), (Some("soft"), Some("spring")));
        // Another contact's sends are not in this export.
        let ann = json(&export(&t, &["ann@example.org"]));
        assert_eq!(ann["sends"].as_array().unwrap().len(), 1);
        assert!(ann["bounces"].as_array().unwrap().is_empty());
    }
}

on_both_backends! {
    async fn a_bulk_export_over_several_batches_gives_each_contact_its_own_rows_once(t) {
        // More contacts than one batch holds (2 000), every third on `promo`, each with
        // its own ledger event; one with a second event at a batch's end.
        let mut csv = String::from("email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n");
        for i in 0..4_500 {
            let lists = if i % 3 == 0 { "newsletter:confirmed;promo:confirmed" } else { "newsletter:confirmed" };
            csv += &format!("p{i:05}@example.com,P{i},double_opt_in,consent,2025-01-01,newsletter,\"{lists}\"\n");
        }
        let path = t.write("many.csv", &csv);
        let report = import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report;
        assert_eq!((report.created, report.rejected), (4_500, 0), "{report:?}");
        // Contact #2000, the first batch's last: a ledgered edit.
        let restrict = t.herald(&["privacy", "restrict", "p01999@example.com", "--reason", "asked by email"]);
        assert!(restrict.status.success(), "{}", stderr(&restrict));

        let all = export(&t, &["--all"]);
        assert!(all.status.success(), "{}", stderr(&all));
        let docs: Vec<serde_json::Value> =
            stdout(&all).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(docs.len(), 4_500);
        let ids: Vec<i64> = docs.iter().map(|d| d["contact_id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order, each once");
        for d in &docs {
            let ledger = d["ledger"].as_array().unwrap();
            assert!(!ledger.is_empty(), "{d}");
            assert!(ledger.iter().all(|e| e["event"]["contact_id"] == d["contact_id"]), "another's event: {d}");
            assert!(ledger[0]["event"]["evidence"]["line"].is_string(), "the bulk read joins the evidence: {d}");
            assert_eq!(d["subscriptions"]["newsletter"], "confirmed", "{d}");
        }
        // The bulk line of a contact is its one-contact document (but for the time).
        let mut edited = docs.iter().find(|d| d["email"] == "p01999@example.com").unwrap().clone();
        assert_eq!(edited["ledger"].as_array().unwrap().len(), 2, "{edited}");
        let mut one = json(&export(&t, &["p01999@example.com"]));
        for d in [&mut one, &mut edited] {
            d.as_object_mut().unwrap().remove("exported_at");
        }
        assert_eq!(one, edited);

        let promo = export(&t, &["--list", "promo", "--format", "csv"]);
        assert!(promo.status.success(), "{}", stderr(&promo));
        let mut reader = csv::Reader::from_reader(promo.stdout.as_slice());
        let emails: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
        let expected: Vec<String> = (0..4_500).filter(|i| i % 3 == 0).map(|i| format!("p{i:05}@example.com")).collect();
        assert_eq!(emails, expected);
    }
}

on_both_backends! {
    async fn export_holds_each_flow_entry_with_its_steps_and_the_links_followed_in_each_message(t) {
        use crate::flow_steps::{ADA, BOB, WELCOME, workspace};
        use herald::clock::Clock;
        let mut f = workspace(&t, WELCOME).await;
        // Ada agrees to tracking, so her click is kept.
        let tracking = t.write(
            "tracking.csv",
            "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
             ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n",
        );
        import(&f.app, &tracking, &ImportOptions::default(), &|_, _| {}).await.unwrap();
        f.enrol(&[ADA], "joined:1").await;
        f.run().await;
        let ada = f.id(ADA).await;
        let now = f.clock.now();
        assert!(f.app.store.record_click("welcome.hello", ada, "https://shop.example/a?b=1", now).await.unwrap());

        let doc = json(&export(&t, &[ADA]));
        let flows = doc["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 1, "{doc}");
        assert_eq!((flows[0]["flow"].as_str(), flows[0]["state"].as_str()), (Some("welcome"), Some("active")));
        assert_eq!(flows[0]["step"], "tips", "the step due next: {doc}");
        assert_eq!(flows[0]["properties"]["plan"], "gold", "{doc}");
        let steps = flows[0]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "{doc}");
        assert_eq!((steps[0]["step"].as_str(), steps[0]["outcome"].as_str()), (Some("hello"), Some("queued")));
        let sends = doc["sends"].as_array().unwrap();
        assert_eq!(sends.len(), 1, "{doc}");
        assert_eq!(steps[0]["send_id"], sends[0]["send_id"], "{doc}");
        let clicks = sends[0]["clicks"].as_array().unwrap();
        assert_eq!(clicks.len(), 1, "{doc}");
        assert_eq!(clicks[0]["url"], "https://shop.example/a?b=1");
        assert!(clicks[0]["at"].is_string() && sends[0]["clicked_at"].is_string(), "{doc}");

        // Bob is in no flow and followed nothing.
        let bob = json(&export(&t, &[BOB]));
        assert!(bob["flows"].as_array().unwrap().is_empty(), "{bob}");

        // The CSV row carries both as JSON-encoded cells, and the bulk line is the document.
        let csv_out = export(&t, &[ADA, "--format", "csv"]);
        let mut reader = csv::Reader::from_reader(csv_out.stdout.as_slice());
        let header = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| -> serde_json::Value {
            serde_json::from_str(&row[header.iter().position(|h| h == name).unwrap()]).unwrap()
        };
        assert_eq!(cell("sends"), doc["sends"]);
        assert_eq!(cell("flows"), doc["flows"]);
        let all = stdout(&export(&t, &["--all"]));
        let line = all.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|d| d["email"] == ADA);
        let (mut line, mut one) = (line.unwrap(), doc.clone());
        for d in [&mut line, &mut one] {
            d.as_object_mut().unwrap().remove("exported_at");
        }
        assert_eq!(line, one);
    }
}
