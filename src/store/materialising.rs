//! Who materialises a campaign when several daemons share one PostgreSQL database.
//!
//! Every daemon's scheduler finds a campaign that is running and not materialised yet.
//! Left alone, they all materialise it at once: each inserts the same `sends` rows and
//! waits on the others' uncommitted ones (`ON CONFLICT` must know whether they commit).
//! `scripts/bench-scale.sh` saw these as the only lock waits of a four-daemon run, and
//! they put the campaign's first sends back by a second or more. So a daemon first takes
//! a session-level advisory lock on the campaign and leaves the campaign to whoever holds
//! it. The lock lives as long as the holder's connection: a daemon that dies mid-way
//! loses it with its session, and the next daemon carries on from the campaign's cursor.
//! SQLite serialises writers anyway, so there the lock is always granted and holds nothing.

use super::{Backend, Store};
use crate::domain::CampaignId;
use crate::error::Result;

/// The advisory-lock key space of materialisation: the campaign id in the low 32 bits,
/// "HRLD" above them, so the key is Herald's own and names the campaign.
const KEY_SPACE: i64 = 0x4852_4C44 << 32;

/// The right to materialise one campaign, held until [`MaterialisingLock::release`] (or
/// the end of the connection, when dropped without it).
#[must_use = "the lock is held until released"]
pub struct MaterialisingLock {
    held: Option<(sqlx::pool::PoolConnection<sqlx::Postgres>, i64)>,
}

impl Store {
    /// Takes the right to materialise `campaign`, or `None` when another process holds it
    /// (it is materialising the campaign now).
    pub async fn try_lock_materialising(&self, campaign: CampaignId) -> Result<Option<MaterialisingLock>> {
        let pool = match &self.backend {
            Backend::Sqlite(_) => return Ok(Some(MaterialisingLock { held: None })),
            Backend::Postgres(pool) => pool,
        };
        let key = KEY_SPACE | (campaign.get() & 0xFFFF_FFFF);
        let mut conn = pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut *conn).await?;
        Ok(got.then_some(MaterialisingLock { held: Some((conn, key)) }))
    }
}

impl MaterialisingLock {
    /// Lets the next process materialise the campaign (by then there is usually nothing
    /// left to do).
    pub async fn release(mut self) -> Result<()> {
        if let Some((mut conn, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut *conn).await;
            if unlocked.is_err() {
                // Never back into the pool with the lock still on it: closing ends the session.
                conn.close_on_drop();
            }
            unlocked?;
        }
        Ok(())
    }
}

impl Drop for MaterialisingLock {
    fn drop(&mut self) {
        // Not released (an error on the way): the connection is closed, which frees the lock,
        // rather than returned to the pool still holding it.
        if let Some((conn, _)) = self.held.as_mut() {
            conn.close_on_drop();
        }
    }
}
