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

/// Keys per `IN (...)` of the reads of a read-modify-write batch (a contact-change
/// batch's records, their lists, purposes and suppression): one statement per table for
/// a whole import batch on PostgreSQL (65 535 binds at most), [`CHUNK`] on SQLite.
pub(super) const READ_CHUNK: usize = match DIALECT {
    Dialect::Sqlite => CHUNK,
    Dialect::Postgres => 10_000,
};

/// Whether a statement whose `IN (...)` list varies with the batch is kept prepared. On
/// PostgreSQL it is not: a prepared statement switches to a generic plan after five
/// executions, and one made while the table was still empty (an import's first batch)
/// scans the whole table on every later execution (measured: 195 ms per 400 keys at
/// 30 000 contacts, against ~1 ms planned with the values). Unnamed, it is planned with
/// its values each time.
pub(super) const KEEP_IN_LISTS_PREPARED: bool = matches!(DIALECT, Dialect::Sqlite);

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
