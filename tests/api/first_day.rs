//! Issue 19, points 11 and 15: what a marketer's first day showed — the daemon's log says
//! what it does, a foreground send sums failures up by cause, and the small ones.

use crate::daemon::{daemon, herald, logs, sigterm, wait_until_done};
use crate::fake_smtp::{Behaviour, FakeSmtp, Matcher, Rule};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CAMPAIGN, CONTACTS, setup_with};
use std::time::Duration;

const OUT_OF_OFFICE: &str = "From: Ada <ada@example.com>\r\nTo: news@acme.example\r\nSubject: Out of office\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.com>\r\n\r\nI am away until Monday.\r\n";

/// Waits (up to 30 s) for an INFO line containing `what` in the daemon's log.
async fn until_logged(t: &TestDb, what: &str) {
    let log = || std::fs::read_to_string(t.dir.path().join("daemon.log")).unwrap_or_default();
    for _ in 0..600 {
        if log().lines().any(|l| l.contains(" INFO ") && l.contains(what)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no '{what}' line: {}", log());
}

on_both_backends! {
    async fn the_daemon_logs_one_info_line_per_listener_bound_and_campaign_started_and_completed(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let (child, _url) = daemon(&t, "daemon.log").await;
        let out = herald(&t, &["campaign", "schedule", file.to_str().unwrap()], "schedule.log").output().await.unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        wait_until_done(&t, "spring", Duration::from_secs(60)).await;
        // The completion is logged by the engine right after its last commit.
        until_logged(&t, "campaign completed").await;
        sigterm(&child).await;
        let log = std::fs::read_to_string(t.dir.path().join("daemon.log")).unwrap();
        let lines = |what: &str| log.lines().filter(|l| l.contains(" INFO ") && l.contains(what)).count();
        assert_eq!(lines("HTTP server listening"), 1, "{log}");
        assert_eq!(lines("campaign started"), 1, "{log}");
        assert_eq!(lines("campaign completed"), 1, "{log}");
        assert!(log.lines().filter(|l| l.contains("campaign completed")).all(|l| l.contains("spring")), "{log}");
    }

    async fn the_daemon_logs_a_pause_and_a_resume_made_from_another_shell(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, _) = setup_with(&t, &fake, CONTACTS, "").await;
        let later = t.write("later.toml", format!("{CAMPAIGN}send_at = \"2099-01-01T00:00:00Z\"\n"));
        let (child, _url) = daemon(&t, "daemon.log").await;
        let out = herald(&t, &["campaign", "schedule", later.to_str().unwrap()], "schedule.log").output().await.unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        let log = || std::fs::read_to_string(t.dir.path().join("daemon.log")).unwrap_or_default();
        let info = |what: &str| log().lines().filter(|l| l.contains(" INFO ") && l.contains(what)).count();
        // No wait for the daemon's scheduler: a change made once the daemon has said it is
        // up is one it logs, whether or not it saw the campaign scheduled first.
        let out = herald(&t, &["campaign", "pause", "spring"], "pause.log").output().await.unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        until_logged(&t, "campaign paused").await;
        let out = herald(&t, &["campaign", "resume", "spring"], "resume.log").output().await.unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        until_logged(&t, "campaign resumed").await;
        wait_until_done(&t, "spring", Duration::from_secs(60)).await;
        until_logged(&t, "campaign completed").await;
        sigterm(&child).await;
        assert_eq!(info("campaign paused"), 1, "{}", log());
        assert_eq!(info("campaign resumed"), 1, "{}", log());
        assert_eq!(info("campaign completed"), 1, "{}", log());
        assert!(log().lines().filter(|l| l.contains("campaign paused")).all(|l| l.contains("spring")), "{}", log());
    }

    async fn a_foreground_send_sums_failures_up_by_cause(t) {
        let fake = FakeSmtp::start(Behaviour {
            rules: ["ada@example.com", "bob@example.org", "cy@example.net"]
                .map(|a| Rule::rcpt(Matcher::Address(a.into()), 550, "5.1.1 User unknown"))
                .to_vec(),
            ..Default::default()
        })
        .await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        // The relay runs on this test's runtime: the binary is awaited, not waited for.
        let out = herald(&t, &["campaign", "send", file.to_str().unwrap()], "send.log").output().await.unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", logs(&t));
        let text = stdout(&out);
        let causes: Vec<&str> = text.lines().skip_while(|l| !l.contains("failures by cause")).skip(1).collect();
        let first: Vec<&str> = causes.first().map(|l| l.split_whitespace().collect()).unwrap_or_default();
        assert_eq!(first.get(..2), Some(&["3", "refused"][..]), "{text}");
        assert!(causes[0].contains("SMTP 550"), "{text}");
        let log = std::fs::read_to_string(t.dir.path().join("send.log")).unwrap();
        assert!(!log.contains("ERROR"), "{log}");
        let status = stdout(&t.herald(&["campaign", "status", "spring"]));
        assert!(status.contains("failures by cause") && status.contains("SMTP 550"), "{status}");
    }

    async fn preview_decoded_shows_the_message_with_its_parts_decoded(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        t.write("news.html.hbs", "<p>Grüße, {{first_name}} — à bientôt</p>");
        let args = ["campaign", "preview", file.to_str().unwrap(), "--contact", "ada@example.com"];
        let raw = t.herald(&args);
        assert_eq!(raw.status.code(), Some(0), "{}", stderr(&raw));
        assert!(!stdout(&raw).contains("Grüße"), "the wire form is encoded:\n{}", stdout(&raw));
        let out = t.herald(&[&args[..], &["--decoded"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Subject: Spring news for Ada"), "{text}");
        assert!(text.contains("text/html") && text.contains("Grüße, Ada — à bientôt"), "{text}");
        assert!(text.contains("text/plain") && text.contains("(quoted-printable, decoded) ---\nGrüße, Ada"), "{text}");
    }

    async fn ingest_counts_an_auto_reply_as_classify_names_it(t) {
        let eml = t.write("ooo.eml", OUT_OF_OFFICE);
        let classified = json(&t.herald(&["bounces", "classify", eml.to_str().unwrap(), "--json"]));
        assert_eq!(classified[0]["kind"], "auto_reply");
        let out = t.herald(&["bounces", "ingest", eml.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = json(&out);
        assert_eq!((report["auto_replies"].as_u64(), report["not_feedback"].as_u64()), (Some(1), Some(0)), "{report}");
    }

    async fn suppression_list_shows_the_os_user_as_the_actor_when_no_actor_is_given(t) {
        let os_user = std::process::Command::new("id").arg("-un").output().unwrap();
        let os_user = String::from_utf8(os_user.stdout).unwrap().trim().to_owned();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(t.dir.path())
            .arg("--config")
            .arg(t.config_path())
            .args(["suppression", "add", "s@example.com"])
            .envs(env())
            .env_remove("USER")
            .env_remove("LOGNAME")
            .env_remove("HERALD_DATABASE__URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let list = json(&t.herald(&["suppression", "list", "--json"]));
        assert_eq!(list[0]["actor"], format!("cli:{os_user}"));
    }
}

#[test]
fn the_demo_speaks_words_not_json_in_its_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(dir.path())
        .args(["demo", "ws"])
        .env_remove("HERALD_DATABASE__URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("created"), "{text}");
    assert!(!text.contains('{') && !text.contains("\"rows\""), "no JSON in the human output:\n{text}");
}
