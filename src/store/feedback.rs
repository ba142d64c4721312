//! What the feedback rules (DESIGN §5) read and write: bounce events, the sends they map
//! back to, a contact's bounce history since its last delivery, and the list-cleaning
//! report.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{BounceKind, CampaignId, ContactId, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The send a bounce is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTarget {
    pub send_id: SendId,
    pub campaign_id: CampaignId,
    pub campaign: String,
    pub contact_id: ContactId,
}

/// One bounce event to record; `fingerprint` makes recording it twice a no-op.
#[derive(Debug, Clone)]
pub struct BounceInsert {
    pub send_id: Option<SendId>,
    pub campaign_id: Option<CampaignId>,
    pub contact_id: Option<ContactId>,
    pub kind: BounceKind,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub diagnostic: Option<String>,
    /// `smtp`, `dns`, `dsn`, `arf`, `auto_reply`, `inbound`, `webhook:<provider>`.
    pub source: String,
    pub fingerprint: String,
    pub received_at: DateTime<Utc>,
    /// Not tied to a message Herald sent: kept for review, counted nowhere, changes nothing.
    pub unmatched: bool,
}

/// A contact's bounces since the last message that reached them (a `sent` send with no
/// bounce recorded against it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streak {
    /// Hard-bounced sends (an unmapped hard event counts on its own).
    pub hard: i64,
    /// Campaigns with a soft bounce.
    pub soft_campaigns: i64,
    /// Any bounce at all since the last delivery.
    pub any: bool,
}

/// One row of `bounces list`.
#[derive(Debug, Clone, Serialize)]
pub struct BounceRow {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub kind: BounceKind,
    pub email: Option<String>,
    pub campaign: Option<String>,
    pub send_id: Option<SendId>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub source: String,
    /// Not tied to a message Herald sent (DESIGN §5): it changed nothing.
    pub unmatched: bool,
}

/// One mail to the List-Unsubscribe mailto address and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailtoUnsubscribe {
    pub received_at: DateTime<Utc>,
    /// `token` (a verified link token), `sender` (the mail's sender is a contact) or `none`.
    pub via: String,
    /// `done`, `already_out` or `not_recognised`.
    pub outcome: String,
    #[serde(skip)]
    pub contact_id: Option<ContactId>,
    pub campaign: Option<String>,
}

/// A contact named by list cleaning.
#[derive(Debug, Clone, Serialize)]
pub struct CleanCandidate {
    #[serde(skip)]
    pub contact_id: ContactId,
    pub email: String,
    #[serde(skip)]
    pub email_mac: String,
    /// Soft-bounced campaigns, or messages without engagement, behind the verdict.
    pub count: i64,
}

impl Store {
    pub async fn send_target(&self, send_id: SendId) -> Result<Option<SendTarget>> {
        dispatch!(self.feedback::send_target(send_id))
    }

    /// The contact's sends, newest first.
    pub async fn sends_of_contact(&self, contact_id: ContactId, limit: i64) -> Result<Vec<SendTarget>> {
        dispatch!(self.feedback::sends_of_contact(contact_id, limit))
    }

    /// False when the event was recorded before: the same fingerprint, or a bounce of the
    /// same kind for the same send (one bounce per send and kind, whatever the wrapper).
    pub async fn insert_bounce(&self, b: &BounceInsert) -> Result<bool> {
        dispatch!(self.feedback::insert_bounce(b))
    }

    pub async fn bounce_streak(&self, contact_id: ContactId) -> Result<Streak> {
        dispatch!(self.feedback::bounce_streak(contact_id))
    }

    /// Newest first; with `unmatched_only`, only the reports kept for review.
    pub async fn bounces(
        &self,
        campaign_id: Option<CampaignId>,
        unmatched_only: bool,
        limit: i64,
    ) -> Result<Vec<BounceRow>> {
        dispatch!(self.feedback::bounces(campaign_id, unmatched_only, limit))
    }

    pub async fn record_mailto_unsubscribe(&self, m: &MailtoUnsubscribe) -> Result<()> {
        dispatch!(self.feedback::record_mailto_unsubscribe(m))
    }

    /// Newest first.
    pub async fn mailto_unsubscribes(&self, limit: i64) -> Result<Vec<MailtoUnsubscribe>> {
        dispatch!(self.feedback::mailto_unsubscribes(limit))
    }

    /// Contacts whose bounce state is `confirmed` but whose address is not suppressed.
    pub async fn confirmed_unsuppressed(&self) -> Result<Vec<CleanCandidate>> {
        dispatch!(self.feedback::confirmed_unsuppressed())
    }

    /// Contacts with soft bounces in at least `min_campaigns` campaigns since their last
    /// delivery (and not yet confirmed).
    pub async fn repeated_soft(&self, min_campaigns: i64) -> Result<Vec<CleanCandidate>> {
        dispatch!(self.feedback::repeated_soft(min_campaigns))
    }

    /// Contacts with tracking consent, subscribed somewhere, who engaged with none of
    /// their last `n` delivered messages (and have had at least `n`).
    pub async fn unengaged(&self, n: i64) -> Result<Vec<CleanCandidate>> {
        dispatch!(self.feedback::unengaged(n))
    }
}
