use super::*;
use crate::consent::ledger::{self, EventDraft, Head};
use crate::domain::ContactId;
use chrono::DateTime;

fn evidence() -> BTreeMap<String, String> {
    BTreeMap::from([("ip".to_owned(), "203.0.113.9".to_owned()), ("user_agent".to_owned(), "Firefox".to_owned())])
}

fn draft(evidence: BTreeMap<String, String>, note: Option<&str>) -> EventDraft {
    let mut changes = BTreeMap::new();
    changes.insert("opt_in_status".to_owned(), [Some("none".to_owned()), Some("double_opt_in".to_owned())]);
    if let Some(n) = note {
        changes.insert("source_note".to_owned(), [None, Some(n.to_owned())]);
    }
    EventDraft { actor: "contact".into(), action: "updated".into(), changes, evidence, ..EventDraft::default() }
}

fn seal_all(drafts: &[EventDraft]) -> (Vec<Entry>, Head) {
    let mut head = Head::genesis();
    let mut entries = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let at = DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap();
        let (e, h) = ledger::seal(d, ContactId::new(3), &head, at);
        entries.push(e);
        head = h;
    }
    (entries, head)
}

/// A body as written before evidence moved out: the same shape, evidence inline.
fn legacy(entry: &Entry, prev_hash: &str, evidence: BTreeMap<String, String>) -> Entry {
    let mut body: EventBody = serde_json::from_str(&entry.body).unwrap();
    body.evidence = evidence;
    body.evidence_digest = None;
    let body = serde_json::to_string(&body).unwrap();
    let hash = hex::encode(Sha256::digest(format!("{prev_hash}{body}").as_bytes()));
    Entry { body, hash, evidence: None, ..entry.clone() }
}

#[test]
fn a_new_event_carries_the_digest_of_its_evidence_never_the_evidence() {
    let (entries, head) = seal_all(&[draft(evidence(), None)]);
    let e = &entries[0];
    assert!(!e.body.contains("203.0.113.9") && !e.body.contains("Firefox"), "{}", e.body);
    let data = e.evidence.as_deref().expect("the row to store");
    assert_eq!(data, r#"{"ip":"203.0.113.9","user_agent":"Firefox"}"#);
    let body: EventBody = serde_json::from_str(&e.body).unwrap();
    assert_eq!(body.evidence_digest.as_deref(), Some(digest(data).as_str()));
    assert_eq!(e.event().unwrap().evidence, evidence(), "read back with its row");
    assert_eq!(ledger::verify(ContactId::new(3), &entries, &head), Ok(()));
    assert!(check_rows(&entries, false).is_empty());
}

#[test]
fn an_event_without_evidence_has_no_digest_and_no_row() {
    let (entries, _) = seal_all(&[draft(BTreeMap::new(), None)]);
    assert_eq!(entries[0].evidence, None);
    assert!(!entries[0].body.contains("evidence_digest"), "{}", entries[0].body);
}

#[test]
fn an_altered_missing_or_stray_evidence_row_is_reported() {
    let (entries, _) = seal_all(&[draft(evidence(), None), draft(BTreeMap::new(), None)]);
    let mut altered = entries.clone();
    altered[0].evidence = Some(r#"{"ip":"198.51.100.1","user_agent":"Firefox"}"#.into());
    assert!(check_rows(&altered, false)[0].contains("altered"));
    assert!(check_rows(&altered, true)[0].contains("altered"), "erasure deletes rows, it never alters them");

    let mut missing = entries.clone();
    missing[0].evidence = None;
    assert!(check_rows(&missing, false)[0].contains("missing"));
    assert!(check_rows(&missing, true).is_empty(), "after erasure a missing row is expected");

    let mut stray = entries.clone();
    stray[1].evidence = Some("{}".into());
    assert!(check_rows(&stray, false)[0].contains("no evidence"));
}

#[test]
fn a_legacy_body_with_inline_evidence_still_verifies() {
    let (entries, _) = seal_all(&[draft(BTreeMap::new(), None)]);
    let old = legacy(&entries[0], ledger::GENESIS, evidence());
    let head = Head { seq: 1, hash: old.hash.clone() };
    assert_eq!(ledger::verify(ContactId::new(3), std::slice::from_ref(&old), &head), Ok(()));
    assert_eq!(old.event().unwrap().evidence, evidence());
}

#[test]
fn redaction_keeps_the_consent_change_and_drops_evidence_and_notes() {
    let (entries, _) = seal_all(&[draft(BTreeMap::new(), Some("met Ann Smith at the fair"))]);
    let body = legacy(&entries[0], ledger::GENESIS, evidence()).event().unwrap();
    assert!(needs_redaction(&body));
    let red = redact(&body);
    let text = serde_json::to_string(&red).unwrap();
    assert!(!text.contains("Ann") && !text.contains("203.0.113.9"), "{text}");
    assert_eq!(red.changes["opt_in_status"], body.changes["opt_in_status"]);
    assert_eq!(red.changes["source_note"], [None, Some(ERASED.to_owned())]);
    assert!(red.redacted && !needs_redaction(&red));
    assert!(!needs_redaction(
        &seal_all(&[draft(evidence(), None)]).0[0]
            .event()
            .map(|mut b| {
                b.evidence.clear();
                b
            })
            .unwrap()
    ));
}

/// A chain of a legacy event and a later event, with the first redacted; the erasure
/// event lists `listed`.
fn redacted_chain(listed: Vec<i64>) -> (Vec<Entry>, Head) {
    let (entries, _) = seal_all(&[draft(BTreeMap::new(), None)]);
    let old = legacy(&entries[0], ledger::GENESIS, evidence());
    let first = Head { seq: 1, hash: old.hash.clone() };
    let erase =
        EventDraft { actor: "cli:dpo".into(), action: "erased".into(), redacts: listed, ..EventDraft::default() };
    let at = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
    let (e2, head) = ledger::seal(&erase, ContactId::new(3), &first, at);
    let mut red = old.clone();
    red.body = serde_json::to_string(&redact(&old.event().unwrap())).unwrap();
    (vec![red, e2], head)
}

#[test]
fn a_redacted_body_verifies_only_when_a_later_erasure_event_lists_it() {
    let (entries, head) = redacted_chain(vec![1]);
    assert_eq!(ledger::verify(ContactId::new(3), &entries, &head), Ok(()));

    let (entries, head) = redacted_chain(vec![]);
    let err = ledger::verify(ContactId::new(3), &entries, &head).unwrap_err();
    assert!(err.contains("redacted"), "{err}");

    // An erasure event cannot be edited to cover more: its own hash breaks.
    let (mut entries, head) = redacted_chain(vec![1]);
    entries[1].body = entries[1].body.replace("[1]", "[1,2]");
    assert!(ledger::verify(ContactId::new(3), &entries, &head).unwrap_err().contains("altered"));
}
