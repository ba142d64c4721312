//! Issue 12, point 11 and issue 14, point 9: a whole campaign, a CSV import and a web
//! sign-up with its confirmation click, each logged at the most verbose level Herald has
//! (and sqlx's statements at TRACE), carry no contact's address, first or last name, or
//! token — Herald's own lines log ids, and its dependencies (lettre prints every SMTP
//! command at DEBUG) stay at `warn` unless named.

use crate::daemon::{herald, logs, sigterm};
use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::on_both_backends;
use crate::send::{CONTACTS, setup_with};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

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

/// What the tests log at: all of Herald at TRACE, and sqlx's statements too (their SQL
/// must carry no bound value).
const TRACE: &str = "trace,sqlx=trace";

/// Fails when `log` holds any of `addresses` (as is, or percent-encoded as in a form
/// body) or any of `names` as a whole word.
fn assert_no_person(log: &str, addresses: &[&str], names: &[&str]) {
    assert!(log.contains("DEBUG sqlx::query"), "the capture holds sqlx's statements:\n{log}");
    let lower = log.to_lowercase();
    for address in addresses {
        let address = address.to_lowercase();
        assert!(!lower.contains(&address), "{address} is in the log:\n{log}");
        let (local, domain) = address.split_once('@').unwrap();
        assert!(!lower.contains(&format!("{local}%40{domain}")), "{address} (encoded) is in the log:\n{log}");
    }
    let words = words(log);
    for name in names {
        assert!(!words.contains(name), "the name {name} is in the log:\n{log}");
    }
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
        cmd.env("HERALD_LOG", TRACE).env_remove("RUST_LOG");
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("finishes").unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        assert_eq!(fake.count(), 3, "the campaign was sent");

        // `output()` captures stderr, where the log goes.
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!log.contains('\u{1b}'), "no colour codes in a file");
        let people = people();
        let (addresses, names): (Vec<&str>, Vec<&str>) = people.iter().map(String::as_str).partition(|p| p.contains('@'));
        assert_no_person(&log, &addresses, &names);
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

on_both_backends! {
    async fn a_token_in_a_request_path_never_reaches_the_log_which_names_the_route_and_the_ids(t) {
        let csv = t.write("contacts.csv", CONTACTS);
        assert!(t.herald(&["contacts", "import", csv.to_str().unwrap()]).status.success());
        let ada = t.contact("ada@example.com").await.unwrap().id.unwrap();
        let mut cmd = herald(&t, &["daemon", "--listen", "127.0.0.1:0", "--json"], "web.log");
        cmd.env("HERALD_LOG", "trace").env_remove("RUST_LOG").env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET);
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line)).await.expect("starts").unwrap();
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}{}", logs(&t)));
        let web = started["listening"].as_str().unwrap().to_owned();

        const TOKEN: &str = "AAtokenQ7xZ9pL2mK8vN4wR6yT3";
        let http = reqwest::Client::new();
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(status(http.get(format!("{web}/u/{TOKEN}")).send().await.unwrap()), 404);
        let form = http.post(format!("{web}/p/{TOKEN}?k={TOKEN}")).form(&[("t", TOKEN)]).send().await.unwrap();
        assert_eq!(status(form), 404);
        assert_eq!(status(http.get(format!("{web}/nowhere/{TOKEN}")).send().await.unwrap()), 404);
        assert_eq!(status(http.post(format!("{web}/hooks/{TOKEN}")).body("{}").send().await.unwrap()), 404);
        let body = r#"{"events":[{"recipient":"ada@example.com","kind":"complaint","id":"evt-log"}]}"#;
        let hooked = http.post(format!("{web}/hooks/generic")).header("X-Herald-Signature", signed(body)).body(body);
        assert_eq!(status(hooked.send().await.unwrap()), 200, "{}", logs(&t));
        sigterm(&child).await;
        assert!(tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("stops").unwrap().success());
        let after = t.contact("ada@example.com").await.unwrap();
        assert_eq!(after.opt_in, herald::domain::OptInStatus::OptedOutContact, "the complaint was recorded");

        let log = std::fs::read_to_string(t.dir.path().join("web.log")).unwrap();
        assert!(log.contains("route=<unmatched>") && log.contains("route=/hooks/{provider}"), "{log}");
        assert!(log.contains("route=/u/{token}") && log.contains("route=/p/{token}"), "{log}");
        assert!(log.contains("status=404") && log.contains("latency_ms="), "{log}");
        assert!(log.contains(&format!("contact_id={ada}")), "the webhook's contact is on its span:\n{log}");
        assert!(!log.contains(TOKEN), "a token is in the log:\n{log}");
        assert!(!log.to_lowercase().contains("ada@example.com"), "an address is in the log:\n{log}");
    }
}

const WEBHOOK_SECRET: &str = "a-webhook-secret-for-the-log-test";

fn signed(body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// People with first and last names no log line could hold by chance; the last row's
/// address is invalid (the import rejects it, naming it in its report, not in the log).
const NAMED: &str = "email,first_name,last_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    wilhelmina.q@example.com,Wilhelmina,Quartermaine,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    bartholomew@example.org,Bartholomew,Fitzwilliam,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    broken-address,Ignatius,Pettigrew,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n";
const NAMED_ADDRESSES: &[&str] = &["wilhelmina.q@example.com", "bartholomew@example.org"];
const NAMES: &[&str] = &["Wilhelmina", "Quartermaine", "Bartholomew", "Fitzwilliam", "Ignatius", "Pettigrew"];

on_both_backends! {
    async fn an_import_logged_at_trace_level_names_no_contact(t) {
        let first = t.write("people.csv", NAMED);
        // The second import changes a last name: the update path is logged too.
        let second = t.write("again.csv", NAMED.replace("Fitzwilliam", "Ravensworth"));
        let mut log = String::new();
        for (file, name) in [(&first, "import1.log"), (&second, "import2.log")] {
            let mut cmd = herald(&t, &["contacts", "import", file.to_str().unwrap()], name);
            cmd.env("HERALD_LOG", TRACE).env_remove("RUST_LOG");
            let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("finishes").unwrap();
            assert_eq!(out.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&out.stdout), logs(&t));
            log += &String::from_utf8_lossy(&out.stderr);
        }
        let bart = t.contact("bartholomew@example.org").await.expect("imported");
        assert_eq!(bart.identity.last_name.as_deref(), Some("Ravensworth"), "the second import updated the record");
        let mut names = NAMES.to_vec();
        names.push("Ravensworth");
        assert_no_person(&log, NAMED_ADDRESSES, &names);
        assert!(!log.contains("broken-address"), "the rejected address is in the log:\n{log}");
    }

    async fn a_web_sign_up_and_its_confirmation_logged_at_trace_level_name_nobody(t) {
        const SIGNER: &str = "wilhelmina.q@example.com";
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let _ = setup_with(&t, &fake, CONTACTS, "").await;
        let mut cmd = herald(&t, &["daemon", "--listen", "127.0.0.1:0", "--json"], "signup.log");
        cmd.env("HERALD_LOG", TRACE).env_remove("RUST_LOG");
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line)).await.expect("starts").unwrap();
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}{}", logs(&t)));
        let web = started["listening"].as_str().unwrap().to_owned();

        let http = reqwest::Client::new();
        let form = [
            ("email", SIGNER),
            ("list", "newsletter"),
            ("first_name", "Wilhelmina"),
            ("last_name", "Quartermaine"),
            ("purpose", "newsletter"),
            ("policy_version", "1"),
            ("form", "footer"),
        ];
        let signed_up = http.post(format!("{web}/subscribe")).form(&form).send().await.unwrap();
        assert_eq!(signed_up.status().as_u16(), 200, "{}", logs(&t));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let message = loop {
            if let Some(m) = fake.received().into_iter().find(|m| m.to.iter().any(|to| to == SIGNER)) {
                break m;
            }
            assert!(std::time::Instant::now() < deadline, "no confirmation message: {}", logs(&t));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let text = String::from_utf8_lossy(&message.data).replace("=\r\n", "");
        let token: String = text
            .split("/confirm/")
            .nth(1)
            .unwrap_or_else(|| panic!("no confirmation link: {text}"))
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        let confirm = format!("{web}/confirm/{token}");
        assert_eq!(http.get(&confirm).send().await.unwrap().status().as_u16(), 200, "{}", logs(&t));
        assert_eq!(http.post(&confirm).send().await.unwrap().status().as_u16(), 200, "{}", logs(&t));
        sigterm(&child).await;
        assert!(tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("stops").unwrap().success());
        let signer = t.contact(SIGNER).await.expect("signed up");
        assert_eq!(signer.opt_in, herald::domain::OptInStatus::DoubleOptIn, "the click confirmed the sign-up");

        let log = std::fs::read_to_string(t.dir.path().join("signup.log")).unwrap();
        assert!(log.contains("route=/subscribe") && log.contains("route=/confirm/{token}"), "{log}");
        assert_no_person(&log, &[SIGNER], &["Wilhelmina", "Quartermaine"]);
        let people = people();
        let (addresses, names): (Vec<&str>, Vec<&str>) = people.iter().map(String::as_str).partition(|p| p.contains('@'));
        assert_no_person(&log, &addresses, &names);
        assert!(token.len() >= 16 && !log.contains(&token), "the confirmation token is in the log:\n{log}");
    }
}
