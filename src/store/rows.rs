//! Named rows the store hands out or takes in, where a tuple would leave the reader to
//! guess what each position means.

use crate::domain::{Contact, ContactId, ExclusionReason};

/// How many records share one value of a column (a `GROUP BY` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<K> {
    pub key: K,
    pub count: i64,
}

/// A list declared in the config, as [`super::Store::sync_lists`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    pub name: String,
    /// New subscriptions need a confirmation before anything is sent.
    pub double_opt_in: bool,
    pub description: Option<String>,
}

/// A purpose declared in the config, as [`super::Store::sync_purposes`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeSpec {
    pub name: String,
    pub description: Option<String>,
}

/// A contact a bulk operation selected: its id and normalised address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedContact {
    pub id: ContactId,
    pub email_norm: String,
}

/// A contact as the send-time re-check sees it.
#[derive(Debug, Clone)]
pub struct SendContact {
    pub contact: Contact,
    /// The ledger sequence number: the version a "transmitting" mark is conditional on.
    pub ledger_seq: i64,
    /// The address is on the suppression list.
    pub suppressed: bool,
}

/// One member of a campaign's audience and the first rule that excludes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudienceMember {
    pub contact_id: ContactId,
    /// `None` when eligible.
    pub exclusion: Option<ExclusionReason>,
}

/// A campaign plan's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceCounts {
    /// Everyone the lists and segment address.
    pub total: i64,
    /// How many per first exclusion reason; the `None` key counts the eligible.
    pub by_reason: Vec<Count<Option<ExclusionReason>>>,
}
