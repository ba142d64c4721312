//! Issue 15, "done means": `herald daemon` killed with SIGKILL while the steps of enrolled
//! contacts are due and being sent, then restarted: every step is queued once (no loss,
//! no duplicate) and each person gets it at most once, the in-flight window aside
//! (`in_doubt`, as for campaigns). On both backends, against the in-test SMTP server.

use crate::daemon::{daemon, logs, sigterm};
use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::send::{recipients, setup_with};
use herald::domain::EmailAddress;
use herald::flows::enrolment;
use herald::flows::requests::EnrolRequest;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// `max_connections` of the test relay (`send::setup_with`).
const CONNECTIONS: usize = 4;

const FLOW: &str = "name = \"onboarding\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n\
    trigger = { event = \"custom\", name = \"joined\" }\n\
    [[steps]]\nname = \"hello\"\nafter = \"0m\"\nsubject = \"Hello {{first_name}}\"\ntemplate = \"hello\"\n";

fn people(n: usize) -> String {
    let mut csv = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n".to_owned();
    for i in 0..n {
        csv += &format!("q{i:05}@example.com,Q{i},double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n");
    }
    csv
}

/// How many flow sends are in one of `states`.
async fn flow_sends(app: &herald::app::App, states: &str) -> u64 {
    let sql = format!("UPDATE sends SET updated_at = updated_at WHERE source = 'flow' AND state IN ({states})");
    app.store.execute_raw(&sql).await.unwrap()
}

crate::on_both_backends! {
    async fn a_daemon_killed_while_steps_are_due_and_restarted_sends_each_step_once(t) {
        const N: usize = 1_500;
        const KILLS: usize = 3;
        let fake = FakeSmtp::start(Behaviour { data_reply_delay: Duration::from_millis(2), ..Default::default() }).await;
        let flows = t.dir.path().join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(flows.join("onboarding.toml"), FLOW).unwrap();
        std::fs::write(flows.join("hello.html.hbs"), "<p>Hello {{first_name}}</p>").unwrap();
        let extra = format!("[flows]\ndir = \"{}\"\n", flows.display());
        // The suppressed address of the fixture is not among these people.
        let (app, _) = setup_with(&t, &fake, &people(N), &extra).await;
        let (valid, _) = enrolment::valid_flows(&app).unwrap();
        let mut reqs = Vec::with_capacity(N);
        for i in 0..N {
            let e = EmailAddress::parse(&format!("q{i:05}@example.com")).unwrap();
            let id = app.store.contact(e.normalized()).await.unwrap().unwrap().id.unwrap();
            reqs.push(EnrolRequest {
                flow: "onboarding".into(),
                contact_id: id,
                trigger_key: "joined".into(),
                properties: serde_json::json!({}),
                at: chrono::Utc::now(),
            });
        }
        assert_eq!(enrolment::enrol(&app, &valid, &reqs).await.unwrap().enrolled, N as u64);

        let seed: u64 = rand::random();
        eprintln!("flow crash test seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut kills = 0;
        for round in 0..KILLS {
            let before = fake.count();
            let (mut child, _) = daemon(&t, &format!("flow-daemon-{round}.log")).await;
            if round > 0 {
                // Mid-sending: once this run delivered something.
                let start = Instant::now();
                while fake.count() == before && start.elapsed() < Duration::from_secs(60) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            // The first run is killed at a random moment of its first ticks: the steps
            // are due, being claimed, queued or sent.
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().await.unwrap(); // SIGKILL
                kills += 1;
            }
        }
        let (child, _) = daemon(&t, "flow-daemon-last.log").await;
        let start = Instant::now();
        while flow_sends(&app, "'sent', 'in_doubt', 'failed', 'skipped'").await < N as u64 {
            assert!(start.elapsed() < Duration::from_secs(240), "flow steps not done: {}", logs(&t));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        sigterm(&child).await;

        assert_eq!(flow_sends(&app, "'queued', 'claimed', 'transmitting', 'deferred', 'sent', 'in_doubt', 'failed', 'skipped'").await, N as u64, "each step queued exactly once");
        let got = recipients(&fake);
        let twice: Vec<_> = got.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "sent twice: {twice:?}");
        let (sent, in_doubt) = (flow_sends(&app, "'sent'").await as usize, flow_sends(&app, "'in_doubt'").await as usize);
        assert_eq!(sent + in_doubt, N, "every step sent or in doubt");
        assert!(in_doubt <= kills * CONNECTIONS, "{in_doubt} in doubt after {kills} kills");
        assert!(got.len() >= sent && got.len() <= N, "{} delivered, {sent} sent", got.len());
        let groups = app.store.enrolment_groups(chrono::Utc::now()).await.unwrap();
        assert_eq!(groups.iter().map(|g| (g.state.as_str(), g.count)).collect::<Vec<_>>(), [("completed", N as i64)]);
    }
}
