//! Restriction (GDPR Art. 18) and objection (Art. 21): staff carry out what the person
//! asked through the contact-change service, so the rules decide and the ledger records
//! it, and the matching open request of the register is closed.

use super::requests;
use crate::app::App;
use crate::consent::{Actor, Authority, ContactPatch, OutcomeKind, ProcessingChange};
use crate::contacts::edit;
use crate::domain::{Contact, EmailAddress, Purpose, RequestKind};
use crate::error::{Error, Result};

/// What the person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restriction {
    /// Stop all processing: no mail of any kind, the record locked.
    Restrict,
    /// Lift a restriction.
    Unrestrict,
    /// Object to a purpose: withdrawn whatever the legal basis.
    Object(Purpose),
}

impl Restriction {
    fn patch(&self) -> ContactPatch {
        match self {
            Restriction::Restrict => {
                ContactPatch { processing: Some(ProcessingChange::Restrict), ..ContactPatch::default() }
            }
            Restriction::Unrestrict => {
                ContactPatch { processing: Some(ProcessingChange::Unrestrict), ..ContactPatch::default() }
            }
            Restriction::Object(purpose) => ContactPatch { withdraw: vec![purpose.clone()], ..ContactPatch::default() },
        }
    }

    fn kind(&self) -> RequestKind {
        match self {
            Restriction::Restrict | Restriction::Unrestrict => RequestKind::Restriction,
            Restriction::Object(_) => RequestKind::Objection,
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Restriction::Restrict => "restricted",
            Restriction::Unrestrict => "restriction lifted",
            Restriction::Object(_) => "purpose withdrawn",
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub contact: Contact,
    pub kind: OutcomeKind,
    /// How many open requests of the register it closed.
    pub closed_requests: u64,
}

/// Carries out `what` for the contact at `email` on behalf of `actor`, with the reason
/// recorded as the ledger event's proof; closes the contact's open requests of its kind.
pub async fn apply(app: &App, email: &EmailAddress, what: &Restriction, reason: &str, actor: Actor) -> Result<Applied> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid("say why (--reason): it is kept in the ledger".into()));
    }
    let authority = Authority::new(actor).with_proof(Some(reason.to_owned())).with_evidence("reason", reason);
    let (contact, kind) = edit::set(app, email, &what.patch(), &authority).await?;
    let id = contact.id.ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored contact without id")))?;
    let closed_requests = requests::close(app, id, what.kind(), what.outcome()).await?;
    tracing::info!(contact_id = id.get(), outcome = what.outcome(), "restriction applied");
    Ok(Applied { contact, kind, closed_requests })
}
