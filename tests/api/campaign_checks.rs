//! Issue 19, "a campaign a typo cannot burn" and "say what it did": `campaign send`,
//! `schedule` and `validate` check before anything is recorded; a relay nobody can
//! reach is named; `status` says `queued`; a completed campaign says so.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, setup_at, setup_with};

const HEADER: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists,plan\n";

/// Ada has `plan`, Bob and Cy (also eligible) do not; Eve is suppressed.
fn contacts_with_plan() -> String {
    let row = |email: &str, plan: &str| {
        format!("{email},X,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed,{plan}\n")
    };
    format!(
        "{HEADER}{}{}{}{}",
        row("ada@example.com", "pro"),
        row("bob@example.org", ""),
        row("cy@example.net", ""),
        row("eve@example.com", "")
    )
}

/// Runs `herald` off the test's runtime thread, so that the fake SMTP server (on that
/// runtime) can answer it.
async fn herald_sending(t: &TestDb, args: &[&str]) -> std::process::Output {
    let (dir, config) = (t.dir.path().to_path_buf(), t.config_path());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        herald_in(&dir, &config, &args)
    })
    .await
    .unwrap()
}

fn campaign(name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nsubject = \"News\"\ntemplate = \"news\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n{extra}"
    )
}

on_both_backends! {
    async fn a_variable_some_eligible_contacts_lack_is_refused_with_the_count_and_nothing_is_recorded(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        setup_with(&t, &fake, &contacts_with_plan(), "").await;
        t.write("news.html.hbs", "<p>Your plan: {{attributes.plan}}</p>");
        let file = t.write("plan.toml", campaign("plan-news", ""));
        let out = t.herald(&["campaign", "send", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("attributes.plan: missing for 2 of 3 eligible contacts"), "{}", stderr(&out));
        assert!(stderr(&out).contains("plan.toml"), "{}", stderr(&out));
        assert_eq!(t.app.store.campaign_by_name("plan-news").await.unwrap().map(|r| r.id), None);
        let out = t.herald(&["campaign", "schedule", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(fake.count(), 0);

        // `validate` says the same, with the figures, and records nothing either.
        let out = t.herald(&["campaign", "validate", file.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let v = json(&out);
        assert_eq!((v["eligible"].as_i64(), v["missing"]["attributes.plan"].as_i64()), (Some(3), Some(2)), "{v}");
        assert_eq!(v["valid"], false);
        assert!(t.app.store.campaigns().await.unwrap().is_empty());

        // With a fallback the campaign goes out.
        t.write("news.html.hbs", "<p>Your plan: {{default attributes.plan \"basic\"}}</p>");
        let out = t.herald(&["campaign", "validate", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("valid; 3 eligible contacts"), "{}", stdout(&out));
        let out = herald_sending(&t, &["campaign", "send", file.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(fake.count(), 3, "{}{}", stdout(&out), stderr(&out));
    }

    async fn an_unknown_list_or_purpose_is_an_error_listing_the_known_ones(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        setup_with(&t, &fake, CONTACTS, "").await;
        let typo = t.write("typo.toml", campaign("typo", "").replace("[\"newsletter\"]", "[\"newsleter\"]"));
        let out = t.herald(&["campaign", "send", typo.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("unknown list 'newsleter'") && err.contains("known lists: newsletter"), "{err}");
        let typo = t.write("typo.toml", campaign("typo", "").replace("purpose = \"newsletter\"", "purpose = \"newsleter\""));
        let out = t.herald(&["campaign", "validate", typo.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("unknown purpose 'newsleter'") && err.contains("newsletter, tracking"), "{err}");
        assert!(t.app.store.campaigns().await.unwrap().is_empty());
        assert_eq!(fake.count(), 0);
    }

    async fn an_empty_plan_exits_1_with_the_exclusion_summary_unless_allowed(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        setup_with(&t, &fake, CONTACTS, "").await;
        // Nobody agreed to the `tracking` purpose.
        let file = t.write("empty.toml", campaign("empty", "").replace("purpose = \"newsletter\"", "purpose = \"tracking\""));
        let out = t.herald(&["campaign", "send", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no eligible contact") && err.contains("audience 7; excluded:"), "{err}");
        assert!(err.contains("--allow-empty"), "{err}");
        assert!(t.app.store.campaign_by_name("empty").await.unwrap().is_none());
        let out = t.herald(&["campaign", "send", file.to_str().unwrap(), "--allow-empty", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(json(&out)["state"], "completed");
        assert_eq!(fake.count(), 0);
    }

    async fn every_relay_unreachable_is_named_with_host_and_port_and_exits_1(t) {
        // A port nobody listens on any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (_, file) = setup_at(&t, "127.0.0.1", port, CONTACTS, "eve@example.com", "").await;
        let out = t.herald(&["campaign", "send", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no relay can be reached") && err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(t.app.store.campaign_by_name("spring").await.unwrap().is_none(), "nothing recorded");
    }

    async fn with_wait_send_waits_for_a_relay_to_come_up(t) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (_, file) = setup_at(&t, "127.0.0.1", port, CONTACTS, "eve@example.com", "").await;
        let sending = {
            let (dir, config, file) = (t.dir.path().to_path_buf(), t.config_path(), file.clone());
            tokio::task::spawn_blocking(move || herald_in(&dir, &config, &["campaign", "send", file.to_str().unwrap(), "--wait"]))
        };
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let fake = FakeSmtp::start_on(port, Behaviour::default()).await;
        let out = sending.await.unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("waiting for a relay: 127.0.0.1:{port}")), "{}", stderr(&out));
        assert_eq!(fake.count(), 3);
    }

    async fn status_says_queued_and_a_completed_campaign_says_it_is_already_complete(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let out = herald_sending(&t, &["campaign", "send", file.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let status = stdout(&t.herald(&["campaign", "status", "spring"]));
        assert!(status.contains("  queued            0") && !status.contains("open"), "{status}{}", stdout(&out));
        let again = herald_sending(&t, &["campaign", "send", file.to_str().unwrap()]).await;
        assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
        assert!(stdout(&again).contains("Campaign spring is already complete (3 sent, 0 failed)"), "{}", stdout(&again));
        assert_eq!(fake.count(), 3);
    }
}
