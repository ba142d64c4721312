//! PostgreSQL's bulk path for the contact writes of `contact_write.rs` (an import's
//! batches above all): rows that are new — contacts just created, their subscriptions
//! and consents, ledger entries, evidence rows — travel as one `COPY … FROM STDIN` per
//! table; the changed rows of existing contacts, when a batch has many, are copied into
//! a temporary staging table (dropped at commit) and merged with one
//! `INSERT … SELECT … ON CONFLICT` per table. Everything was decided before: the pure
//! rules' outcome, the ids, the ledger bodies and their hashes (sealed in Rust, in chain
//! order); only how the same rows reach the server differs from the multi-row
//! statements, which SQLite and small sets of changed rows still use. A `COPY` is one
//! statement of the caller's transaction: a bad row fails it, and the whole batch rolls
//! back as before.
//!
//! Mounted per backend like every module of `sql/`; on SQLite nothing here runs
//! ([`pg`] is `None`), the callers branch on `DIALECT` first.

use super::support::Conn;
use crate::error::{Error, Result};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use std::fmt::Write as _;

/// Changed rows of existing contacts from which a table's merge goes through a staging
/// table: below it, the multi-row upsert is fewer round trips and no temporary table.
pub(super) const STAGE_MIN: usize = 64;

/// The connection as PostgreSQL's, for `COPY` (`None` on SQLite).
fn pg(conn: &mut Conn) -> Option<&mut sqlx::PgConnection> {
    (conn as &mut dyn std::any::Any).downcast_mut::<sqlx::PgConnection>()
}

fn not_postgres() -> Error {
    Error::Internal(anyhow::anyhow!("COPY was asked of a connection that is not PostgreSQL's"))
}

/// Rows in `COPY`'s text format: tab between columns, a newline after each row, `\N`
/// for NULL, and backslash escapes for backslash, tab, newline and carriage return.
#[derive(Debug, Default)]
pub(super) struct CopyRows {
    buf: Vec<u8>,
    rows: usize,
    in_row: bool,
}

impl CopyRows {
    pub(super) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn sep(&mut self) {
        if self.in_row {
            self.buf.push(b'\t');
        }
        self.in_row = true;
    }

    pub(super) fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        for b in v.bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    pub(super) fn opt(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
        self
    }

    pub(super) fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        // Writing to a Vec cannot fail.
        let _ = write!(Bytes(&mut self.buf), "{v}");
        self
    }

    /// A timestamp as the binding path stores it: sqlx sends whole microseconds since
    /// 2000-01-01, cut toward that epoch, so the text carries exactly that instant.
    pub(super) fn ts(&mut self, v: DateTime<Utc>) -> &mut Self {
        self.sep();
        let text = as_bound(v).to_rfc3339_opts(SecondsFormat::Micros, true);
        self.buf.extend_from_slice(text.as_bytes());
        self
    }

    pub(super) fn opt_ts(&mut self, v: Option<DateTime<Utc>>) -> &mut Self {
        match v {
            Some(v) => self.ts(v),
            None => self.null(),
        }
    }

    /// Ends the current row.
    pub(super) fn end(&mut self) {
        self.buf.push(b'\n');
        self.rows += 1;
        self.in_row = false;
    }
}

/// `std::fmt::Write` over a byte buffer (numbers are ASCII).
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `v` as it is stored when bound: sqlx-postgres encodes
/// `(v - 2000-01-01).num_microseconds()`, which cuts toward the epoch.
fn as_bound(v: DateTime<Utc>) -> DateTime<Utc> {
    let epoch = DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is a valid time");
    match (v - epoch).num_microseconds() {
        Some(micros) => epoch + TimeDelta::microseconds(micros),
        None => v,
    }
}

/// `COPY target FROM STDIN` of `rows`, on the caller's connection (and transaction).
/// `target` is `table (columns)`.
pub(super) async fn copy(conn: &mut Conn, target: &str, rows: &CopyRows) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let pg = pg(conn).ok_or_else(not_postgres)?;
    let mut copy = pg.copy_in_raw(&format!("COPY {target} FROM STDIN")).await?;
    copy.send(rows.buf.as_slice()).await?;
    let written = copy.finish().await?;
    if written != rows.rows as u64 {
        return Err(Error::Internal(anyhow::anyhow!("COPY {target} wrote {written} rows of {}", rows.rows)));
    }
    Ok(())
}

/// Copies `rows` into a staging table shaped like `table` (temporary, dropped at
/// commit), then merges them into `table` with `upsert` (the `ON CONFLICT …` clause).
pub(super) async fn merge(conn: &mut Conn, table: &str, columns: &str, rows: &CopyRows, upsert: &str) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let stage = format!("herald_stage_{table}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS pg_temp.{stage}; \
         CREATE TEMP TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )))
    .execute(&mut *conn)
    .await?;
    copy(conn, &format!("{stage} ({columns})"), rows).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} {upsert}")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rows: &CopyRows) -> &str {
        std::str::from_utf8(&rows.buf).unwrap()
    }

    #[test]
    fn values_are_escaped_and_nulls_spelled_out() {
        let mut rows = CopyRows::default();
        rows.int(7).text("a\tb\\c\nd\re").opt(None).text("").text(r#"{"k":"v\"w"}"#);
        rows.end();
        assert_eq!(text(&rows), "7\ta\\tb\\\\c\\nd\\re\t\\N\t\t{\"k\":\"v\\\\\"w\"}\n");
        assert_eq!(rows.rows, 1);
    }

    #[test]
    fn timestamps_are_cut_to_the_microsecond_as_binding_cuts_them() {
        let mut rows = CopyRows::default();
        let after = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let before = DateTime::from_timestamp(900_000_000, 123_456_789).unwrap();
        rows.ts(after).ts(before).opt_ts(None);
        rows.end();
        // Before 2000 the cut goes toward 2000-01-01, i.e. up.
        assert_eq!(text(&rows), "2023-11-14T22:13:20.123456Z\t1998-07-09T16:00:00.123457Z\t\\N\n");
    }
}
