//! "Download my data" in the preference centre (DESIGN §11, §12; issue 14 point 2):
//! `POST /p/{token}/download`, with the page's CSRF token, answers the person's own
//! export (the JSON document of `herald privacy export EMAIL`) as an attachment. Each
//! download is an access request carried out at once: registered in the requests
//! register and closed with its outcome. A contact may download a few times an hour;
//! a test send's link downloads nothing.

use super::preferences::{contact_of, current};
use super::trace::{Id, record_id};
use super::unsubscribe::{form_refused, test_link};
use super::{HttpError, WebState};
use crate::domain::{ContactId, RequestKind, RequestSource};
use crate::privacy::{export, requests};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Downloads a contact may make per hour.
const PER_CONTACT_PER_HOUR: NonZeroU32 = NonZeroU32::new(5).expect("non-zero");
/// The request's outcome in the register.
pub const OUTCOME: &str = "exported via preference centre";
/// The attachment's name.
const FILE_NAME: &str = "herald-export.json";

/// The downloads' rate limit, by contact.
pub struct Downloads {
    per_contact: DefaultKeyedRateLimiter<ContactId>,
}

impl Default for Downloads {
    fn default() -> Self {
        Downloads { per_contact: DefaultKeyedRateLimiter::keyed(Quota::per_hour(PER_CONTACT_PER_HOUR)) }
    }
}

impl Downloads {
    /// `Err(wait)` when the contact is over its limit.
    fn check(&self, id: ContactId) -> Result<(), std::time::Duration> {
        let now = DefaultClock::default().now();
        self.per_contact.check_key(&id).map_err(|n| n.wait_time_from(now))?;
        self.per_contact.retain_recent();
        Ok(())
    }
}

/// `POST /p/{token}/download`.
pub(crate) async fn download(
    State(s): State<Arc<WebState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let link = match current(&s, &token).await? {
        Ok(link) => link,
        Err(answer) => return Ok(answer.into_response()),
    };
    let csrf = form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    if !csrf.is_some_and(|c| s.csrf_ok(&token, &c)) {
        return Ok(form_refused(&s, &format!("{}/p/{token}", s.pages.base()))?.into_response());
    }
    if link.test {
        return Ok(test_link(&s)?.into_response());
    }
    // A restricted record is still the person's to see; an erased one is gone (404).
    let contact = contact_of(&s, &link).await?;
    let id = contact.id.ok_or(HttpError::NotFound)?;
    record_id(Id::Contact, id);
    s.downloads.check(id).map_err(HttpError::TooManyRequests)?;
    requests::register(&s.app, id, RequestKind::Access, RequestSource::Web).await?;
    let document = export::document_of(&s.app, &contact).await?;
    requests::close(&s.app, id, RequestKind::Access, OUTCOME).await?;
    tracing::info!(contact_id = id.get(), bytes = document.len(), "export downloaded from the preference centre");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{FILE_NAME}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        document,
    )
        .into_response())
}
