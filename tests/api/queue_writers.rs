//! The send writer has two ways to the queue on SQLite: the store's sqlx statements
//! (`store/sql/queue.rs`, `store/sql/queue_writes.rs`) and the direct rusqlite connection
//! (`store/direct.rs`), which restates the claim, mark and outcome rules for speed. Both
//! must leave the database in the same state: the same claims, the same marks granted and
//! refused, the same outcome rows.

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald::domain::{CampaignId, SendId, SendState};
use herald::store::{Claim, DirectSqlite, Mark, Outcome, Store};
use std::path::{Path, PathBuf};

const OWNER: &str = "test/1/owner";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A fresh database: ten contacts (ledger_seq 1), a running campaign, and one send per
/// contact: queued ones, a deferred one that is due and one that is not.
async fn seeded(dir: &Path) -> (Store, PathBuf) {
    let path = dir.join("herald.db");
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
    store.migrate().await.unwrap();
    let at = "2026-03-01T08:00:00+00:00";
    store
        .execute_raw(&format!(
            "INSERT INTO campaigns (id, name, kind, file_path, content, content_hash, state, created_at, updated_at) \
             VALUES (1, 'spring', 'marketing', 'spring.md', '', '', 'running', '{at}', '{at}')"
        ))
        .await
        .unwrap();
    for id in 1..=10 {
        store
            .execute_raw(&format!(
                "INSERT INTO contacts (id, email, email_norm, email_mac, opt_in_status, source_type, ledger_seq, \
                 created_at, updated_at) VALUES ({id}, 'c{id}@example.com', 'c{id}@example.com', 'mac{id}', \
                 'double_opt_in', 'import', 1, '{at}', '{at}')"
            ))
            .await
            .unwrap();
        let (state, attempts, due) = match id {
            9 => ("deferred", 1, "'2026-03-01T08:59:00+00:00'"),
            10 => ("deferred", 1, "'2026-03-01T10:00:00+00:00'"),
            _ => ("queued", 0, "NULL"),
        };
        store
            .execute_raw(&format!(
                "INSERT INTO sends (id, campaign_id, contact_id, state, attempts, due_at, first_attempt_at, \
                 updated_at) VALUES ({id}, 1, {id}, '{state}', {attempts}, {due}, \
                 {first}, '{at}')",
                first = if attempts > 0 { "'2026-03-01T08:30:00+00:00'" } else { "NULL" },
            ))
            .await
            .unwrap();
    }
    (store, path)
}

/// The same work through either writer.
trait Writer {
    async fn claim(&mut self, limit: i64, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Claim>;
    async fn write(&mut self, marks: &[Mark], outcomes: &[Outcome], now: DateTime<Utc>) -> Vec<bool>;
}

struct Sqlx(herald::store::HeldConn);

impl Writer for Sqlx {
    async fn claim(&mut self, limit: i64, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Claim> {
        self.0.claim(OWNER, CampaignId::new(1), limit, lease_until, now).await.unwrap()
    }
    async fn write(&mut self, marks: &[Mark], outcomes: &[Outcome], now: DateTime<Utc>) -> Vec<bool> {
        self.0.write_batch(OWNER, marks, now + Duration::seconds(60), outcomes, now).await.unwrap()
    }
}

struct Direct(DirectSqlite);

impl Writer for Direct {
    async fn claim(&mut self, limit: i64, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Claim> {
        self.0.claim(OWNER, CampaignId::new(1), limit, lease_until, now).unwrap()
    }
    async fn write(&mut self, marks: &[Mark], outcomes: &[Outcome], now: DateTime<Utc>) -> Vec<bool> {
        self.0.write_batch(OWNER, marks, outcomes, now).unwrap()
    }
}

fn mark(send: i64) -> Mark {
    Mark { send_id: SendId::new(send), ledger_seq: 1 }
}

/// Claims, marks (granted; refused for a changed contact, a lapsed lease, a paused
/// campaign) and outcomes of every kind the direct writer takes; what each call
/// returned, in order.
async fn run(store: &Store, w: &mut impl Writer) -> Vec<String> {
    let mut seen = Vec::new();
    let t = |s: i64| t0() + Duration::seconds(s);
    // Queued sends 1..=6 (limit 6) and the due deferred send 9; not 10 (due later).
    let claims = w.claim(6, t(30), t(0)).await;
    seen.push(format!("{claims:?}"));
    // Contact 3 changed after the re-check: its mark is refused.
    store.execute_raw("UPDATE contacts SET ledger_seq = 2 WHERE id = 3").await.unwrap();
    seen.push(format!("{:?}", w.write(&[mark(1), mark(2), mark(3), mark(4), mark(9)], &[], t(1)).await));

    let sent = Outcome {
        relay: Some("relay.example".into()),
        first_attempt_at: Some(t(1)),
        ..bare(SendId::new(1), SendState::Sent, 1)
    };
    let deferred = Outcome {
        due_at: Some(t(900)),
        relay: Some("relay.example".into()),
        smtp_code: Some(451),
        smtp_text: Some("4.7.1 try later".into()),
        first_attempt_at: Some(t(1)),
        ..bare(SendId::new(2), SendState::Deferred, 1)
    };
    let hard = Outcome {
        smtp_code: Some(550),
        smtp_text: Some("5.1.1 no such user".into()),
        first_attempt_at: Some(t(1)),
        ..bare(SendId::new(4), SendState::Failed, 1)
    };
    let retried =
        Outcome { reason: Some("relay: connection refused".into()), ..bare(SendId::new(9), SendState::Failed, 2) };
    // Skipped at the re-check: never marked.
    let skipped = Outcome { reason: Some("suppressed".into()), ..bare(SendId::new(5), SendState::Skipped, 0) };
    // Not this owner's (never claimed): not written.
    let foreign = bare(SendId::new(8), SendState::Sent, 1);
    seen.push(format!("{:?}", w.write(&[], &[sent, deferred, hard, retried, skipped, foreign], t(2)).await));

    // Send 6's lease (until t(30)) has run out: its mark is refused.
    seen.push(format!("{:?}", w.write(&[mark(6)], &[], t(31)).await));
    // A fresh claim of send 7, then its campaign is paused: its mark is refused.
    seen.push(format!("{:?}", w.claim(1, t(100), t(40)).await));
    store.execute_raw("UPDATE campaigns SET state = 'paused' WHERE id = 1").await.unwrap();
    seen.push(format!("{:?}", w.write(&[mark(7)], &[], t(41)).await));
    // A paused campaign's sends are not claimed.
    seen.push(format!("{:?}", w.claim(5, t(200), t(42)).await));
    seen
}

/// Every column of `table`, as the file stores it (text, so an encoding difference in a
/// timestamp shows up too).
async fn dump(path: &Path, table: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let columns: Vec<String> =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
    let select = columns.iter().map(|c| format!("quote({c})")).collect::<Vec<_>>().join(" || '|' || ");
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {select} FROM {table} ORDER BY id")))
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[tokio::test]
async fn the_direct_sqlite_writer_and_the_sqlx_writer_leave_the_same_rows() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store_a, path_a) = seeded(a.path()).await;
    let (store_b, path_b) = seeded(b.path()).await;

    let via_sqlx = run(&store_a, &mut Sqlx(store_a.hold())).await;
    let via_direct = run(&store_b, &mut Direct(DirectSqlite::open(&path_b).unwrap())).await;

    assert_eq!(via_sqlx, via_direct, "the same claims and the same marks granted");
    // The scenario did what it says: some marks granted, some refused, rows of each state.
    assert_eq!(via_sqlx[1], "[true, true, false, true, true]");
    assert_eq!(via_sqlx[3], "[false]");
    assert_eq!(via_sqlx[5], "[false]");
    for table in ["sends", "bounces", "campaigns", "contacts"] {
        let (rows_a, rows_b) = (dump(&path_a, table).await, dump(&path_b, table).await);
        assert_eq!(rows_a, rows_b, "{table}");
    }
    let sends = dump(&path_a, "sends").await;
    for state in ["'sent'", "'deferred'", "'failed'", "'skipped'", "'claimed'", "'queued'"] {
        assert!(sends.iter().any(|r| r.contains(state)), "no {state} row: {sends:#?}");
    }
}

/// An outcome that carries nothing but its state.
fn bare(send_id: SendId, state: SendState, attempts: i32) -> Outcome {
    Outcome {
        send_id,
        state,
        reason: None,
        attempts,
        due_at: None,
        relay: None,
        smtp_code: None,
        smtp_text: None,
        first_attempt_at: None,
        bounce: None,
    }
}
