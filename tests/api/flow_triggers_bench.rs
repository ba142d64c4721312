//! How long the ledger watcher takes over 100 000 sign-ups (issue 15: flows must keep up
//! with them). Ignored by default (an import of 100 000 rows first); run with
//! `cargo test --release --test api flow_triggers_bench -- --ignored --nocapture`, and
//! `HERALD_TEST_POSTGRES_URL` for PostgreSQL. `HERALD_BENCH_CONTACTS` changes the count.
//!
//! Measured on 2 shared cores (2026-12-06), 100 000 sign-ups read in 51 polls:
//! - release build: SQLite 4.5 s without an index on `ledger (at, contact_id, seq)`,
//!   0.91 s with it (the import itself: 11-12 s); PostgreSQL 5.9 s and 1.4 s (import 113 s);
//! - debug build: SQLite 22.0 s and 5.5 s; PostgreSQL 17.6 s and 7.7 s.
//!
//! Without the index each page scans the whole ledger, so the cost grows with its size.

use crate::flow_triggers::Rig;
use crate::helpers::*;
use chrono::Duration;
use herald::flows::triggers;
use std::time::Instant;

async fn run(t: TestDb, with_index: bool) {
    let n: usize = std::env::var("HERALD_BENCH_CONTACTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rig = Rig::new(t).await;
    if !with_index {
        // Migration 0016 made the index; the comparison takes it away.
        rig.app.store.execute_raw("DROP INDEX ledger_at").await.unwrap();
    }
    rig.start().await;
    let emails: Vec<String> = (0..n).map(|i| format!("c{i}@example.com")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    rig.clock.advance(Duration::minutes(1));
    let started = Instant::now();
    rig.import("bench.csv", &emails).await;
    let imported = started.elapsed();

    let started = Instant::now();
    let (mut polls, mut enrolled) = (0, 0);
    loop {
        let p = rig.poll(&[]).await;
        polls += 1;
        enrolled += p.enrol.len();
        triggers::commit(&rig.app, &p.cursors).await.unwrap();
        if !p.more {
            break;
        }
    }
    let polled = started.elapsed();
    assert_eq!(enrolled, n, "one welcome enrolment per sign-up");
    eprintln!(
        "{} ({}): imported {n} in {imported:.1?}; polled the ledger in {polls} polls, {polled:.2?} ({:.0} rows/s)",
        rig.app.store.backend_name(),
        if with_index { "with an index on ledger (at, contact_id, seq)" } else { "no index" },
        n as f64 / polled.as_secs_f64()
    );
}

#[tokio::test]
#[ignore = "benchmark: imports 100 000 contacts"]
async fn polling_100k_sign_ups() {
    for with_index in [false, true] {
        run(TestDb::new(Backend::Sqlite).await.unwrap(), with_index).await;
        if let Some(t) = TestDb::new(Backend::Postgres).await {
            run(t, with_index).await;
        }
    }
}
