//! The webhook outbox's SQL (see `store/outbound.rs`): the rows written beside ledger
//! entries, inside the caller's transaction, and the delivery worker's lease, queue and
//! outcomes.

use super::Db;
use super::support::{CHUNK, Conn, Pool, push_in};
use crate::consent::ledger::Entry;
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::outbound::{OutboxRow, OutboxSpec, OutboxStatus};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap};

/// Writes the outbox rows `entries` give under `spec`, with each contact's address as
/// the transaction sees it (the contacts rows are written before their entries).
pub(super) async fn record(conn: &mut Conn, spec: &OutboxSpec, entries: &[Entry]) -> Result<()> {
    let rows = spec.rows_for(entries)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<ContactId> = rows.iter().map(|r| r.contact_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut emails: HashMap<ContactId, String> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT id, email FROM contacts WHERE id");
        push_in(&mut qb, chunk.iter().copied());
        for row in qb.build().fetch_all(&mut *conn).await? {
            emails.insert(row.try_get("id")?, row.try_get("email")?);
        }
    }
    for chunk in rows.chunks(CHUNK / 4) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_outbox (webhook, event_id, signal, list, purpose, contact_id, email, occurred_at, next_at) ",
        );
        qb.push_values(chunk, |mut b, r| {
            // The erased record holds a placeholder, and the event must carry no address.
            let email = if r.signal == "erased" { None } else { emails.get(&r.contact_id).cloned() };
            b.push_bind(r.webhook.clone())
                .push_bind(r.event_id.clone())
                .push_bind(r.signal)
                .push_bind(r.list.clone())
                .push_bind(r.purpose.clone())
                .push_bind(r.contact_id)
                .push_bind(email)
                .push_bind(r.occurred_at)
                .push_bind(r.occurred_at);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(in crate::store) async fn lease(
    pool: &Pool,
    webhook: &str,
    owner: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    sqlx::query("INSERT INTO webhook_leases (webhook) VALUES ($1) ON CONFLICT (webhook) DO NOTHING")
        .bind(webhook)
        .execute(pool)
        .await?;
    let taken = sqlx::query(
        "UPDATE webhook_leases SET owner = $2, lease_until = $3 \
         WHERE webhook = $1 AND (owner IS NULL OR owner = $2 OR lease_until < $4)",
    )
    .bind(webhook)
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

pub(in crate::store) async fn release(pool: &Pool, webhook: &str, owner: &str) -> Result<()> {
    sqlx::query("UPDATE webhook_leases SET owner = NULL, lease_until = NULL WHERE webhook = $1 AND owner = $2")
        .bind(webhook)
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(())
}

pub(in crate::store) async fn pending(pool: &Pool, webhook: &str, limit: i64) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, event_id, signal, list, purpose, contact_id, email, occurred_at, attempts, next_at \
         FROM webhook_outbox WHERE webhook = $1 AND state = 'pending' ORDER BY id LIMIT $2",
    )
    .bind(webhook)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                signal: r.try_get("signal")?,
                list: r.try_get("list")?,
                purpose: r.try_get("purpose")?,
                contact_id: r.try_get("contact_id")?,
                email: r.try_get("email")?,
                occurred_at: r.try_get("occurred_at")?,
                attempts: r.try_get("attempts")?,
                next_at: r.try_get("next_at")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn delivered(pool: &Pool, id: i64, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = $2 \
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub(in crate::store) async fn attempt_failed(
    pool: &Pool,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let q = match retry_at {
        Some(at) => sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $2, next_at = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(error)
        .bind(at),
        None => sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $2, state = 'failed' \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(error),
    };
    q.execute(pool).await?;
    Ok(())
}

pub(in crate::store) async fn status(pool: &Pool) -> Result<Vec<OutboxStatus>> {
    let mut by_webhook: BTreeMap<String, OutboxStatus> = BTreeMap::new();
    for r in sqlx::query("SELECT webhook, state, COUNT(*) AS n FROM webhook_outbox GROUP BY webhook, state")
        .fetch_all(pool)
        .await?
    {
        let webhook: String = r.try_get("webhook")?;
        let n: i64 = r.try_get("n")?;
        let s = by_webhook.entry(webhook.clone()).or_insert_with(|| OutboxStatus { webhook, ..Default::default() });
        match r.try_get::<String, _>("state")?.as_str() {
            "pending" => s.pending += n,
            "delivered" => s.delivered += n,
            _ => s.failed += n,
        }
    }
    for s in by_webhook.values_mut() {
        if s.pending > 0 {
            s.oldest_pending_at = sqlx::query_scalar(
                "SELECT occurred_at FROM webhook_outbox WHERE webhook = $1 AND state = 'pending' ORDER BY id LIMIT 1",
            )
            .bind(&s.webhook)
            .fetch_optional(pool)
            .await?;
            s.last_error = sqlx::query_scalar(
                "SELECT last_error FROM webhook_outbox \
                 WHERE webhook = $1 AND state = 'pending' AND last_error IS NOT NULL ORDER BY id LIMIT 1",
            )
            .bind(&s.webhook)
            .fetch_optional(pool)
            .await?;
        }
        if s.last_error.is_none() && s.failed > 0 {
            s.last_error = sqlx::query_scalar(
                "SELECT last_error FROM webhook_outbox WHERE webhook = $1 AND state = 'failed' ORDER BY id DESC LIMIT 1",
            )
            .bind(&s.webhook)
            .fetch_optional(pool)
            .await?;
        }
    }
    Ok(by_webhook.into_values().collect())
}

pub(in crate::store) async fn retry(pool: &Pool, webhook: Option<&str>, now: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_at = $1 \
         WHERE state = 'failed' AND ($2 IS NULL OR webhook = $2)",
    )
    .bind(now)
    .bind(webhook)
    .execute(pool)
    .await?
    .rows_affected())
}

pub(in crate::store) async fn purge(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM webhook_outbox WHERE state = 'delivered' AND delivered_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}
