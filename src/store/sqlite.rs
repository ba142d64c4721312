//! The SQLite backend: the SQL of `sql/`, compiled here with sqlx's SQLite driver (and
//! once more in `postgres.rs`). Each module sees this backend's `Db` and
//! `DIALECT` through `super`; see `store/mod.rs` for why the SQL is compiled twice.

use super::Dialect;

pub(super) type Db = sqlx::Sqlite;
pub(super) const DIALECT: Dialect = Dialect::Sqlite;
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[path = "sql/audience.rs"]
pub(super) mod audience;
#[path = "sql/compliance.rs"]
pub(super) mod compliance;
#[path = "sql/confirmations.rs"]
pub(super) mod confirmations;
#[path = "sql/contact_list.rs"]
pub(super) mod contact_list;
#[path = "sql/contact_write.rs"]
mod contact_write;
#[path = "sql/contacts.rs"]
pub(super) mod contacts;
#[path = "sql/engagement.rs"]
pub(super) mod engagement;
#[path = "sql/erasure.rs"]
pub(super) mod erasure;
#[path = "sql/events.rs"]
pub(super) mod events;
#[path = "sql/feedback.rs"]
pub(super) mod feedback;
#[path = "sql/flow_plain.rs"]
pub(super) mod flow_plain;
#[path = "sql/flow_triggers.rs"]
pub(super) mod flow_triggers;
#[path = "sql/flows.rs"]
pub(super) mod flows;
#[path = "sql/import_copy.rs"]
mod import_copy;
#[path = "sql/ledger.rs"]
pub(super) mod ledger;
#[path = "sql/meta.rs"]
pub(super) mod meta;
#[path = "sql/outbound.rs"]
pub(super) mod outbound;
#[path = "sql/privacy.rs"]
pub(super) mod privacy;
#[path = "sql/privacy_requests.rs"]
pub(super) mod privacy_requests;
#[path = "sql/queue.rs"]
pub(super) mod queue;
#[path = "sql/queue_reports.rs"]
pub(super) mod queue_reports;
#[path = "sql/queue_writes.rs"]
pub(super) mod queue_writes;
#[path = "sql/retention.rs"]
pub(super) mod retention;
#[path = "sql/revisions.rs"]
pub(super) mod revisions;
#[path = "sql/sensitive.rs"]
pub(super) mod sensitive;
#[path = "sql/sources.rs"]
pub(super) mod sources;
#[path = "sql/support.rs"]
mod support;
#[path = "sql/suppression.rs"]
pub(super) mod suppression;
