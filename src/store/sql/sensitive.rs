//! Sealed sensitive values and the reveal log (DESIGN §12); see `store/sensitive.rs`.

use super::Db;
use super::support::{CHUNK, Conn, DbRow, Pool, push_in};
use crate::domain::ContactId;
use crate::error::Result;
use crate::privacy::field_key::Sealed;
use crate::store::sensitive::{AccessEntry, SealedRow, SensitiveWrite};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

fn sealed_row(r: &DbRow) -> Result<SealedRow> {
    Ok(SealedRow {
        contact_id: r.try_get("contact_id")?,
        field: r.try_get("field")?,
        sealed: Sealed { key_id: r.try_get("key_id")?, bytes: r.try_get("sealed")? },
    })
}

/// The contact writes' part, inside the contact-change transaction: erasures first, then
/// the new values, a few hundred rows per statement.
pub(super) async fn write(conn: &mut Conn, writes: &[(ContactId, &SensitiveWrite)], now: DateTime<Utc>) -> Result<()> {
    let erased: Vec<ContactId> = writes.iter().filter(|(_, w)| w.erase_all).map(|(id, _)| *id).collect();
    for chunk in erased.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("DELETE FROM sensitive_values WHERE contact_id");
        push_in(&mut qb, chunk.iter().copied());
        qb.build().execute(&mut *conn).await?;
    }
    // A field written twice in one batch keeps its last value (one row per key in a statement).
    let puts: std::collections::BTreeMap<(ContactId, &str), &Sealed> =
        writes.iter().flat_map(|(id, w)| w.put.iter().map(move |(f, sealed)| ((*id, f.as_str()), sealed))).collect();
    let puts: Vec<_> = puts.into_iter().collect();
    for chunk in puts.chunks(CHUNK / 5) {
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO sensitive_values (contact_id, field, key_id, sealed, updated_at) ");
        qb.push_values(chunk, |mut b, ((id, field), sealed)| {
            b.push_bind(*id)
                .push_bind(field.to_string())
                .push_bind(sealed.key_id.clone())
                .push_bind(sealed.bytes.clone())
                .push_bind(now);
        });
        qb.push(
            " ON CONFLICT (contact_id, field) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, \
             updated_at = excluded.updated_at",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(in crate::store) async fn value(pool: &Pool, contact_id: ContactId, field: &str) -> Result<Option<Sealed>> {
    let row = sqlx::query("SELECT key_id, sealed FROM sensitive_values WHERE contact_id = $1 AND field = $2")
        .bind(contact_id)
        .bind(field)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(r) => Some(Sealed { key_id: r.try_get("key_id")?, bytes: r.try_get("sealed")? }),
        None => None,
    })
}

pub(in crate::store) async fn values(pool: &Pool, ids: &[ContactId], fields: &[String]) -> Result<Vec<SealedRow>> {
    if ids.is_empty() || fields.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb =
        QueryBuilder::<Db>::new("SELECT contact_id, field, key_id, sealed FROM sensitive_values WHERE contact_id");
    push_in(&mut qb, ids.iter().copied());
    qb.push(" AND field");
    push_in(&mut qb, fields.iter().cloned());
    qb.build().fetch_all(pool).await?.iter().map(sealed_row).collect()
}

pub(in crate::store) async fn count(pool: &Pool, contact_id: ContactId) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sensitive_values WHERE contact_id = $1")
        .bind(contact_id)
        .fetch_one(pool)
        .await?)
}

pub(in crate::store) async fn page(pool: &Pool, after: (ContactId, &str), limit: i64) -> Result<Vec<SealedRow>> {
    sqlx::query(
        "SELECT contact_id, field, key_id, sealed FROM sensitive_values \
         WHERE contact_id > $1 OR (contact_id = $1 AND field > $2) ORDER BY contact_id, field LIMIT $3",
    )
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(sealed_row)
    .collect()
}

pub(in crate::store) async fn reseal(pool: &Pool, rows: &[(SealedRow, Sealed)], now: DateTime<Utc>) -> Result<u64> {
    let mut tx = super::support::begin_write(pool).await?;
    let mut done = 0;
    for (row, new) in rows {
        done += sqlx::query(
            "UPDATE sensitive_values SET key_id = $1, sealed = $2, updated_at = $3 \
             WHERE contact_id = $4 AND field = $5 AND key_id = $6 AND sealed = $7",
        )
        .bind(&new.key_id)
        .bind(&new.bytes)
        .bind(now)
        .bind(row.contact_id)
        .bind(&row.field)
        .bind(&row.sealed.key_id)
        .bind(&row.sealed.bytes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(done)
}

pub(in crate::store) async fn log_access(pool: &Pool, e: &AccessEntry) -> Result<()> {
    sqlx::query("INSERT INTO sensitive_access_log (at, actor, contact_id, field, reason) VALUES ($1, $2, $3, $4, $5)")
        .bind(e.at)
        .bind(&e.actor)
        .bind(e.contact_id)
        .bind(&e.field)
        .bind(&e.reason)
        .execute(pool)
        .await?;
    Ok(())
}

pub(in crate::store) async fn access_log(pool: &Pool) -> Result<Vec<AccessEntry>> {
    sqlx::query("SELECT at, actor, contact_id, field, reason FROM sensitive_access_log ORDER BY id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AccessEntry {
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                contact_id: r.try_get("contact_id")?,
                field: r.try_get("field")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}
