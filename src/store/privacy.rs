//! What the privacy export (DESIGN §12) reads besides the contact records: the ledger,
//! the sends and the bounces of a page of contacts, each in one pass per chunk of ids.

use super::{Backend, Store, postgres, sqlite};
use crate::consent::ledger::Entry;
use crate::domain::{ContactId, SendId};
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

impl Store {
    /// The ledger entries of these contacts, by contact id then sequence number.
    pub async fn ledgers_of(&self, ids: &[ContactId]) -> Result<Vec<Entry>> {
        dispatch!(self.privacy::ledgers(ids))
    }

    /// The sends of these contacts, by contact id then send id.
    pub async fn sends_of(&self, ids: &[ContactId]) -> Result<Vec<SendRecord>> {
        dispatch!(self.privacy::sends(ids))
    }

    /// The bounces recorded against these contacts, by contact id then time.
    pub async fn bounces_of(&self, ids: &[ContactId]) -> Result<Vec<ContactBounce>> {
        dispatch!(self.privacy::bounces(ids))
    }
}
