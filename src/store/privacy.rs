//! What the privacy export (DESIGN §12) reads: batches of contacts with their ledger,
//! sends and bounces.

use super::{Backend, Store, postgres, sqlite};
use crate::consent::ledger::Entry;
use crate::domain::{Contact, ContactId, ListName, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
/// purposes, and the ledger entries, sends and bounces of those contacts, each sorted by
/// contact id.
#[derive(Debug, Default)]
pub struct ExportBatch {
    pub contacts: Vec<Contact>,
    pub ledger: Vec<Entry>,
    pub sends: Vec<SendRecord>,
    pub bounces: Vec<ContactBounce>,
}

impl Store {
    /// Up to `limit` contacts with an id above `after` (subscribed to `list`, when given),
    /// with everything the export shows about them, read in one snapshot.
    pub async fn export_batch(&self, list: Option<&ListName>, after: ContactId, limit: i64) -> Result<ExportBatch> {
        dispatch!(self.privacy::export_batch(list, after, limit))
    }
}
