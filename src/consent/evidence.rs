//! Evidence apart from the chain (DESIGN §12, issue 14.1): the digest a ledger event
//! carries of its evidence, the check of stored evidence rows against those digests, and
//! the redaction of bodies that still carry evidence or personal notes inline.
//!
//! Pure: takes data and returns data. The rows are written with their events
//! (`store/sql/contact_write.rs`), deleted by erasure (`privacy::erase`), and checked by
//! `audit verify` (`contacts::audit`).

use super::ledger::{Entry, EventBody};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Change fields whose values are free text a person may be named in; erasure replaces
/// their values in the events it redacts (and in its own event) with [`ERASED`].
pub const PERSONAL_CHANGES: &[&str] = &["legal_basis_note", "source_note"];

/// What a redacted personal value reads as.
pub const ERASED: &str = "[erased]";

/// The canonical JSON of an evidence map: keys sorted (a `BTreeMap`), no whitespace.
pub fn canonical(evidence: &BTreeMap<String, String>) -> String {
    serde_json::to_string(evidence).expect("a map of strings always serialises")
}

/// Hex SHA-256 of an evidence row's stored text.
pub fn digest(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Whether erasure must redact this body: it holds evidence inline, or a personal note.
pub fn needs_redaction(body: &EventBody) -> bool {
    !body.redacted && (!body.evidence.is_empty() || personal_changes(body))
}

fn personal_changes(body: &EventBody) -> bool {
    PERSONAL_CHANGES.iter().any(|f| body.changes.get(*f).is_some_and(|[o, n]| o.is_some() || n.is_some()))
}

/// The body with its inline evidence dropped and its personal notes replaced, marked
/// redacted. Everything else (contact, number, time, actor, the consent changes) stays,
/// so the chain's replay still leads to the stored record.
pub fn redact(body: &EventBody) -> EventBody {
    let mut out = body.clone();
    out.evidence.clear();
    for field in PERSONAL_CHANGES {
        if let Some(change) = out.changes.get_mut(*field) {
            for v in change.iter_mut().filter(|v| v.is_some()) {
                *v = Some(ERASED.to_owned());
            }
        }
    }
    out.redacted = true;
    out
}

/// The problems between a chain's events and their evidence rows (joined into
/// `Entry::evidence`), in words: a row that does not match its event's digest (altered),
/// a row for an event that has no digest, and a digest whose row is gone, unless the
/// contact was `erased` (erasure deletes the rows on purpose).
pub fn check_rows(entries: &[Entry], erased: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for e in entries {
        let Ok(body) = serde_json::from_str::<EventBody>(&e.body) else { continue };
        match (&body.evidence_digest, &e.evidence) {
            (Some(want), Some(data)) if digest(data) != *want => {
                problems.push(format!("the evidence of event #{} was altered (its digest does not match)", e.seq));
            }
            (None, Some(_)) => {
                problems.push(format!("event #{} has an evidence row but its body records no evidence", e.seq));
            }
            (Some(_), None) if !erased => {
                problems.push(format!("the evidence of event #{} is missing (its row was deleted)", e.seq));
            }
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
#[path = "evidence_tests.rs"]
mod tests;
