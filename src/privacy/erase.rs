//! Erasure (GDPR Art. 17; DESIGN §12, issue 14.3): the person's record kept as an empty
//! shell whose consent history still verifies, and nothing left that names them.
//!
//! In one transaction (`Store::erase`):
//! - the personal fields (names, company, title, phone, website, country, CRM id, the
//!   legal-basis and source notes) are emptied and the custom attributes removed; the
//!   address becomes `erased-<contact id>@erased.invalid`: unique (ids are), and holding
//!   nothing of the address, so it cannot be turned back into it. The record's own MAC
//!   becomes the placeholder's, so the erased record is not linked to the address;
//! - every list subscription is ended and every purpose withdrawn; processing becomes
//!   `erased`, which nothing lifts (the rules decide that erasure is allowed at all:
//!   `consent::apply` with [`ProcessingChange::Erase`]);
//! - the contact's evidence rows are deleted (their digests stay in the chain, and
//!   `audit verify` expects them gone for an erased contact);
//! - events written before evidence moved out of the chain, and any event holding a
//!   personal note, cannot be rewritten without breaking their hash: their bodies are
//!   **redacted** (inline evidence dropped, notes replaced by `[erased]`, marked
//!   `redacted`) and their stored hashes kept, so the next event still links to them. The
//!   erasure event lists exactly those sequence numbers (`redacts`), and
//!   `ledger::verify` accepts a redacted body only where a later erasure event names it:
//!   the erasure event itself is hashed into the chain, so that list cannot be widened;
//! - the address's suppression entry (an HMAC, DESIGN §2) is kept or added with reason
//!   `erased`: no import or staff command brings it back, only the person's own sign-up
//!   through a form, confirmed;
//! - waiting sends are skipped with reason `erased` (a send a worker already claimed is
//!   stopped by its send-time re-check or, if that ran first, by its mark's guard on the
//!   ledger sequence number); a send's recipient and render context, a bounce's
//!   diagnostic text and pending confirmations are removed; counts and outcomes stay.
//!
//! The erasure event holds no personal data: actor, the consent fields' changes (notes as
//! `[erased]`) and `redacts`. Staff's `--reason` and the request id go to the event's
//! evidence row, apart from the chain; the reason is staff's words and should not name
//! the person (the CLI says so).

use super::requests;
use crate::app::App;
use crate::consent::evidence::{self, ERASED, PERSONAL_CHANGES};
use crate::consent::ledger::{Change, Entry, EventBody, EventDraft};
use crate::consent::replay;
use crate::consent::{Actor, Authority, ContactPatch, ProcessingChange};
use crate::domain::{
    ConsentState, Contact, ContactId, EmailAddress, Identity, Processing, PurposeConsent, RequestKind,
    SubscriptionStatus,
};
use crate::error::{Error, Result};
use crate::store::ContactWrite;
use crate::store::erasure::{ErasureCounts, ErasureWrite};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What [`erase_contact`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub contact_id: ContactId,
    /// The address the record holds now.
    pub placeholder: String,
    /// Sequence numbers of the events whose bodies were redacted.
    pub redacted_events: Vec<i64>,
    #[serde(flatten)]
    pub counts: ErasureCounts,
    /// Open erasure requests closed.
    pub closed_requests: u64,
}

/// Attempts when the contact changes between reading it and writing its erasure.
const ATTEMPTS: u32 = 5;

/// The address an erased record holds.
pub fn placeholder(id: ContactId) -> EmailAddress {
    EmailAddress::parse(&format!("erased-{id}@erased.invalid")).expect("a placeholder is always a valid address")
}

/// Erases the contact `id` on behalf of `actor`; `reason` (staff's words, or the rule's
/// name) is kept in the erasure event's evidence row. Closes the contact's open erasure
/// requests. Retention's `--apply` calls this too.
pub async fn erase_contact(app: &App, id: ContactId, reason: Option<&str>, actor: Actor) -> Result<ErasureReport> {
    erase_with(app, id, reason, None, actor).await
}

/// [`erase_contact`], naming the register's request carried out in the evidence row.
async fn erase_with(
    app: &App,
    id: ContactId,
    reason: Option<&str>,
    request: Option<i64>,
    actor: Actor,
) -> Result<ErasureReport> {
    let mut authority = Authority::new(actor);
    if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        authority = authority.with_evidence("reason", reason);
    }
    if let Some(request) = request {
        authority = authority.with_evidence("request", request.to_string());
    }
    for _ in 0..ATTEMPTS {
        // The chain first: a consent change committed after it moves the head past
        // `seen_seq`, so the transaction refuses a plan made from an older record.
        let entries = app.store.ledger(id).await?;
        let contact = app.store.contacts_by_id(&[id]).await?.into_iter().next();
        let contact = contact.ok_or_else(|| Error::NotFound(format!("no contact #{id}")))?;
        let now = app.clock.now();
        let was_suppressed = app.store.is_suppressed(&app.mac(&contact.email)).await?;
        let plan = plan(app, &contact, &entries, was_suppressed, &authority, now)?;
        let Some(counts) = app.store.erase(&plan, now).await? else { continue };
        let closed_requests = requests::close(app, id, RequestKind::Erasure, "erased").await?;
        tracing::info!(
            contact_id = id.get(),
            redacted = plan.redactions.len(),
            evidence_rows = counts.evidence_rows_deleted,
            sends_skipped = counts.sends_skipped,
            "contact erased"
        );
        return Ok(ErasureReport {
            contact_id: id,
            placeholder: plan.write.after.email.to_string(),
            redacted_events: plan.redactions.iter().map(|(seq, _)| *seq).collect(),
            counts,
            closed_requests,
        });
    }
    Err(Error::Unavailable(format!("contact #{id} kept changing while being erased: try again")))
}

/// [`erase_contact`] for the contact at `email`.
pub async fn erase_address(
    app: &App,
    email: &EmailAddress,
    reason: Option<&str>,
    actor: Actor,
) -> Result<ErasureReport> {
    let contact = app.store.contact(email.normalized()).await?.ok_or_else(|| no_contact(email))?;
    let id = contact.id.ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored contact without id")))?;
    erase_contact(app, id, reason, actor).await
}

/// [`erase_contact`] for the contact of the register's erasure request `request`.
pub async fn erase_request(app: &App, request: i64, reason: Option<&str>, actor: Actor) -> Result<ErasureReport> {
    let row =
        app.store.privacy_request(request).await?.ok_or_else(|| Error::NotFound(format!("no request {request}")))?;
    if row.kind != RequestKind::Erasure {
        return Err(Error::Invalid(format!("request {request} is a {} request, not an erasure request", row.kind)));
    }
    if row.closed_at.is_some() {
        return Err(Error::Refused(format!("request {request} is closed")));
    }
    erase_with(app, row.contact_id, reason, Some(request), actor).await
}

fn no_contact(email: &EmailAddress) -> Error {
    Error::NotFound(format!("no contact {email}"))
}

/// What erasing `before` writes: decided by the rules first (who may erase, and never
/// twice), then emptied here, because no patch may empty data (`ContactPatch`).
fn plan(
    app: &App,
    before: &Contact,
    entries: &[Entry],
    was_suppressed: bool,
    authority: &Authority,
    now: DateTime<Utc>,
) -> Result<ErasureWrite> {
    let id = before.id.ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored contact without id")))?;
    let patch = ContactPatch { processing: Some(ProcessingChange::Erase), ..ContactPatch::default() };
    crate::consent::apply(Some(before), &before.email, false, &patch, authority, now)
        .map_err(|refusal| Error::Refused(format!("contact #{id}: {refusal}")))?;
    let after = emptied(before, id, now);
    let redactions = redactions(entries)?;
    let mut changes = erasure_changes(before, &after);
    if !was_suppressed {
        // Keyed by address, not kept on the record: replay leaves it out.
        changes.insert("suppressed".into(), [Some("false".into()), Some("true".into())]);
    }
    let event = EventDraft {
        actor: authority.actor.to_string(),
        action: "erased".into(),
        changes,
        evidence: authority.evidence.clone(),
        redacts: redactions.iter().map(|(seq, _)| *seq).collect(),
    };
    Ok(ErasureWrite {
        contact_id: id,
        seen_seq: entries.last().map_or(0, |e| e.seq),
        write: ContactWrite {
            before: Some(before.clone()),
            email_mac: app.mac(&after.email),
            after,
            events: vec![event],
            sensitive: Default::default(),
        },
        redactions,
        suppression_mac: app.mac(&before.email),
        actor: authority.actor.to_string(),
    })
}

/// The record with nothing personal left: placeholder address, no identity, no notes,
/// lists ended, purposes withdrawn, processing `erased`.
fn emptied(before: &Contact, id: ContactId, now: DateTime<Utc>) -> Contact {
    let mut after = before.clone();
    after.email = placeholder(id);
    after.identity = Identity::default();
    after.legal_basis_note = None;
    after.source_note = None;
    for status in after.lists.values_mut() {
        *status = SubscriptionStatus::Unsubscribed;
    }
    for consent in after.purposes.values_mut() {
        if consent.state != ConsentState::Withdrawn {
            *consent = PurposeConsent { state: ConsentState::Withdrawn, at: now };
        }
    }
    after.processing = Processing::Erased;
    after.updated_at = now;
    after
}

/// The consent fields that change, old → new, with personal notes shown as `[erased]`.
fn erasure_changes(before: &Contact, after: &Contact) -> BTreeMap<String, Change> {
    let (old, new) = (replay::stored(before), replay::stored(after));
    let mut changes = BTreeMap::new();
    for key in old.keys().chain(new.keys()) {
        let (o, n) = (old.get(key), new.get(key));
        if o == n {
            continue;
        }
        let o = if PERSONAL_CHANGES.contains(&key.as_str()) { o.map(|_| ERASED.to_owned()) } else { o.cloned() };
        changes.insert(key.clone(), [o, n.cloned()]);
    }
    changes
}

/// The redacted bodies of the events that hold personal data in the chain itself.
fn redactions(entries: &[Entry]) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for e in entries {
        // The body as stored: `Entry::event` would join the evidence row in.
        let body: EventBody = serde_json::from_str(&e.body)
            .map_err(|err| Error::Internal(anyhow::anyhow!("ledger event #{} is unreadable: {err}", e.seq)))?;
        if evidence::needs_redaction(&body) {
            let red = serde_json::to_string(&evidence::redact(&body))
                .map_err(|err| Error::Internal(anyhow::anyhow!("cannot redact event #{}: {err}", e.seq)))?;
            out.push((e.seq, red));
        }
    }
    Ok(out)
}
