//! `herald audit log` and `herald audit verify`: reading and checking the ledger.
//!
//! Verify does four things per contact: recomputes the hash chain (events edited,
//! removed, reordered; a redacted body only where an erasure event names it), checks each
//! evidence row against the digest its event carries (`consent::evidence::check_rows`),
//! replays the chain against the stored record (a subscription, opt-in or purpose edited
//! without an event), and folds every chain head into one digest, which an operator
//! anchors elsewhere to detect whole chains rewritten.

use crate::app::App;
use crate::consent::evidence;
use crate::consent::ledger::{self, Entry, EventBody};
use crate::consent::replay::{self, Mismatch};
use crate::domain::{Contact, ContactId, EmailAddress, Processing};
use crate::error::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A contact's events, oldest first.
pub async fn log(app: &App, email: &EmailAddress) -> Result<(ContactId, Vec<EventBody>)> {
    let contact =
        app.store.contact(email.normalized()).await?.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    let id = contact.id.unwrap_or_default();
    let entries = app.store.ledger(id).await?;
    let bodies = entries
        .iter()
        .map(|e| e.event().map_err(|err| Error::Internal(anyhow::anyhow!("ledger {err}"))))
        .collect::<Result<_>>()?;
    Ok((id, bodies))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Broken {
    pub contact_id: ContactId,
    pub email: String,
    pub problem: String,
}

/// A contact whose stored state does not follow from its (intact) chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diverged {
    pub contact_id: ContactId,
    pub email: String,
    pub fields: Vec<Mismatch>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub contacts: u64,
    pub events: u64,
    pub broken: Vec<Broken>,
    /// Contacts whose record, subscriptions or purposes were changed outside the ledger.
    pub diverged: Vec<Diverged>,
    /// SHA-256 (hex) over every contact's `id:seq:hash` chain head, one per line, in id
    /// order: anchor it elsewhere to detect a consistent rewrite of whole chains.
    pub digest: String,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.broken.is_empty() && self.diverged.is_empty()
    }
}

fn bodies(entries: &[Entry]) -> Option<Vec<EventBody>> {
    entries.iter().map(|e| serde_json::from_str(&e.body).ok()).collect()
}

/// The stored record's differences from the replayed chain, read again on their own
/// when the first read found some: a change committed between reading the chunk's
/// chains and its records is not a divergence.
async fn confirm(app: &App, contact_id: ContactId) -> Result<Vec<Mismatch>> {
    let entries = app.store.ledger(contact_id).await?;
    let Some(contact) = app.store.contacts_by_id(&[contact_id]).await?.into_iter().next() else {
        return Ok(Vec::new());
    };
    Ok(bodies(&entries).map(|b| replay::mismatches(&b, &contact)).unwrap_or_default())
}

const CHUNK: i64 = 1000;

/// Recomputes every chain; `progress(contacts_checked)` after each chunk. The outcome is
/// kept for the compliance report.
pub async fn verify(app: &App, progress: &dyn Fn(u64)) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut digest = Sha256::new();
    let mut after = ContactId::default();
    loop {
        let chains = app.store.chains(after, CHUNK).await?;
        let Some(last) = chains.last() else { break };
        after = last.contact_id;
        let ids: Vec<ContactId> = chains.iter().map(|c| c.contact_id).collect();
        let records: HashMap<ContactId, Contact> =
            app.store.contacts_by_id(&ids).await?.into_iter().filter_map(|c| Some((c.id?, c))).collect();
        for chain in chains {
            report.contacts += 1;
            report.events += chain.entries.len() as u64;
            digest.update(format!("{}:{}:{}\n", chain.contact_id, chain.head.seq, chain.head.hash).as_bytes());
            if let Err(problem) = ledger::verify(chain.contact_id, &chain.entries, &chain.head) {
                report.broken.push(Broken { contact_id: chain.contact_id, email: chain.email, problem });
                continue;
            }
            let record = records.get(&chain.contact_id);
            let erased = record.is_some_and(|r| r.processing == Processing::Erased);
            if let Some(problem) = evidence::check_rows(&chain.entries, erased).into_iter().next() {
                report.broken.push(Broken { contact_id: chain.contact_id, email: chain.email, problem });
                continue;
            }
            let (Some(events), Some(record)) = (bodies(&chain.entries), record) else {
                continue;
            };
            if replay::mismatches(&events, record).is_empty() {
                continue;
            }
            let fields = confirm(app, chain.contact_id).await?;
            if !fields.is_empty() {
                report.diverged.push(Diverged { contact_id: chain.contact_id, email: chain.email, fields });
            }
        }
        progress(report.contacts);
    }
    report.digest = hex::encode(digest.finalize());
    crate::privacy::compliance::remember_verify(app, &report).await?;
    Ok(report)
}
