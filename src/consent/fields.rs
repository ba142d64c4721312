//! The ledger's view of a record: its consent-relevant fields flattened to text, and what
//! changed between two records. `rules::apply` writes the changes into events; `replay`
//! folds a chain back into these fields to compare with the stored record.

use super::ledger::Change;
use crate::domain::Contact;
use chrono::SecondsFormat;
use std::collections::BTreeMap;

/// The consent-relevant fields of a record, flattened to text for the ledger.
pub(crate) fn consent_fields(c: &Contact) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("opt_in_status".to_owned(), c.opt_in.to_string());
    if let Some(b) = c.legal_basis {
        f.insert("legal_basis".to_owned(), b.to_string());
    }
    if let Some(n) = &c.legal_basis_note {
        f.insert("legal_basis_note".to_owned(), n.clone());
    }
    if let Some(d) = c.consent_date {
        f.insert("consent_date".to_owned(), d.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    f.insert("source_type".to_owned(), c.source_type.to_string());
    if let Some(n) = &c.source_note {
        f.insert("source_note".to_owned(), n.clone());
    }
    for (p, consent) in &c.purposes {
        f.insert(format!("purpose.{p}"), consent.state.to_string());
    }
    for (l, status) in &c.lists {
        f.insert(format!("list.{l}"), status.to_string());
    }
    f.insert("processing".to_owned(), c.processing.to_string());
    f
}

/// What changed, old → new, in the consent-relevant fields.
pub(crate) fn consent_changes(before: Option<&Contact>, after: &Contact) -> BTreeMap<String, Change> {
    let old = before.map(consent_fields).unwrap_or_default();
    let new = consent_fields(after);
    let mut changes = BTreeMap::new();
    for key in old.keys().chain(new.keys()) {
        let (o, n) = (old.get(key), new.get(key));
        if o != n {
            changes.insert(key.clone(), [o.cloned(), n.cloned()]);
        }
    }
    changes
}
