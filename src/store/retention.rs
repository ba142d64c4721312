//! What retention (DESIGN §12, issue 14.5) reads: the contacts with no sign of life since
//! a cut-off, and the web sign-ups whose confirmation expired unconfirmed, one range of ids at
//! a time; and the daemon's once-a-day claim. The rules (periods per legal basis,
//! what counts as a sign of life) are in [`crate::privacy::retention`]; the SQL is in
//! `sql/retention.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ContactId, LegalBasis};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Which legal bases one retention period covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bases {
    /// Contacts with this legal basis.
    Only(LegalBasis),
    /// Contacts with none of these legal bases, or none recorded.
    Except(Vec<LegalBasis>),
}

/// Contacts of `bases` whose last sign of life is at or before `cutoff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveQuery {
    pub bases: Bases,
    pub cutoff: DateTime<Utc>,
}

/// A contact retention would erase, as the store finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRow {
    pub contact_id: ContactId,
    pub email: String,
    pub legal_basis: Option<LegalBasis>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The contacts `q` selects with ids in (`after`, `upto`], in id order: not erased,
    /// not restricted, created at or before the cut-off, and with no send, open, click,
    /// consent date, purpose grant or confirmed confirmation after it.
    pub async fn retention_inactive(
        &self,
        q: &InactiveQuery,
        after: ContactId,
        upto: ContactId,
    ) -> Result<Vec<RetentionRow>> {
        dispatch!(self.retention::inactive(q, after, upto))
    }

    /// The contacts a web sign-up created whose confirmation expired at or before `now`
    /// unconfirmed, with ids in (`after`, `upto`], in id order: opt-in still
    /// `single_opt_in_webform`, no confirmation ever confirmed nor still open, no list
    /// confirmed; not erased, not restricted.
    pub async fn retention_expired_signups(
        &self,
        now: DateTime<Utc>,
        after: ContactId,
        upto: ContactId,
    ) -> Result<Vec<RetentionRow>> {
        dispatch!(self.retention::expired_signups(now, after, upto))
    }

    /// Records `now` under the meta `key` if the time recorded there is at or before
    /// `last_before` (or none is): true when this caller won the run. One statement, so
    /// two daemons sharing a database never both win.
    pub async fn claim_periodic_run(&self, key: &str, now: DateTime<Utc>, last_before: DateTime<Utc>) -> Result<bool> {
        dispatch!(self.retention::claim_run(key, now, last_before))
    }
}
