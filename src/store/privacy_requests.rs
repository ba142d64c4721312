//! The requests register (DESIGN §12): access, erasure, restriction and objection
//! requests with their due dates. The rules (one month, one extension) are in
//! [`crate::privacy::requests`]; the SQL is in `sql/privacy_requests.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ContactId, RequestKind, RequestSource};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// A request to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub contact_id: ContactId,
    pub kind: RequestKind,
    pub source: RequestSource,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A registered request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RequestRow {
    pub id: i64,
    pub contact_id: ContactId,
    pub kind: RequestKind,
    pub source: RequestSource,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub extended_at: Option<DateTime<Utc>>,
    pub extension_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// Which requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFilter {
    /// Every request, closed ones included.
    All,
    /// Open requests whose due date is before this time.
    OverdueAt(DateTime<Utc>),
}

impl Store {
    pub async fn add_privacy_request(&self, r: &NewRequest) -> Result<i64> {
        dispatch!(self.privacy_requests::add(r))
    }

    pub async fn privacy_request(&self, id: i64) -> Result<Option<RequestRow>> {
        dispatch!(self.privacy_requests::by_id(id))
    }

    /// Moves an open, never extended request's due date to `due_at`: false, and nothing
    /// written, when it is closed, already extended or missing.
    pub async fn extend_privacy_request(
        &self,
        id: i64,
        due_at: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(self.privacy_requests::extend(id, due_at, reason, now))
    }

    /// Closes the open requests of `kind` for the contact; returns how many.
    pub async fn close_privacy_requests(
        &self,
        contact_id: ContactId,
        kind: RequestKind,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        dispatch!(self.privacy_requests::close(contact_id, kind, outcome, now))
    }

    /// The requests `filter` selects, by due date then id.
    pub async fn privacy_requests(&self, filter: RequestFilter) -> Result<Vec<RequestRow>> {
        dispatch!(self.privacy_requests::list(filter))
    }
}
