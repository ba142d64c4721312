//! Issue 12, point 11: a whole campaign logged at the most verbose level Herald has
//! carries no contact's address, name or token — Herald's own lines log ids, and its
//! dependencies (lettre prints every SMTP command at DEBUG) stay at `warn` unless named.

use crate::daemon::{herald, logs};
use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::on_both_backends;
use crate::send::{CONTACTS, setup_with};
use std::time::Duration;

/// Every address and first name of the fixture.
fn people() -> Vec<String> {
    CONTACTS.lines().skip(1).flat_map(|l| l.split(',').take(2).map(str::to_owned)).collect()
}

/// The link tokens and VERP MACs of the messages the relay received: what a reader of
/// the log must never be able to use.
fn tokens(fake: &FakeSmtp) -> Vec<String> {
    let mut out = Vec::new();
    for m in fake.received() {
        let text = String::from_utf8_lossy(&m.data).replace("=\r\n", "");
        for (start, end) in [("/u/", '>'), ("/p/", '"'), ("unsubscribe+", '@')] {
            for piece in text.split(start).skip(1) {
                let token: String = piece.chars().take_while(|c| *c != end && !c.is_whitespace()).collect();
                if token.len() >= 16 {
                    out.push(token);
                }
            }
        }
        if let Some((local, _)) = m.from.split_once('@') {
            out.extend(local.rsplit_once('.').map(|(_, mac)| mac.to_owned()));
        }
    }
    out
}

/// The words of `log` (a name is found only as a whole word: "Cy" is not in "Cycle").
fn words(log: &str) -> Vec<&str> {
    log.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

on_both_backends! {
    async fn a_campaign_logged_at_trace_level_names_no_contact_and_no_token(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let mut cmd = herald(&t, &["campaign", "send", file.to_str().unwrap()], "trace.log");
        cmd.env("HERALD_LOG", "trace").env_remove("RUST_LOG");
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("finishes").unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        assert_eq!(fake.count(), 3, "the campaign was sent");

        // `output()` captures stderr, where the log goes.
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!log.contains('\u{1b}'), "no colour codes in a file");
        let words = words(&log);
        for person in people() {
            if person.contains('@') {
                assert!(!log.to_lowercase().contains(&person.to_lowercase()), "{person} is in the log:\n{log}");
            } else {
                assert!(!words.contains(&person.as_str()), "the name {person} is in the log:\n{log}");
            }
        }
        let tokens = tokens(&fake);
        assert!(!tokens.is_empty(), "the messages carry tokens");
        for token in tokens {
            assert!(!log.contains(&token), "a token is in the log:\n{log}");
        }
    }

    async fn naming_a_dependency_in_herald_log_shows_its_debug_lines(t) {
        // The counterpart of the test above: the capture works, and it is the filter
        // that keeps lettre's lines (with the recipients in them) out by default.
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let mut cmd = herald(&t, &["campaign", "send", file.to_str().unwrap()], "lettre.log");
        cmd.env("HERALD_LOG", "trace,lettre=debug").env_remove("RUST_LOG");
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("finishes").unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(log.contains("lettre") && log.contains("ada@example.com"), "lettre's DEBUG lines are shown:\n{log}");
    }
}
