//! The events table (see `store/events.rs`): insert one, read by cursor or by contact.

use super::support::{DbRow, Pool};
use crate::domain::ContactId;
use crate::error::Result;
use crate::flows::requests::CustomEvent;
use crate::store::corrupt;
use crate::store::events::NewEvent;
use chrono::{DateTime, Utc};
use sqlx::Row;

pub(in crate::store) async fn record(pool: &Pool, e: &NewEvent, now: DateTime<Utc>) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO events (contact_id, name, properties, key_id, received_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(e.contact_id)
    .bind(e.name.as_str())
    .bind(e.properties.to_string())
    .bind(e.key_id.as_str())
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("id")?)
}

fn event_from_row(r: &DbRow) -> Result<CustomEvent> {
    let properties: String = r.try_get("properties")?;
    Ok(CustomEvent {
        id: r.try_get("id")?,
        contact_id: r.try_get("contact_id")?,
        name: r.try_get("name")?,
        properties: serde_json::from_str(&properties).map_err(|e| corrupt("event properties", e))?,
        at: r.try_get("received_at")?,
    })
}

pub(in crate::store) async fn after(pool: &Pool, after_id: i64, limit: i64) -> Result<Vec<CustomEvent>> {
    sqlx::query("SELECT id, contact_id, name, properties, received_at FROM events WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after_id)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

pub(in crate::store) async fn of_contact(pool: &Pool, contact_id: ContactId) -> Result<Vec<CustomEvent>> {
    sqlx::query("SELECT id, contact_id, name, properties, received_at FROM events WHERE contact_id = $1 ORDER BY id")
        .bind(contact_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}
