//! Erasure's one transaction (DESIGN §12, issue 14.3): what `privacy::erase` decided,
//! written at once or not at all. The decisions (what is emptied, which bodies are
//! redacted, the placeholder) are in [`crate::privacy::erase`]; the SQL is in
//! `sql/erasure.rs`.

use super::{Backend, ContactWrite, Store, postgres, sqlite};
use crate::domain::ContactId;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Everything one erasure writes.
#[derive(Debug, Clone)]
pub struct ErasureWrite {
    pub contact_id: ContactId,
    /// The chain head the plan was made from: if the contact changed since, nothing is
    /// written and the plan is made again.
    pub seen_seq: i64,
    /// The emptied record (placeholder address, no personal fields) and the erasure event.
    pub write: ContactWrite,
    /// Redacted bodies, by sequence number, replacing the stored ones (hashes kept).
    pub redactions: Vec<(i64, String)>,
    /// The suppression MAC of the erased address, kept with reason `erased`.
    pub suppression_mac: String,
    pub actor: String,
}

/// What the transaction changed besides the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureCounts {
    pub evidence_rows_deleted: u64,
    pub sends_skipped: u64,
}

/// The suppression reason erasure keeps an address's entry with.
pub const ERASED_REASON: &str = "erased";

impl Store {
    /// Why `mac` is on the suppression list, if it is.
    pub async fn suppression_reason(&self, mac: &str) -> Result<Option<String>> {
        dispatch!(self.erasure::suppression_reason(mac))
    }

    /// Writes `e` in one transaction; `None` (nothing written) when the contact's chain
    /// moved past `e.seen_seq` meanwhile.
    pub async fn erase(&self, e: &ErasureWrite, now: DateTime<Utc>) -> Result<Option<ErasureCounts>> {
        dispatch!(self.erasure::erase(&self.outbox, e, now))
    }
}
