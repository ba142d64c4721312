//! Issue 12, points 4, 5 and 10: only a report tied to a message Herald sent changes a
//! contact (a forged one is kept unmatched for review); the same report in another
//! wrapper is one bounce, counted the same by `/metrics` and `campaign status`; a link
//! key rotation keeps old unsubscribe mailtos working, and an unverifiable one still
//! unsubscribes its sender when that sender is a contact.

use crate::daemon::{logs, sigterm};
use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::feedback::{arf, daemon_with_listener_env, dsn, smtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, send, setup_with};
use herald::app::{LinkKeyCheck, check_link_key};
use herald::config::Secrets;
use herald::domain::{BounceKind, BounceStatus, OptInStatus};

const ROTATED_KEY: &str = "rotated-link-key-0123456789abcdef0123456789";

/// A header of a message the fake relay received.
fn header_of(fake: &FakeSmtp, who: &str, name: &str) -> String {
    let m = fake.received().into_iter().find(|m| m.to == [who]).unwrap();
    let text = String::from_utf8_lossy(&m.data).replace("\r\n ", " ");
    let prefix = format!("{name}: ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name}")).trim().to_owned()
}

fn mailto_of(fake: &FakeSmtp, who: &str) -> String {
    let value = header_of(fake, who, "List-Unsubscribe");
    let start = value.find("mailto:").expect("a mailto in List-Unsubscribe") + "mailto:".len();
    value[start..].split('>').next().unwrap().to_owned()
}

fn ingest(t: &TestDb, files: &[(&str, String)]) -> serde_json::Value {
    let paths: Vec<String> = files.iter().map(|(name, text)| t.write(name, text).display().to_string()).collect();
    let mut args = vec!["bounces", "ingest", "--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = t.herald(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

on_both_backends! {
    async fn a_report_without_verp_or_keyed_message_id_changes_nobody_and_is_listed_unmatched(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, CONTACTS, "[bounces]\nhard_bounce_threshold = 1\n").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        // Mailed straight to abuse@ of the bounce domain: no VERP, no Message-ID.
        let abuse = "abuse@bounces.acme.example";
        // A Message-ID Herald made for Cy proves the message; a guessed one for Ada does not.
        let cy_mid = header_of(&fake, "cy@example.net", "Message-ID");
        let with_mid = |rcpt: &str, mid: &str| {
            arf(abuse, rcpt).replace(&format!("Return-Path: <{abuse}>\n"), &format!("Message-ID: {mid}\n"))
        };
        let guessed = cy_mid.replace(|c: char| c.is_ascii_hexdigit() && c != 'a', "a");
        let report = ingest(&t, &[
            ("forged-complaint.eml", arf(abuse, "bob@example.org")),
            ("forged-dsn.eml", dsn(abuse, "bob@example.org")),
            ("guessed-mid.eml", with_mid("ada@example.com", &guessed)),
            ("keyed-mid.eml", with_mid("cy@example.net", &cy_mid)),
        ]);
        assert_eq!((report["events"].as_u64(), report["unmatched"].as_u64(), report["opted_out"].as_u64()), (Some(4), Some(3), Some(1)), "{report}");

        for who in ["bob@example.org", "ada@example.com"] {
            let c = t.contact(who).await.unwrap();
            assert_eq!((c.opt_in, c.bounce.status), (OptInStatus::DoubleOptIn, BounceStatus::Ok), "{who} is unchanged");
            assert!(t.app.store.ledger(c.id.unwrap()).await.unwrap().iter().all(|e| !e.body.contains("complaint")), "{who}");
        }
        assert_eq!(t.contact("cy@example.net").await.unwrap().opt_in, OptInStatus::OptedOutContact);
        let suppressed = json(&t.herald(&["suppression", "list", "--json"]));
        let emails: Vec<&str> = suppressed.as_array().unwrap().iter().filter_map(|r| r["email"].as_str()).collect();
        assert!(!emails.contains(&"bob@example.org") && emails.contains(&"cy@example.net"), "{suppressed}");

        // Kept for review: `bounces list --unmatched` shows exactly the three, naming whom they claim.
        let unmatched = json(&t.herald(&["bounces", "list", "--unmatched", "--json"]));
        let mut claimed: Vec<(String, String)> = unmatched
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["email"].as_str().unwrap_or("?").to_owned(), r["kind"].as_str().unwrap().to_owned()))
            .collect();
        claimed.sort();
        assert_eq!(claimed, [
            ("ada@example.com".to_owned(), "complaint".to_owned()),
            ("bob@example.org".to_owned(), "complaint".to_owned()),
            ("bob@example.org".to_owned(), "hard".to_owned()),
        ], "{unmatched}");
        assert!(unmatched.as_array().unwrap().iter().all(|r| r["unmatched"] == true && r["campaign"].is_null()));
        let all = json(&t.herald(&["bounces", "list", "--json"]));
        assert_eq!(all.as_array().unwrap().len(), 4, "the plain list still shows every report: {all}");
        let status = json(&t.herald(&["campaign", "status", "spring", "--json"]));
        assert_eq!((status["hard_bounces"].as_i64(), status["complaints"].as_i64()), (Some(0), Some(1)), "{status}");
    }
}

on_both_backends! {
    async fn the_same_dsn_in_another_wrapper_is_one_bounce_and_metrics_agree_with_status(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        let verp = fake.received().into_iter().find(|m| m.to == ["bob@example.org"]).unwrap().from;
        let plain = dsn(&verp, "bob@example.org");
        let report = ingest(&t, &[
            ("1.eml", plain.clone()),
            ("2.eml", format!("Received: from mx2.example.net by mx.example.net; Thu, 1 Jan 2026 10:00:00 +0000\n{plain}")),
            ("3.eml", format!("Message-ID: <resent-7@mx.example.net>\n{plain}")),
        ]);
        assert_eq!((report["hard"].as_u64(), report["duplicates"].as_u64()), (Some(3), Some(2)), "{report}");

        let listed = json(&t.herald(&["bounces", "list", "--campaign", "spring", "--json"]));
        assert_eq!(listed.as_array().unwrap().len(), 1, "one bounce per send and kind: {listed}");
        let status = json(&t.herald(&["campaign", "status", "spring", "--json"]));
        assert_eq!(status["hard_bounces"].as_i64(), Some(1), "{status}");
        // What /metrics renders as herald_bounces{kind="hard"}.
        let totals = t.app.store.bounce_totals().await.unwrap();
        let hard = totals.iter().find(|c| c.key == BounceKind::Hard).map_or(0, |c| c.count);
        assert_eq!(hard, 1, "{totals:?}");
        let bob = t.contact("bob@example.org").await.unwrap();
        assert_eq!((bob.bounce.status, bob.bounce.consecutive_hard), (BounceStatus::Hard, 1));
    }
}

on_both_backends! {
    async fn after_a_link_key_rotation_old_mailtos_and_verp_addresses_still_work(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, CONTACTS, "[bounces]\nlisten = \"127.0.0.1:0\"\n").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        let mailto = mailto_of(&fake, "bob@example.org");
        let cy_verp = fake.received().into_iter().find(|m| m.to == ["cy@example.net"]).unwrap().from;
        let env = [("HERALD_LINK_KEY", ROTATED_KEY), ("HERALD_LINK_KEY_PREVIOUS", LINK_KEY)];
        let (child, _web, mx) = daemon_with_listener_env(&t, &env).await;

        // From nobody in particular: only the token, signed with the previous key, names Bob.
        assert_eq!(smtp(&mx, "", &mailto, "Subject: unsubscribe\n\n").await.last(), Some(&250));
        assert_eq!(smtp(&mx, "", &cy_verp, &dsn(&cy_verp, "cy@example.net")).await.last(), Some(&250));
        sigterm(&child).await;

        let bob = t.contact("bob@example.org").await.unwrap();
        assert_eq!(bob.lists.values().map(|s| s.to_string()).collect::<Vec<_>>(), ["unsubscribed"], "{}", logs(&t));
        assert_eq!(bob.opt_in, OptInStatus::DoubleOptIn, "the token's own scope, not the sender fallback");
        assert_eq!(t.contact("cy@example.net").await.unwrap().bounce.status, BounceStatus::Hard);
        let recorded = t.app.store.mailto_unsubscribes(10).await.unwrap();
        assert_eq!(recorded.iter().map(|r| (r.via.as_str(), r.outcome.as_str())).collect::<Vec<_>>(), [("token", "done")]);
    }
}

on_both_backends! {
    async fn an_unverifiable_mailto_unsubscribes_its_sender_from_everything_and_is_always_recorded(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, CONTACTS, "[bounces]\nlisten = \"127.0.0.1:0\"\n").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        let (bob_mailto, ada_mailto) = (mailto_of(&fake, "bob@example.org"), mailto_of(&fake, "ada@example.com"));
        // The key changed and the old one is gone: no old token verifies.
        let (child, _web, mx) = daemon_with_listener_env(&t, &[("HERALD_LINK_KEY", ROTATED_KEY)]).await;

        let from_bob = "From: Bob <Bob@Example.org>\nAuthentication-Results: mx.example.net; dkim=pass\nSubject: unsubscribe\n\n";
        assert_eq!(smtp(&mx, "bounce-1@lists.example.org", &bob_mailto, from_bob).await.last(), Some(&250));
        let from_stranger = "From: stranger@example.com\nSubject: unsubscribe\n\n";
        assert_eq!(smtp(&mx, "stranger@example.com", &ada_mailto, from_stranger).await.last(), Some(&250));
        sigterm(&child).await;

        let bob = t.contact("bob@example.org").await.unwrap();
        assert_eq!(bob.opt_in, OptInStatus::OptedOutContact, "{}", logs(&t));
        let ledger = t.app.store.ledger(bob.id.unwrap()).await.unwrap();
        let shown: Vec<String> = ledger.iter().map(|e| serde_json::to_string(&e.event().unwrap()).unwrap()).collect();
        let event = shown.iter().find(|b| b.contains("opted_out_contact")).expect("a ledger event");
        assert!(event.contains("\"actor\":\"contact\"") && event.contains("from header") && event.contains("dkim=pass"), "{event}");
        let ada = t.contact("ada@example.com").await.unwrap();
        assert_eq!((ada.opt_in, ada.lists.values().next().unwrap().to_string()), (OptInStatus::DoubleOptIn, "confirmed".to_owned()));

        // Both recorded, newest first; nothing personal kept for the stranger.
        let recorded = t.app.store.mailto_unsubscribes(10).await.unwrap();
        let got: Vec<_> = recorded.iter().map(|r| (r.via.as_str(), r.outcome.as_str(), r.contact_id)).collect();
        assert_eq!(got, [("none", "not_recognised", None), ("sender", "done", bob.id)]);
        // The start-up noticed the new key, and no log line carries a key or an address.
        let log = std::fs::read_to_string(t.dir.path().join("daemon.log")).unwrap();
        assert!(log.contains("HERALD_LINK_KEY_PREVIOUS"), "{log}");
        for secret in [ROTATED_KEY, LINK_KEY, "bob@example.org", "Bob@Example.org", "stranger@example.com"] {
            assert!(!log.contains(secret), "{secret} in the log");
        }
    }
}

on_both_backends! {
    async fn the_link_key_fingerprint_is_remembered_and_a_change_is_noticed(t) {
        let secrets = |key: &str, previous: Option<&str>| Secrets::new(
            key.as_bytes().to_vec(),
            SUPPRESSION_KEY.as_bytes().to_vec(),
            previous.map(|p| p.as_bytes().to_vec()),
        );
        // The test database was opened with LINK_KEY.
        assert_eq!(check_link_key(&t.app.store, &secrets(LINK_KEY, None)).await.unwrap(), LinkKeyCheck::Same);
        let unplanned = check_link_key(&t.app.store, &secrets(ROTATED_KEY, None)).await.unwrap();
        assert_eq!(unplanned, LinkKeyCheck::Changed { previous_matches: false });
        assert_eq!(check_link_key(&t.app.store, &secrets(ROTATED_KEY, None)).await.unwrap(), LinkKeyCheck::Same);
        let planned = check_link_key(&t.app.store, &secrets(LINK_KEY, Some(ROTATED_KEY))).await.unwrap();
        assert_eq!(planned, LinkKeyCheck::Changed { previous_matches: true });
        let stored = t.app.store.meta_get("link_key_fingerprint").await.unwrap().unwrap();
        assert!(!stored.contains(LINK_KEY) && stored.len() == 16, "a fingerprint, not the key: {stored}");
    }
}
