//! The `herald` process itself (issue #4): the daemon's scheduler, HTTP endpoints and
//! graceful shutdown; and crash safety: the sending process killed with SIGKILL at
//! random moments and restarted, on both backends, and two daemons sharing one
//! PostgreSQL database with one of them killed. Every eligible person ends with exactly
//! one delivered message, except at most the in-flight window reported as `in_doubt`.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, recipients, setup_with};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `max_connections` of the test relay (see `send::setup_with`): the most messages one
/// killed process can leave between "transmitting" and its outcome.
const CONNECTIONS: usize = 4;

pub(crate) fn herald(t: &TestDb, args: &[&str], log: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_herald"));
    c.current_dir(t.dir.path())
        .arg("--config")
        .arg(t.config_path())
        .args(args)
        .env_remove("HERALD_DATABASE__URL")
        .envs(env())
        .env("HERALD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(t.dir.path().join(log)).unwrap())
        .kill_on_drop(true);
    c
}

/// Starts `herald daemon` on a free port and returns it with its base URL.
pub(crate) async fn daemon(t: &TestDb, log: &str) -> (Child, String) {
    let mut child = herald(t, &["daemon", "--listen", "127.0.0.1:0"], log).spawn().expect("spawn herald daemon");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
        .await
        .unwrap_or_else(|_| panic!("the daemon did not start: {}", logs(t)))
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}: {}", logs(t)))
        .to_owned();
    // Keep reading stdout so the daemon never blocks on a full pipe.
    tokio::spawn(async move {
        let mut sink = String::new();
        while reader.read_line(&mut sink).await.unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, url)
}

pub(crate) fn logs(t: &TestDb) -> String {
    let mut out = String::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out +=
            &format!("\n--- {} (last lines)\n{}", p.display(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    out
}

pub(crate) async fn sigterm(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(status.success());
}

async fn status(t: &TestDb, name: &str) -> serde_json::Value {
    let out = herald(t, &["campaign", "status", name, "--json"], "status.log").output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `campaign status` until the campaign has no open sends (or panics after `limit`).
pub(crate) async fn wait_until_done(t: &TestDb, name: &str, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = status(t, name).await;
        if s["state"] == "completed" {
            return s;
        }
        assert!(start.elapsed() < limit, "campaign not done after {limit:?}: {s}{}", logs(t));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `n` eligible contacts `p00000@<domain>` over a few domains, and the fixture's
/// excluded people (who must get nothing, however often the sender is killed).
fn many_contacts(n: usize) -> String {
    let mut csv =
        CONTACTS.lines().filter(|l| !ELIGIBLE_FIXTURE.iter().any(|e| l.starts_with(e))).collect::<Vec<_>>().join("\n");
    csv.push('\n');
    for i in 0..n {
        let domain = ["example.com", "example.org", "example.net"][i % 3];
        csv += &format!("p{i:05}@{domain},P{i},double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n");
    }
    csv
}

const ELIGIBLE_FIXTURE: [&str; 3] = ["ada@", "bob@", "cy@"];
const EXCLUDED: [&str; 5] =
    ["carl@example.com", "dana@example.com", "eve@example.com", "fay@example.com", "gus@example.com"];

/// The exactly-once check: every eligible address got one message, or at most one and
/// is `in_doubt`; nobody got two; the excluded got nothing; the in-doubt count is
/// within `max_in_doubt`.
fn check_exactly_once(fake: &FakeSmtp, n: usize, s: &serde_json::Value, max_in_doubt: usize) {
    let got = recipients(fake);
    let twice: BTreeMap<_, _> = got.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    for e in EXCLUDED {
        assert!(!got.contains_key(e), "{e} is excluded but got a message");
    }
    let in_doubt = s["in_doubt"].as_u64().unwrap() as usize;
    let sent = s["sent"].as_u64().unwrap() as usize;
    assert_eq!(sent + in_doubt, n, "every eligible person is sent or in doubt: {s}");
    assert!(in_doubt <= max_in_doubt, "{in_doubt} in doubt, more than the in-flight window {max_in_doubt}: {s}");
    // Every `sent` row was delivered; in-doubt rows were delivered at most once.
    assert!(got.len() >= sent && got.len() <= n, "{} delivered, {sent} sent, {in_doubt} in doubt", got.len());
    assert_eq!(s["failed"], 0, "{s}");
}

on_both_backends! {
    async fn the_daemon_starts_a_scheduled_campaign_serves_health_and_metrics_and_exits_0_on_sigterm(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_app, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let (mut child, url) = daemon(&t, "daemon.log").await;
        let http = reqwest::Client::new();
        let health = http.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");

        let out = herald(&t, &["campaign", "schedule", file.to_str().unwrap()], "schedule.log").output().await.unwrap();
        assert!(out.status.success(), "{}", logs(&t));
        let s = wait_until_done(&t, "spring", Duration::from_secs(60)).await;
        assert_eq!((s["sent"].as_i64(), s["failed"].as_i64()), (Some(3), Some(0)), "{s}");
        assert_eq!(fake.count(), 3);

        let metrics = http.get(format!("{url}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = metrics.text().await.unwrap();
        for line in [
            "herald_sends{state=\"sent\"} 3",
            "herald_sends{state=\"skipped\"} 0",
            "herald_queue_depth 0",
            "herald_campaigns{state=\"completed\"} 1",
            "herald_attempts_total{outcome=\"sent\"} 3",
            "herald_bounces{kind=\"hard\"} 0",
            "# TYPE herald_throttle_waits_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }

        let start = Instant::now();
        sigterm(&child).await;
        let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits in time").unwrap();
        assert!(exit.success(), "exit {exit:?}{}", logs(&t));
        assert!(start.elapsed() < Duration::from_secs(15), "shutdown took {:?}", start.elapsed());
    }

    async fn a_sender_killed_at_random_moments_and_restarted_sends_each_person_exactly_once(t) {
        const N: usize = 5_000;
        const KILLS: usize = 3;
        // Slow enough that every kill lands mid-campaign, with messages in flight.
        let fake = FakeSmtp::start(Behaviour { data_reply_delay: Duration::from_millis(2), ..Default::default() }).await;
        let (_app, file) = setup_with(&t, &fake, &many_contacts(N), "").await;
        let seed: u64 = rand::random();
        eprintln!("crash test seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let file = file.to_str().unwrap().to_owned();
        let mut kills = 0;
        for round in 0..=KILLS {
            let before = fake.count();
            let mut child =
                herald(&t, &["campaign", "send", &file], &format!("send-{round}.log")).spawn().unwrap();
            if round < KILLS {
                // Kill once this run has delivered something (so it is mid-flight), after
                // a random extra moment.
                let start = Instant::now();
                while fake.count() == before && start.elapsed() < Duration::from_secs(60) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
                if child.try_wait().unwrap().is_none() {
                    child.kill().await.unwrap(); // SIGKILL
                    kills += 1;
                }
            } else {
                let exit = tokio::time::timeout(Duration::from_secs(300), child.wait()).await.expect("finishes").unwrap();
                assert!(exit.success(), "the last run failed: {}", logs(&t));
            }
        }
        assert!(kills >= 1, "no run was killed mid-campaign");
        let s = status(&t, "spring").await;
        assert_eq!(s["state"], "completed", "{s}");
        check_exactly_once(&fake, N, &s, kills * CONNECTIONS);
    }
}

/// Two daemons share one PostgreSQL database; one is killed with SIGKILL mid-campaign;
/// the other takes over its expired leases and finishes.
#[tokio::test]
async fn two_daemons_on_postgresql_one_killed_send_each_person_exactly_once() {
    let Some(t) = TestDb::new(Backend::Postgres).await else {
        eprintln!("skipped: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    const N: usize = 5_000;
    let fake = FakeSmtp::start(Behaviour { data_reply_delay: Duration::from_millis(2), ..Default::default() }).await;
    let (_app, file) = setup_with(&t, &fake, &many_contacts(N), "").await;
    let (mut a, _) = daemon(&t, "daemon-a.log").await;
    let (b, b_url) = daemon(&t, "daemon-b.log").await;
    let out = herald(&t, &["campaign", "schedule", file.to_str().unwrap()], "schedule.log").output().await.unwrap();
    assert!(out.status.success(), "{}", logs(&t));
    let start = Instant::now();
    while fake.count() < N / 5 && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..300))).await;
    a.kill().await.unwrap(); // SIGKILL
    let s = wait_until_done(&t, "spring", Duration::from_secs(300)).await;
    check_exactly_once(&fake, N, &s, CONNECTIONS);
    // Both took part: the survivor's own counter is below the total.
    let metrics = reqwest::get(format!("{b_url}/metrics")).await.unwrap().text().await.unwrap();
    let by_b: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_attempts_total{outcome=\"sent\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the survivor reports its sends");
    assert!(by_b > 0 && by_b < N, "daemon b sent {by_b} of {N}");
    sigterm(&b).await;
    let mut b = b;
    let exit = tokio::time::timeout(Duration::from_secs(30), b.wait()).await.expect("exits in time").unwrap();
    assert!(exit.success(), "{}", logs(&t));
}

/// Daemons sharing PostgreSQL: while one process materialises a campaign (it holds the
/// campaign's materialising lock), another daemon's scheduler starts the campaign but leaves
/// its sends to the holder, instead of inserting the same rows and waiting on its locks;
/// once the lock is free, it carries on.
#[tokio::test]
async fn a_daemon_leaves_a_campaign_another_process_is_materialising_to_it() {
    let Some(t) = TestDb::new(Backend::Postgres).await else {
        eprintln!("skipped: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let (app, file) = setup_with(&t, &fake, CONTACTS, "").await;
    let text = std::fs::read_to_string(&file).unwrap();
    let c = herald::campaign::parse(&file, &text, &app.config.policy).unwrap();
    let (record, _) =
        herald::campaign::lifecycle::record(&app, &c, &text, herald::domain::CampaignState::Scheduled).await.unwrap();
    let holder = app.store.try_lock_materialising(record.id).await.unwrap().expect("nobody holds it yet");
    assert!(app.store.try_lock_materialising(record.id).await.unwrap().is_none(), "one holder at a time");

    herald::daemon::schedule_once(&app).await.unwrap();
    let r = app.store.campaign_by_id(record.id).await.unwrap().unwrap();
    assert_eq!(r.state, herald::domain::CampaignState::Running, "started");
    assert!(!r.materialised, "left to the holder");
    assert_eq!(app.store.campaign_counts(record.id).await.unwrap().total(), 0);

    holder.release().await.unwrap();
    herald::daemon::schedule_once(&app).await.unwrap();
    let r = app.store.campaign_by_id(record.id).await.unwrap().unwrap();
    assert!(r.materialised);
    assert_eq!(app.store.campaign_counts(record.id).await.unwrap().total(), 3, "the three eligible people");
}
