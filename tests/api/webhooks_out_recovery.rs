//! Outbound consent webhooks when things go wrong for good (issue 15.6): the worker
//! killed mid-delivery, a contact erased before its signals went out, signals given up
//! after `max_attempts` and re-queued with `herald webhooks retry`, as `webhooks status`
//! shows them.

use crate::helpers::*;
use crate::on_both_backends;
use crate::webhook_receiver::Receiver;
use crate::webhooks_out::{
    by_contact, drain, opt_out, pending, subscribe, unsubscribe, webhooks_config, with_webhooks,
};
use herald::consent::Actor;
use herald::outbound::worker::{Step, Worker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// `herald daemon` on a free port with the webhook key in its environment, once it listens.
async fn daemon_with_key(t: &TestDb, log: &str) -> Child {
    let mut child = crate::daemon::herald(t, &["daemon", "--listen", "127.0.0.1:0"], log)
        .env("HERALD_CRM_WEBHOOK_SECRET", crate::webhooks_out::KEY)
        .spawn()
        .expect("spawn herald daemon");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
        .await
        .unwrap_or_else(|_| panic!("the daemon did not start: {}", crate::daemon::logs(t)))
        .unwrap();
    tokio::spawn(async move {
        let mut sink = String::new();
        while reader.read_line(&mut sink).await.unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    child
}

async fn wait_for(what: &str, t: &TestDb, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {}", crate::daemon::logs(t));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both_backends! {
    async fn the_daemon_delivers_and_a_sigkill_mid_way_loses_nothing(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        for i in 0..8 {
            subscribe(&app, &format!("p{i}@example.com")).await;
        }
        crm.set_delay(Duration::from_millis(100));
        crm.up(0).await;
        let mut first = daemon_with_key(&t, "daemon-1.log").await;
        wait_for("a first delivery", &t, async || crm.accepted("/crm").len() >= 2).await;
        first.start_kill().unwrap(); // SIGKILL: no lease released, a request cut off
        first.wait().await.unwrap();
        assert!(pending(&app, "crm").await > 0, "killed before the end");

        let mut second = daemon_with_key(&t, "daemon-2.log").await;
        wait_for("every signal", &t, async || pending(&app, "crm").await == 0).await;
        second.start_kill().unwrap();
        let (delivered, repeats) = crm.deduped("/crm");
        assert_eq!(delivered.len(), 8, "every signal delivered");
        assert!(repeats <= 1, "at most the request cut off is sent again ({repeats})");
        assert!(crm.hits().iter().all(|h| h.signature_verifies(crate::webhooks_out::KEY.as_bytes())));
    }

    async fn a_worker_killed_mid_delivery_loses_nothing_and_keeps_the_order(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        let people = ["a@example.com", "b@example.com", "c@example.com"];
        for p in people {
            subscribe(&app, p).await;
        }
        for p in people {
            unsubscribe(&app, p).await;
        }
        crm.set_delay(Duration::from_millis(100));
        crm.up(0).await;
        let w = app.config.webhooks.out[0].clone();
        let first = Worker::new(app.clone()).unwrap();
        let running = tokio::spawn(async move {
            loop {
                if let Ok(Step::Waiting(d)) = first.step(&w).await {
                    tokio::time::sleep(d).await;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while crm.accepted("/crm").len() < 2 {
            assert!(Instant::now() < deadline, "the first worker delivered nothing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        running.abort(); // a crash: no lease released, an attempt cut off mid-request
        let _ = running.await;
        assert!(pending(&app, "crm").await > 0, "killed before the end");

        let second = Worker::new(app.clone()).unwrap();
        drain(&second, &app, "crm").await;
        let (delivered, repeats) = crm.deduped("/crm");
        assert_eq!(delivered.len(), 6, "every signal delivered");
        assert!(repeats <= 1, "at most the attempt cut off is sent again ({repeats})");
        for (_, events) in by_contact(&delivered) {
            let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
            assert_eq!(names, ["subscribed", "unsubscribed"], "in order per contact");
        }
    }

    async fn an_erased_contact_is_told_to_the_crm_by_id_without_its_address(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        subscribe(&app, "ann@example.com").await;
        let id = t.contact("ann@example.com").await.unwrap().id.unwrap();
        herald::privacy::erase::erase_contact(&app, id, None, Actor::Cli("t".into())).await.unwrap();
        assert_eq!((pending(&app, "crm").await, pending(&app, "audit").await), (2, 1));
        crm.up(0).await;
        let worker = Worker::new(app.clone()).unwrap();
        drain(&worker, &app, "crm").await;
        drain(&worker, &app, "audit").await;
        for h in crm.hits() {
            assert!(!String::from_utf8_lossy(&h.body).contains("ann@"), "no address after erasure: {}", String::from_utf8_lossy(&h.body));
        }
        let got = by_contact(&crm.accepted("/crm"));
        assert_eq!(got[&id.get()], [("subscribed".into(), None), ("erased".into(), None)]);
        assert_eq!(by_contact(&crm.accepted("/audit"))[&id.get()], [("erased".into(), None)]);
    }

    async fn failed_signals_show_in_status_and_retry_requeues_them(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 2)).await;
        subscribe(&app, "ann@example.com").await;
        subscribe(&app, "bob@example.com").await;
        let worker = Worker::new(app.clone()).unwrap();
        let w = app.config.webhooks.out[0].clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pending(&app, "crm").await > 0 {
            assert!(Instant::now() < deadline);
            if let Step::Waiting(d) = worker.step(&w).await.unwrap() {
                tokio::time::sleep(d).await;
            }
        }
        let out = t.herald(&["webhooks", "status", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let status = json(&out);
        let crm_status = &status["webhooks"][0];
        assert_eq!(crm_status["name"], "crm");
        assert_eq!((crm_status["pending"].as_i64(), crm_status["failed"].as_i64()), (Some(0), Some(2)));
        assert_eq!(crm_status["configured"], true);
        assert!(crm_status["last_error"].as_str().unwrap().contains("connect"), "{crm_status}");
        assert_eq!(status["webhooks"][1]["name"], "audit");

        let out = t.herald(&["webhooks", "retry", "--webhook", "crm", "--json"]);
        assert_eq!(json(&out)["requeued"], 2);
        let out = t.herald(&["webhooks", "status"]);
        let text = stdout(&out);
        assert!(text.contains("crm") && text.contains("pending 2") && text.contains("failed 0"), "{text}");
        assert!(text.contains("oldest pending:") && !text.contains("@example.com"), "{text}");

        crm.up(0).await;
        drain(&worker, &app, "crm").await;
        assert_eq!(crm.deduped("/crm").0.len(), 2);
    }

    async fn two_workers_share_a_webhook_without_duplicates_or_disorder(t) {
        // Two daemons on one database: the webhook's lease lets one deliver at a time.
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        for p in ["a@example.com", "b@example.com"] {
            subscribe(&app, p).await;
            unsubscribe(&app, p).await;
            opt_out(&app, p).await;
        }
        crm.set_delay(Duration::from_millis(30));
        crm.up(1).await;
        let w = app.config.webhooks.out[0].clone();
        let loops: Vec<_> = (0..2)
            .map(|_| {
                let (worker, w) = (Worker::new(app.clone()).unwrap(), w.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        match worker.step(&w).await.unwrap() {
                            Step::Idle => return,
                            Step::Waiting(d) => tokio::time::sleep(d).await,
                            Step::Held => tokio::time::sleep(Duration::from_millis(10)).await,
                            Step::Progress | Step::NoKey => {}
                        }
                    }
                })
            })
            .collect();
        for l in loops {
            l.await.unwrap();
        }
        let (delivered, repeats) = crm.deduped("/crm");
        assert_eq!((delivered.len(), repeats), (6, 0));
        for (_, events) in by_contact(&delivered) {
            let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
            assert_eq!(names, ["subscribed", "unsubscribed", "opted_out"]);
        }
        // Delivered rows are kept for `keep_delivered`, then purged; pending ones never are.
        subscribe(&app, "c@example.com").await;
        let later = app.clock.now() + chrono::Duration::seconds(1);
        assert_eq!(app.store.outbox_purge(later).await.unwrap(), 6);
        assert_eq!(pending(&app, "crm").await, 1);
    }
}
