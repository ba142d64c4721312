//! The send writer's direct SQLite connection and the store's sqlx connections share one
//! database file and one runtime thread.

use herald::clock::SystemClock;
use herald::send::engine::writer::Writer;
use herald::store::Store;
use sqlx::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A task that holds SQLite's write lock across an await (as a contact's change does
/// between its statements) must be able to reach its COMMIT while the send writer waits
/// for the lock. When the writer waited inside SQLite's busy handler, it held the
/// (single) runtime thread for the whole busy timeout, the holder never committed, and
/// the claim failed with "database is locked" after 30 s.
#[tokio::test]
async fn a_write_lock_held_across_an_await_does_not_starve_the_send_writer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("herald.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    let holding = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    });

    let (writer, _task) = Writer::spawn(store, "test-owner".into(), Arc::new(SystemClock), Duration::from_secs(60));
    let started = Instant::now();
    let now = chrono::Utc::now();
    let claimed = writer.claim(herald::domain::CampaignId::new(1), 10, now + chrono::Duration::seconds(60), now).await;

    assert!(claimed.is_ok(), "the claim waited for the lock and then ran: {claimed:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "it took {:?}", started.elapsed());
    holding.await.unwrap();
}

/// WAL is set once on the file, not by every connection: a database another tool made in
/// rollback-journal mode is turned to WAL when a store opens it, and a second store opens
/// and reads beside a writer that holds the write lock.
#[tokio::test]
async fn a_store_turns_its_database_to_wal_once_and_opens_beside_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("herald.db").display());
    let mut other_tool = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("PRAGMA journal_mode = DELETE; CREATE TABLE t (x INTEGER)").execute(&mut other_tool).await.unwrap();
    other_tool.close().await.unwrap();

    let store = Store::connect(&url).await.unwrap();
    let mut look = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM t").execute(&mut look).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut look).await.unwrap();
    assert_eq!(mode, "wal");

    sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)").execute(&mut look).await.unwrap();
    let second = Store::connect(&url).await.expect("opens beside the writer");
    second.ping().await.expect("reads beside the writer");
    sqlx::raw_sql("COMMIT").execute(&mut look).await.unwrap();
    drop(store);
}

/// A command that only reads opens the workspace without taking the write lock (its
/// config's lists and purposes are read and found unchanged, not written again), so it
/// answers while another process holds the lock instead of waiting out the busy timeout.
#[tokio::test]
async fn a_read_only_command_answers_while_another_process_holds_the_write_lock() {
    let t = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let mut holder = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', '1')")
        .execute(&mut holder)
        .await
        .unwrap();
    let started = Instant::now();
    let out = t.herald(&["contacts", "list", "--json"]);
    let took = started.elapsed();
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    assert!(took < Duration::from_secs(10), "it waited for the lock: {took:?}");
}
