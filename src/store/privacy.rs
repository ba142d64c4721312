//! What the privacy export (DESIGN §12) reads: batches of contacts with their ledger,
//! sends (each with the links followed in it), bounces, events (the events API's) and
//! their places in flows.

use super::{Backend, Store, postgres, sqlite};
use crate::consent::ledger::Entry;
use crate::domain::{Contact, ContactId, ListName, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One event the events API recorded for a contact (`POST /api/events`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactEvent {
    pub id: i64,
    #[serde(skip)]
    pub contact_id: ContactId,
    pub name: String,
    pub properties: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// One message Herald queued or sent to a contact, whatever its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendRecord {
    pub send_id: SendId,
    #[serde(skip)]
    pub contact_id: ContactId,
    /// `campaign`, `test`, `confirmation` or `flow`.
    pub source: String,
    /// The campaign's name, for a campaign send.
    pub campaign: Option<String>,
    pub state: String,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
    pub smtp_code: Option<i32>,
    pub updated_at: DateTime<Utc>,
    /// The links followed in this message, once per link (`clicks`), by time.
    pub clicks: Vec<LinkFollowed>,
}

/// A link followed in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkFollowed {
    pub url: String,
    pub at: DateTime<Utc>,
}

/// A contact's entry into a flow (DESIGN §13): where it stands and each step it went
/// through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactFlow {
    #[serde(skip)]
    pub contact_id: ContactId,
    pub flow: String,
    /// `active`, `completed` or `exited`.
    pub state: String,
    /// The step due next (active), or the one the entry ended on.
    pub step: String,
    pub due_at: Option<DateTime<Utc>>,
    pub exit_reason: Option<String>,
    /// The triggering event's properties (what the steps' templates read).
    pub properties: serde_json::Value,
    pub entered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub steps: Vec<ContactFlowStep>,
}

/// One step a contact went through in a flow: its message queued, or skipped and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactFlowStep {
    pub step: String,
    /// `queued` or `skipped`.
    pub outcome: String,
    pub reason: Option<String>,
    pub send_id: Option<SendId>,
    pub at: DateTime<Utc>,
}

/// One bounce or complaint recorded against a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactBounce {
    pub id: i64,
    #[serde(skip)]
    pub contact_id: ContactId,
    pub received_at: DateTime<Utc>,
    pub kind: String,
    pub campaign: Option<String>,
    pub send_id: Option<SendId>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub source: String,
}

/// A batch of a bulk export: contacts in id order, each with its subscriptions and
/// purposes, and the ledger entries, sends, bounces, events and flow entries of those
/// contacts, each sorted by contact id.
#[derive(Debug, Default)]
pub struct ExportBatch {
    pub contacts: Vec<Contact>,
    pub ledger: Vec<Entry>,
    pub sends: Vec<SendRecord>,
    pub bounces: Vec<ContactBounce>,
    pub events: Vec<ContactEvent>,
    pub flows: Vec<ContactFlow>,
}

/// A bulk export's walk over the contacts, batch after batch, on one connection held
/// from the first batch to the last (each connection keeps its own page cache: a walk
/// spread over the pool's connections would fill each one's).
pub struct ExportCursor {
    conn: ExportConn,
    list: Option<ListName>,
    after: ContactId,
}

enum ExportConn {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Store {
    /// A walk over the contacts with an id above `after` (subscribed to `list`, when
    /// given), in id order.
    pub async fn export_cursor(&self, list: Option<&ListName>, after: ContactId) -> Result<ExportCursor> {
        let conn = match &self.backend {
            Backend::Sqlite(pool) => ExportConn::Sqlite(pool.acquire().await?),
            Backend::Postgres(pool) => ExportConn::Postgres(pool.acquire().await?),
        };
        Ok(ExportCursor { conn, list: list.cloned(), after })
    }
}

impl ExportCursor {
    /// The next batch of up to `limit` contacts with everything the export shows about
    /// them, read in one snapshot; empty at the end.
    pub async fn next(&mut self, limit: i64) -> Result<ExportBatch> {
        let list = self.list.as_ref();
        let batch = match &mut self.conn {
            ExportConn::Sqlite(conn) => sqlite::privacy::export_batch(conn, list, self.after, limit).await?,
            ExportConn::Postgres(conn) => postgres::privacy::export_batch(conn, list, self.after, limit).await?,
        };
        if let Some(last) = batch.contacts.last().and_then(|c| c.id) {
            self.after = last;
        }
        Ok(batch)
    }
}
