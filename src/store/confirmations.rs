//! Confirmations (DESIGN §10): a request that applies only once the person confirms it
//! from the email Herald sent them. A row is queued together with its message (one
//! transaction), claimed once when confirmed, and deleted by the daemon once expired
//! unconfirmed. The SQL is in `sql/confirmations.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ConfirmKind, ContactId, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// A confirmation to record, with the message that asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConfirmation {
    pub contact_id: ContactId,
    pub kind: ConfirmKind,
    /// What confirming applies (JSON).
    pub request: serde_json::Value,
    /// The asking request's evidence (JSON).
    pub evidence: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

/// A stored confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmationRow {
    pub id: i64,
    pub contact_id: ContactId,
    pub kind: ConfirmKind,
    pub request: serde_json::Value,
    pub evidence: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub send_id: Option<SendId>,
}

/// How claiming a confirmation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This call set `confirmed_at`: the caller applies the request.
    Now,
    Already,
    Expired,
    Missing,
}

impl Store {
    /// Records a confirmation and queues its `confirmation` message (whose context names
    /// the confirmation) in one transaction; returns both ids.
    pub async fn queue_confirmation(&self, c: &NewConfirmation, now: DateTime<Utc>) -> Result<(i64, SendId)> {
        dispatch!(self.confirmations::queue(c, now))
    }

    pub async fn confirmation(&self, id: i64) -> Result<Option<ConfirmationRow>> {
        dispatch!(self.confirmations::by_id(id))
    }

    /// Sets `confirmed_at` if the confirmation is still open and unexpired: only one
    /// caller ever gets [`Claimed::Now`].
    pub async fn claim_confirmation(&self, id: i64, now: DateTime<Utc>) -> Result<Claimed> {
        dispatch!(self.confirmations::claim(id, now))
    }

    /// Undoes a claim whose change could not be applied (the person may try again).
    pub async fn unclaim_confirmation(&self, id: i64) -> Result<()> {
        dispatch!(self.confirmations::unclaim(id))
    }

    /// Records a confirmation that is confirmed as it is made (a re-permission link,
    /// whose request is the campaign): false, and nothing written, when the contact
    /// already has one of the same kind and request.
    pub async fn record_confirmed(&self, c: &NewConfirmation, now: DateTime<Utc>) -> Result<bool> {
        dispatch!(self.confirmations::record_confirmed(c, now))
    }

    /// How many confirmations of `kind` with exactly this request were confirmed.
    pub async fn count_confirmed(&self, kind: ConfirmKind, request: &serde_json::Value) -> Result<u64> {
        dispatch!(self.confirmations::count_confirmed(kind, request))
    }

    /// The contacts a re-permission campaign's message reached before `sent_before` who
    /// did not confirm (`request` is the campaign's, see
    /// [`crate::contacts::confirm::reconfirm_request`]); each with count 1.
    pub async fn not_reconfirmed(
        &self,
        campaign_id: crate::domain::CampaignId,
        request: &serde_json::Value,
        sent_before: DateTime<Utc>,
    ) -> Result<Vec<super::CleanCandidate>> {
        dispatch!(self.confirmations::not_reconfirmed(campaign_id, request, sent_before))
    }

    /// Unconfirmed confirmations that expired before `now`, oldest first, at most `limit`.
    pub async fn expired_confirmations(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ConfirmationRow>> {
        dispatch!(self.confirmations::expired(now, limit))
    }

    /// Deletes an expired, unconfirmed confirmation. With `drop_contact`, the contact goes
    /// too, in the same transaction, if the sign-up is all there is of it: its only
    /// subscriptions unconfirmed, no send but confirmation messages, no confirmation
    /// confirmed or still open, every ledger event the person's own. Returns whether the
    /// contact was deleted.
    pub async fn expire_confirmation(&self, row: &ConfirmationRow, drop_contact: bool) -> Result<bool> {
        dispatch!(self.confirmations::expire(row, drop_contact))
    }
}
