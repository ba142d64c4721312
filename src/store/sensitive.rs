//! Sensitive custom fields at rest (DESIGN §12, issue 14.6): the sealed values, one per
//! contact and field, and the log of reveals. What is sealed and who may read it is
//! decided in [`crate::privacy::sensitive`]; the SQL is in `sql/sensitive.rs`. Values
//! are written only with their contact, inside the contact-change service's transaction
//! ([`SensitiveWrite`] on [`super::ContactWrite`]); rotation replaces them one by one.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::ContactId;
use crate::error::Result;
use crate::privacy::field_key::Sealed;
use chrono::{DateTime, Utc};

/// What a contact write does to the contact's sealed values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensitiveWrite {
    /// Values to store (replacing the field's previous one).
    pub put: Vec<(String, Sealed)>,
    /// Delete every sealed value of the contact first (erasure, a withdrawn
    /// `data_storage` purpose).
    pub erase_all: bool,
}

impl SensitiveWrite {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && !self.erase_all
    }
}

/// One stored value, for rotation and for the templates a campaign allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    pub contact_id: ContactId,
    pub field: String,
    pub sealed: Sealed,
}

/// One reveal, as logged: never the value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub contact_id: ContactId,
    pub field: String,
    pub reason: String,
}

impl Store {
    /// The contact's sealed value of `field`, if any.
    pub async fn sensitive_value(&self, contact_id: ContactId, field: &str) -> Result<Option<Sealed>> {
        dispatch!(self.sensitive::value(contact_id, field))
    }

    /// The sealed values of `fields` for the contacts `ids`.
    pub async fn sensitive_values(&self, ids: &[ContactId], fields: &[String]) -> Result<Vec<SealedRow>> {
        dispatch!(self.sensitive::values(ids, fields))
    }

    /// How many sealed values the contact has (tests, exports).
    pub async fn count_sensitive_values(&self, contact_id: ContactId) -> Result<i64> {
        dispatch!(self.sensitive::count(contact_id))
    }

    /// Every sealed value after `after` (contact id, field), at most `limit`, in that order.
    pub async fn sensitive_page(&self, after: (ContactId, &str), limit: i64) -> Result<Vec<SealedRow>> {
        dispatch!(self.sensitive::page(after, limit))
    }

    /// Replaces each stored value by its new sealing, in one transaction, unless it
    /// changed meanwhile (rewritten or erased: then it is left as it is). Returns how many
    /// were replaced.
    pub async fn reseal(&self, rows: &[(SealedRow, Sealed)], now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.sensitive::reseal(rows, now))
    }

    pub async fn log_sensitive_access(&self, entry: &AccessEntry) -> Result<()> {
        dispatch!(self.sensitive::log_access(entry))
    }

    /// The access log, oldest first.
    pub async fn sensitive_access_log(&self) -> Result<Vec<AccessEntry>> {
        dispatch!(self.sensitive::access_log())
    }
}
