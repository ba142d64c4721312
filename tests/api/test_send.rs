//! `herald campaign test FILE --to ADDR` (DESIGN §10): the message arrives at ADDR with
//! `[TEST]`, rendered as a contact; no campaign is recorded, no campaign figure, contact
//! or ledger changes, and its unsubscribe link changes nothing. On both backends, through
//! the fake relay.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, setup_with};
use herald::app::App;
use herald::campaign::{self, lifecycle};
use herald::consent::Authority;
use herald::contacts::withdraw::{Withdrawal, withdraw_by_token};
use herald::domain::{CampaignState, EmailAddress};
use std::path::Path;

const QA: &str = "qa@acme.example";

async fn snapshot(app: &App, email: &str) -> (herald::domain::Contact, usize) {
    let c = app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap();
    let ledger = app.store.ledger(c.id.unwrap()).await.unwrap().len();
    (c, ledger)
}

/// Runs `herald [--json] campaign test FILE --to QA EXTRA…` off the test's runtime (which
/// drives the fake relay meanwhile).
async fn herald_test(t: &TestDb, file: &Path, json: bool, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = if json { vec!["--json".into()] } else { Vec::new() };
    args.extend(["campaign", "test", file.to_str().unwrap(), "--to", QA].map(String::from));
    args.extend(extra.iter().map(|a| a.to_string()));
    let (dir, config) = (t.dir.path().to_path_buf(), t.config_path());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        herald_in(&dir, &config, &args)
    })
    .await
    .unwrap()
}

async fn test_send(t: &TestDb, file: &Path, extra: &[&str]) -> std::process::Output {
    herald_test(t, file, true, extra).await
}

/// The token of the message's unsubscribe link (`…/u/TOKEN`).
fn unsubscribe_token(message: &str) -> String {
    let at = message.find("/u/").expect("an unsubscribe link");
    message[at + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect()
}

on_both_backends! {
    async fn a_test_send_arrives_marked_as_a_test_and_changes_nothing(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let (ada, ada_ledger) = snapshot(&app, "ada@example.com").await;
        // Before the campaign exists: it is rendered as the first eligible contact (Ada).
        let out = test_send(&t, &file, &[]).await;
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["to"], QA);
        assert_eq!(report["contact_id"], ada.id.unwrap().get());
        assert_eq!(report["state"], "sent");
        assert_eq!(report["reply"]["code"], 250);
        assert!(report["relay"].as_str().is_some_and(|r| r.contains("127.0.0.1")), "{report}");
        let received = fake.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].to, vec![QA.to_owned()], "only the test address, never the contact");
        let message = String::from_utf8_lossy(&received[0].data).into_owned();
        assert!(message.contains("Subject: [TEST] Spring news for Ada"), "{message}");
        assert!(message.contains(&format!("To: {QA}")), "{message}");
        assert!(message.contains("Hello Ada"), "rendered as the contact: {message}");
        assert!(app.store.campaign_by_name("spring").await.unwrap().is_none(), "no campaign recorded");
        // Its unsubscribe link (and so its mailto) changes nothing.
        let token = unsubscribe_token(&message);
        let done = withdraw_by_token(&app, &token, &Authority::contact(false)).await.unwrap();
        assert_eq!(done, Withdrawal::TestLink { contact_id: ada.id.unwrap(), campaign: "spring".into() });
        // A bounce report on the test message (to its VERP address): recorded for review,
        // held against nobody.
        let verp = received[0].from.clone();
        let mut report = Default::default();
        let dsn = crate::feedback::dsn(&verp, QA);
        herald::feedback::ingest::ingest_message(&app, dsn.as_bytes(), "file", std::slice::from_ref(&verp), &mut report)
            .await
            .unwrap();
        let (after, after_ledger) = snapshot(&app, "ada@example.com").await;
        assert_eq!((after.lists, after.opt_in, after_ledger), (ada.lists.clone(), ada.opt_in, ada_ledger));
        assert_eq!(after.bounce.status, ada.bounce.status, "{report:?}");

        // With the campaign running: a test as Bob leaves its figures as they were.
        let text = std::fs::read_to_string(&file).unwrap();
        let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
        let (record, _) = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        let before = app.store.campaign_counts(record.id).await.unwrap();
        let revision = app.store.campaign_revision(record.id).await.unwrap();
        let (bob, bob_ledger) = snapshot(&app, "bob@example.org").await;
        let out = test_send(&t, &file, &["--contact", "bob@example.org"]).await;
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["contact_id"], bob.id.unwrap().get());
        assert_eq!(fake.received().len(), 2);
        assert!(String::from_utf8_lossy(&fake.received()[1].data).contains("Subject: [TEST] Spring news for Bob"));
        assert_eq!(app.store.campaign_counts(record.id).await.unwrap(), before, "not in the campaign's figures");
        assert_eq!(app.store.campaign_revision(record.id).await.unwrap(), revision, "no revision");
        let (after, after_ledger) = snapshot(&app, "bob@example.org").await;
        assert_eq!((after.lists, after.opt_in, after_ledger), (bob.lists, bob.opt_in, bob_ledger));
        // The campaign itself still goes to Bob: the test send was not his message.
        let status = crate::send::send(&app, &file).await;
        assert_eq!(status.sent, 3, "{status:?}");
    }

    async fn a_named_contact_must_exist_and_an_excluded_one_is_allowed_with_a_note(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let out = test_send(&t, &file, &["--contact", "nobody@example.com"]).await;
        assert_ne!(out.status.code(), Some(0));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.contains("no contact nobody@example.com"), "{said}");
        assert_eq!(fake.received().len(), 0);
        // Carl opted out: the test may still be rendered as him, and says so.
        let out = herald_test(&t, &file, false, &["--contact", "carl@example.com"]).await;
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains("opted_out"), "{}", stderr(&out));
        assert!(stdout(&out).contains(QA) && stdout(&out).contains("sent to"), "{}", stdout(&out));
        assert_eq!(fake.received()[0].to, vec![QA.to_owned()]);
    }

    async fn without_a_relay_the_test_message_is_written_to_the_outbox(t) {
        let path = t.write("contacts.csv", CONTACTS);
        herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
        t.write("news.html.hbs", "<p>Hello {{first_name}}</p>");
        let file = t.write("spring.toml", crate::send::CAMPAIGN);
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n")).unwrap();
        let out = test_send(&t, &file, &[]).await;
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["state"], "sent");
        let written = report["outbox"].as_str().expect("the outbox file");
        let message = std::fs::read_to_string(written).unwrap();
        assert!(message.contains("Subject: [TEST] Spring news for Ada") && message.contains(&format!("To: {QA}")), "{message}");
        let out = herald_test(&t, &file, false, &[]).await;
        assert!(stdout(&out).contains("written to") && stdout(&out).contains(QA), "{}", stdout(&out));
    }
}
