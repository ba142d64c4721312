use super::*;
use crate::consent::ledger::{self, Head};
use crate::consent::{Actor, Authority, ContactPatch, Target, apply};
use crate::domain::{BounceStatus, EmailAddress, ListName, OptInStatus, SubscriptionStatus};
use chrono::{DateTime, Utc};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

/// Applies `patches` in turn as staff; the final record and its chain's event bodies.
fn history(patches: &[ContactPatch]) -> (Contact, Vec<EventBody>) {
    let email = EmailAddress::parse("person@example.com").unwrap();
    let staff = Authority::new(Actor::Cli("alice".into())).with_proof(Some("asked by phone".into()));
    let (mut current, mut head, mut bodies) = (None::<Contact>, Head::genesis(), Vec::new());
    for patch in patches {
        let patch = ContactPatch { target: Target::Any, ..patch.clone() };
        let outcome = apply(current.as_ref(), &email, false, &patch, &staff, now()).unwrap();
        if let Some(draft) = &outcome.event {
            let (entry, next) = ledger::seal(draft, crate::domain::ContactId::new(1), &head, now());
            bodies.push(serde_json::from_str(&entry.body).unwrap());
            head = next;
        }
        current = Some(outcome.contact);
    }
    (current.unwrap(), bodies)
}

fn list(name: &str) -> ListName {
    ListName::parse(name).unwrap()
}

fn subscribed_then_unsubscribed() -> (Contact, Vec<EventBody>) {
    history(&[
        ContactPatch {
            opt_in: Some(OptInStatus::DoubleOptIn),
            subscribe: vec![(list("news"), None)],
            ..Default::default()
        },
        ContactPatch { unsubscribe: vec![list("news")], ..Default::default() },
    ])
}

#[test]
fn a_record_changed_only_through_its_ledger_replays_to_itself() {
    let (contact, events) = subscribed_then_unsubscribed();
    assert_eq!(events.len(), 2);
    assert_eq!(mismatches(&events, &contact), vec![]);
    assert_eq!(replay(&events)["list.news"], "unsubscribed");
}

#[test]
fn a_subscription_switched_back_on_behind_the_ledger_is_named_with_both_values() {
    let (mut contact, events) = subscribed_then_unsubscribed();
    contact.lists.insert(list("news"), SubscriptionStatus::Confirmed);
    assert_eq!(
        mismatches(&events, &contact),
        vec![Mismatch {
            field: "list.news".into(),
            ledger: Some("unsubscribed".into()),
            stored: Some("confirmed".into())
        }]
    );
}

#[test]
fn a_field_no_event_ever_set_is_named_too() {
    let (mut contact, events) = subscribed_then_unsubscribed();
    contact.lists.insert(list("partners"), SubscriptionStatus::Confirmed);
    let found = mismatches(&events, &contact);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].field.as_str(), found[0].ledger.as_deref()), ("list.partners", None));
}

#[test]
fn bounce_state_starts_ok_and_follows_bounce_events() {
    let (mut contact, mut events) = subscribed_then_unsubscribed();
    contact.bounce.status = BounceStatus::Confirmed;
    assert_eq!(mismatches(&events, &contact)[0].field, "bounce_status");
    let mut bounce = events[0].clone();
    bounce.changes = [("bounce_status".to_owned(), [Some("ok".to_owned()), Some("confirmed".to_owned())])].into();
    events.push(bounce);
    assert_eq!(mismatches(&events, &contact), vec![]);
}

#[test]
fn suppression_events_are_not_compared_with_the_record() {
    let (contact, mut events) = subscribed_then_unsubscribed();
    let mut suppressed = events[0].clone();
    suppressed.changes = [("suppressed".to_owned(), [Some("false".to_owned()), Some("true".to_owned())])].into();
    events.push(suppressed);
    assert_eq!(mismatches(&events, &contact), vec![]);
}
