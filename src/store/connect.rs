//! Opening a store from a database URL.

use super::{Backend, Store};
use crate::error::{Error, Result};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// How a process uses the database. SQLite keeps a page cache per connection (the pool
/// has four): the daemon and `campaign send` keep it small so memory stays flat on a
/// million-send campaign; a bulk import, which writes millions of index entries through
/// one connection at a time, runs twice as fast with a larger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Default,
    BulkImport,
}

impl Workload {
    fn sqlite_cache_kib(self) -> u32 {
        match self {
            Workload::Default => 16 * 1024,
            Workload::BulkImport => 64 * 1024,
        }
    }
}

/// Puts a SQLite database in WAL mode if it is not (a new database, or one another tool
/// made). WAL is a property of the file, kept once set, so it is set here once rather
/// than by each connection the pool opens: the `journal_mode` pragma may need a lock that
/// the busy timeout does not wait for (sqlx's note on its `journal_mode` option), and a
/// connection opened beside a busy writer could then fail at once, "database is locked".
async fn ensure_wal(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    // A read first: a connection learns the file's mode from the file, not at its opening.
    sqlx::query("SELECT COUNT(*) FROM sqlite_master").execute(&mut *conn).await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
    // An in-memory database stays `memory` (it has no WAL).
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// Opens `sqlite://PATH` (created if missing, with its folder) or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_for(url, Workload::Default).await
    }

    pub async fn connect_for(url: &str, workload: Workload) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::Invalid(format!("database url '{url}': {e}")))?
                .create_if_missing(true)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .pragma("cache_size", format!("-{}", workload.sqlite_cache_kib()))
                .pragma("temp_store", "memory")
                .pragma("wal_autocheckpoint", "10000")
                // A full-audience plan takes a second or more by design: not a warning.
                .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
            // The database holds personal data: its folder 0700, the file (and so its
            // -wal and -shm, which SQLite creates with the database's mode) 0600.
            let file = options.get_filename();
            if !file.as_os_str().is_empty()
                && !file.to_string_lossy().contains(":memory:")
                && !url.contains("mode=memory")
            {
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::private_files::create_dir(dir)
                        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
                }
                crate::private_files::ensure_file(file)
                    .map_err(|e| Error::Internal(anyhow::anyhow!("cannot create {}: {e}", file.display())))?;
            }
            // A local file needs no ping before each use (it would cost a round trip to
            // the connection's thread for every statement the engine runs).
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(|e| {
                    Error::Internal(anyhow::Error::new(e).context(format!("cannot open the SQLite database {url}")))
                })?;
            ensure_wal(&pool).await?;
            Ok(Store { backend: Backend::Sqlite(pool), outbox: Default::default(), turns: super::WriteTurns::sqlite() })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| Error::Invalid(format!("database url: {e}")))?
                .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(|e| {
                    Error::Internal(
                        anyhow::Error::new(e).context("cannot connect to PostgreSQL (check [database] url)"),
                    )
                })?;
            Ok(Store { backend: Backend::Postgres(pool), outbox: Default::default(), turns: Default::default() })
        } else {
            Err(Error::Invalid(format!(
                "database url must start with sqlite:// or postgres:// (got '{}')",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }

    /// A second handle to the same database over one connection of its own, for a task
    /// that writes all the time (the send writer): SQLite keeps a connection's page cache
    /// only while no other connection writes, so the writer's cache stays warm instead of
    /// being re-read from the WAL at every commit.
    pub async fn dedicated(&self) -> Result<Store> {
        let failed =
            |e: sqlx::Error| Error::Internal(anyhow::Error::new(e).context("cannot open a database connection"));
        let backend = match &self.backend {
            Backend::Sqlite(p) => Backend::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .test_before_acquire(false)
                    // A small cache: the writer's working set is the pages of the rows in
                    // flight, and SQLite walks the whole cache at the end of every
                    // commit (pcache1Truncate), which a 16 MB cache made ~3 % of a
                    // send's CPU.
                    .connect_with((*p.connect_options()).clone().pragma("cache_size", "-2048"))
                    .await
                    .map_err(failed)?,
            ),
            Backend::Postgres(p) => Backend::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with((*p.connect_options()).clone())
                    .await
                    .map_err(failed)?,
            ),
        };
        Ok(Store { backend, outbox: self.outbox.clone(), turns: self.turns.clone() })
    }

    /// The send writer's direct connection (see `direct.rs`) on a SQLite store; `None` on
    /// PostgreSQL, or for an in-memory database (its connections do not share it).
    pub fn direct_sqlite(&self) -> Option<Result<super::DirectSqlite>> {
        let Backend::Sqlite(p) = &self.backend else { return None };
        let path = p.connect_options().get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
            return None;
        }
        Some(super::DirectSqlite::open(&path))
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}
