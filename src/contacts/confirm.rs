//! The confirmation service (DESIGN §2, §10): what a person asks for from a page that a
//! forwarded link could reach — a sign-up, a grant from the preference centre, an undo —
//! applies only once they confirm it from the email Herald sends them.
//!
//! [`request`] records the request with its evidence and queues ONE `confirmation`
//! message (the engine renders it from `templates/emails/confirm.*.hbs` with a
//! `/confirm/{token}` link and sends it like any message), within `[web]
//! confirmations_per_day` and never to an erased, restricted or confirmed-bounce contact.
//! [`confirm`] applies the request once, as the person's own confirmed double opt-in
//! (`Authority::contact(true)`): `double_opt_in`, the lists `confirmed`, the purposes
//! granted, a fresh consent date; the one change that lifts `opted_out_contact` and a
//! suppression. A re-permission campaign's link (scope `reconfirm:CAMPAIGN`) confirms the
//! same way without a request of its own. [`expire`] deletes what was never confirmed.
//!
//! A token's scope names what it confirms: `confirmation:{id}` (a request) or
//! `reconfirm:{campaign}`.

use super::change::{Selector, change_contact};
use super::token::{LinkKind, LinkToken, TokenError};
use crate::app::App;
use crate::campaign::Campaign;
use crate::consent::policy::Facts;
use crate::consent::policy::{CampaignKind, CampaignPolicy};
use crate::consent::{Authority, ContactPatch};
use crate::domain::{ContactId, LegalBasis, ListName, OptInStatus, Purpose, SendId, SubscriptionStatus};
use crate::error::Result;
use crate::render::Renderer;
use crate::store::confirmations::{Claimed, ConfirmationRow, NewConfirmation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::ConfirmKind;

/// The token scope of a confirmation request.
const REQUEST_SCOPE: &str = "confirmation:";
/// The token scope of a re-permission campaign's link.
pub const RECONFIRM_SCOPE: &str = "reconfirm:";

/// What confirming grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub lists: Vec<ListName>,
    pub purposes: Vec<Purpose>,
}

/// What [`request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Queued {
        confirmation_id: i64,
        send_id: SendId,
    },
    /// The contact was sent `[web] confirmations_per_day` confirmations in the last 24 hours.
    DailyCapReached,
    /// The confirmation source's policy forbids it (the reason names no person).
    NotAllowed(String),
}

/// What [`confirm`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    Applied { contact_id: ContactId },
    AlreadyConfirmed,
    Expired,
    NotFound,
}

/// Records `grant` as asked by `authority` (whose evidence is kept) and queues the
/// confirmation message to the contact.
pub async fn request(
    app: &App,
    contact_id: ContactId,
    kind: ConfirmKind,
    grant: &Grant,
    authority: &Authority,
) -> Result<Requested> {
    let now = app.clock.now();
    let Some(contact) = app.store.contacts_by_id(&[contact_id]).await?.into_iter().next() else {
        return Ok(Requested::NotAllowed("no such contact".into()));
    };
    let suppressed = app.store.is_suppressed(&app.mac(&contact.email)).await?;
    let facts = Facts::of(&contact, suppressed, &[], &Default::default(), None);
    if let Err(reason) = crate::consent::sources::confirmation(&facts) {
        tracing::info!(contact_id = contact_id.get(), reason = reason.as_str(), "confirmation not sent");
        return Ok(Requested::NotAllowed(reason.as_str().to_owned()));
    }
    let sent = app.store.confirmations_since(contact_id, now - chrono::Duration::hours(24)).await?;
    if !crate::consent::sources::confirmation_allowed(sent, app.config.web.confirmations_per_day) {
        tracing::info!(contact_id = contact_id.get(), "confirmation not sent: the daily limit is reached");
        return Ok(Requested::DailyCapReached);
    }
    let mut evidence = authority.evidence.clone();
    evidence.insert("actor".into(), authority.actor.to_string());
    let confirmation = NewConfirmation {
        contact_id,
        kind,
        request: serde_json::to_value(grant).map_err(|e| crate::error::Error::Internal(e.into()))?,
        evidence: serde_json::to_value(&evidence).map_err(|e| crate::error::Error::Internal(e.into()))?,
        expires_at: now + expiry(app),
    };
    let (confirmation_id, send_id) = app.store.queue_confirmation(&confirmation, now).await?;
    tracing::info!(contact_id = contact_id.get(), confirmation_id, send_id = send_id.get(), kind = %kind, "confirmation queued");
    Ok(Requested::Queued { confirmation_id, send_id })
}

fn expiry(app: &App) -> chrono::Duration {
    chrono::Duration::from_std(app.config.web.confirm_expiry).unwrap_or(chrono::Duration::days(7))
}

/// The link token of a confirmation request: it confirms until the request expires.
pub fn request_token(row: &ConfirmationRow) -> LinkToken {
    LinkToken {
        kind: LinkKind::Confirm,
        contact_id: row.contact_id,
        campaign: format!("{REQUEST_SCOPE}{}", row.id),
        purpose: None,
        expires: row.expires_at,
        test: false,
    }
}

/// The link token of a re-permission campaign's message to `contact_id`.
pub fn reconfirm_token(contact_id: ContactId, campaign: &str, expires: DateTime<Utc>, test: bool) -> LinkToken {
    LinkToken {
        kind: LinkKind::Confirm,
        contact_id,
        campaign: format!("{RECONFIRM_SCOPE}{campaign}"),
        purpose: None,
        expires,
        test,
    }
}

/// What a confirmation link is good for, if anything: a request's id or a campaign's
/// name, with the contact. A bad, tampered, other-kind or test token is `Err(NotFound)`;
/// a good one past its expiry `Err(Expired)`.
pub fn verify(app: &App, token: &str) -> std::result::Result<(LinkToken, Scope), Confirmed> {
    let t = match LinkToken::verify_any(token, &app.secrets.link_keys(), app.clock.now()) {
        Ok(t) => t,
        Err(TokenError::Expired) => return Err(Confirmed::Expired),
        Err(_) => return Err(Confirmed::NotFound),
    };
    if t.kind != LinkKind::Confirm || t.test {
        return Err(Confirmed::NotFound);
    }
    let scope = if let Some(id) = t.campaign.strip_prefix(REQUEST_SCOPE) {
        Scope::Request(id.parse().map_err(|_| Confirmed::NotFound)?)
    } else if let Some(campaign) = t.campaign.strip_prefix(RECONFIRM_SCOPE) {
        Scope::Reconfirm(campaign.to_owned())
    } else {
        return Err(Confirmed::NotFound);
    };
    Ok((t, scope))
}

/// What a confirmation token confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Request(i64),
    Reconfirm(String),
}

/// Applies what `token` confirms, once, as the person's own confirmed choice; `authority`
/// carries the confirming request's evidence (the asking request's is added).
pub async fn confirm(app: &App, token: &str, authority: &Authority) -> Result<Confirmed> {
    let (t, scope) = match verify(app, token) {
        Ok(v) => v,
        Err(outcome) => return Ok(outcome),
    };
    let now = app.clock.now();
    let mut confirming = Authority { evidence: authority.evidence.clone(), ..Authority::contact(true) };
    match scope {
        Scope::Request(id) => {
            let Some(row) = app.store.confirmation(id).await? else { return Ok(Confirmed::NotFound) };
            if row.contact_id != t.contact_id {
                return Ok(Confirmed::NotFound);
            }
            match app.store.claim_confirmation(id, now).await? {
                Claimed::Now => {}
                Claimed::Already => return Ok(Confirmed::AlreadyConfirmed),
                Claimed::Expired => return Ok(Confirmed::Expired),
                Claimed::Missing => return Ok(Confirmed::NotFound),
            }
            let grant: Grant = serde_json::from_value(row.request.clone()).unwrap_or_default();
            if let Some(asked) = row.evidence.as_object() {
                for (k, v) in asked {
                    confirming.evidence.insert(format!("requested_{k}"), v.as_str().unwrap_or_default().to_owned());
                }
            }
            confirming.evidence.insert("confirmation".into(), format!("{} #{id}", row.kind));
            if let Err(e) = apply(app, row.contact_id, &grant, &confirming, now).await {
                app.store.unclaim_confirmation(id).await?;
                return Err(e);
            }
            tracing::info!(contact_id = row.contact_id.get(), confirmation_id = id, "confirmed");
            Ok(Confirmed::Applied { contact_id: row.contact_id })
        }
        Scope::Reconfirm(campaign) => {
            confirming.evidence.insert("confirmation".into(), format!("reconfirm {campaign}"));
            let record = NewConfirmation {
                contact_id: t.contact_id,
                kind: ConfirmKind::Reconfirm,
                request: reconfirm_request(&campaign),
                evidence: serde_json::to_value(&confirming.evidence).unwrap_or_default(),
                expires_at: t.expires,
            };
            if !app.store.record_confirmed(&record, now).await? {
                return Ok(Confirmed::AlreadyConfirmed);
            }
            apply(app, t.contact_id, &Grant::default(), &confirming, now).await?;
            tracing::info!(contact_id = t.contact_id.get(), "re-permission confirmed");
            Ok(Confirmed::Applied { contact_id: t.contact_id })
        }
    }
}

/// The stored request of a re-permission confirmation (one per contact and campaign).
pub fn reconfirm_request(campaign: &str) -> serde_json::Value {
    serde_json::json!({ "campaign": campaign })
}

/// The confirmed change: `double_opt_in`, a fresh consent date, the lists confirmed, the
/// purposes granted (with the consent basis when any is).
async fn apply(
    app: &App,
    contact_id: ContactId,
    grant: &Grant,
    authority: &Authority,
    now: DateTime<Utc>,
) -> Result<()> {
    let patch = ContactPatch {
        opt_in: Some(OptInStatus::DoubleOptIn),
        consent_date: Some(now),
        legal_basis: (!grant.purposes.is_empty()).then_some(LegalBasis::Consent),
        grant: grant.purposes.clone(),
        subscribe: grant.lists.iter().map(|l| (l.clone(), Some(SubscriptionStatus::Confirmed))).collect(),
        ..ContactPatch::default()
    };
    change_contact(app, &Selector::Id(contact_id), &patch, authority).await?;
    Ok(())
}

/// How many expired confirmations one [`expire`] call handles at most.
const EXPIRE_BATCH: i64 = 500;

/// Deletes the confirmations that expired unconfirmed, and the contact of a sign-up that
/// is nothing but that sign-up (see [`crate::store::Store::expire_confirmation`]).
/// Returns (confirmations deleted, contacts deleted).
pub async fn expire(app: &App) -> Result<(u64, u64)> {
    let (mut rows_gone, mut contacts_gone) = (0, 0);
    loop {
        let rows = app.store.expired_confirmations(app.clock.now(), EXPIRE_BATCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let dropped = app.store.expire_confirmation(row, row.kind == ConfirmKind::Subscribe).await?;
            rows_gone += 1;
            if dropped {
                contacts_gone += 1;
                tracing::info!(
                    contact_id = row.contact_id.get(),
                    confirmation_id = row.id,
                    "an unconfirmed sign-up expired: its contact was deleted"
                );
            }
        }
        if (rows.len() as i64) < EXPIRE_BATCH {
            break;
        }
    }
    Ok((rows_gone, contacts_gone))
}

/// The confirmation message Herald ships; the workspace's `templates/emails/confirm.*.hbs`
/// replace it.
pub const MESSAGE: crate::render::Builtin = crate::render::Builtin {
    html: include_str!("../../templates/emails/confirm.html.hbs"),
    text: include_str!("../../templates/emails/confirm.txt.hbs"),
};

/// What the engine renders a `confirmation` send with (its context names the
/// confirmation): a transactional message from `templates/emails/confirm`, whose data
/// adds `confirm_url` and what is confirmed (`lists` and `purposes`, each with its
/// `name` and `description`) to the contact's fields.
pub async fn message(app: &App, send_id: SendId, context: &serde_json::Value) -> Result<(Campaign, Renderer)> {
    use crate::error::Error;
    let id = context.get("confirmation_id").and_then(serde_json::Value::as_i64).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("send #{send_id}: the confirmation's context has no confirmation_id"))
    })?;
    let row = app
        .store
        .confirmation(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("send #{send_id}: confirmation #{id} is gone (expired)")))?;
    if row.confirmed_at.is_some() {
        return Err(Error::Refused(format!("send #{send_id}: confirmation #{id} is confirmed already")));
    }
    let grant: Grant = serde_json::from_value(row.request.clone()).unwrap_or_default();
    let config = &app.config;
    let lists: Vec<serde_json::Value> = grant
        .lists
        .iter()
        .map(|l| {
            let description = config.lists.get(l).and_then(|c| c.description.clone());
            serde_json::json!({ "name": l, "description": description })
        })
        .collect();
    let purposes: Vec<serde_json::Value> = grant
        .purposes
        .iter()
        .map(|p| {
            let description = config.purposes.get(p).and_then(|c| c.description.clone());
            serde_json::json!({ "name": p, "description": description })
        })
        .collect();
    let base = config.sender.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    let confirm_url = format!("{base}/confirm/{}", request_token(&row).sign(&app.secrets.link_key));
    let mut data = serde_json::Map::new();
    data.insert("confirm_url".into(), confirm_url.into());
    data.insert("lists".into(), lists.into());
    data.insert("purposes".into(), purposes.into());
    data.insert("confirm_kind".into(), row.kind.as_str().into());
    let campaign = Campaign {
        name: format!("confirmation-{id}"),
        subject: config.web.confirm_subject.clone(),
        template: "emails/confirm".into(),
        lists: Vec::new(),
        purpose: None,
        segment: Vec::new(),
        from: None,
        reply_to: None,
        send_at: None,
        policy: CampaignPolicy {
            kind: CampaignKind::Transactional,
            accept: Default::default(),
            purpose: None,
            legitimate_interest_purposes: Vec::new(),
            frequency_cap: None,
            exclude_unengaged: None,
        },
        tracking: false,
        sensitive_fields: Vec::new(),
        // Templates are looked up beside this (virtual) file: `templates/emails/…`.
        path: config.templates.dir.join("confirmation"),
        content_hash: String::new(),
    };
    let dkim = app.secrets.dkim_key(config)?;
    let renderer = Renderer::with_builtin(config, &app.secrets.link_key, &campaign, dkim, MESSAGE)?.with_data(data);
    Ok((campaign, renderer))
}
