//! The send writer's group commit on SQLite, through rusqlite on the writer's own task.
//!
//! Everywhere else Herald reaches SQLite through sqlx, whose SQLite driver runs each
//! connection on a thread of its own: every statement is two hand-offs between threads
//! (there and back). For the send writer that cost is on every message's critical path: a
//! message's content goes out only once its "transmitting" mark is committed, and on the
//! sending benchmark a group commit took ~370 µs through sqlx (of which the statement
//! itself ~100 µs) while the marks behind it waited for it to finish. Here the same
//! statement runs in the calling task, on a connection of its own to the same file, with the
//! same pragmas and the same text encoding of timestamps as sqlx's (so comparisons between
//! values written by either stay right). rusqlite links the same `libsqlite3-sys` as sqlx.
//!
//! Claims and the common commit (marks and outcomes without a bounce) go this way; a commit
//! with a bounce, and everything else, stays on sqlx. Both connections are used by the one
//! writer task, one after the other, so they never wait for each other's locks.

use super::queue::{Claim, Mark, Outcome};
use crate::domain::{CampaignId, ContactId, SendId, SendState};
use crate::error::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value;
use std::path::Path;
use std::time::Duration;

/// How long one statement waits inside SQLite for a lock before it is retried.
const BUSY_WAIT: Duration = Duration::from_millis(5);

/// Whether `e` is SQLite's "database is locked" from this connection: nothing of the
/// statement or transaction was committed, and it can be tried again.
pub(crate) fn is_busy(e: &Error) -> bool {
    let Error::Internal(e) = e else { return false };
    matches!(
        e.downcast_ref::<rusqlite::Error>(),
        Some(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A connection for the send writer's commits.
pub struct DirectSqlite {
    conn: rusqlite::Connection,
}

fn failed(e: rusqlite::Error) -> Error {
    Error::Internal(anyhow::Error::new(e).context("SQLite (send writer)"))
}

/// A timestamp as sqlx's SQLite driver writes it.
fn at(t: DateTime<Utc>) -> Value {
    Value::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

/// A timestamp as written by [`at`] (or by sqlx in the formats its decoder accepts).
fn parse_at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%F %T%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f").ok().map(|t| t.and_utc()))
}

fn opt_at(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, at)
}

impl DirectSqlite {
    /// Opens the database file `path` with the pragmas of the store's own connections.
    pub fn open(path: &Path) -> Result<DirectSqlite> {
        let conn = rusqlite::Connection::open(path).map_err(failed)?;
        // Short: this connection's statements run on the async writer task, and a busy wait
        // here holds the runtime's thread. A task holding the write lock through sqlx (a
        // contact's change, a bounce) needs that thread to reach its COMMIT; waiting 30 s
        // inside SQLite's busy handler deadlocked them until the timeout ran out ("database
        // is locked"). The writer retries a busy statement after an async pause instead
        // ([`patiently`]), for as long as the store's other connections wait.
        conn.busy_timeout(BUSY_WAIT).map_err(failed)?;
        // journal_mode is a property of the file (WAL, set when the store was opened).
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -2048; \
             PRAGMA temp_store = memory; PRAGMA wal_autocheckpoint = 10000;",
        )
        .map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(DirectSqlite { conn })
    }

    /// Marks and outcomes (none with a bounce) in one transaction; which marks were granted.
    ///
    /// The rules are those of `sql/queue_writes.rs`'s `write_rows`: a mark turns a `claimed` row
    /// this owner holds into `transmitting`, only while its campaign runs and its contact's
    /// record is the one the re-check saw; an outcome ends the row's lease with its result.
    /// Here each is a prepared statement run once per row (no thread hand-off makes a statement
    /// per row cheap), and a mark leaves the lease as the claim and the heartbeat keep it, so
    /// that it rewrites one index entry, not two; a claim whose lease has run out (the process
    /// stalled past the heartbeat) is refused its mark instead, as recovery may take it back
    /// at any moment. (That lease is the one difference in the rows the two writers leave,
    /// and it lasts only until the outcome: `tests/api/queue_writers.rs` runs both on the
    /// same work and compares every row.)
    pub fn write_batch(
        &mut self,
        owner: &str,
        marks: &[Mark],
        outcomes: &[Outcome],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        debug_assert!(outcomes.iter().all(|o| o.bounce.is_none()));
        if marks.is_empty() && outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(failed)?;
        let mut granted = Vec::with_capacity(marks.len());
        {
            let mut mark = tx
                .prepare_cached(concat!(
                    "UPDATE sends SET state = 'transmitting', updated_at = ?1 \
                     WHERE id = ?2 AND lease_owner = ?3 AND state = 'claimed' AND lease_until > ?1 AND ",
                    mark_guard!("?4")
                ))
                .map_err(failed)?;
            let now_text = at(now);
            for m in marks {
                let done =
                    mark.execute(rusqlite::params![now_text, m.send_id.get(), owner, m.ledger_seq]).map_err(failed)?;
                granted.push(done == 1);
            }
            let mut outcome = tx
                .prepare_cached(
                    "UPDATE sends SET state = ?1, reason = ?2, attempts = ?3, due_at = ?4, relay = COALESCE(?5, relay), \
                     smtp_code = ?6, smtp_text = ?7, first_attempt_at = COALESCE(first_attempt_at, ?8), \
                     sent_at = COALESCE(?9, sent_at), lease_owner = NULL, lease_until = NULL, updated_at = ?10 \
                     WHERE id = ?11 AND lease_owner = ?12",
                )
                .map_err(failed)?;
            for o in outcomes {
                outcome
                    .execute(rusqlite::params![
                        o.state.as_str(),
                        o.reason,
                        o.attempts,
                        opt_at(o.due_at),
                        o.relay,
                        o.smtp_code,
                        o.smtp_text,
                        opt_at(o.first_attempt_at),
                        if o.state == SendState::Sent { at(now) } else { Value::Null },
                        now_text,
                        o.send_id.get(),
                        owner,
                    ])
                    .map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)?;
        Ok(granted)
    }

    /// Claims up to `limit` due sends of `campaign` under `owner`'s lease: the statement of
    /// `sql/queue.rs`'s `claim` (`claim_sql`) on SQLite.
    pub fn claim(
        &mut self,
        owner: &str,
        campaign: CampaignId,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        // SQLite numbers `$1`..`$5` in order of first appearance, which is their order.
        let mut stmt = self.conn.prepare_cached(&super::sqlite::queue::claim_sql()).map_err(failed)?;
        claims_of(&mut stmt, rusqlite::params![owner, at(lease_until), at(now), campaign.get(), limit])
    }

    /// Claims up to `limit` due messages of the other sources (test sends, confirmations,
    /// flow steps) under `owner`'s lease: `sql/queue.rs`'s `claim_messages` on SQLite, its
    /// read first (nothing due, no write lock taken).
    pub fn claim_messages(
        &mut self,
        owner: &str,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        let due = {
            let mut stmt = self.conn.prepare_cached(super::sqlite::queue::MESSAGES_DUE_SQL).map_err(failed)?;
            stmt.exists(rusqlite::params![at(now)]).map_err(failed)?
        };
        if !due {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(&super::sqlite::queue::claim_messages_sql()).map_err(failed)?;
        claims_of(&mut stmt, rusqlite::params![owner, at(lease_until), at(now), limit])
    }
}

/// The claims a claim statement returns (`id, campaign_id, contact_id, attempts,
/// first_attempt_at, source, context`), in send order.
fn claims_of(stmt: &mut rusqlite::CachedStatement<'_>, params: impl rusqlite::Params) -> Result<Vec<Claim>> {
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .map_err(failed)?;
    let mut claims = Vec::new();
    for row in rows {
        let (send_id, campaign_id, contact_id, attempts, first, source, context) = row.map_err(failed)?;
        let campaign_id: Option<i64> = campaign_id;
        let first_attempt_at = match first {
            Some(text) => Some(parse_at(&text).ok_or_else(|| super::corrupt("first_attempt_at", text))?),
            None => None,
        };
        claims.push(Claim {
            send_id: SendId::new(send_id),
            campaign_id: campaign_id.map(CampaignId::new),
            contact_id: ContactId::new(contact_id),
            source: source.parse().map_err(|e| super::corrupt("message source", e))?,
            attempts,
            first_attempt_at,
            context,
        });
    }
    claims.sort_by_key(|c| c.send_id);
    Ok(claims)
}

/// How long a direct SQLite statement is retried while the database is locked: the same
/// patience as the store's sqlx connections (their busy timeout).
const LOCKED_PATIENCE: Duration = Duration::from_secs(30);

/// Runs a direct SQLite statement (or transaction), retrying it after a short async pause
/// while another connection holds the write lock, so that the holder's task (which may
/// need this runtime thread to reach its COMMIT) can finish. A busy statement committed
/// nothing, so trying it again is safe.
pub(crate) async fn patiently<T>(mut run: impl FnMut() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    loop {
        match run() {
            Err(e) if is_busy(&e) && started.elapsed() < LOCKED_PATIENCE => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            result => return result,
        }
    }
}
