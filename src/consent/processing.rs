//! The record's processing state (GDPR Art. 17, 18) and its bounce state: the parts of a
//! contact only staff and automatic rules set, and the lock a non-active record is under.
//! [`super::rules::apply`] calls these; they take data and return data.

use super::authority::{Actor, Authority};
use super::ledger::Change;
use super::rules::{ContactPatch, Refusal};
use crate::domain::{Bounce, BounceStatus, Contact, Processing};
use std::collections::BTreeMap;

/// A requested change of the record's processing state. Who may ask for which is decided
/// by [`apply`]: staff and automatic rules restrict, lift a restriction and erase; the
/// person themself may also restrict their record ("stop processing my data", a
/// withdrawal) and ask for erasure, but never lift a restriction; an import changes none
/// of it. Only
/// [`ProcessingChange::Unrestrict`] brings a restricted record back, and nothing brings
/// back an erased one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingChange {
    /// Stop processing (`restricted`): no mail of any kind, the record locked.
    Restrict,
    /// Lift a restriction (`restricted` → `active`).
    Unrestrict,
    /// The person asked for erasure (`erasure_requested`): locked until it is carried out.
    RequestErasure,
    /// The record is erased (`erased`): final.
    Erase,
}

impl ProcessingChange {
    pub(super) fn to(self) -> Processing {
        match self {
            ProcessingChange::Restrict => Processing::Restricted,
            ProcessingChange::Unrestrict => Processing::Active,
            ProcessingChange::RequestErasure => Processing::ErasureRequested,
            ProcessingChange::Erase => Processing::Erased,
        }
    }
}

/// The processing state after `patch`, or why the request is refused. A record that is
/// not active is locked: a patch may only move its processing state along (an erased one
/// not at all), and carries nothing else unless it lifts the restriction.
pub(super) fn next_processing(
    current: Option<&Contact>,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<Processing, Refusal> {
    let have = current.map_or(Processing::Active, |c| c.processing);
    let Some(change) = patch.processing else {
        // A bounce is a fact about the address, recorded even on a restricted record.
        let settles_bounce = patch.bounce.is_some()
            && *patch == ContactPatch { bounce: patch.bounce, target: patch.target, ..ContactPatch::default() };
        let open = have == Processing::Active || (settles_bounce && have != Processing::Erased);
        return if open { Ok(have) } else { Err(Refusal::Locked(have)) };
    };
    if current.is_none() {
        return Err(Refusal::Invalid("a new contact cannot be created restricted or erased".into()));
    }
    let allowed = match change {
        // Stopping processing and asking for erasure only ever take mail away: the
        // person may ask for them from a link, with no confirmation (DESIGN §2).
        ProcessingChange::Restrict | ProcessingChange::RequestErasure => {
            authority.is_operator() || authority.actor == Actor::Contact
        }
        ProcessingChange::Unrestrict | ProcessingChange::Erase => authority.is_operator(),
    };
    if !allowed {
        return Err(Refusal::NotAllowed(format!(
            "{} may not change the processing state to {}",
            authority.actor,
            change.to()
        )));
    }
    let want = change.to();
    let moves = match (have, change) {
        (Processing::Erased, _) => false,
        (_, ProcessingChange::Erase) => true,
        (Processing::Active | Processing::Restricted, ProcessingChange::RequestErasure) => true,
        (Processing::Active, ProcessingChange::Restrict) => true,
        (Processing::Restricted, ProcessingChange::Unrestrict) => true,
        _ => have == want,
    };
    if !moves {
        return Err(Refusal::Locked(have));
    }
    let only_processing =
        patch.without_processing() == ContactPatch { target: patch.target, ..ContactPatch::default() };
    if want != Processing::Active && !only_processing {
        return Err(Refusal::Locked(want));
    }
    Ok(want)
}

/// A settled bounce state; a `confirmed` one stays (only staff lift it, with the
/// suppression's proof, outside any patch).
pub(super) fn set_bounce(next: &mut Contact, want: Bounce, protected: &mut Vec<String>) {
    if next.bounce.status == BounceStatus::Confirmed && want.status != BounceStatus::Confirmed {
        protected.push("bounce_status stays confirmed: a confirmed bounce is never lowered automatically".into());
        next.bounce.consecutive_hard = next.bounce.consecutive_hard.max(want.consecutive_hard);
        return;
    }
    next.bounce = want;
}

/// The bounce fields that changed, old → new (kept apart from [`consent_fields`](super::fields::consent_fields), whose
/// shape every ledger event already written depends on).
pub(super) fn bounce_changes(before: Bounce, after: Bounce) -> BTreeMap<String, Change> {
    let mut changes = BTreeMap::new();
    if before.status != after.status {
        changes.insert("bounce_status".into(), [Some(before.status.to_string()), Some(after.status.to_string())]);
    }
    if before.consecutive_hard != after.consecutive_hard {
        changes.insert(
            "consecutive_hard_bounces".into(),
            [Some(before.consecutive_hard.to_string()), Some(after.consecutive_hard.to_string())],
        );
    }
    changes
}

impl ContactPatch {
    fn without_processing(&self) -> ContactPatch {
        ContactPatch { processing: None, ..self.clone() }
    }
}
