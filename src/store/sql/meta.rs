//! The schema's version, the `meta` table, the lists and purposes the config declares,
//! and raw access for tests and `/healthz`.

use super::DIALECT;
use super::support::{Pool, begin_write};
use crate::domain::ListName;
use crate::error::Result;
use crate::store::{Dialect, ListSpec, PurposeSpec, corrupt};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;

pub(in crate::store) async fn applied_version(pool: &Pool) -> Result<Option<i64>> {
    let exists: bool = match DIALECT {
        Dialect::Sqlite => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')")
                .fetch_one(pool)
                .await?
        }
        Dialect::Postgres => {
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?
        }
    };
    if !exists {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(pool).await?)
}

pub(in crate::store) async fn meta_get(pool: &Pool, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(pool).await?)
}

pub(in crate::store) async fn meta_set(pool: &Pool, key: &str, value: &str) -> Result<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}

/// Read first: a process whose config changes nothing (nearly every command, each time
/// it opens) takes no write lock, so a read-only command never waits on a busy writer.
pub(in crate::store) async fn sync_lists(pool: &Pool, lists: &[ListSpec], now: DateTime<Utc>) -> Result<()> {
    let stored: BTreeMap<String, (bool, Option<String>)> =
        sqlx::query_as::<_, (String, bool, Option<String>)>("SELECT name, double_opt_in, description FROM lists")
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(name, double_opt_in, description)| (name, (double_opt_in, description)))
            .collect();
    if lists.iter().all(|l| stored.get(&l.name) == Some(&(l.double_opt_in, l.description.clone()))) {
        return Ok(());
    }
    let mut tx = begin_write(pool).await?;
    for ListSpec { name, double_opt_in, description } in lists {
        sqlx::query(
            "INSERT INTO lists (name, double_opt_in, description, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET double_opt_in = excluded.double_opt_in, description = excluded.description",
        )
        .bind(name)
        .bind(double_opt_in)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Read first, as [`sync_lists`].
pub(in crate::store) async fn sync_purposes(pool: &Pool, purposes: &[PurposeSpec], now: DateTime<Utc>) -> Result<()> {
    let stored: BTreeMap<String, Option<String>> =
        sqlx::query_as::<_, (String, Option<String>)>("SELECT name, description FROM purposes")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    if purposes.iter().all(|p| stored.get(&p.name) == Some(&p.description)) {
        return Ok(());
    }
    let mut tx = begin_write(pool).await?;
    for PurposeSpec { name, description } in purposes {
        sqlx::query(
            "INSERT INTO purposes (name, description, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description",
        )
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(in crate::store) async fn execute_raw(pool: &Pool, sql: &str) -> Result<u64> {
    let mut conn = pool.acquire().await?;
    Ok(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *conn).await?.rows_affected())
}

/// A real round trip to the database (`/healthz`).
pub(in crate::store) async fn ping(pool: &Pool) -> Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

pub(in crate::store) async fn list_settings(pool: &Pool) -> Result<BTreeMap<ListName, bool>> {
    let rows = sqlx::query("SELECT name, double_opt_in FROM lists").fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok((ListName::parse(r.try_get("name")?).map_err(|e| corrupt("list name", e))?, r.try_get("double_opt_in")?))
        })
        .collect()
}
