//! Who may move a record's processing state and settle its bounce state (pure rules).

use super::tests::{email, import, now, person_confirming, staff, staff_with_proof};
use super::*;
use crate::consent::may_lift_suppression;
use crate::domain::BounceStatus;

fn with(processing: Processing) -> Contact {
    let mut c = Contact::new(email(), SourceType::Manual, now());
    c.id = Some(crate::domain::ContactId::new(1));
    c.processing = processing;
    c
}

fn change(p: ProcessingChange) -> ContactPatch {
    ContactPatch { processing: Some(p), ..ContactPatch::default() }
}

fn system() -> Authority {
    Authority::system("retention")
}

fn run(c: &Contact, patch: &ContactPatch, authority: &Authority) -> Result<Outcome, Refusal> {
    apply(Some(c), &email(), false, patch, authority, now())
}

#[test]
fn only_staff_and_rules_lift_a_restriction_or_erase() {
    let active = with(Processing::Active);
    let restricted = with(Processing::Restricted);
    for (c, p) in [
        (&active, ProcessingChange::Restrict),
        (&restricted, ProcessingChange::Unrestrict),
        (&active, ProcessingChange::Erase),
    ] {
        let mut refused = vec![import()];
        if p != ProcessingChange::Restrict {
            refused.extend([person_confirming(), Authority::contact(false)]);
        }
        for authority in refused {
            assert!(
                matches!(run(c, &change(p), &authority), Err(Refusal::NotAllowed(_))),
                "{p:?} by {}",
                authority.actor
            );
        }
        for authority in [staff(), system()] {
            let out = run(c, &change(p), &authority).expect("allowed");
            assert_eq!(out.contact.processing, p.to(), "{p:?} by {}", authority.actor);
            assert!(out.event.is_some_and(|e| e.changes.contains_key("processing")), "ledgered");
        }
    }
}

#[test]
fn the_person_may_stop_processing_but_never_lift_it() {
    let out = run(&with(Processing::Active), &change(ProcessingChange::Restrict), &Authority::contact(false)).unwrap();
    assert_eq!(out.contact.processing, Processing::Restricted);
    assert!(out.event.is_some_and(|e| e.actor == "contact" && e.changes.contains_key("processing")), "ledgered");
    for authority in [Authority::contact(false), person_confirming()] {
        let lift = run(&with(Processing::Restricted), &change(ProcessingChange::Unrestrict), &authority);
        assert!(matches!(lift, Err(Refusal::NotAllowed(_))), "{lift:?}");
    }
    // Restricting an erasure request would not move it along: it stays as it is.
    let locked =
        run(&with(Processing::ErasureRequested), &change(ProcessingChange::Restrict), &Authority::contact(false));
    assert!(matches!(locked, Err(Refusal::Locked(Processing::ErasureRequested))), "{locked:?}");
}

#[test]
fn the_person_may_ask_for_erasure_but_not_erase() {
    let out = run(&with(Processing::Active), &change(ProcessingChange::RequestErasure), &Authority::contact(false));
    assert_eq!(out.unwrap().contact.processing, Processing::ErasureRequested);
    let refused = run(&with(Processing::ErasureRequested), &change(ProcessingChange::Erase), &Authority::contact(true));
    assert!(matches!(refused, Err(Refusal::NotAllowed(_))));
}

#[test]
fn only_unrestrict_lifts_a_restriction_and_nothing_lifts_an_erasure() {
    let restricted = with(Processing::Restricted);
    let edit = ContactPatch { opt_in: Some(OptInStatus::SingleOptInUser), ..ContactPatch::default() };
    assert_eq!(run(&restricted, &edit, &staff_with_proof()).unwrap_err(), Refusal::Locked(Processing::Restricted));
    assert_eq!(
        run(&with(Processing::ErasureRequested), &change(ProcessingChange::Unrestrict), &staff()).unwrap_err(),
        Refusal::Locked(Processing::ErasureRequested)
    );
    let lift_and_edit = ContactPatch { processing: Some(ProcessingChange::Unrestrict), ..edit.clone() };
    let out = run(&restricted, &lift_and_edit, &staff()).unwrap();
    assert_eq!((out.contact.processing, out.contact.opt_in), (Processing::Active, OptInStatus::SingleOptInUser));
    let erased = with(Processing::Erased);
    for p in [ProcessingChange::Unrestrict, ProcessingChange::Restrict, ProcessingChange::Erase] {
        assert_eq!(run(&erased, &change(p), &system()).unwrap_err(), Refusal::Locked(Processing::Erased), "{p:?}");
    }
}

#[test]
fn a_new_contact_is_never_created_restricted() {
    let patch = ContactPatch { target: Target::Any, ..change(ProcessingChange::Restrict) };
    assert!(matches!(apply(None, &email(), false, &patch, &staff(), now()), Err(Refusal::Invalid(_))));
}

#[test]
fn only_rules_settle_bounces_a_confirmed_one_stays_and_a_restriction_does_not_stop_them() {
    let hard = Bounce { status: BounceStatus::Hard, consecutive_hard: 1 };
    let patch = ContactPatch { bounce: Some(hard), ..ContactPatch::default() };
    for authority in [staff_with_proof(), import(), person_confirming()] {
        assert!(matches!(run(&with(Processing::Active), &patch, &authority), Err(Refusal::NotAllowed(_))));
    }
    let out = run(&with(Processing::Restricted), &patch, &Authority::system("bounces")).unwrap();
    assert_eq!(out.contact.bounce, hard);
    let event = out.event.expect("ledgered");
    assert_eq!(event.action, "bounce");
    assert_eq!(event.changes["bounce_status"], [Some("ok".into()), Some("hard".into())]);
    let mut confirmed = with(Processing::Active);
    confirmed.bounce = Bounce { status: BounceStatus::Confirmed, consecutive_hard: 3 };
    let ok = ContactPatch { bounce: Some(Bounce::default()), ..ContactPatch::default() };
    let out = run(&confirmed, &ok, &Authority::system("bounces")).unwrap();
    assert_eq!(out.contact.bounce.status, BounceStatus::Confirmed);
    assert!(!out.protected.is_empty());
    assert!(run(&with(Processing::Erased), &patch, &Authority::system("bounces")).is_err());
}

#[test]
fn lifting_a_suppression_needs_the_persons_confirmation_or_staff_proof() {
    assert!(may_lift_suppression(&person_confirming()).is_ok());
    assert!(may_lift_suppression(&staff_with_proof()).is_ok());
    for authority in
        [staff(), import(), Authority::contact(false), Authority::system("bounces").with_proof(Some("x".into()))]
    {
        assert!(may_lift_suppression(&authority).is_err(), "{}", authority.actor);
    }
}
