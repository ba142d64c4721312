//! Issue 19, points 2–4: consent changes only as far as asked, whatever path builds the
//! patch (an import row, `--list`, `contacts set/add`, `bulk-set`).

use super::tests::{email, import, now, person_confirming, staff, staff_with_proof};
use super::*;
use crate::domain::{ConsentState, PurposeConsent};
use SubscriptionStatus::{Confirmed, Unconfirmed, Unsubscribed};

fn purpose(name: &str) -> Purpose {
    Purpose::parse(name).unwrap()
}

fn list(name: &str) -> ListName {
    ListName::parse(name).unwrap()
}

fn existing(opt_in: OptInStatus) -> Contact {
    let mut c = Contact::new(email(), SourceType::Import, now());
    c.id = Some(crate::domain::ContactId::new(1));
    c.opt_in = opt_in;
    c
}

/// A contact who consented to the newsletter, is on the `news` list, and then opted out.
fn opted_out(how: OptInStatus) -> Contact {
    let mut c = existing(how);
    c.legal_basis = Some(LegalBasis::Consent);
    c.consent_date = Some(now() - chrono::Duration::days(400));
    c.purposes.insert(purpose("newsletter"), PurposeConsent { state: ConsentState::Granted, at: now() });
    c.lists.insert(list("news"), Unconfirmed);
    c
}

fn subscribe(entries: &[(&str, Option<SubscriptionStatus>)]) -> Vec<(ListName, Option<SubscriptionStatus>)> {
    entries.iter().map(|(l, s)| (list(l), *s)).collect()
}

#[test]
fn a_list_status_changes_only_as_far_as_asked() {
    #[allow(clippy::type_complexity)]
    let cases: [(
        &str,
        OptInStatus,
        Option<SubscriptionStatus>,
        &[(&str, Option<SubscriptionStatus>)],
        SubscriptionStatus,
        bool,
    ); 9] = [
        // (case, contact's opt-in, news before, requested, news after, protected?)
        (
            "a row's explicit status wins over a later bare mention (--list)",
            OptInStatus::DoubleOptIn,
            None,
            &[("news", Some(Unconfirmed)), ("news", None)],
            Unconfirmed,
            false,
        ),
        (
            "a row's explicit status wins over an earlier bare mention",
            OptInStatus::DoubleOptIn,
            None,
            &[("news", None), ("news", Some(Unconfirmed))],
            Unconfirmed,
            false,
        ),
        (
            "an explicit unsubscribed wins over a bare mention",
            OptInStatus::DoubleOptIn,
            None,
            &[("news", Some(Unsubscribed)), ("news", None)],
            Unsubscribed,
            false,
        ),
        (
            "a bare name on a double opt-in contact is confirmed (DESIGN §8)",
            OptInStatus::DoubleOptIn,
            None,
            &[("news", None)],
            Confirmed,
            false,
        ),
        (
            "a bare name on a single opt-in contact is unconfirmed",
            OptInStatus::SingleOptInUser,
            None,
            &[("news", None)],
            Unconfirmed,
            false,
        ),
        (
            "confirmed asked for a single opt-in contact stays unconfirmed",
            OptInStatus::SingleOptInUser,
            None,
            &[("news", Some(Confirmed))],
            Unconfirmed,
            true,
        ),
        (
            "confirmed asked for a contact with no opt-in stays unconfirmed",
            OptInStatus::None,
            Some(Unconfirmed),
            &[("news", Some(Confirmed))],
            Unconfirmed,
            true,
        ),
        (
            "an existing confirmed subscription is kept, not questioned",
            OptInStatus::SingleOptInWebform,
            Some(Confirmed),
            &[("news", Some(Confirmed))],
            Confirmed,
            false,
        ),
        (
            "an explicit unconfirmed lowers a confirmed subscription as asked",
            OptInStatus::DoubleOptIn,
            Some(Confirmed),
            &[("news", Some(Unconfirmed))],
            Unconfirmed,
            false,
        ),
    ];
    for (case, opt_in, before, requested, after, protected) in cases {
        for who in [import(), staff(), staff_with_proof()] {
            let mut c = existing(opt_in);
            if let Some(s) = before {
                c.lists.insert(list("news"), s);
            }
            let patch = ContactPatch { subscribe: subscribe(requested), ..Default::default() };
            let out = apply(Some(&c), &email(), false, &patch, &who, now()).unwrap();
            assert_eq!(out.contact.lists[&list("news")], after, "{case} ({})", who.actor);
            assert_eq!(!out.protected.is_empty(), protected, "{case} ({}): {:?}", who.actor, out.protected);
        }
    }
}

#[test]
fn a_new_contact_gets_a_confirmed_subscription_only_with_double_opt_in() {
    for (opt_in, want) in [(OptInStatus::DoubleOptIn, Confirmed), (OptInStatus::SingleOptInUser, Unconfirmed)] {
        let patch = ContactPatch {
            opt_in: Some(opt_in),
            subscribe: subscribe(&[("news", Some(Confirmed))]),
            target: Target::Any,
            ..Default::default()
        };
        let out = apply(None, &email(), false, &patch, &import(), now()).unwrap();
        assert_eq!(out.contact.lists[&list("news")], want, "{opt_in}");
    }
}

/// What import, staff and staff with proof may not give to a person who opted out
/// themself; each is held back and named, and the record's consent stays as it was.
fn grants() -> Vec<(&'static str, ContactPatch)> {
    vec![
        ("a purpose grant", ContactPatch { grant: vec![purpose("tracking")], ..Default::default() }),
        ("a new consent date", ContactPatch { consent_date: Some(now()), ..Default::default() }),
        (
            "another legal basis",
            ContactPatch { legal_basis: Some(LegalBasis::LegitimateInterest), ..Default::default() },
        ),
        ("a new subscription", ContactPatch { subscribe: subscribe(&[("vip", None)]), ..Default::default() }),
        (
            "a stronger subscription",
            ContactPatch { subscribe: subscribe(&[("news", Some(Confirmed))]), ..Default::default() },
        ),
        (
            "an import row of consent columns",
            ContactPatch {
                legal_basis: Some(LegalBasis::Consent),
                consent_date: Some(now()),
                grant: vec![purpose("newsletter"), purpose("tracking")],
                subscribe: subscribe(&[("news", None)]),
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn nobody_but_the_person_grants_anything_to_someone_who_opted_out_themself() {
    let c = opted_out(OptInStatus::OptedOutContact);
    for (case, patch) in grants() {
        for who in [import(), staff(), staff_with_proof(), Authority::new(Actor::Contact)] {
            let out = apply(Some(&c), &email(), false, &patch, &who, now()).unwrap();
            assert_eq!(out.contact, c, "{case} by {}: nothing changes", who.actor);
            assert!(!out.protected.is_empty(), "{case} by {}: the refusal is named", who.actor);
            assert!(out.event.is_none(), "{case} by {}", who.actor);
        }
        let out = apply(Some(&c), &email(), false, &patch, &person_confirming(), now()).unwrap();
        assert!(out.protected.is_empty(), "{case}: the person's own confirmed double opt-in may");
        assert_ne!(out.contact, c, "{case}: the person's own confirmed double opt-in may");
    }
}

#[test]
fn a_staff_recorded_opt_out_gets_grants_from_staff_with_proof_only() {
    let c = opted_out(OptInStatus::OptedOutUser);
    for (case, patch) in grants() {
        for who in [import(), staff()] {
            let out = apply(Some(&c), &email(), false, &patch, &who, now()).unwrap();
            assert_eq!(out.contact, c, "{case} by {}", who.actor);
            assert!(!out.protected.is_empty(), "{case} by {}", who.actor);
        }
        if case == "a stronger subscription" {
            continue; // confirmed needs double opt-in, whoever asks: a_list_status_changes_only_as_far_as_asked
        }
        let out = apply(Some(&c), &email(), false, &patch, &staff_with_proof(), now()).unwrap();
        assert!(out.protected.is_empty() && out.contact != c, "{case} with proof: {:?}", out.protected);
    }
}

#[test]
fn an_opted_out_person_still_gets_profile_updates_withdrawals_and_the_same_data_again() {
    let c = opted_out(OptInStatus::OptedOutContact);
    let mut profile = ContactPatch::default();
    profile.identity.first_name = Some("Ann".into());
    let out = apply(Some(&c), &email(), false, &profile, &import(), now()).unwrap();
    assert_eq!((out.kind, out.protected.len()), (OutcomeKind::Updated, 0));
    assert_eq!(out.contact.identity.first_name.as_deref(), Some("Ann"));

    let withdraw =
        ContactPatch { withdraw: vec![purpose("newsletter")], unsubscribe: vec![list("news")], ..Default::default() };
    let out = apply(Some(&c), &email(), false, &withdraw, &import(), now()).unwrap();
    assert!(out.protected.is_empty());
    assert!(!out.contact.granted(&purpose("newsletter")));
    assert_eq!(out.contact.lists[&list("news")], Unsubscribed);

    let same = ContactPatch {
        legal_basis: c.legal_basis,
        consent_date: c.consent_date,
        grant: vec![purpose("newsletter")],
        subscribe: subscribe(&[("news", None), ("news", Some(Unconfirmed))]),
        ..Default::default()
    };
    let out = apply(Some(&c), &email(), false, &same, &import(), now()).unwrap();
    assert_eq!((out.kind, out.protected.len()), (OutcomeKind::Unchanged, 0), "{:?}", out.protected);
}

#[test]
fn a_request_creates_or_changes_only_the_contacts_it_targets() {
    let c = existing(OptInStatus::DoubleOptIn);
    let cases = [
        (None, Target::Existing, Err(Refusal::NotFound)),
        (Some(&c), Target::Existing, Ok(OutcomeKind::Updated)),
        (None, Target::New, Ok(OutcomeKind::Created)),
        (Some(&c), Target::New, Err(Refusal::Exists)),
        (None, Target::Any, Ok(OutcomeKind::Created)),
        (Some(&c), Target::Any, Ok(OutcomeKind::Updated)),
    ];
    for (current, target, want) in cases {
        for who in [import(), staff(), staff_with_proof(), person_confirming()] {
            let mut patch = ContactPatch { target, ..Default::default() };
            patch.identity.first_name = Some("Ann".into());
            let got = apply(current, &email(), false, &patch, &who, now()).map(|out| out.kind);
            assert_eq!(
                got,
                want,
                "{target:?} on {} by {}",
                if current.is_some() { "a contact" } else { "nobody" },
                who.actor
            );
        }
    }
    assert_eq!(ContactPatch::default().target, Target::Existing, "changing is the default, never creating");
}

#[test]
fn only_the_persons_own_sign_up_creates_a_fresh_record_for_an_erased_address() {
    let anew = |a: Authority| Authority { signs_up_anew: true, ..a };
    let sign_up = ContactPatch {
        opt_in: Some(OptInStatus::SingleOptInWebform),
        subscribe: vec![(list("news"), Some(Unconfirmed))],
        target: Target::Any,
        ..ContactPatch::default()
    };
    let made = apply(None, &email(), true, &sign_up, &anew(Authority::contact(false)), now()).unwrap();
    assert_eq!(made.kind, OutcomeKind::Created);
    assert_eq!(made.contact.lists[&list("news")], Unconfirmed, "unconfirmed until the person confirms");
    // Without the sign-up's mark, or for anyone else, the suppression holds.
    assert_eq!(
        apply(None, &email(), true, &sign_up, &Authority::contact(false), now()).unwrap_err(),
        Refusal::Suppressed
    );
    for who in [import(), staff(), staff_with_proof()] {
        assert_eq!(apply(None, &email(), true, &sign_up, &anew(who), now()).unwrap_err(), Refusal::Suppressed);
    }
}
