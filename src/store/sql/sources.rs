//! The sends of the other message sources (DESIGN §10): test sends, confirmations and
//! flow steps are queued one at a time, with no campaign record, and read back by id.

use super::support::{DbRow, Pool};
use crate::domain::{ContactId, SendId};
use crate::error::Result;
use crate::store::corrupt;
use crate::store::sources::{MessageSend, NewMessage};
use chrono::{DateTime, Utc};
use sqlx::Row;

pub(in crate::store) async fn enqueue(pool: &Pool, m: &NewMessage, now: DateTime<Utc>) -> Result<SendId> {
    let row = sqlx::query(
        "INSERT INTO sends (source, contact_id, to_address, context, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $5) RETURNING id",
    )
    .bind(m.source.as_str())
    .bind(m.contact_id)
    .bind(m.to_address.as_deref())
    .bind(m.context.to_string())
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("id")?)
}

fn message_from_row(r: &DbRow) -> Result<MessageSend> {
    let source: String = r.try_get("source")?;
    let state: String = r.try_get("state")?;
    let context: Option<String> = r.try_get("context")?;
    Ok(MessageSend {
        id: r.try_get("id")?,
        source: source.parse().map_err(|e| corrupt("message source", e))?,
        contact_id: r.try_get("contact_id")?,
        to_address: r.try_get("to_address")?,
        context: match context {
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("send context", e))?,
            None => serde_json::Value::Null,
        },
        state: state.parse().map_err(|e| corrupt("send state", e))?,
        reason: r.try_get("reason")?,
        relay: r.try_get("relay")?,
        smtp_code: r.try_get("smtp_code")?,
        smtp_text: r.try_get("smtp_text")?,
    })
}

pub(in crate::store) async fn message(pool: &Pool, id: SendId) -> Result<Option<MessageSend>> {
    sqlx::query(
        "SELECT id, source, contact_id, to_address, context, state, reason, relay, smtp_code, smtp_text \
         FROM sends WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(message_from_row)
    .transpose()
}

/// Confirmation messages queued for `contact_id` since `since` (the daily limit).
pub(in crate::store) async fn confirmations_since(
    pool: &Pool,
    contact_id: ContactId,
    since: DateTime<Utc>,
) -> Result<u64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM sends WHERE contact_id = $1 AND source = 'confirmation' AND created_at >= $2",
    )
    .bind(contact_id)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let n: i64 = row.try_get("n")?;
    Ok(n.max(0) as u64)
}

/// The queued sends of the other sources, up to `limit` (the partial index
/// `sends_other_queued`, read only as far as `limit`).
pub(in crate::store) async fn waiting(pool: &Pool, limit: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT id FROM sends WHERE state = 'queued' AND source <> 'campaign' LIMIT $1) q",
    )
    .bind(limit)
    .fetch_one(pool)
    .await?)
}
