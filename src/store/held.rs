//! One database connection held by a writer ([`HeldConn`]): the send writer's claims and
//! group commits on it (the SQL is in `sql/queue.rs` and `sql/queue_writes.rs`).

use super::{Backend, Claim, Mark, Outcome, Store, postgres, sqlite};
use crate::domain::CampaignId;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// One database connection held for as long as a writer runs: no pool round trip per
/// commit (on SQLite, returning a connection to the pool is a task of its own, which a
/// busy runtime runs late, and the next commit waits for it). A connection that fails
/// is dropped and a fresh one taken for the next call.
pub struct HeldConn {
    store: Store,
    conn: Option<Held>,
}

enum Held {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// Calls the same function of whichever backend the held connection is.
macro_rules! on_held {
    ($self:ident . $m:ident :: $f:ident ( $($arg:expr),* $(,)? )) => {{
        let result = match $self.take().await? {
            Held::Sqlite(c) => sqlite::$m::$f(c, $($arg),*).await,
            Held::Postgres(c) => postgres::$m::$f(c, $($arg),*).await,
        };
        if result.is_err() {
            $self.conn = None;
        }
        result
    }};
}

impl Store {
    /// A connection of this store's pool to hold (see [`HeldConn`]).
    pub fn hold(&self) -> HeldConn {
        HeldConn { store: self.clone(), conn: None }
    }
}

impl HeldConn {
    async fn take(&mut self) -> Result<&mut Held> {
        if self.conn.is_none() {
            self.conn = Some(match &self.store.backend {
                Backend::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
                Backend::Postgres(pool) => Held::Postgres(pool.acquire().await?),
            });
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Claims up to `limit` due sends of `campaign` (if it is running) under `owner`'s
    /// lease: queued ones in order, and deferred ones whose retry time has passed.
    pub async fn claim(
        &mut self,
        owner: &str,
        campaign: CampaignId,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        on_held!(self.queue::claim(owner, campaign, limit, lease_until, now))
    }

    /// Claims due messages of the other sources under `owner`'s lease (see
    /// [`Store::claim_messages`]) on the held connection.
    pub async fn claim_messages(
        &mut self,
        owner: &str,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        on_held!(self.queue::claim_messages_on(owner, limit, lease_until, now))
    }

    /// One group commit of marks (each granted or not) and outcomes.
    pub async fn write_batch(
        &mut self,
        owner: &str,
        marks: &[Mark],
        transmit_lease: DateTime<Utc>,
        outcomes: &[Outcome],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        on_held!(self.queue_writes::write_batch(owner, marks, transmit_lease, outcomes, now))
    }
}
