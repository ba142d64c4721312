//! Storage: one surface over SQLite (the embedded default) and PostgreSQL (scale-out),
//! chosen by the database URL.
//!
//! The SQL lives in `sql/`, one module per concern, each compiled once per backend:
//! `sqlite.rs` and `postgres.rs` mount the same files (`#[path = "sql/…"] mod …;`),
//! each beside its own `Db` type and `DIALECT`, which the modules reach as `super::{Db,
//! DIALECT}`. The modules: `meta` (schema version, config-declared lists and purposes,
//! ping), `contacts` (reads and the `modify` transaction) and `contact_write` (its
//! writes), `contact_list` (browsing), `suppression`, `ledger` (reads), `audience`,
//! `queue` (campaigns, claims, leases), `queue_writes` (the send writer's group
//! commit), `queue_reports`, `revisions`, `feedback` (bounces), `engagement` (opens and
//! clicks), `erasure` (erasure's one transaction), and `support` (pool types, write
//! transactions, `IN` lists). On SQLite the send writer commits through `direct.rs`
//! (rusqlite) instead: it shares the claim statement and the mark's guard
//! (`mark_guard!`) with the sqlx modules, and `tests/api/queue_writers.rs` holds the two
//! writers to the same rows.
//!
//! Why compile the SQL twice: sqlx's `Any` driver cannot carry timestamps or JSON, and
//! code generic over `sqlx::Database` drowns in higher-ranked executor bounds; compiling
//! the same module twice keeps one copy of the SQL with native types on both sides, and
//! the few places where the dialects really differ branch on `DIALECT`.
//!
//! Ids cross this API as [`ContactId`], [`crate::domain::CampaignId`] and
//! [`crate::domain::SendId`]; rows that would otherwise be tuples are named (`rows.rs`).
//!
//! Every read-modify-write of contacts goes through [`Store::modify`], which loads the
//! records inside the write transaction (row-locked on PostgreSQL, `BEGIN IMMEDIATE` on
//! SQLite), so a withdrawal committed by someone else can never be overwritten by a
//! stale copy.

use crate::consent::ledger::{Entry, EventDraft, Head};
use crate::domain::{Contact, ContactId, ListName, OptInStatus, SourceType};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// What makes a "transmitting" mark safe, beyond the lease: the send's campaign (a
/// campaign send's; the other sources have none) still runs, and its contact's record is the version the send-time re-check saw (`$seq`, the
/// statement's own name for that ledger sequence number). One text for both writers of
/// marks, `sql/queue_writes.rs` (sqlx) and `direct.rs` (rusqlite); a string literal, so
/// their statements stay constant text.
macro_rules! mark_guard {
    ($seq:literal) => {
        concat!(
            "(sends.campaign_id IS NULL OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = sends.campaign_id AND c.state = 'running')) ",
            "AND EXISTS (SELECT 1 FROM contacts k WHERE k.id = sends.contact_id AND k.ledger_seq = ",
            $seq,
            ")"
        )
    };
}

// Each mounts every file of `sql/`: the same SQL compiled once per backend, on purpose.
#[allow(clippy::duplicate_mod, reason = "the SQL of sql/ is compiled once per backend")]
mod postgres;
#[allow(clippy::duplicate_mod, reason = "the SQL of sql/ is compiled once per backend")]
mod sqlite;

mod audience;
mod rows;
pub use rows::{AudienceCounts, AudienceMember, Count, ListSpec, PurposeSpec, SelectedContact, SendContact};
mod connect;
pub(crate) mod direct;
pub use direct::DirectSqlite;

pub use audience::{AudienceQuery, SegmentColumn};
pub use connect::Workload;
pub use held::HeldConn;
pub use queue::{
    BounceRecord, CampaignCounts, CampaignRecord, CampaignStateRecord, Claim, FailedSend, FailureReason, History, Mark,
    NewCampaign, Outcome, Recovered,
};
pub use turns::WriteTurns;

/// The records a [`Store::modify`] plan sees, loaded and locked inside its transaction.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Existing contacts, by normalised address.
    pub contacts: HashMap<String, Contact>,
    /// Which of the asked-for suppression MACs are on the suppression list.
    pub suppressed: HashSet<String>,
}

/// One contact to write: the record as loaded (`None` for a new one), as it should be
/// stored, and the ledger events to append, in order.
#[derive(Debug, Clone)]
pub struct ContactWrite {
    pub before: Option<Contact>,
    pub after: Contact,
    pub email_mac: String,
    pub events: Vec<EventDraft>,
    /// The contact's sealed sensitive values to store or erase with it.
    pub sensitive: sensitive::SensitiveWrite,
}

/// Which contacts a bulk operation touches.
#[derive(Debug, Clone)]
pub enum Selection {
    List(String),
    Source(SourceType),
}

/// Which contacts `contacts list` and `contacts export` show; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Subscribed to this list (in any status).
    pub list: Option<ListName>,
    pub opt_in: Option<OptInStatus>,
    /// Has granted consent to this purpose.
    pub purpose: Option<crate::domain::Purpose>,
    pub bounce: Option<crate::domain::BounceStatus>,
    /// A substring of the address or of "first last" name, case-insensitive.
    pub search: Option<String>,
}

/// One row of the suppression list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suppression {
    pub mac: String,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    /// The address, where a contact record still holds it.
    pub email: Option<String>,
}

/// One contact's chain as stored, for verification.
#[derive(Debug, Clone)]
pub struct StoredChain {
    pub contact_id: ContactId,
    pub email: String,
    pub entries: Vec<Entry>,
    pub head: Head,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// What the configured outbound webhooks ask for (see `outbound.rs`).
    outbox: std::sync::Arc<outbound::OutboxSpec>,
    /// The turns of this process's bulk writers on SQLite (see [`WriteTurns`]).
    turns: WriteTurns,
}

/// Calls the same function of whichever backend this store runs on.
macro_rules! dispatch {
    ($self:ident . $m:ident :: $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.backend {
            Backend::Sqlite(pool) => sqlite::$m::$f(pool, $($arg),*).await,
            Backend::Postgres(pool) => postgres::$m::$f(pool, $($arg),*).await,
        }
    };
}

impl Store {
    /// The bulk writers' turns on this database ([`WriteTurns`]).
    pub fn write_turns(&self) -> WriteTurns {
        self.turns.clone()
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await?,
            Backend::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Applies the migrations up to `version` only: for tests that build a database as an
    /// older Herald left it, then migrate it.
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::MIGRATOR.run_to(version, pool).await?,
            Backend::Postgres(pool) => postgres::MIGRATOR.run_to(version, pool).await?,
        }
        Ok(())
    }

    /// True when every migration this build knows has been applied.
    pub async fn schema_is_current(&self) -> Result<bool> {
        let (latest, applied) = match &self.backend {
            Backend::Sqlite(pool) => {
                (sqlite::MIGRATOR.iter().map(|m| m.version).max(), sqlite::meta::applied_version(pool).await?)
            }
            Backend::Postgres(pool) => {
                (postgres::MIGRATOR.iter().map(|m| m.version).max(), postgres::meta::applied_version(pool).await?)
            }
        };
        Ok(applied.is_some() && applied >= latest)
    }

    /// One round trip to the database (`SELECT 1`): whether it answers now.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self.meta::ping())
    }

    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        dispatch!(self.meta::meta_get(key))
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        dispatch!(self.meta::meta_set(key, value))
    }

    /// Creates or updates the lists declared in the config.
    pub async fn sync_lists(&self, lists: &[ListSpec], now: DateTime<Utc>) -> Result<()> {
        dispatch!(self.meta::sync_lists(lists, now))
    }

    /// Creates or updates the purposes declared in the config.
    pub async fn sync_purposes(&self, purposes: &[PurposeSpec], now: DateTime<Utc>) -> Result<()> {
        dispatch!(self.meta::sync_purposes(purposes, now))
    }

    /// Read-modify-write of a batch of contacts in one transaction. `plan` sees the
    /// existing records for `norms` (normalised addresses) and which of `macs` are
    /// suppressed, and returns the writes plus a result. On a write conflict with a
    /// concurrent writer the whole batch is retried, so `plan` may run more than once.
    ///
    /// Only the contact-change service (`contacts::change`) calls this: every other path
    /// changes contacts through it. It stays `pub` for the integration tests, which seed
    /// records the rules would not let them build.
    pub async fn modify<T, F>(
        &self,
        norms: &[String],
        macs: &[String],
        now: DateTime<Utc>,
        plan: F,
    ) -> Result<(Vec<ContactId>, T)>
    where
        F: FnMut(&Loaded) -> Result<(Vec<ContactWrite>, T)>,
    {
        dispatch!(self.contacts::modify(&self.outbox, norms, macs, now, plan))
    }

    pub async fn contact(&self, norm: &str) -> Result<Option<Contact>> {
        Ok(dispatch!(self.contacts::load_one(norm))?)
    }

    /// The contacts with these ids (missing ones are left out), in id order.
    pub async fn contacts_by_id(&self, ids: &[ContactId]) -> Result<Vec<Contact>> {
        dispatch!(self.contacts::contacts_by_id(ids))
    }

    /// For the send-time re-check: each contact with its ledger sequence number and
    /// whether its address is suppressed.
    pub async fn contacts_for_send(&self, ids: &[ContactId]) -> Result<Vec<SendContact>> {
        dispatch!(self.queue_reports::contacts_for_send(ids))
    }

    pub async fn is_suppressed(&self, mac: &str) -> Result<bool> {
        dispatch!(self.suppression::is_suppressed(mac))
    }

    /// Adds `mac` to the suppression list; for every contact holding that address,
    /// appends `event` to its ledger. False if it was already there. Only
    /// `contacts::suppression` calls this (`pub` for the tests' seeding).
    pub async fn suppress(&self, mac: &str, reason: &str, event: &EventDraft, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(self.suppression::suppress(&self.outbox, mac, reason, event, now))
    }

    /// Removes `mac` from the suppression list, with a ledger event like [`Store::suppress`].
    /// Only `contacts::suppression` calls this, once the rules allow it.
    pub async fn unsuppress(&self, mac: &str, event: &EventDraft, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(self.suppression::unsuppress(&self.outbox, mac, event, now))
    }

    pub async fn suppression_list(&self) -> Result<Vec<Suppression>> {
        dispatch!(self.suppression::suppression_list())
    }

    pub async fn ledger(&self, contact_id: ContactId) -> Result<Vec<Entry>> {
        dispatch!(self.ledger::ledger(contact_id))
    }

    /// Chains of the contacts after `after_id`, at most `limit` contacts, in id order.
    pub async fn chains(&self, after_id: ContactId, limit: i64) -> Result<Vec<StoredChain>> {
        dispatch!(self.ledger::chains(after_id, limit))
    }

    /// Normalised addresses of the selected contacts after `after_id`, in id order.
    pub async fn select(&self, selection: &Selection, after_id: ContactId, limit: i64) -> Result<Vec<SelectedContact>> {
        dispatch!(self.contacts::select(selection, after_id, limit))
    }

    /// The audience's size and, per exclusion reason, how many are excluded (the rest
    /// are eligible). Computed in the database: nothing is loaded per contact.
    pub async fn plan_counts(&self, q: &AudienceQuery) -> Result<AudienceCounts> {
        dispatch!(self.audience::plan_counts(q))
    }

    /// Each audience member after `after_id` (at most `limit`, in id order) with the
    /// first reason that excludes them, or `None` when eligible.
    pub async fn audience(&self, q: &AudienceQuery, after_id: ContactId, limit: i64) -> Result<Vec<AudienceMember>> {
        dispatch!(self.audience::audience(q, after_id, limit))
    }

    /// The audience members with contact ids in (after, upto] (materialisation's slices).
    pub async fn audience_range(
        &self,
        q: &AudienceQuery,
        after: ContactId,
        upto: ContactId,
    ) -> Result<Vec<AudienceMember>> {
        dispatch!(self.audience::audience_range(q, after, upto))
    }

    pub async fn max_contact_id(&self) -> Result<ContactId> {
        dispatch!(self.audience::max_contact_id())
    }

    /// Which lists need double opt-in.
    pub async fn list_settings(&self) -> Result<std::collections::BTreeMap<ListName, bool>> {
        dispatch!(self.meta::list_settings())
    }

    /// The contacts matching `filter` after `after_id`, at most `limit`, in id order.
    pub async fn contacts_page(&self, filter: &ContactFilter, after_id: ContactId, limit: i64) -> Result<Vec<Contact>> {
        dispatch!(self.contact_list::contacts_page(filter, after_id, limit))
    }

    pub async fn count_contacts(&self) -> Result<i64> {
        dispatch!(self.contacts::count_contacts())
    }

    pub async fn count_by_opt_in(&self) -> Result<Vec<Count<OptInStatus>>> {
        dispatch!(self.contacts::count_by_opt_in())
    }

    /// Runs raw SQL; for tests that tamper with the database directly.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        dispatch!(self.meta::execute_raw(sql))
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("unreadable {what} in the database: {e}"))
}

pub mod engagement;
pub mod events;
pub mod feedback;
pub mod flow_triggers;
mod materialising;
pub use materialising::MaterialisingLock;
mod held;
pub mod queue;
mod revisions;
pub mod sources;
mod turns;
pub use engagement::Engagement;
pub use feedback::{BounceInsert, BounceRow, CleanCandidate, MailtoUnsubscribe, SendTarget, Streak};
pub use revisions::Revision;
pub mod confirmations;
pub mod erasure;
pub mod privacy;
pub mod privacy_requests;
pub use privacy::{ContactBounce, ContactEvent, ContactFlow, ContactFlowStep, LinkFollowed, SendRecord};
pub mod compliance;
pub mod flows;
pub mod outbound;
pub mod retention;
pub mod sensitive;
pub use outbound::{OutboxRow, OutboxSpec, OutboxStatus};
