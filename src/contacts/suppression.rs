//! The suppression list, as the contact-change service changes it (`herald suppression
//! add|remove|list`, bounce and complaint rules). Adding needs no justification; removing
//! is decided by [`crate::consent::may_lift_suppression`] (staff with `--proof`, kept in
//! the ledger of the contact holding the address, or the person's own confirmed double
//! opt-in). The only caller of [`crate::store::Store::suppress`] and `unsuppress`.

use crate::app::App;
use crate::consent::ledger::EventDraft;
use crate::consent::{Actor, Authority, may_lift_suppression};
use crate::domain::EmailAddress;
use crate::error::Result;
use crate::store::Suppression;
use std::collections::BTreeMap;

fn event(actor: &Actor, action: &str, suppressed: [bool; 2], evidence: BTreeMap<String, String>) -> EventDraft {
    let mut changes = BTreeMap::new();
    changes.insert("suppressed".to_owned(), suppressed.map(|b| Some(b.to_string())));
    EventDraft { actor: actor.to_string(), action: action.into(), changes, evidence, redacts: Vec::new() }
}

/// Returns false if the address was already suppressed.
pub async fn add(app: &App, email: &EmailAddress, reason: &str, actor: &Actor) -> Result<bool> {
    let mut evidence = BTreeMap::new();
    evidence.insert("reason".to_owned(), reason.to_owned());
    let draft = event(actor, "suppressed", [false, true], evidence);
    app.store.suppress(&app.mac(email), reason, &draft, app.clock.now()).await
}

/// Staff's `suppression remove --proof`. Returns false if the address was not suppressed.
pub async fn remove(app: &App, email: &EmailAddress, proof: &str, actor: &Actor) -> Result<bool> {
    lift(app, email, &Authority::new(actor.clone()).with_proof(Some(proof.to_owned()))).await
}

/// Takes the address off the suppression list if `authority` may
/// ([`may_lift_suppression`]); its evidence and proof go to the ledger of the contact
/// holding the address. Returns false if the address was not suppressed.
pub async fn lift(app: &App, email: &EmailAddress, authority: &Authority) -> Result<bool> {
    may_lift_suppression(authority)?;
    let mut evidence = authority.evidence.clone();
    if let Some(proof) = &authority.proof {
        evidence.insert("proof".to_owned(), proof.clone());
    }
    let draft = event(&authority.actor, "unsuppressed", [true, false], evidence);
    app.store.unsuppress(&app.mac(email), &draft, app.clock.now()).await
}

pub async fn list(app: &App) -> Result<Vec<Suppression>> {
    app.store.suppression_list().await
}
