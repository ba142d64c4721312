//! Issue 15, "done means": a welcome series of three steps sent through a real SMTP test
//! server (maildev), with a fixed clock: each step arrives in order, on time and once,
//! nothing before it is due. Skipped without maildev (`scripts/test.sh` starts it).

use crate::flow_steps::WELCOME;
use crate::helpers::*;
use crate::maildev::{Maildev, recipients, tagged};
use herald::clock::{Clock, FixedClock};
use herald::domain::EmailAddress;
use herald::flows::enrolment;
use herald::flows::requests::EnrolRequest;
use herald::flows::scheduler::Scheduler;
use herald::send::engine::{Deps, Engine};
use std::sync::Arc;

crate::on_both_backends! {
    async fn a_welcome_series_through_maildev_arrives_in_order_and_on_time(t) {
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let (ada, bob) = (tagged("ada@example.com", &tag), tagged("bob@example.org", &tag));
        let csv = format!(
            "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
             {ada},Ada,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
             {bob},Bob,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n"
        );
        let path = t.write("contacts.csv", csv);
        herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
        let flows = t.dir.path().join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        t.write("flows/welcome.toml", WELCOME);
        t.write("flows/w1.html.hbs", "<p>Hello {{first_name}}, plan {{event.plan}}</p>");
        t.write("flows/w2.html.hbs", "<p>More for {{first_name}}</p>");
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(
            t.config_path(),
            format!(
                "{config}\n[flows]\ndir = \"{}\"\n[dns]\ncheck_domains = false\n[[smtp]]\nhost = \"{}\"\nport = {}\n\
                 tls = \"none\"\nmax_connections = 2\n[sending]\nlease_seconds = 3\nmin_sample = 1000\n",
                flows.display(),
                maildev.smtp_host,
                maildev.smtp_port
            ),
        )
        .unwrap();
        let clock = Arc::new(FixedClock::new("2026-03-02T09:00:00Z".parse().unwrap()));
        let app = Arc::new(open_app(&t.config_path(), clock.clone()).await);
        let engine = Engine::new(app.clone(), Deps::from_config(&app).unwrap());
        let mut scheduler = Scheduler::new();
        let (valid, _) = enrolment::valid_flows(&app).unwrap();
        let mut reqs = Vec::new();
        for e in [&ada, &bob] {
            let id = app.store.contact(EmailAddress::parse(e).unwrap().normalized()).await.unwrap().unwrap().id.unwrap();
            reqs.push(EnrolRequest {
                flow: "welcome".into(),
                contact_id: id,
                trigger_key: "joined".into(),
                properties: serde_json::json!({"plan": "gold"}),
                at: clock.now(),
            });
        }
        assert_eq!(enrolment::enrol(&app, &valid, &reqs).await.unwrap().enrolled, 2);
        let http = reqwest::Client::new();
        // (how long after enrolment, how many messages each has by then)
        let checkpoints = [(0, 1), (23, 1), (24, 2), (71, 2), (72, 3)];
        let mut at = 0;
        for (hours, expected) in checkpoints {
            clock.advance(chrono::Duration::hours(hours - at));
            at = hours;
            scheduler.tick(&app).await.unwrap();
            while !engine.step_messages().await.unwrap().is_empty() {}
            let got = maildev.wait_for(&http, &tag, expected * 2).await;
            assert_eq!(got.len(), expected * 2, "after {hours}h: {got:?}");
        }
        engine.close().await;
        let got = maildev.messages(&http, &tag).await;
        for to in [&ada, &bob] {
            let mut subjects: Vec<(String, String)> = got
                .iter()
                .filter(|m| recipients(m).contains(to))
                .map(|m| (m["date"].as_str().unwrap_or("").to_owned(), m["subject"].as_str().unwrap_or("").to_owned()))
                .collect();
            subjects.sort();
            let subjects: Vec<&str> = subjects.iter().map(|(_, s)| s.as_str()).collect();
            assert_eq!(subjects.len(), 3, "{to}: {subjects:?}");
            assert!(subjects[0].starts_with("Step hello for "), "{subjects:?}");
            assert_eq!(&subjects[1..], ["Step tips", "Step last"], "{to}");
        }
        let hello = got.iter().find(|m| m["subject"].as_str().is_some_and(|s| s.starts_with("Step hello"))).unwrap();
        assert!(hello["html"].as_str().unwrap_or("").contains("plan gold"), "{hello}");
    }
}
