//! The types of the sending queue as the store sees them (DESIGN §4): campaigns, claimed
//! sends, the writes of the group-committing writer, and the counts of `campaign status`.
//! The SQL is in `queue_sql.rs`, compiled once per backend like `sql.rs`.

use crate::domain::{BounceKind, CampaignState, SendState};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A started (or scheduled) campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    pub id: i64,
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
    pub materialised_upto: i64,
    pub materialised: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
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
    pub send_id: i64,
    pub campaign_id: i64,
    pub contact_id: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    pub first_attempt_at: Option<DateTime<Utc>>,
}

/// "About to hand this message's DATA to SMTP": granted only while the worker still
/// holds the lease, the campaign still runs, and the contact's record is the one the
/// worker checked (`ledger_seq` unchanged: no withdrawal, suppression or restriction
/// was committed since the send-time re-check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub send_id: i64,
    pub ledger_seq: i64,
}

/// The recorded result of one attempt; ends the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub send_id: i64,
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

impl Outcome {
    /// An outcome that carries nothing but its state (and reason).
    pub fn bare(send_id: i64, state: SendState, attempts: i32) -> Outcome {
        Outcome {
            send_id,
            state,
            reason: None,
            attempts,
            due_at: None,
            relay: None,
            smtp_code: None,
            smtp_text: None,
            first_attempt_at: None,
            bounce: None,
        }
    }
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
    pub send_id: i64,
    pub contact_id: i64,
    pub state: SendState,
    pub attempts: i32,
    pub smtp_code: Option<i32>,
    pub smtp_text: Option<String>,
    pub reason: Option<String>,
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
