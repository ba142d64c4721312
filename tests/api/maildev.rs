//! A campaign sent through a real SMTP test server, maildev 2.2.1, and read back through
//! its HTTP API. `scripts/test.sh` starts maildev and exports `HERALD_TEST_MAILDEV_SMTP`
//! (host:port) and `HERALD_TEST_MAILDEV_API` (base URL); without them the test is skipped.
//! All tests share one maildev, so every address gets a per-test tag in its local part
//! (`ada+<tag>@example.com`) and only messages carrying that tag are looked at.

use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, send, setup_at};
use herald::app::App;
use herald::domain::CampaignState;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (address in the fixture, first name) of everyone who should get a message.
const ELIGIBLE: [(&str, &str); 3] = [("ada@example.com", "Ada"), ("bob@example.org", "Bob"), ("cy@example.net", "Cy")];

/// Everyone in the fixture who must get nothing (and why, for the failure message).
const EXCLUDED: [(&str, &str); 5] = [
    ("carl@example.com", "opted out"),
    ("dana@example.com", "unsubscribed from the list"),
    ("eve@example.com", "suppressed"),
    ("fay@example.com", "single opt-in"),
    ("gus@example.com", "no consent to the purpose"),
];

pub(crate) struct Maildev {
    pub(crate) smtp_host: String,
    pub(crate) smtp_port: u16,
    pub(crate) api: String,
}

impl Maildev {
    pub(crate) fn from_env() -> Option<Maildev> {
        let api = std::env::var("HERALD_TEST_MAILDEV_API").ok().filter(|v| !v.is_empty())?;
        let smtp = std::env::var("HERALD_TEST_MAILDEV_SMTP").unwrap_or_else(|_| "127.0.0.1:1025".into());
        let (host, port) = smtp.rsplit_once(':').expect("HERALD_TEST_MAILDEV_SMTP is host:port");
        Some(Maildev {
            smtp_host: host.to_owned(),
            smtp_port: port.parse().expect("HERALD_TEST_MAILDEV_SMTP port"),
            api: api.trim_end_matches('/').to_owned(),
        })
    }

    /// Every message maildev holds whose recipient carries `tag`.
    pub(crate) async fn messages(&self, http: &reqwest::Client, tag: &str) -> Vec<Value> {
        let all: Vec<Value> = http
            .get(format!("{}/email", self.api))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /email")
            .json()
            .await
            .expect("GET /email returns a JSON array");
        all.into_iter().filter(|m| recipients(m).iter().any(|a| a.contains(tag))).collect()
    }

    /// Polls until at least `n` messages for `tag` arrived (or ~20 s passed), then looks
    /// once more a moment later so that a late duplicate is seen too.
    pub(crate) async fn wait_for(&self, http: &reqwest::Client, tag: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.messages(http, tag).await;
            if got.len() >= n {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return self.messages(http, tag).await;
            }
            if Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The `to` addresses of one maildev message, lower-cased.
pub(crate) fn recipients(m: &Value) -> Vec<String> {
    m["to"]
        .as_array()
        .map(|to| to.iter().filter_map(|a| a["address"].as_str()).map(str::to_ascii_lowercase).collect())
        .unwrap_or_default()
}

/// `ada@example.com` → `ada+<tag>@example.com`.
pub(crate) fn tagged(address: &str, tag: &str) -> String {
    let (local, domain) = address.split_once('@').unwrap();
    format!("{local}+{tag}@{domain}")
}

/// The fixture with tagged addresses (Eve then suppressed), sent through maildev.
async fn setup(t: &TestDb, maildev: &Maildev, tag: &str) -> (Arc<App>, PathBuf) {
    let contacts: String = CONTACTS
        .lines()
        .enumerate()
        .map(|(i, line)| match line.split_once(',') {
            Some((email, rest)) if i > 0 => format!("{},{rest}\n", tagged(email, tag)),
            _ => format!("{line}\n"),
        })
        .collect();
    let eve = tagged("eve@example.com", tag);
    setup_at(t, &maildev.smtp_host, maildev.smtp_port, &contacts, &eve, "").await
}

on_both_backends! {
    async fn a_campaign_sent_through_maildev_arrives_once_per_eligible_person_with_footer_and_headers(t) {
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let (app, file) = setup(&t, &maildev, &tag).await;
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.state), (3, 0, CampaignState::Completed), "{status:?}");

        let http = reqwest::Client::new();
        let messages = maildev.wait_for(&http, &tag, ELIGIBLE.len()).await;
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for m in &messages {
            for to in recipients(m) {
                *got.entry(to).or_default() += 1;
            }
        }
        for (address, _) in ELIGIBLE {
            assert_eq!(got.get(&tagged(address, &tag)), Some(&1), "{address} must get exactly one message: {got:?}");
        }
        for (address, why) in EXCLUDED {
            assert!(!got.contains_key(&tagged(address, &tag)), "{address} ({why}) got a message: {got:?}");
        }
        assert_eq!(messages.len(), ELIGIBLE.len(), "{got:?}");

        for m in &messages {
            let to = recipients(m).remove(0);
            let name = ELIGIBLE.iter().find(|(a, _)| tagged(a, &tag) == to).map(|(_, n)| *n).unwrap();
            let (html, text) = (m["html"].as_str().unwrap_or(""), m["text"].as_str().unwrap_or(""));
            for (part, body) in [("html", html), ("text", text)] {
                assert!(body.contains("Acme Ltd, 1 Main St"), "{to}: no postal address in the {part} part: {body}");
                assert!(body.contains("/u/"), "{to}: no unsubscribe link in the {part} part: {body}");
            }
            assert_eq!(m["subject"].as_str(), Some(format!("Spring news for {name}").as_str()), "{to}");
            assert!(html.contains(&format!("Hello {name}")), "{to}: not personalised: {html}");
            let headers = &m["headers"];
            let unsubscribe = headers["list-unsubscribe"].as_str().unwrap_or("");
            assert!(unsubscribe.contains("<https://") && unsubscribe.contains("<mailto:"), "{to}: {headers}");
            assert_eq!(headers["list-unsubscribe-post"].as_str(), Some("List-Unsubscribe=One-Click"), "{to}: {headers}");
        }

        let id = messages[0]["id"].as_str().expect("a message id");
        let source = http
            .get(format!("{}/email/{id}/source", maildev.api))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /email/{id}/source")
            .text()
            .await
            .unwrap();
        assert!(source.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{source}");
    }

    async fn a_test_send_through_maildev_arrives_marked_and_changes_nothing(t) {
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let (app, file) = setup(&t, &maildev, &tag).await;
        // The campaign running, its sends queued: its figures must not move.
        let text = std::fs::read_to_string(&file).unwrap();
        let c = herald::campaign::parse(&file, &text, &app.config.policy).unwrap();
        let (record, _) = herald::campaign::lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
        herald::campaign::lifecycle::materialise(&app, &record, &c).await.unwrap();
        let before = app.store.campaign_counts(record.id).await.unwrap();
        let ada_email = herald::domain::EmailAddress::parse(&tagged("ada@example.com", &tag)).unwrap();
        let ada = app.store.contact(ada_email.normalized()).await.unwrap().unwrap();
        let ledger = app.store.ledger(ada.id.unwrap()).await.unwrap().len();

        let to = herald::domain::EmailAddress::parse(&tagged("qa@acme.example", &tag)).unwrap();
        let engine = herald::send::engine::Engine::new(app.clone(), herald::send::engine::Deps::from_config(&app).unwrap());
        let report = herald::campaign::test_send::send(&app, &engine, &file, &to, Some(&ada_email)).await.unwrap();
        engine.close().await;
        assert_eq!(report.state, herald::domain::SendState::Sent, "{report:?}");

        let http = reqwest::Client::new();
        let messages = maildev.wait_for(&http, &tag, 1).await;
        assert_eq!(messages.len(), 1, "only the test message, to the test address");
        let m = &messages[0];
        assert_eq!(recipients(m), vec![to.as_str().to_ascii_lowercase()]);
        assert_eq!(m["subject"].as_str(), Some("[TEST] Spring news for Ada"));
        let html = m["html"].as_str().unwrap_or("");
        assert!(html.contains("Hello Ada"), "rendered as the contact: {html}");

        assert_eq!(app.store.campaign_counts(record.id).await.unwrap(), before, "not in the campaign's figures");
        // Its unsubscribe link changes nothing.
        let at = html.find("/u/").expect("an unsubscribe link");
        let token: String = html[at + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        let done = herald::contacts::withdraw::withdraw_by_token(&app, &token, &herald::consent::Authority::contact(false)).await.unwrap();
        assert!(matches!(done, herald::contacts::withdraw::Withdrawal::TestLink { .. }), "{done:?}");
        let after = app.store.contact(ada_email.normalized()).await.unwrap().unwrap();
        assert_eq!((after.lists, after.opt_in), (ada.lists, ada.opt_in));
        assert_eq!(app.store.ledger(ada.id.unwrap()).await.unwrap().len(), ledger, "the contact's ledger is unchanged");
    }
}
