//! Replaying a contact's ledger: the state its chain says the contact is in, to compare
//! with the state stored beside it. A chain that verifies proves the events were not
//! touched; only the replay proves the contact's row, subscriptions and purposes were
//! not edited behind the ledger's back (issue 12: an `unsubscribed` turned `confirmed`
//! directly in the database).

use super::fields::consent_fields;
use super::ledger::EventBody;
use crate::domain::{Bounce, Contact};
use serde::Serialize;
use std::collections::BTreeMap;

/// Ledger fields that describe something other than the contact's own record: the
/// suppression list is keyed by address, not by contact, and survives the contact.
const NOT_ON_THE_RECORD: &[&str] = &["suppressed"];

/// The bounce fields, as bounce events name them, and their value before any event.
fn bounce_fields(b: &Bounce) -> [(&'static str, String); 2] {
    [("bounce_status", b.status.to_string()), ("consecutive_hard_bounces", b.consecutive_hard.to_string())]
}

/// One field whose stored value does not follow from the contact's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub field: String,
    /// The value the chain ends with (`None`: the chain never set it, or removed it).
    pub ledger: Option<String>,
    /// The value stored now (`None`: not stored).
    pub stored: Option<String>,
}

/// The fields a chain leaves set: each event's changes folded, old → new, from the
/// empty state; fields no event touched keep their value of a new record.
pub fn replay(events: &[EventBody]) -> BTreeMap<String, String> {
    let mut state: BTreeMap<String, String> =
        bounce_fields(&Bounce::default()).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for event in events {
        for (field, [_, new]) in &event.changes {
            match new {
                Some(v) => state.insert(field.clone(), v.clone()),
                None => state.remove(field),
            };
        }
    }
    for field in NOT_ON_THE_RECORD {
        state.remove(*field);
    }
    state
}

/// The same fields as stored for `contact`: its compliance card, purposes, lists,
/// processing and bounce state.
pub fn stored(contact: &Contact) -> BTreeMap<String, String> {
    let mut state = consent_fields(contact);
    state.extend(bounce_fields(&contact.bounce).into_iter().map(|(k, v)| (k.to_owned(), v)));
    state
}

/// Every field on which `contact` differs from what `events` lead to, in field order.
pub fn mismatches(events: &[EventBody], contact: &Contact) -> Vec<Mismatch> {
    let (ledger, stored) = (replay(events), stored(contact));
    let fields: std::collections::BTreeSet<&String> = ledger.keys().chain(stored.keys()).collect();
    fields
        .into_iter()
        .filter(|f| ledger.get(*f) != stored.get(*f))
        .map(|f| Mismatch { field: f.clone(), ledger: ledger.get(f).cloned(), stored: stored.get(f).cloned() })
        .collect()
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
