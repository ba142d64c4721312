//! What the flow trigger watchers (`flows::triggers`) read: the ledger in insertion
//! order, the opens and clicks of named campaigns, the engagement of a range of contacts
//! (for `inactive` triggers), and their cursors in the `meta` table, which only move
//! forward. The SQL is in `sql/flow_triggers.rs`.
//!
//! Every read is a keyset page: after a position, up to a settled time, at most `limit`
//! rows. The ledger's page wants an index on `ledger (at, contact_id, seq)` (no
//! migration adds it yet): without it each page scans the whole ledger, which is four
//! times slower at 100 000 events and grows with the ledger (`tests/api/flow_triggers_bench.rs`).
//! The opens go through the partial index `sends_engaged`, the clicks through `clicks_at`; `activity` through
//! the contacts' primary key and `sends_contact`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ContactId, ListName, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// A place in the ledger's order `(at, contact_id, seq)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LedgerPosition {
    pub at: DateTime<Utc>,
    pub contact_id: ContactId,
    pub seq: i64,
}

/// One ledger event as the watcher reads it (its body, without the evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub contact_id: ContactId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub body: String,
}

impl LedgerRow {
    /// Where this row stands in the ledger's order.
    pub fn position(&self) -> LedgerPosition {
        LedgerPosition { at: self.at, contact_id: self.contact_id, seq: self.seq }
    }
}

/// A place in the order `(at, send_id)` of opens, or of clicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EngagementPosition {
    pub at: DateTime<Utc>,
    pub send_id: SendId,
}

/// One open, or one link followed, of a campaign send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementRow {
    pub send_id: SendId,
    pub contact_id: ContactId,
    pub campaign: String,
    /// `opened_at` or `clicked_at`.
    pub at: DateTime<Utc>,
    /// The URL followed, for a click (each link followed is a row of `clicks`, so a
    /// send with several links followed gives several rows); `None` for an open.
    pub link: Option<String>,
}

impl EngagementRow {
    pub fn position(&self) -> EngagementPosition {
        EngagementPosition { at: self.at, send_id: self.send_id }
    }
}

/// A contact's mail and engagement, for `inactive` triggers: an active contact
/// subscribed to one of the flow's lists who was sent something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub contact_id: ContactId,
    /// Their first delivered message (`state = 'sent'`), if any.
    pub first_sent: Option<DateTime<Utc>>,
    pub last_open: Option<DateTime<Utc>>,
    pub last_click: Option<DateTime<Utc>>,
}

impl Store {
    /// Ledger events after `after` whose time is at most `upto`, in the order
    /// `(at, contact_id, seq)`, at most `limit`.
    pub async fn ledger_after(
        &self,
        after: &LedgerPosition,
        upto: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<LedgerRow>> {
        dispatch!(self.flow_triggers::ledger_after(after, upto, limit))
    }

    /// The opens (`clicks = false`) or clicks of sends of the campaigns named
    /// `campaigns`, after `after`, at most at `upto`, in `(at, send_id)` order.
    pub async fn engagement_after(
        &self,
        campaigns: &[String],
        clicks: bool,
        after: &EngagementPosition,
        upto: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<EngagementRow>> {
        dispatch!(self.flow_triggers::engagement_after(campaigns, clicks, after, upto, limit))
    }

    /// The activity of the contacts with ids in `(after, upto]` who are active, are
    /// subscribed (not `unsubscribed`) to one of `lists`, and were sent something; in id
    /// order.
    pub async fn activity(&self, lists: &[ListName], after: ContactId, upto: ContactId) -> Result<Vec<Activity>> {
        dispatch!(self.flow_triggers::activity(lists, after, upto))
    }

    /// Sets the `meta` value `key` to `new` if it still is `old` (`None`: absent);
    /// false when another writer changed it first.
    pub async fn meta_swap(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
        dispatch!(self.flow_triggers::meta_swap(key, old, new))
    }
}
