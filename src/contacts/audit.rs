//! `herald audit log` and `herald audit verify`: reading and checking the ledger.

use crate::app::App;
use crate::consent::ledger::{self, EventBody};
use crate::domain::EmailAddress;
use crate::error::{Error, Result};
use serde::Serialize;

/// A contact's events, oldest first.
pub async fn log(app: &App, email: &EmailAddress) -> Result<(i64, Vec<EventBody>)> {
    let contact =
        app.store.contact(email.normalized()).await?.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    let id = contact.id.unwrap_or_default();
    let entries = app.store.ledger(id).await?;
    let bodies = entries
        .iter()
        .map(|e| {
            serde_json::from_str(&e.body)
                .map_err(|err| Error::Internal(anyhow::anyhow!("ledger event #{} is unreadable: {err}", e.seq)))
        })
        .collect::<Result<_>>()?;
    Ok((id, bodies))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Broken {
    pub contact_id: i64,
    pub email: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub contacts: u64,
    pub events: u64,
    pub broken: Vec<Broken>,
}

const CHUNK: i64 = 1000;

/// Recomputes every chain; `progress(contacts_checked)` after each chunk.
pub async fn verify(app: &App, progress: &dyn Fn(u64)) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut after = 0;
    loop {
        let chains = app.store.chains(after, CHUNK).await?;
        let Some(last) = chains.last() else { break };
        after = last.contact_id;
        for chain in chains {
            report.contacts += 1;
            report.events += chain.entries.len() as u64;
            if let Err(problem) = ledger::verify(chain.contact_id, &chain.entries, &chain.head) {
                report.broken.push(Broken { contact_id: chain.contact_id, email: chain.email, problem });
            }
        }
        progress(report.contacts);
    }
    Ok(report)
}
