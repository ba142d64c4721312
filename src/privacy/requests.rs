//! The requests register (DESIGN §12, issue 14.7). A request is answered within one
//! month of its receipt, a delay that may be extended once by two further months with a
//! reason (GDPR Art. 12(3)); carrying a request out closes it.

use crate::app::App;
use crate::domain::{ContactId, EmailAddress, RequestKind, RequestSource};
use crate::error::{Error, Result};
use crate::store::privacy_requests::{NewRequest, RequestFilter, RequestRow};
use chrono::{DateTime, Months, Utc};

/// The time to answer a request (Art. 12(3)).
pub const ANSWER_WITHIN: Months = Months::new(1);
/// The one extension Art. 12(3) allows.
pub const EXTENSION: Months = Months::new(2);

/// When a request made at `at` is due.
pub fn due_after(at: DateTime<Utc>, months: Months) -> Result<DateTime<Utc>> {
    at.checked_add_months(months).ok_or_else(|| Error::Invalid("a due date beyond the calendar".into()))
}

/// Registers a request of the contact `id`, due one month from now; returns its id.
pub async fn register(app: &App, id: ContactId, kind: RequestKind, source: RequestSource) -> Result<i64> {
    let now = app.clock.now();
    let request = NewRequest { contact_id: id, kind, source, created_at: now, due_at: due_after(now, ANSWER_WITHIN)? };
    let request_id = app.store.add_privacy_request(&request).await?;
    tracing::info!(contact_id = id.get(), request_id, kind = kind.as_str(), "privacy request registered");
    Ok(request_id)
}

/// [`register`] for the contact with this address (staff recording a request).
pub async fn register_for(app: &App, email: &EmailAddress, kind: RequestKind) -> Result<(i64, ContactId)> {
    let contact =
        app.store.contact(email.normalized()).await?.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    let id = contact.id.ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored contact without id")))?;
    Ok((register(app, id, kind, RequestSource::Staff).await?, id))
}

/// Extends an open request by two months, once, with a reason.
pub async fn extend(app: &App, id: i64, reason: &str) -> Result<RequestRow> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid("an extension needs a reason (--reason)".into()));
    }
    let row = app.store.privacy_request(id).await?.ok_or_else(|| Error::NotFound(format!("no request {id}")))?;
    if row.closed_at.is_some() {
        return Err(Error::Refused(format!("request {id} is closed")));
    }
    if row.extended_at.is_some() {
        return Err(Error::Refused(format!("request {id} was already extended (a request is extended once only)")));
    }
    let due = due_after(row.due_at, EXTENSION)?;
    if !app.store.extend_privacy_request(id, due, reason, app.clock.now()).await? {
        return Err(Error::Refused(format!("request {id} was closed or extended meanwhile")));
    }
    app.store.privacy_request(id).await?.ok_or_else(|| Error::NotFound(format!("no request {id}")))
}

/// Closes the contact's open requests of `kind` (the request was carried out).
pub async fn close(app: &App, id: ContactId, kind: RequestKind, outcome: &str) -> Result<u64> {
    let closed = app.store.close_privacy_requests(id, kind, outcome, app.clock.now()).await?;
    if closed > 0 {
        tracing::info!(contact_id = id.get(), kind = kind.as_str(), closed, "privacy requests closed");
    }
    Ok(closed)
}

/// Every request, or only the open ones past their due date now.
pub async fn list(app: &App, overdue: bool) -> Result<Vec<RequestRow>> {
    let filter = if overdue { RequestFilter::OverdueAt(app.clock.now()) } else { RequestFilter::All };
    app.store.privacy_requests(filter).await
}
