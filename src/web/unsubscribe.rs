//! The unsubscribe link of every message (DESIGN §11, issue 13 point 1).
//!
//! - `GET /u/{token}`: a page naming the lists the message was sent for, with one button
//!   (and one for "everything"). A GET changes nothing: link scanners fetch links.
//! - `POST /u/{token}`: RFC 8058 one-click (`List-Unsubscribe=One-Click`; no cookie, no
//!   login, no redirect, `200`, idempotent) through [`withdraw::withdraw`]; with
//!   `scope=everything`, the person's own opt-out as well, in the same change. No CSRF
//!   token: a withdrawal can only stop mail, and one-click clients send none.
//! - `POST /u/{token}/undo`: asks for the lists just left back, through an emailed
//!   confirmation (a grant from a link that may have been forwarded, DESIGN §2).
//!
//! The token is a message's ([`LinkKind::Message`](crate::contacts::token::LinkKind));
//! an expired one still withdraws (a withdrawal never expires). Anything else is the
//! plain 404. A test send's token answers that nothing changed.

use super::evidence::RequestEvidence;
use super::pages::{Notice, Page, label};
use super::trace::{Id, record_id};
use super::{HttpError, WebState};
use crate::contacts::confirm::{self, ConfirmKind, Grant, Requested};
use crate::contacts::token::LinkToken;
use crate::contacts::withdraw::{self, Scope, Withdrawal, message_lists, verify_for_withdrawal};
use crate::domain::{ListName, OptInStatus, Processing, SubscriptionStatus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// The page the ledger's evidence names for a change made here.
const PAGE: &str = "unsubscribe";

/// A list as a page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ListView {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) description: Option<String>,
}

impl ListView {
    pub(crate) fn of(state: &WebState, list: &ListName) -> ListView {
        let description = state.app.config.lists.get(list).and_then(|l| l.description.clone());
        ListView { name: list.to_string(), label: label(list.as_str()), description }
    }
}

/// The message token in the path, or the plain 404.
fn verified(state: &WebState, token: &str) -> Result<LinkToken, HttpError> {
    let link = verify_for_withdrawal(&state.app, token).ok_or(HttpError::NotFound)?;
    record_id(Id::Contact, link.contact_id);
    Ok(link)
}

/// `GET /u/{token}`.
pub(crate) async fn page(State(s): State<Arc<WebState>>, Path(token): Path<String>) -> Result<Page, HttpError> {
    let link = verified(&s, &token)?;
    if !link.test {
        let contact = s.app.store.contacts_by_id(&[link.contact_id]).await?.into_iter().next();
        if contact.is_none_or(|c| c.processing == Processing::Erased) {
            return Err(HttpError::NotFound);
        }
    }
    let lists = message_lists(&s.app, &link).await?;
    let views: Vec<ListView> = lists.iter().map(|l| ListView::of(&s, l)).collect();
    s.pages.render(
        "unsubscribe",
        "Unsubscribe",
        json!({"test": link.test, "one_list": views.len() == 1, "lists": views, "token": token}),
    )
}

/// `POST /u/{token}`: the withdrawal, at once.
pub(crate) async fn unsubscribe(
    State(s): State<Arc<WebState>>,
    Path(token): Path<String>,
    evidence: RequestEvidence,
    body: Bytes,
) -> Result<Page, HttpError> {
    let link = verified(&s, &token)?;
    // One-click clients post `List-Unsubscribe=One-Click` (some as multipart): whatever
    // the body, the POST itself is the request; only the page's second form widens it.
    let everything = form_urlencoded::parse(&body).any(|(k, v)| k == "scope" && v == "everything");
    let scope = if everything { Scope::Everything } else { Scope::Message };
    let lists = message_lists(&s.app, &link).await?;
    let authority = evidence.authority(PAGE, false);
    match withdraw::withdraw(&s.app, &link, &lists, scope, &authority).await? {
        Withdrawal::TestLink { .. } => test_link(&s),
        Withdrawal::NotVerified | Withdrawal::NoContact { .. } => Err(HttpError::NotFound),
        Withdrawal::Done { .. } => {
            let views: Vec<ListView> = lists.iter().map(|l| ListView::of(&s, l)).collect();
            // Undoing is a grant: offered only while the link is current.
            let undo = link.expires >= s.app.clock.now();
            s.pages.render(
                "unsubscribed",
                "You are unsubscribed",
                json!({
                    "everything": everything,
                    "lists": views,
                    "token": token,
                    "undo": undo,
                    "csrf": if undo { s.csrf_token(&token) } else { String::new() },
                }),
            )
        }
    }
}

/// What a test send's link answers: nothing changed.
pub(crate) fn test_link(s: &WebState) -> Result<Page, HttpError> {
    s.pages.notice(
        "Test link",
        Notice {
            id: "test-link",
            message: "This link comes from a test message, so nothing was changed.".into(),
            detail: Some("The same link in a real message does what it says.".into()),
            notice: true,
            ..Notice::default()
        },
        StatusCode::OK,
    )
}

/// `POST /u/{token}/undo`: asks for the campaign's lists the person has left back, through
/// an emailed confirmation; nothing changes until it is confirmed. Needs the page's CSRF
/// token (each request sends an email) and a current link (an undo is a grant).
pub(crate) async fn undo(
    State(s): State<Arc<WebState>>,
    Path(token): Path<String>,
    evidence: RequestEvidence,
    body: Bytes,
) -> Result<Page, HttpError> {
    let link = verified(&s, &token)?;
    if link.expires < s.app.clock.now() {
        return Err(HttpError::NotFound);
    }
    let csrf = form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    if !csrf.is_some_and(|c| s.csrf_ok(&token, &c)) {
        return form_refused(&s, &format!("{}/u/{token}", s.pages.base()));
    }
    if link.test {
        return test_link(&s);
    }
    let contact = s.app.store.contacts_by_id(&[link.contact_id]).await?.into_iter().next();
    let Some(contact) = contact.filter(|c| c.processing != Processing::Erased) else {
        return Err(HttpError::NotFound);
    };
    let lists = message_lists(&s.app, &link).await?;
    let left: Vec<ListName> =
        lists.iter().filter(|l| contact.lists.get(*l) == Some(&SubscriptionStatus::Unsubscribed)).cloned().collect();
    let opted_out = contact.opt_in == OptInStatus::OptedOutContact;
    if left.is_empty() && !opted_out {
        return s.pages.notice(
            "Nothing to undo",
            Notice {
                id: "undo-requested",
                message: "You are not unsubscribed from these emails.".into(),
                ..Notice::default()
            },
            StatusCode::OK,
        );
    }
    let grant = Grant { lists: left, purposes: Vec::new() };
    let requested =
        confirm::request(&s.app, link.contact_id, ConfirmKind::Undo, &grant, &evidence.authority(PAGE, false)).await?;
    requested_page(&s, &requested)
}

/// What a request for confirmation answers.
pub(crate) fn requested_page(s: &WebState, requested: &Requested) -> Result<Page, HttpError> {
    let (message, status) = match requested {
        Requested::Queued { .. } => {
            ("Check your inbox: we have emailed you a link. Nothing changes until you follow it.", StatusCode::OK)
        }
        Requested::DailyCapReached => {
            ("We have sent you several emails today already: please try again tomorrow.", StatusCode::TOO_MANY_REQUESTS)
        }
        Requested::NotAllowed(_) => ("We cannot send you a confirmation email.", StatusCode::CONFLICT),
    };
    s.pages.notice(
        "Confirm by email",
        Notice { id: "undo-requested", message: message.into(), notice: true, ..Notice::default() },
        status,
    )
}

/// A form posted without this page's CSRF token (from another site, or a page kept open
/// past a day): refused, nothing changed.
pub(crate) fn form_refused(s: &WebState, back: &str) -> Result<Page, HttpError> {
    s.pages.notice(
        "Please try again",
        Notice {
            id: "form-refused",
            message: "This form has expired or did not come from our page, so nothing was changed.".into(),
            link: Some(back.to_owned()),
            link_text: Some("Open the page again".into()),
            notice: true,
            ..Notice::default()
        },
        StatusCode::FORBIDDEN,
    )
}
