//! What the compliance report (DESIGN §12, issue 14.8) counts, each figure an aggregate
//! query (a few passes over `contacts`, none per contact), so the report stays fast on a
//! million contacts. The report's shape is in [`crate::privacy::compliance`]; the SQL is
//! in `sql/compliance.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// How many contacts share one combination of the compliance card's closed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCount {
    pub legal_basis: Option<String>,
    pub opt_in_status: String,
    pub source_type: String,
    pub processing: String,
    pub count: i64,
}

/// Contacts whose legal basis is consent (erased ones left out), and how many of them
/// lack what proves the consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsentCounts {
    pub total: i64,
    /// No `consent_date`.
    pub without_date: i64,
    /// No ledger event of the contact carries any evidence (an import's file and line, a
    /// form, an IP address, staff's proof).
    pub without_evidence: i64,
    /// `consent_date` before the report's cut-off (`[retention] consent_max_age`).
    pub older_than_max_age: i64,
}

/// Open requests of one kind, and how many of them are past their due date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequests {
    pub kind: String,
    pub open: i64,
    pub overdue: i64,
}

impl Store {
    /// Contacts grouped by legal basis, opt-in status, source type and processing state.
    pub async fn count_by_card(&self) -> Result<Vec<CardCount>> {
        dispatch!(self.compliance::by_card())
    }

    /// See [`ConsentCounts`]; `older_than`: the cut-off of an old consent.
    pub async fn count_consents(&self, older_than: DateTime<Utc>) -> Result<ConsentCounts> {
        dispatch!(self.compliance::consents(older_than))
    }

    /// Open requests by kind, with those due before `now`.
    pub async fn count_open_requests(&self, now: DateTime<Utc>) -> Result<Vec<OpenRequests>> {
        dispatch!(self.compliance::open_requests(now))
    }

    /// The suppression list's size by reason.
    pub async fn count_suppression_by_reason(&self) -> Result<Vec<super::Count<String>>> {
        dispatch!(self.compliance::suppression_by_reason())
    }
}
