//! What every SQL module of a backend shares: the pool and connection types, the
//! chunk size of multi-row statements, write transactions and `IN (...)` lists.

use super::{DIALECT, Db};
use crate::error::Result;
use crate::store::Dialect;
use sqlx::QueryBuilder;

pub(super) type Pool = sqlx::Pool<Db>;
pub(super) type Conn = <Db as sqlx::Database>::Connection;
pub(super) type DbRow = <Db as sqlx::Database>::Row;

/// Rows per multi-row statement: well under both backends' bind-parameter limits.
pub(super) const CHUNK: usize = 400;

/// A write transaction. SQLite takes the write lock up front, so two writers queue on
/// the busy timeout instead of failing on a lock upgrade.
pub(super) async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>> {
    Ok(match DIALECT {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => pool.begin().await?,
    })
}

/// Appends ` IN ($1, $2, ...)` for `values`.
pub(super) fn push_in<'q, T>(qb: &mut QueryBuilder<Db>, values: impl IntoIterator<Item = T>)
where
    T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
{
    qb.push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v);
    }
    sep.push_unseparated(")");
}
