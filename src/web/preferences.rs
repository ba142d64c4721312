//! The preference centre (DESIGN §11, issue 13 point 2): `GET /p/{token}` shows the
//! person every configured list and purpose with their own status, the stop-processing
//! and erasure requests, and their history in words; `POST /p/{token}` carries out what
//! they chose.
//!
//! Withdrawals (an unticked list or purpose, stop processing, an erasure request) apply at
//! once through the contact-change service; grants (a newly ticked list or purpose) go
//! through [`confirm::request`] and apply only once the person confirms from the email,
//! since the link may have been forwarded (DESIGN §2). Every form carries a CSRF token
//! bound to the page's link token. A restricted or erasure-requested record is shown
//! as such, with nothing that would edit it. An expired link shows a page asking for a
//! newer email's (withdrawals never expire: `/u/` still works); a test send's link shows
//! no one's data and changes nothing.

use super::evidence::RequestEvidence;
use super::pages::{Notice, Page, label};
use super::trace::{Id, record_id};
use super::unsubscribe::{ListView, form_refused, test_link};
use super::{HttpError, WebState};
use crate::consent::{Authority, ContactPatch, ProcessingChange};
use crate::contacts::change::{Selector, change_contact};
use crate::contacts::confirm::{self, ConfirmKind, Grant, Requested};
use crate::contacts::token::LinkToken;
use crate::contacts::withdraw::verify_for_withdrawal;
use crate::domain::{Contact, ListName, Processing, Purpose, RequestKind, RequestSource, SubscriptionStatus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// The page the ledger's evidence names for a change made here.
const PAGE: &str = "preferences";

/// The wording of the `tracking` purpose when the config gives none.
const TRACKING: &str = "Let us see when you open our emails and which links you click, so we can improve them";

/// The page's link: a current message token, or the answer instead of the page.
pub(super) async fn current(s: &WebState, token: &str) -> Result<Result<LinkToken, Page>, HttpError> {
    let link = verify_for_withdrawal(&s.app, token).ok_or(HttpError::NotFound)?;
    record_id(Id::Contact, link.contact_id);
    if link.expires < s.app.clock.now() {
        let expired = Notice {
            id: "link-expired",
            message: "This link is too old to change your preferences.".into(),
            detail: Some(
                "Please use the preferences link in a more recent email from us. The unsubscribe link in any of our emails still works."
                    .into(),
            ),
            notice: true,
            ..Notice::default()
        };
        return s.pages.notice("Link expired", expired, StatusCode::GONE).map(Err);
    }
    Ok(Ok(link))
}

/// The contact the link names, or the plain 404 (deleted or erased).
pub(super) async fn contact_of(s: &WebState, link: &LinkToken) -> Result<Contact, HttpError> {
    let contact = s.app.store.contacts_by_id(&[link.contact_id]).await?.into_iter().next();
    contact.filter(|c| c.processing != Processing::Erased).ok_or(HttpError::NotFound)
}

/// `GET /p/{token}`.
pub(crate) async fn page(State(s): State<Arc<WebState>>, Path(token): Path<String>) -> Result<Page, HttpError> {
    let link = match current(&s, &token).await? {
        Ok(link) => link,
        Err(answer) => return Ok(answer),
    };
    if link.test {
        return test_preview(&s);
    }
    let contact = contact_of(&s, &link).await?;
    centre(&s, &token, &contact).await
}

/// A test send's link goes to an operator or a colleague, not to the contact whose
/// message it rendered: it shows nobody's data.
fn test_preview(s: &WebState) -> Result<Page, HttpError> {
    s.pages.notice(
        "Test link",
        Notice {
            id: "test-link",
            message: "This link comes from a test message. In a real message it opens the person's own preferences."
                .into(),
            notice: true,
            ..Notice::default()
        },
        StatusCode::OK,
    )
}

#[derive(Debug, Serialize)]
struct Choice {
    #[serde(flatten)]
    list: ListView,
    checked: bool,
}

#[derive(Debug, Serialize)]
struct PurposeChoice {
    name: String,
    description: String,
    checked: bool,
}

/// The preference centre of `contact`.
async fn centre(s: &WebState, token: &str, contact: &Contact) -> Result<Page, HttpError> {
    let config = &s.app.config;
    let lists: Vec<Choice> =
        config.lists.keys().map(|l| Choice { list: ListView::of(s, l), checked: subscribed(contact, l) }).collect();
    let purposes: Vec<PurposeChoice> = config
        .purposes
        .keys()
        .map(|p| PurposeChoice { name: p.to_string(), description: describe(s, p), checked: contact.granted(p) })
        .collect();
    let history = super::history::of(s, contact).await?;
    s.pages.render(
        "preferences",
        "Your preferences",
        json!({
            "first_name": contact.identity.first_name,
            "locked": locked(contact.processing),
            "csrf": s.csrf_token(token),
            "lists": lists,
            "purposes": purposes,
            "history": history,
            "token": token,
        }),
    )
}

fn subscribed(contact: &Contact, list: &ListName) -> bool {
    contact.lists.get(list).is_some_and(|s| *s != SubscriptionStatus::Unsubscribed)
}

/// What a locked record's page says instead of its forms.
fn locked(processing: Processing) -> Option<&'static str> {
    match processing {
        Processing::Active => None,
        Processing::Restricted => Some(
            "You asked us to stop processing your data: we send you nothing and your record is locked as it is. \
             To lift this, contact us.",
        ),
        Processing::ErasureRequested => {
            Some("You asked us to erase your data: we send you nothing, and your record will be erased within a month.")
        }
        Processing::Erased => Some("Your data has been erased."),
    }
}

/// A purpose in plain language: the config's description, else a sentence of our own.
fn describe(s: &WebState, purpose: &Purpose) -> String {
    if let Some(d) = s.app.config.purposes.get(purpose).and_then(|p| p.description.clone()) {
        return d;
    }
    match purpose.as_str() {
        "tracking" => TRACKING.into(),
        other => format!("Emails about {}", label(other).to_lowercase()),
    }
}

/// What `POST /p/{token}` was asked to do.
enum Action {
    Save { lists: Vec<ListName>, purposes: Vec<Purpose> },
    Restrict,
    Erase,
}

fn parse_form(body: &[u8]) -> (Option<String>, Option<Action>) {
    let mut csrf = None;
    let mut action = None;
    let (mut lists, mut purposes) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "csrf" => csrf = Some(v.into_owned()),
            "action" => action = Some(v.into_owned()),
            // A name that does not parse cannot be a configured one: ignored.
            "list" => lists.extend(ListName::parse(&v).ok()),
            "purpose" => purposes.extend(Purpose::parse(&v).ok()),
            _ => {}
        }
    }
    let action = match action.as_deref() {
        Some("save") => Some(Action::Save { lists, purposes }),
        Some("restrict") => Some(Action::Restrict),
        Some("erase") => Some(Action::Erase),
        _ => None,
    };
    (csrf, action)
}

/// What a saved form did, in words.
#[derive(Debug, Default, Serialize)]
struct Saved {
    applied: Vec<String>,
    pending: Vec<String>,
    refused: Option<String>,
}

/// `POST /p/{token}`.
pub(crate) async fn save(
    State(s): State<Arc<WebState>>,
    Path(token): Path<String>,
    evidence: RequestEvidence,
    body: Bytes,
) -> Result<Page, HttpError> {
    let link = match current(&s, &token).await? {
        Ok(link) => link,
        Err(answer) => return Ok(answer),
    };
    let (csrf, action) = parse_form(&body);
    if !csrf.is_some_and(|c| s.csrf_ok(&token, &c)) {
        return form_refused(&s, &format!("{}/p/{token}", s.pages.base()));
    }
    let Some(action) = action else {
        return Err(HttpError::BadRequest("The form is incomplete.".into()));
    };
    if link.test {
        return test_link(&s);
    }
    let contact = contact_of(&s, &link).await?;
    if contact.processing != Processing::Active {
        // Nothing here edits a locked record: the page says why.
        return Ok(centre(&s, &token, &contact).await?.with_status(StatusCode::CONFLICT));
    }
    let authority =
        evidence.authority(PAGE, false).with_evidence("policy_version", s.app.config.web.policy_version.clone());
    let saved = match action {
        Action::Restrict => {
            processing(&s, &contact, ProcessingChange::Restrict, &authority).await?;
            Saved {
                applied: vec!["We have stopped processing your data: we send you nothing from now on.".into()],
                ..Saved::default()
            }
        }
        Action::Erase => {
            if processing(&s, &contact, ProcessingChange::RequestErasure, &authority).await?
                && let Some(id) = contact.id
            {
                crate::privacy::requests::register(&s.app, id, RequestKind::Erasure, RequestSource::Web).await?;
            }
            Saved {
                applied: vec![
                    "We have recorded your request to erase your data: we send you nothing from now on, and your record will be erased within a month."
                        .into(),
                ],
                ..Saved::default()
            }
        }
        Action::Save { lists, purposes } => choose(&s, &contact, &lists, &purposes, &authority).await?,
    };
    s.pages.render(
        "preferences_saved",
        "Your preferences",
        json!({"token": token, "applied": saved.applied, "pending": saved.pending, "refused": saved.refused}),
    )
}

async fn processing(
    s: &WebState,
    contact: &Contact,
    change: ProcessingChange,
    authority: &Authority,
) -> Result<bool, HttpError> {
    let patch = ContactPatch { processing: Some(change), ..ContactPatch::default() };
    Ok(change_contact(&s.app, &Selector::Email(contact.email.clone()), &patch, authority).await?)
}

/// The ticked `lists` and `purposes` against the record: what was unticked is withdrawn
/// at once, what was newly ticked is asked for by email. Only configured names count.
async fn choose(
    s: &WebState,
    contact: &Contact,
    lists: &[ListName],
    purposes: &[Purpose],
    authority: &Authority,
) -> Result<Saved, HttpError> {
    let config = &s.app.config;
    let mut withdraw = ContactPatch::default();
    let mut grant = Grant::default();
    let mut saved = Saved::default();
    for list in config.lists.keys() {
        match (subscribed(contact, list), lists.contains(list)) {
            (true, false) => {
                saved.applied.push(format!("You left {}.", label(list.as_str())));
                withdraw.unsubscribe.push(list.clone());
            }
            (false, true) => {
                saved.pending.push(format!("Subscribe to {}.", label(list.as_str())));
                grant.lists.push(list.clone());
            }
            _ => {}
        }
    }
    for purpose in config.purposes.keys() {
        match (contact.granted(purpose), purposes.contains(purpose)) {
            (true, false) => {
                saved.applied.push(format!("You withdrew: {}.", describe(s, purpose)));
                withdraw.withdraw.push(purpose.clone());
            }
            (false, true) => {
                saved.pending.push(format!("You agree: {}.", describe(s, purpose)));
                grant.purposes.push(purpose.clone());
            }
            _ => {}
        }
    }
    if withdraw != ContactPatch::default() {
        change_contact(&s.app, &Selector::Email(contact.email.clone()), &withdraw, authority).await?;
    }
    if grant != Grant::default() {
        let id = contact.id.ok_or(HttpError::NotFound)?;
        match confirm::request(&s.app, id, ConfirmKind::Grant, &grant, authority).await? {
            Requested::Queued { .. } => {}
            Requested::DailyCapReached => {
                saved.pending.clear();
                saved.refused = Some(
                    "We have sent you several emails today already, so what you ticked is not asked for: please try again tomorrow."
                        .into(),
                );
            }
            Requested::NotAllowed(_) => {
                saved.pending.clear();
                saved.refused =
                    Some("We cannot send you a confirmation email, so what you ticked is not applied.".into());
            }
        }
    }
    Ok(saved)
}
