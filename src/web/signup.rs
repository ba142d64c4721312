//! The sign-up form and its handler (DESIGN §11, issue 13 point 3).
//!
//! `GET /subscribe/form?list=NAME` serves an embeddable form (CSP `frame-ancestors` from
//! `[web] embed_ancestors`): the address, optional names, one unticked checkbox per
//! configured purpose with its wording, the policy version. `POST /subscribe` answers the
//! same "check your inbox" page (or a 303 to `[web] thank_you_url`) whatever the address
//! is — new, known, opted out, suppressed, over its daily confirmations — and does the work
//! after answering, so neither the page nor its timing says which. Rate-limited per client
//! IP and per address (governor keyed limiters).
//!
//! The work ([`sign_up`]): a new address becomes a `single_opt_in_webform` contact
//! (source `webform`, basis `consent` for the purposes ticked) with the list
//! `unconfirmed`; a known one gains the list as `unconfirmed` if it is not on it (its
//! names and purposes wait for the confirmation); one that opted out themself or whose
//! address is suppressed is not touched at all, except an address whose record was
//! erased: it may subscribe anew, as a fresh record that stays suppressed until the
//! person confirms (DESIGN §10). Every one is then sent a confirmation
//! ([`confirm::request`]), which applies the sign-up as the person's confirmed choice.

use super::evidence::RequestEvidence;
use super::{HttpError, WebState};
use crate::app::App;
use crate::consent::{Authority, ContactPatch, IdentityPatch, Target};
use crate::contacts::change::{Mode, Selector, change};
use crate::contacts::confirm::{self, ConfirmKind, Grant, Requested};
use crate::domain::{EmailAddress, LegalBasis, ListName, OptInStatus, Purpose, SourceType, SubscriptionStatus};
use crate::error::Result;
use crate::store::erasure::ERASED_REASON;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Keyed limiters hold one entry per key seen; past this many, stale ones are dropped.
const MAX_KEYS: usize = 10_000;
/// Longest form id and policy version kept as evidence.
const MAX_TAG: usize = 64;

/// The sign-up's rate limits, and the sign-ups being processed after their answer.
pub struct Signups {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_address: DefaultKeyedRateLimiter<String>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

impl Signups {
    pub fn from_config(config: &crate::config::WebConfig) -> Signups {
        Signups {
            per_ip: DefaultKeyedRateLimiter::keyed(Quota::per_minute(config.signup_per_ip_per_minute)),
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_hour(config.signup_per_address_per_hour)),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    /// Waits until every sign-up answered so far has been processed (tests, shutdown).
    pub async fn settled(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("sign-up tasks"));
        while tasks.join_next().await.is_some() {}
    }

    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().expect("sign-up tasks");
        while tasks.try_join_next().is_some() {}
        tasks.spawn(work);
    }

    /// `Err(wait)` when the client or the address is over its limit. The address is only
    /// counted once the client passed.
    fn check(&self, ip: Option<IpAddr>, address: &str) -> std::result::Result<(), std::time::Duration> {
        let now = DefaultClock::default().now();
        if let Some(ip) = ip {
            self.per_ip.check_key(&ip).map_err(|n| n.wait_time_from(now))?;
        }
        self.per_address.check_key(&address.to_owned()).map_err(|n| n.wait_time_from(now))?;
        for limiter in [self.per_ip.len(), self.per_address.len()] {
            if limiter > MAX_KEYS {
                self.per_ip.retain_recent();
                self.per_address.retain_recent();
                break;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
pub struct FormQuery {
    list: String,
    form: Option<String>,
}

/// A form id or policy version as evidence: short, plain characters only.
fn tag(raw: Option<&str>, default: &str) -> String {
    raw.map(str::trim)
        .filter(|t| {
            !t.is_empty() && t.len() <= MAX_TAG && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or(default)
        .to_owned()
}

fn configured_list(app: &App, raw: &str) -> Option<ListName> {
    ListName::parse(raw).ok().filter(|l| app.config.lists.contains_key(l))
}

/// `GET /subscribe/form?list=NAME[&form=ID]`.
pub async fn form(
    State(s): State<Arc<WebState>>,
    Query(q): Query<FormQuery>,
) -> std::result::Result<Response, HttpError> {
    let app = &s.app;
    let list = configured_list(app, &q.list).ok_or(HttpError::NotFound)?;
    let purposes: Vec<serde_json::Value> = app
        .config
        .purposes
        .iter()
        .map(|(name, p)| serde_json::json!({ "name": name, "description": p.description }))
        .collect();
    let data = serde_json::json!({
        "list": list,
        "list_description": app.config.lists[&list].description,
        "purposes": purposes,
        "policy_version": app.config.web.policy_version,
        "form": tag(q.form.as_deref(), "default"),
    });
    let page = s.pages.render("signup", &format!("Subscribe to {list}"), data)?;
    Ok(page.framable_by(&app.config.web.embed_ancestors).into_response())
}

/// What the sign-up form posts: every field once, but `purpose` once per box ticked.
#[derive(Debug, Default)]
struct Posted {
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    list: String,
    policy_version: Option<String>,
    form: Option<String>,
    purposes: Vec<String>,
}

impl Posted {
    fn from_pairs(pairs: Vec<(String, String)>) -> Posted {
        let mut p = Posted::default();
        let text = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        for (k, v) in pairs {
            match k.as_str() {
                "email" => p.email = v,
                "first_name" => p.first_name = text(v),
                "last_name" => p.last_name = text(v),
                "list" => p.list = v,
                "policy_version" => p.policy_version = text(v),
                "form" => p.form = text(v),
                "purpose" => p.purposes.push(v),
                _ => {}
            }
        }
        p
    }
}

/// A sign-up, checked and ready to process.
#[derive(Debug, Clone)]
struct SignUp {
    email: EmailAddress,
    first_name: Option<String>,
    last_name: Option<String>,
    list: ListName,
    purposes: Vec<Purpose>,
    authority: Authority,
}

/// A name as the person typed it, without control characters, at most 100 characters.
fn name(raw: Option<String>) -> Option<String> {
    raw.map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect::<String>()).filter(|n| !n.trim().is_empty())
}

/// `POST /subscribe`.
pub async fn subscribe(
    State(s): State<Arc<WebState>>,
    evidence: RequestEvidence,
    Form(pairs): Form<Vec<(String, String)>>,
) -> std::result::Result<Response, HttpError> {
    let app = s.app.clone();
    let posted = Posted::from_pairs(pairs);
    let list = configured_list(&app, &posted.list)
        .ok_or_else(|| HttpError::BadRequest("This sign-up form names no list of ours.".into()))?;
    let email = EmailAddress::parse(posted.email.trim())
        .map_err(|_| HttpError::BadRequest("Please go back and enter a valid email address.".into()))?;
    s.signups.check(evidence.client_ip(), email.normalized()).map_err(HttpError::TooManyRequests)?;

    let web = &app.config.web;
    let purposes: Vec<Purpose> = posted
        .purposes
        .iter()
        .filter_map(|p| Purpose::parse(p).ok())
        .filter(|p| app.config.purposes.contains_key(p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut authority = evidence
        .authority("signup", false)
        .with_evidence("form", tag(posted.form.as_deref(), "default"))
        .with_evidence("policy_version", tag(posted.policy_version.as_deref(), &web.policy_version))
        .with_evidence("list", list.as_str());
    for p in &purposes {
        let wording = app.config.purposes[p].description.as_deref().unwrap_or(p.as_str());
        authority = authority.with_evidence(&format!("wording.{p}"), wording_version(wording));
    }
    let signup = SignUp {
        email,
        first_name: name(posted.first_name),
        last_name: name(posted.last_name),
        list,
        purposes,
        authority,
    };
    let thank_you = web.thank_you_url.clone();
    s.signups.spawn(async move {
        if let Err(e) = sign_up(&app, &signup).await {
            tracing::warn!(error = %e, "sign-up failed");
        }
    });
    if let Some(url) = thank_you {
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response());
    }
    Ok(s.pages.render("check_inbox", "Check your inbox", serde_json::json!({}))?.into_response())
}

/// The version of a consent wording: the start of its SHA-256, so the ledger says which
/// text the person saw.
pub fn wording_version(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// Records the sign-up (see the module's docs) and asks the person to confirm it.
async fn sign_up(app: &App, s: &SignUp) -> Result<()> {
    let existing = app.store.contact(s.email.normalized()).await?;
    let suppressed = app.store.is_suppressed(&app.mac(&s.email)).await?;
    // An erased address may subscribe anew through a form: a fresh record, still
    // suppressed until the person confirms (which lifts the suppression).
    let anew = existing.is_none()
        && suppressed
        && app.store.suppression_reason(&app.mac(&s.email)).await?.as_deref() == Some(ERASED_REASON);
    let authority = Authority { signs_up_anew: anew, ..s.authority.clone() };
    let now = app.clock.now();
    let patch = match &existing {
        // Their own opt-out or a suppression: only their confirmation may change the record.
        _ if suppressed && !anew => None,
        Some(c) if matches!(c.opt_in, OptInStatus::OptedOutContact) => None,
        Some(c) => {
            let subscribe = match c.lists.contains_key(&s.list) {
                true => Vec::new(),
                false => vec![(s.list.clone(), Some(SubscriptionStatus::Unconfirmed))],
            };
            let opt_in = (c.opt_in == OptInStatus::None).then_some(OptInStatus::SingleOptInWebform);
            (opt_in.is_some() || !subscribe.is_empty()).then(|| ContactPatch {
                opt_in,
                subscribe,
                target: Target::Existing,
                ..ContactPatch::default()
            })
        }
        None => Some(ContactPatch {
            identity: IdentityPatch {
                first_name: s.first_name.clone(),
                last_name: s.last_name.clone(),
                ..IdentityPatch::default()
            },
            opt_in: Some(OptInStatus::SingleOptInWebform),
            source_type: Some(SourceType::Webform),
            legal_basis: (!s.purposes.is_empty()).then_some(LegalBasis::Consent),
            consent_date: (!s.purposes.is_empty()).then_some(now),
            grant: s.purposes.clone(),
            subscribe: vec![(s.list.clone(), Some(SubscriptionStatus::Unconfirmed))],
            target: Target::Any,
            ..ContactPatch::default()
        }),
    };
    let mut contact_id = existing.as_ref().and_then(|c| c.id);
    if let Some(patch) = patch {
        let report = change(app, &Selector::Email(s.email.clone()), &patch, &authority, Mode::EachOnItsOwn).await?;
        contact_id = contact_id.or_else(|| report.changes.first().and_then(|c| c.id));
    }
    let Some(contact_id) = contact_id else {
        // A suppressed address with no contact (an erased one, or suppressed by hand):
        // there is no record to confirm onto.
        tracing::info!("sign-up of a suppressed address with no contact: nothing sent");
        return Ok(());
    };
    let grant = Grant { lists: vec![s.list.clone()], purposes: s.purposes.clone() };
    match confirm::request(app, contact_id, ConfirmKind::Subscribe, &grant, &authority).await? {
        Requested::Queued { .. } => {}
        Requested::DailyCapReached | Requested::NotAllowed(_) => {
            tracing::info!(contact_id = contact_id.get(), "sign-up: no confirmation sent");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_plain_short_text_only() {
        assert_eq!(tag(Some("footer-2"), "default"), "footer-2");
        assert_eq!(tag(Some("<script>"), "default"), "default");
        assert_eq!(tag(Some(&"a".repeat(65)), "default"), "default");
        assert_eq!(tag(None, "1"), "1");
    }

    #[test]
    fn repeated_purposes_are_all_kept() {
        let p = Posted::from_pairs(vec![
            ("email".into(), "a@example.com".into()),
            ("purpose".into(), "newsletter".into()),
            ("purpose".into(), "tracking".into()),
            ("first_name".into(), "  ".into()),
        ]);
        assert_eq!(p.purposes, ["newsletter", "tracking"]);
        assert_eq!(p.first_name, None);
    }
}
