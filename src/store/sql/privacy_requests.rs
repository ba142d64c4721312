//! The requests register (DESIGN §12): registered, extended once, closed.

use super::support::{DbRow, Pool};
use crate::domain::{ContactId, RequestKind};
use crate::error::Result;
use crate::store::corrupt;
use crate::store::privacy_requests::{NewRequest, RequestFilter, RequestRow};
use chrono::{DateTime, Utc};
use sqlx::Row;

const COLUMNS: &str =
    "id, contact_id, kind, source, created_at, due_at, extended_at, extension_reason, closed_at, outcome";

fn from_row(r: &DbRow) -> Result<RequestRow> {
    let kind: String = r.try_get("kind")?;
    let source: String = r.try_get("source")?;
    Ok(RequestRow {
        id: r.try_get("id")?,
        contact_id: r.try_get("contact_id")?,
        kind: kind.parse().map_err(|e| corrupt("request kind", e))?,
        source: source.parse().map_err(|e| corrupt("request source", e))?,
        created_at: r.try_get("created_at")?,
        due_at: r.try_get("due_at")?,
        extended_at: r.try_get("extended_at")?,
        extension_reason: r.try_get("extension_reason")?,
        closed_at: r.try_get("closed_at")?,
        outcome: r.try_get("outcome")?,
    })
}

pub(in crate::store) async fn add(pool: &Pool, r: &NewRequest) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO privacy_requests (contact_id, kind, source, created_at, due_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(r.contact_id)
    .bind(r.kind.as_str())
    .bind(r.source.as_str())
    .bind(r.created_at)
    .bind(r.due_at)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("id")?)
}

pub(in crate::store) async fn by_id(pool: &Pool, id: i64) -> Result<Option<RequestRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM privacy_requests WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub(in crate::store) async fn extend(
    pool: &Pool,
    id: i64,
    due_at: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE privacy_requests SET due_at = $1, extended_at = $2, extension_reason = $3 \
         WHERE id = $4 AND extended_at IS NULL AND closed_at IS NULL",
    )
    .bind(due_at)
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(in crate::store) async fn close(
    pool: &Pool,
    contact_id: ContactId,
    kind: RequestKind,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE privacy_requests SET closed_at = $1, outcome = $2 \
         WHERE contact_id = $3 AND kind = $4 AND closed_at IS NULL",
    )
    .bind(now)
    .bind(outcome)
    .bind(contact_id)
    .bind(kind.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(in crate::store) async fn list(pool: &Pool, filter: RequestFilter) -> Result<Vec<RequestRow>> {
    let rows = match filter {
        RequestFilter::All => {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM privacy_requests ORDER BY due_at, id")))
                .fetch_all(pool)
                .await?
        }
        RequestFilter::OverdueAt(now) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM privacy_requests WHERE closed_at IS NULL AND due_at < $1 ORDER BY due_at, id"
            )))
            .bind(now)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}
