//! The suppression list: who must never be sent to again, by address MAC. Adding or
//! removing an address appends a ledger event to every contact holding it, in the same
//! transaction.

use super::contact_write::insert_entries;
use super::support::{Conn, KEEP_IN_LISTS_PREPARED, Pool, READ_CHUNK, begin_write, push_in};
use super::{DIALECT, Db};
use crate::consent::ledger::{self, EventDraft, Head};
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::{Dialect, OutboxSpec, Suppression};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use std::collections::HashSet;

/// Appends `event` to the chain of every contact holding the address `mac`; their
/// heads are read (and on PostgreSQL locked) inside the caller's transaction, so
/// concurrent appends queue up instead of forking a chain.
async fn append_to_holders(
    conn: &mut Conn,
    outbox: &OutboxSpec,
    mac: &str,
    event: &EventDraft,
    now: DateTime<Utc>,
) -> Result<()> {
    let lock = if DIALECT == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT id, ledger_seq, ledger_hash FROM contacts WHERE email_mac = $1{lock}");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(mac).fetch_all(&mut *conn).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: ContactId = r.try_get("id")?;
        let head = Head { seq: r.try_get("ledger_seq")?, hash: r.try_get("ledger_hash")? };
        let (entry, next) = ledger::seal(event, id, &head, now);
        entries.push(entry);
        sqlx::query("UPDATE contacts SET ledger_seq = $1, ledger_hash = $2 WHERE id = $3")
            .bind(next.seq)
            .bind(next.hash)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    insert_entries(conn, outbox, &entries).await
}

pub(super) async fn load_suppressed(conn: &mut Conn, macs: &[String]) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in macs.chunks(READ_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT mac FROM suppression WHERE mac");
        push_in(&mut qb, chunk.iter().map(String::as_str));
        for row in qb.build().persistent(KEEP_IN_LISTS_PREPARED).fetch_all(&mut *conn).await? {
            found.insert(row.try_get::<String, _>("mac")?);
        }
    }
    Ok(found)
}

pub(in crate::store) async fn is_suppressed(pool: &Pool, mac: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM suppression WHERE mac = $1")
        .bind(mac)
        .fetch_one(pool)
        .await?
        > 0)
}

pub(in crate::store) async fn suppress(
    pool: &Pool,
    outbox: &OutboxSpec,
    mac: &str,
    reason: &str,
    event: &EventDraft,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let added = sqlx::query(
        "INSERT INTO suppression (mac, reason, actor, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (mac) DO NOTHING",
    )
    .bind(mac)
    .bind(reason)
    .bind(&event.actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if added {
        append_to_holders(&mut tx, outbox, mac, event, now).await?;
    }
    tx.commit().await?;
    Ok(added)
}

pub(in crate::store) async fn unsuppress(
    pool: &Pool,
    outbox: &OutboxSpec,
    mac: &str,
    event: &EventDraft,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let removed =
        sqlx::query("DELETE FROM suppression WHERE mac = $1").bind(mac).execute(&mut *tx).await?.rows_affected() == 1;
    if removed {
        append_to_holders(&mut tx, outbox, mac, event, now).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

pub(in crate::store) async fn suppression_list(pool: &Pool) -> Result<Vec<Suppression>> {
    let rows = sqlx::query(
        "SELECT s.mac, s.reason, s.actor, s.created_at, \
                (SELECT MIN(c.email) FROM contacts c WHERE c.email_mac = s.mac) AS email \
         FROM suppression s ORDER BY s.created_at, s.mac",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Suppression {
                mac: r.try_get("mac")?,
                reason: r.try_get("reason")?,
                actor: r.try_get("actor")?,
                created_at: r.try_get("created_at")?,
                email: r.try_get("email")?,
            })
        })
        .collect()
}
