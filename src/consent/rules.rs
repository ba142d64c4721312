//! The one place that decides how a contact's record may change (DESIGN §2). Every path
//! that edits a contact (CSV import, `contacts set`, `bulk-set`, later the web pages)
//! builds a [`ContactPatch`], says who asks ([`Authority`]), and calls [`apply`]; the
//! store only persists what comes back.
//!
//! [`apply`] and the checks it runs in order are one decision, kept together so that a
//! reviewer sees that no path skips a protection. Who asks (`authority.rs`), lists and
//! purposes (`grants.rs`), processing and bounce state (`processing.rs`) and the ledger's
//! view of a record (`fields.rs`) are their own modules.

use super::authority::{Actor, Authority};
use super::fields::consent_changes;
use super::grants::{apply_lists, apply_purposes, without_barred_grants};
use super::ledger::EventDraft;
use super::processing::{ProcessingChange, bounce_changes, next_processing, set_bounce};
use crate::domain::{
    Bounce, Contact, EmailAddress, LegalBasis, ListName, OptInStatus, ParseError, Processing, Purpose, SourceType,
    SubscriptionStatus, check_text,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Identity fields to overwrite; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub country: Option<String>,
    pub crm_id: Option<String>,
    /// Merged into the custom attributes key by key.
    pub attributes: BTreeMap<String, String>,
}

/// A requested change to one contact. Empty fields leave the record as it is: nothing
/// in a patch can erase data by omission.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub identity: IdentityPatch,
    pub opt_in: Option<OptInStatus>,
    pub legal_basis: Option<LegalBasis>,
    pub legal_basis_note: Option<String>,
    pub consent_date: Option<DateTime<Utc>>,
    pub source_type: Option<SourceType>,
    pub source_note: Option<String>,
    pub grant: Vec<Purpose>,
    pub withdraw: Vec<Purpose>,
    /// `None` as status: `confirmed` when the resulting opt-in is `double_opt_in`, else
    /// `unconfirmed` (DESIGN §8); never downgrades a confirmed subscription.
    pub subscribe: Vec<(ListName, Option<SubscriptionStatus>)>,
    pub unsubscribe: Vec<ListName>,
    /// `source_type` of the contact this patch creates, when it does not give one (an
    /// import's `--source`); ignored for an existing contact.
    pub new_source: Option<SourceType>,
    /// A change of processing state (GDPR Art. 17, 18); see [`ProcessingChange`].
    pub processing: Option<ProcessingChange>,
    /// The bounce state an automatic rule settled on (only `system:` actors may set it,
    /// and a `confirmed` bounce is never lowered through a patch).
    pub bounce: Option<Bounce>,
    /// Whether the request may create the contact, change an existing one, or both.
    pub target: Target,
}

/// Which contacts a request is for (issue 19.4: a mistyped address in `contacts set` must
/// not create a contact). The default is the safe one: change an existing contact only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// An existing contact only (`contacts set`, `bulk-set`, feedback rules).
    #[default]
    Existing,
    /// A new contact only (`contacts add`).
    New,
    /// Either: create it or change it (CSV import, the person's own subscription).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Created,
    Updated,
    Unchanged,
}

/// The record after the change, and the evidence to append.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub contact: Contact,
    pub kind: OutcomeKind,
    /// Ledger event for the consent-relevant part of the change, if any.
    pub event: Option<EventDraft>,
    /// Parts of the request that were not carried out because they would have lifted a
    /// person's choice or claimed more consent than the person gave (a grant after an
    /// opt-out, a confirmed list without double opt-in); the rest of the request was.
    pub protected: Vec<String>,
}

/// Why nothing at all was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the address is on the suppression list; only the person's own confirmed double opt-in can bring it back")]
    Suppressed,
    #[error("the record is {0}: it is locked until the person's request is resolved")]
    Locked(Processing),
    #[error("{0}")]
    Invalid(String),
    #[error("there is no such contact, and this request changes existing contacts only")]
    NotFound,
    #[error("the contact already exists, and this request creates new contacts only")]
    Exists,
    /// The actor may not ask for this at all (an import restricting a record, staff
    /// setting a bounce state, ...).
    #[error("{0}")]
    NotAllowed(String),
}

/// Applies `patch` to `current` (or creates the contact when `current` is `None`), as
/// `authority` may. `suppressed` says whether the address is on the suppression list.
pub fn apply(
    current: Option<&Contact>,
    email: &EmailAddress,
    suppressed: bool,
    patch: &ContactPatch,
    authority: &Authority,
    now: DateTime<Utc>,
) -> Result<Outcome, Refusal> {
    check_patch_text(patch, authority).map_err(|e| Refusal::Invalid(e.0))?;
    match (current, patch.target) {
        (None, Target::Existing) => return Err(Refusal::NotFound),
        (Some(_), Target::New) => return Err(Refusal::Exists),
        _ => {}
    }
    let lifts_suppression = authority.is_the_person();
    let anew = authority.signs_up_anew && authority.actor == Actor::Contact && current.is_none();
    if suppressed
        && !lifts_suppression
        && !anew
        && (current.is_none() || matches!(authority.actor, Actor::Import(_) | Actor::Api(_)))
    {
        return Err(Refusal::Suppressed);
    }
    let processing = next_processing(current, patch, authority)?;
    if patch.bounce.is_some() && !matches!(authority.actor, Actor::System(_)) {
        return Err(Refusal::NotAllowed("only an automatic rule settles the bounce state".into()));
    }
    let default_source = match authority.actor {
        Actor::Import(_) => SourceType::Import,
        Actor::Api(_) => SourceType::Api,
        Actor::Contact => SourceType::Webform,
        Actor::Cli(_) | Actor::System(_) => SourceType::Manual,
    };
    let mut next = current.cloned().unwrap_or_else(|| {
        Contact::new(email.clone(), patch.source_type.or(patch.new_source).unwrap_or(default_source), now)
    });
    let mut protected = Vec::new();
    let patch = &*without_barred_grants(current, patch, authority, &mut protected);

    apply_identity(&mut next, &patch.identity);
    if let Some(want) = patch.opt_in {
        set_opt_in(&mut next, want, authority, &mut protected);
    }
    if let Some(basis) = patch.legal_basis {
        next.legal_basis = Some(basis);
    }
    set_if_some(&mut next.legal_basis_note, &patch.legal_basis_note);
    if patch.consent_date.is_some() {
        next.consent_date = patch.consent_date;
    }
    if let Some(source) = patch.source_type {
        next.source_type = source;
    }
    set_if_some(&mut next.source_note, &patch.source_note);
    apply_purposes(&mut next, patch, authority, now, &mut protected);
    apply_lists(&mut next, patch, authority, &mut protected);
    if let Some(bounce) = patch.bounce {
        set_bounce(&mut next, bounce, &mut protected);
    }
    next.processing = processing;
    check_invariants(&next, patch).map_err(Refusal::Invalid)?;

    let mut changes = consent_changes(current, &next);
    let bounce_only = changes.is_empty();
    if let Some(before) = current {
        changes.extend(bounce_changes(before.bounce, next.bounce));
    }
    let action = match current {
        None => "created",
        Some(_) if bounce_only => "bounce",
        Some(_) => "updated",
    };
    let kind = match current {
        None => OutcomeKind::Created,
        Some(before) if *before != next => OutcomeKind::Updated,
        Some(_) => OutcomeKind::Unchanged,
    };
    if kind != OutcomeKind::Unchanged {
        next.updated_at = now;
    }
    let event = (!changes.is_empty()).then(|| {
        let mut evidence = authority.evidence.clone();
        if let Some(proof) = &authority.proof {
            evidence.insert("proof".into(), proof.clone());
        }
        EventDraft { actor: authority.actor.to_string(), action: action.into(), changes, evidence, redacts: Vec::new() }
    });
    Ok(Outcome { contact: next, kind, event, protected })
}

/// Every text a patch would store (and the staff's proof, which the ledger keeps) is free
/// of control characters, whichever path built the patch: the one check for all of them.
fn check_patch_text(patch: &ContactPatch, authority: &Authority) -> Result<(), ParseError> {
    let id = &patch.identity;
    let fields = [
        ("first_name", &id.first_name),
        ("last_name", &id.last_name),
        ("company", &id.company),
        ("title", &id.title),
        ("phone", &id.phone),
        ("website", &id.website),
        ("country", &id.country),
        ("crm_id", &id.crm_id),
        ("legal_basis_note", &patch.legal_basis_note),
        ("source_note", &patch.source_note),
        ("proof", &authority.proof),
    ];
    for (field, value) in fields {
        if let Some(v) = value {
            check_text(field, v)?;
        }
    }
    for (name, value) in &id.attributes {
        check_text("an attribute name", name)?;
        check_text(&format!("attribute '{}'", name), value)?;
    }
    Ok(())
}

fn set_if_some(field: &mut Option<String>, value: &Option<String>) {
    if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
        *field = Some(v.clone());
    }
}

/// What an unsubscribe link or a message's List-Unsubscribe mailto asks for: the person
/// leaves the lists that message was sent for — those of the campaign's `lists` they
/// were on, so reached through — and nothing more. Purposes change only through the
/// preference centre or [`unsubscribe_from_everything`]: leaving one list is not
/// leaving every campaign of the same purpose.
pub fn unsubscribe_from_message(contact: &Contact, campaign_lists: &[ListName]) -> ContactPatch {
    let reached =
        campaign_lists.iter().filter(|l| contact.lists.get(*l).is_some_and(|s| *s != SubscriptionStatus::Unsubscribed));
    ContactPatch { unsubscribe: reached.cloned().collect(), ..ContactPatch::default() }
}

/// "Unsubscribe from everything": the person's own opt-out (`opted_out_contact`), which
/// only their own confirmed double opt-in can lift.
pub fn unsubscribe_from_everything() -> ContactPatch {
    ContactPatch { opt_in: Some(OptInStatus::OptedOutContact), ..ContactPatch::default() }
}

fn apply_identity(next: &mut Contact, patch: &IdentityPatch) {
    let id = &mut next.identity;
    set_if_some(&mut id.first_name, &patch.first_name);
    set_if_some(&mut id.last_name, &patch.last_name);
    set_if_some(&mut id.company, &patch.company);
    set_if_some(&mut id.title, &patch.title);
    set_if_some(&mut id.phone, &patch.phone);
    set_if_some(&mut id.website, &patch.website);
    set_if_some(&mut id.country, &patch.country);
    set_if_some(&mut id.crm_id, &patch.crm_id);
    for (k, v) in &patch.attributes {
        if !v.is_empty() {
            id.attributes.insert(k.clone(), v.clone());
        }
    }
}

fn set_opt_in(next: &mut Contact, want: OptInStatus, authority: &Authority, protected: &mut Vec<String>) {
    let have = next.opt_in;
    let allowed = match have {
        _ if want == have => true,
        // The person opted out themself: only they can undo it.
        OptInStatus::OptedOutContact => authority.is_the_person(),
        // Recorded by staff on the person's request: staff need proof to lift it.
        OptInStatus::OptedOutUser => want == OptInStatus::OptedOutContact || authority.may_lift_staff_recorded_choice(),
        _ => true,
    };
    if allowed {
        next.opt_in = want;
    } else if have == OptInStatus::OptedOutContact {
        protected.push(format!(
            "opt_in_status stays {have}: the person opted out themself, and only their own confirmed double opt-in can lift it"
        ));
    } else {
        protected.push(format!("opt_in_status stays {have}: lifting it needs --proof that the person asked"));
    }
}

/// Rules a record must satisfy after a change (DESIGN §2). Recording consent needs its
/// date and at least one granted purpose; a later withdrawal of every purpose is still
/// carried out (withdrawals always take effect), leaving a consent basis that allows
/// nothing.
fn check_invariants(c: &Contact, patch: &ContactPatch) -> Result<(), String> {
    if c.legal_basis == Some(LegalBasis::Consent) {
        if c.consent_date.is_none() {
            return Err("legal_basis 'consent' needs a consent_date".into());
        }
        if patch.legal_basis == Some(LegalBasis::Consent) && c.granted_purposes().next().is_none() {
            return Err("legal_basis 'consent' needs at least one granted purpose".into());
        }
    }
    if c.legal_basis == Some(LegalBasis::Other) && c.legal_basis_note.as_deref().is_none_or(str::is_empty) {
        return Err("legal_basis 'other' needs a legal_basis_note saying what the basis is".into());
    }
    if c.source_type == SourceType::Other && c.source_note.as_deref().is_none_or(str::is_empty) {
        return Err("source_type 'other' needs a source_note saying where the contact came from".into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "rules_asked_tests.rs"]
mod asked_tests;

#[cfg(test)]
#[path = "rules_processing_tests.rs"]
mod processing_tests;
