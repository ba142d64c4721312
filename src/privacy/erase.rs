//! Erasure (GDPR Art. 17) — NOT BUILT IN THIS BRANCH. Another branch owns this module;
//! this placeholder only gives retention's `--apply` the function it calls, and refuses.
//! It is replaced whole when the branches are merged.

use crate::app::App;
use crate::consent::Actor;
use crate::domain::ContactId;
use crate::error::{Error, Result};

/// What an erasure did (the real one reports more).
#[derive(Debug, Clone, Default)]
pub struct ErasureReport;

/// Erases the contact `id`. Here: always an error, nothing changed.
pub async fn erase_contact(_app: &App, id: ContactId, _reason: Option<&str>, _actor: Actor) -> Result<ErasureReport> {
    Err(Error::Refused(format!("erasure of contact #{id}: not built in this branch")))
}
