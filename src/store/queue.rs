//! The types of the sending queue as the store sees them (DESIGN §4): campaigns, claimed
//! sends, the writes of the group-committing writer, and the counts of `campaign status`.
//! The SQL is in `sql/queue.rs`, `sql/queue_writes.rs` and `sql/queue_reports.rs`, compiled
//! once per backend; the [`Store`] methods over it are at the end of this file.

use super::Count;
use super::{Backend, Store, postgres, sqlite};
use crate::domain::{BounceKind, CampaignId, CampaignState, ContactId, SendId, SendState, Source};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// A started (or scheduled) campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    pub id: CampaignId,
    pub name: String,
    pub kind: String,
    pub file_path: String,
    /// The campaign file as it was started: the daemon runs from this copy, and a changed
    /// file under the same name is refused.
    pub content: String,
    pub content_hash: String,
    pub state: CampaignState,
    /// Why the campaign is paused (or cancelled): shown by `campaign status`.
    pub state_reason: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    /// Materialisation is resumable: the last contact id it has judged.
    pub materialised_upto: ContactId,
    pub materialised: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A campaign's state alone, without its file: what the daemon polls each second to
/// notice a pause, resume or cancel made elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignStateRecord {
    pub id: CampaignId,
    pub name: String,
    pub state: CampaignState,
    pub state_reason: Option<String>,
}

/// What `campaign send` / `schedule` records for a new campaign.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub kind: String,
    pub file_path: String,
    pub content: String,
    pub content_hash: String,
    pub state: CampaignState,
    pub send_at: Option<DateTime<Utc>>,
}

/// One send a worker has claimed under its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub send_id: SendId,
    /// The campaign of a campaign send; none for the other sources.
    pub campaign_id: Option<CampaignId>,
    pub contact_id: ContactId,
    /// Where the message comes from: the re-check applies this source's policy.
    pub source: Source,
    /// Attempts made before this one.
    pub attempts: i32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// The stored context (JSON text) of another source's message, returned by the claim
    /// so that the engine groups a batch's flow sends without reading them again; none
    /// for a campaign send.
    pub context: Option<String>,
}

/// "About to hand this message's DATA to SMTP": granted only while the worker still
/// holds the lease, the campaign still runs, and the contact's record is the one the
/// worker checked (`ledger_seq` unchanged: no withdrawal, suppression or restriction
/// was committed since the send-time re-check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub send_id: SendId,
    pub ledger_seq: i64,
}

/// The recorded result of one attempt; ends the lease. Built from the engine's verdict in
/// one place (`send::engine::verdict::Verdict::row`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub send_id: SendId,
    pub state: SendState,
    /// Skip reason (an exclusion reason), or why it failed without an SMTP reply.
    pub reason: Option<String>,
    pub attempts: i32,
    /// `deferred`: when to try again.
    pub due_at: Option<DateTime<Utc>>,
    pub relay: Option<String>,
    pub smtp_code: Option<i32>,
    pub smtp_text: Option<String>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub bounce: Option<BounceRecord>,
}

/// A bounce event, stored with the send it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceRecord {
    pub kind: BounceKind,
    /// Enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: Option<String>,
    pub reason: Option<String>,
    pub diagnostic: Option<String>,
    /// `smtp`, `dns`, `dsn`, `arf`, `webhook`.
    pub source: String,
}

/// `campaign status` counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignCounts {
    pub by_state: BTreeMap<SendState, i64>,
    pub skipped: BTreeMap<String, i64>,
    pub bounces: BTreeMap<BounceKind, i64>,
    /// Failed or deferred through Herald's or the relay's fault (see [`crate::domain::Fault`]).
    pub faults: i64,
    /// Sends opened (a click counts as an open), and sends with a followed link: only
    /// messages to contacts who consented to tracking can be either.
    pub opened: i64,
    pub clicked: i64,
}

impl CampaignCounts {
    pub fn get(&self, state: SendState) -> i64 {
        self.by_state.get(&state).copied().unwrap_or(0)
    }

    pub fn bounces(&self, kind: BounceKind) -> i64 {
        self.bounces.get(&kind).copied().unwrap_or(0)
    }

    /// Sends still to be attempted (now or later).
    pub fn open(&self) -> i64 {
        [SendState::Queued, SendState::Claimed, SendState::Transmitting, SendState::Deferred]
            .iter()
            .map(|s| self.get(*s))
            .sum()
    }

    pub fn total(&self) -> i64 {
        self.by_state.values().sum()
    }
}

/// A failed send, for `campaign status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedSend {
    pub send_id: SendId,
    pub contact_id: ContactId,
    pub state: SendState,
    pub attempts: i32,
    pub smtp_code: Option<i32>,
    pub smtp_text: Option<String>,
    pub reason: Option<String>,
}

/// Failed sends of one cause: `render` (Herald's templates), `relay` (no session with the
/// relay), `smtp` (refused by the recipient's server, with its code), or the recorded
/// reason (`gave up: retries exhausted`, no such domain).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailureReason {
    pub cause: String,
    pub smtp_code: Option<i32>,
    pub count: i64,
    /// The first recorded reason or reply of the group.
    pub example: String,
}

/// A contact's delivery history, as the frequency cap and the engagement rule see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// Marketing messages delivered since the cap window's start.
    pub recent_marketing: u32,
    /// Of the last N delivered messages: how many there are, and whether any was opened
    /// or clicked.
    pub recent_delivered: u32,
    pub recent_engaged: bool,
}

/// What lease recovery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovered {
    /// Expired `claimed` rows put back in the queue (nothing had been sent).
    pub requeued: u64,
    /// Expired `transmitting` rows: the crash fell between DATA and the recorded reply.
    pub in_doubt: u64,
    /// Of those, re-queued because `on_doubt = "resend"`.
    pub resent: u64,
}

/// The sending queue (DESIGN §4).
impl Store {
    pub async fn campaign_by_name(&self, name: &str) -> Result<Option<CampaignRecord>> {
        dispatch!(self.queue::campaign_by_name(name))
    }

    /// The content hash of the campaign named `name` as stored: whether a copy parsed
    /// earlier is still the campaign's (a revision changes it).
    pub async fn campaign_content_hash(&self, name: &str) -> Result<Option<String>> {
        dispatch!(self.queue::campaign_content_hash(name))
    }

    pub async fn campaign_by_id(&self, id: CampaignId) -> Result<Option<CampaignRecord>> {
        dispatch!(self.queue::campaign_by_id(id))
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRecord>> {
        dispatch!(self.queue::campaigns())
    }

    /// Every campaign's state (and why), in id order: [`Store::campaigns`] without the
    /// stored files.
    pub async fn campaign_states(&self) -> Result<Vec<CampaignStateRecord>> {
        dispatch!(self.queue::campaign_states())
    }

    /// Running campaigns, and scheduled ones whose `send_at` has come.
    pub async fn active_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<CampaignRecord>> {
        dispatch!(self.queue::active_campaigns(now))
    }

    /// Records a new campaign; refused if the name is taken.
    pub async fn create_campaign(&self, c: &NewCampaign, now: DateTime<Utc>) -> Result<CampaignRecord> {
        let record = dispatch!(self.queue::create_campaign(c, now))?;
        self.record_first_revision(record.id, &c.content_hash, &c.content, now).await?;
        Ok(record)
    }

    /// Moves campaign `id` to `to` if it is in one of `from`; false when it was not.
    pub async fn set_campaign_state(
        &self,
        id: CampaignId,
        from: &[CampaignState],
        to: CampaignState,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(self.queue::set_campaign_state(id, from, to, reason, now))
    }

    /// Queues `contact_ids` and moves the materialisation cursor to `upto`, atomically.
    pub async fn materialise(
        &self,
        campaign_id: CampaignId,
        contact_ids: &[ContactId],
        upto: ContactId,
        done: bool,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        dispatch!(self.queue::materialise(campaign_id, contact_ids, upto, done, now))
    }

    pub async fn renew_leases(&self, owner: &str, until: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.queue::renew_leases(owner, until))
    }

    /// Gives `owner`'s claimed rows back to the queue (shutdown, pause).
    pub async fn release(&self, owner: &str, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.queue::release(owner, now))
    }

    /// Lease recovery: expired claimed rows are re-queued, expired transmitting rows
    /// become `in_doubt` (or are re-queued when `resend`).
    pub async fn recover(&self, now: DateTime<Utc>, resend: bool) -> Result<Recovered> {
        dispatch!(self.queue::recover(now, resend))
    }

    /// Ends a cancelled campaign's open sends as skipped.
    pub async fn cancel_open_sends(&self, campaign_id: CampaignId, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.queue::cancel_open_sends(campaign_id, now))
    }

    pub async fn campaign_counts(&self, campaign_id: CampaignId) -> Result<CampaignCounts> {
        dispatch!(self.queue_reports::counts(campaign_id))
    }

    pub async fn send_state_totals(&self) -> Result<Vec<Count<SendState>>> {
        dispatch!(self.queue_reports::state_totals())
    }

    pub async fn campaign_state_totals(&self) -> Result<Vec<Count<CampaignState>>> {
        dispatch!(self.queue_reports::campaign_state_totals())
    }

    pub async fn bounce_totals(&self) -> Result<Vec<Count<BounceKind>>> {
        dispatch!(self.queue_reports::bounce_totals())
    }

    pub async fn next_retry(&self, campaign_id: CampaignId) -> Result<Option<DateTime<Utc>>> {
        dispatch!(self.queue_reports::next_retry(campaign_id))
    }

    /// The campaign's failed sends counted by cause (see [`FailureReason`]), most first.
    pub async fn failure_reasons(&self, campaign_id: CampaignId) -> Result<Vec<FailureReason>> {
        dispatch!(self.queue_reports::failure_reasons(campaign_id))
    }

    pub async fn failures(&self, campaign_id: CampaignId, limit: i64) -> Result<Vec<FailedSend>> {
        dispatch!(self.queue_reports::failures(campaign_id, limit))
    }

    /// Delivery history for the frequency cap and the engagement rule.
    pub async fn history(
        &self,
        contact_ids: &[ContactId],
        since: Option<DateTime<Utc>>,
        last_n: Option<u32>,
    ) -> Result<HashMap<ContactId, History>> {
        dispatch!(self.queue_reports::history(contact_ids, since, last_n))
    }
}
