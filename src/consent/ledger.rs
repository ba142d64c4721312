//! The consent ledger: every change to a contact's consent-relevant state is an event,
//! and the events of one contact form a hash chain (DESIGN §2):
//! `hash = sha256(prev_hash || body)`, where `body` is the canonical JSON of the event.
//!
//! The body is stored verbatim and hashed as stored, so verification never depends on
//! re-serialising. It carries the contact id and sequence number, so an event cannot be
//! moved to another contact or another place in the chain without breaking a hash. The
//! chain's head (last sequence number and hash) is kept per contact, so that removing
//! the newest events is detected too.
//!
//! Evidence lives apart from the chain (DESIGN §12): a new event's body carries only
//! `evidence_digest`, the SHA-256 of its evidence's canonical JSON, and the evidence
//! itself is stored beside the event (see [`super::evidence`]), so erasure can delete it
//! without touching a hash. Bodies written before that carry their evidence inline and
//! still verify; erasure redacts them, and [`verify`] accepts a redacted body only where
//! a later erasure event of the same chain names it.

use crate::domain::ContactId;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The `prev_hash` of a contact's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `[old, new]`; `None` where the field had or has no value.
pub type Change = [Option<String>; 2];

/// An event before it is sealed into a contact's chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventDraft {
    pub actor: String,
    pub action: String,
    pub changes: BTreeMap<String, Change>,
    /// Kept apart from the chain: the body carries its digest only.
    pub evidence: BTreeMap<String, String>,
    /// On an erasure event: the earlier events whose bodies the erasure redacted.
    pub redacts: Vec<i64>,
}

/// The canonical body. Field order is declaration order and the maps are sorted, so the
/// same event always serialises to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBody {
    pub contact_id: ContactId,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub changes: BTreeMap<String, Change>,
    /// Inline evidence: only in events written before evidence moved to its own table
    /// (and, once read, the evidence row joined back for display; see [`Entry::event`]).
    pub evidence: BTreeMap<String, String>,
    /// SHA-256 (hex) of the canonical JSON of the event's evidence, which is stored apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_digest: Option<String>,
    /// On an erasure event: the earlier events of the chain whose bodies it redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacts: Vec<i64>,
    /// A body that erasure redacted: it no longer hashes to its stored hash, and is
    /// accepted only when a later erasure event of the chain lists it in `redacts`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub contact_id: ContactId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub body: String,
    pub hash: String,
    /// The event's evidence row (canonical JSON), when it has one and it still exists:
    /// joined on read; on a freshly sealed entry, the row to write with the event.
    pub evidence: Option<String>,
}

impl Entry {
    /// The event as recorded, with its evidence row (if any) shown in `evidence`.
    pub fn event(&self) -> Result<EventBody, String> {
        let mut body: EventBody =
            serde_json::from_str(&self.body).map_err(|e| format!("event #{} has an unreadable body: {e}", self.seq))?;
        if let Some(data) = &self.evidence {
            body.evidence = serde_json::from_str(data)
                .map_err(|e| format!("the evidence of event #{} is unreadable: {e}", self.seq))?;
        }
        Ok(body)
    }
}

/// The last link of a contact's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Head { seq: 0, hash: GENESIS.to_owned() }
    }
}

/// Ledger timestamps are kept to the microsecond, the precision both backends store.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(at)
}

fn chain_hash(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// Seals `draft` as the event after `head` in the chain of `contact_id`, and returns the
/// entry with the new head.
pub fn seal(draft: &EventDraft, contact_id: ContactId, head: &Head, at: DateTime<Utc>) -> (Entry, Head) {
    let at = truncate(at);
    let seq = head.seq + 1;
    let evidence = (!draft.evidence.is_empty()).then(|| super::evidence::canonical(&draft.evidence));
    let body = EventBody {
        contact_id,
        seq,
        at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: draft.actor.clone(),
        action: draft.action.clone(),
        changes: draft.changes.clone(),
        evidence: BTreeMap::new(),
        evidence_digest: evidence.as_deref().map(super::evidence::digest),
        redacts: draft.redacts.clone(),
        redacted: false,
    };
    let body = serde_json::to_string(&body).expect("event bodies always serialise");
    let hash = chain_hash(&head.hash, &body);
    let entry = Entry { contact_id, seq, at, body, hash: hash.clone(), evidence };
    (entry, Head { seq, hash })
}

/// Checks one contact's chain: `entries` as stored, in sequence order; `head` as stored.
/// Returns the first problem found, in words.
pub fn verify(contact_id: ContactId, entries: &[Entry], head: &Head) -> Result<(), String> {
    let bodies: Vec<EventBody> = entries
        .iter()
        .map(|e| serde_json::from_str(&e.body).map_err(|_| format!("event #{} has an unreadable body", e.seq)))
        .collect::<Result<_, _>>()?;
    let mut expected = Head::genesis();
    for (entry, body) in entries.iter().zip(&bodies) {
        let want_seq = expected.seq + 1;
        if entry.seq != want_seq {
            return Err(format!("event #{want_seq} is missing or out of order (found #{})", entry.seq));
        }
        if body.redacted {
            // Its own hash cannot be recomputed; the next event's hash still covers it.
            if !redaction_recorded(&bodies, entry.seq) {
                return Err(format!("event #{} was redacted, but no later erasure event records it", entry.seq));
            }
        } else if chain_hash(&expected.hash, &entry.body) != entry.hash {
            return Err(format!(
                "event #{} was altered or does not follow the event before it (its hash does not match)",
                entry.seq
            ));
        }
        let at = entry.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        if body.contact_id != contact_id || body.seq != entry.seq || body.at != at {
            return Err(format!(
                "event #{} was moved (its stored contact, number or time disagree with its content)",
                entry.seq
            ));
        }
        expected = Head { seq: entry.seq, hash: entry.hash.clone() };
    }
    if *head != expected {
        return Err(format!(
            "the chain ends at event #{} but the recorded head is event #{}: events were removed or the head was altered",
            expected.seq, head.seq
        ));
    }
    Ok(())
}

/// Whether an event after `seq`, itself not redacted, lists `seq` as redacted by it.
fn redaction_recorded(bodies: &[EventBody], seq: i64) -> bool {
    bodies.iter().any(|b| b.seq > seq && !b.redacted && b.redacts.contains(&seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(action: &str) -> EventDraft {
        let mut changes = BTreeMap::new();
        changes.insert("opt_in_status".to_owned(), [Some("none".to_owned()), Some(action.to_owned())]);
        EventDraft { actor: "cli:test".into(), action: action.into(), changes, ..EventDraft::default() }
    }

    fn chain(n: usize) -> (Vec<Entry>, Head) {
        let mut head = Head::genesis();
        let mut entries = Vec::new();
        for i in 0..n {
            let at = DateTime::from_timestamp(1_700_000_000 + i as i64, 123_456_789).unwrap();
            let (e, h) = seal(&draft(&format!("step{i}")), crate::domain::ContactId::new(7), &head, at);
            entries.push(e);
            head = h;
        }
        (entries, head)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (entries, head) = chain(4);
        assert_eq!(verify(crate::domain::ContactId::new(7), &entries, &head), Ok(()));
        assert_eq!(entries[0].at.timestamp_subsec_nanos(), 123_456_000, "truncated to micros");
    }

    #[test]
    fn edited_removed_reordered_or_moved_events_are_caught() {
        let (entries, head) = chain(4);

        let mut edited = entries.clone();
        edited[1].body = edited[1].body.replace("step1", "stepX");
        assert!(verify(crate::domain::ContactId::new(7), &edited, &head).unwrap_err().contains("altered"));

        let mut removed = entries.clone();
        removed.remove(1);
        assert!(verify(crate::domain::ContactId::new(7), &removed, &head).is_err());

        let mut tail_removed = entries.clone();
        tail_removed.pop();
        assert!(verify(crate::domain::ContactId::new(7), &tail_removed, &head).unwrap_err().contains("head"));

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        assert!(verify(crate::domain::ContactId::new(7), &reordered, &head).is_err());

        assert!(verify(crate::domain::ContactId::new(8), &entries, &head).unwrap_err().contains("moved"));
    }
}
