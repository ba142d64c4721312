use super::*;
use crate::domain::{ConsentState, PurposeConsent};

pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

pub(super) fn email() -> EmailAddress {
    EmailAddress::parse("person@example.com").unwrap()
}

pub(super) fn staff() -> Authority {
    Authority::new(Actor::Cli("alice".into()))
}

pub(super) fn staff_with_proof() -> Authority {
    staff().with_proof(Some("ticket #42: signed form".into()))
}

pub(super) fn import() -> Authority {
    Authority::new(Actor::Import("contacts.csv".into()))
}

pub(super) fn person_confirming() -> Authority {
    Authority { confirmed_double_opt_in: true, ..Authority::new(Actor::Contact) }
}

fn existing(opt_in: OptInStatus) -> Contact {
    let mut c = Contact::new(email(), SourceType::Import, now());
    c.id = Some(crate::domain::ContactId::new(1));
    c.opt_in = opt_in;
    c
}

/// `p` as a request that may create the contact (an import, a `contacts add`).
fn creating(p: &ContactPatch) -> ContactPatch {
    ContactPatch { target: Target::Any, ..p.clone() }
}

fn patch_opt_in(s: OptInStatus) -> ContactPatch {
    ContactPatch { opt_in: Some(s), ..Default::default() }
}

fn purpose(name: &str) -> Purpose {
    Purpose::parse(name).unwrap()
}

fn list(name: &str) -> ListName {
    ListName::parse(name).unwrap()
}

#[test]
fn opted_out_contact_is_never_lifted_by_staff_or_import() {
    let c = existing(OptInStatus::OptedOutContact);
    for who in [staff(), staff_with_proof(), import()] {
        for want in [OptInStatus::DoubleOptIn, OptInStatus::OptedOutUser, OptInStatus::None] {
            let out = apply(Some(&c), &email(), false, &patch_opt_in(want), &who, now()).unwrap();
            assert_eq!(out.contact.opt_in, OptInStatus::OptedOutContact, "{:?} → {want}", who.actor);
            assert_eq!(out.protected.len(), 1);
            assert!(out.event.is_none());
        }
    }
}

#[test]
fn opted_out_contact_is_lifted_by_the_persons_own_double_opt_in() {
    let c = existing(OptInStatus::OptedOutContact);
    let out =
        apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::DoubleOptIn), &person_confirming(), now()).unwrap();
    assert_eq!(out.contact.opt_in, OptInStatus::DoubleOptIn);
    assert!(out.protected.is_empty());
}

#[test]
fn opted_out_user_is_lifted_by_staff_only_with_proof_and_the_proof_is_logged() {
    let c = existing(OptInStatus::OptedOutUser);
    for who in [staff(), import()] {
        let out = apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::SingleOptInUser), &who, now()).unwrap();
        assert_eq!(out.contact.opt_in, OptInStatus::OptedOutUser);
        assert_eq!(out.protected.len(), 1);
    }
    let out = apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::SingleOptInUser), &staff_with_proof(), now())
        .unwrap();
    assert_eq!(out.contact.opt_in, OptInStatus::SingleOptInUser);
    let event = out.event.unwrap();
    assert_eq!(event.evidence["proof"], "ticket #42: signed form");
    assert_eq!(event.changes["opt_in_status"], [Some("opted_out_user".into()), Some("single_opt_in_user".into())]);
}

#[test]
fn opting_out_is_always_allowed() {
    let c = existing(OptInStatus::DoubleOptIn);
    let out = apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::OptedOutUser), &import(), now()).unwrap();
    assert_eq!(out.contact.opt_in, OptInStatus::OptedOutUser);
    let c = existing(OptInStatus::OptedOutUser);
    let out = apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::OptedOutContact), &staff(), now()).unwrap();
    assert_eq!(out.contact.opt_in, OptInStatus::OptedOutContact);
}

#[test]
fn suppressed_addresses_are_never_created_by_import_or_staff() {
    for who in [import(), staff(), staff_with_proof()] {
        let err =
            apply(None, &email(), true, &creating(&patch_opt_in(OptInStatus::DoubleOptIn)), &who, now()).unwrap_err();
        assert_eq!(err, Refusal::Suppressed);
    }
    let c = existing(OptInStatus::DoubleOptIn);
    assert_eq!(
        apply(Some(&c), &email(), true, &ContactPatch::default(), &import(), now()).unwrap_err(),
        Refusal::Suppressed
    );
    assert!(
        apply(None, &email(), true, &creating(&patch_opt_in(OptInStatus::DoubleOptIn)), &person_confirming(), now())
            .is_ok()
    );
}

#[test]
fn consent_basis_needs_a_date_and_a_purpose() {
    let no_date = ContactPatch {
        legal_basis: Some(LegalBasis::Consent),
        grant: vec![purpose("newsletter")],
        ..Default::default()
    };
    let err = apply(None, &email(), false, &creating(&no_date), &import(), now()).unwrap_err();
    assert!(matches!(err, Refusal::Invalid(ref m) if m.contains("consent_date")), "{err}");

    let no_purpose =
        ContactPatch { legal_basis: Some(LegalBasis::Consent), consent_date: Some(now()), ..Default::default() };
    let err = apply(None, &email(), false, &creating(&no_purpose), &import(), now()).unwrap_err();
    assert!(matches!(err, Refusal::Invalid(ref m) if m.contains("purpose")), "{err}");

    let ok = ContactPatch { consent_date: Some(now()), grant: vec![purpose("newsletter")], ..no_purpose };
    let out = apply(None, &email(), false, &creating(&ok), &import(), now()).unwrap();
    assert!(out.contact.granted(&purpose("newsletter")));
}

#[test]
fn withdrawing_every_purpose_of_a_consent_basis_takes_effect() {
    let mut c = existing(OptInStatus::DoubleOptIn);
    c.legal_basis = Some(LegalBasis::Consent);
    c.consent_date = Some(now());
    c.purposes.insert(purpose("newsletter"), PurposeConsent { state: ConsentState::Granted, at: now() });
    let withdraw = ContactPatch { withdraw: vec![purpose("newsletter")], ..Default::default() };
    for who in [staff(), import(), Authority::new(Actor::Contact)] {
        let out = apply(Some(&c), &email(), false, &withdraw, &who, now()).unwrap();
        assert!(!out.contact.granted(&purpose("newsletter")));
        assert_eq!(
            out.event.unwrap().changes["purpose.newsletter"],
            [Some("granted".into()), Some("withdrawn".into())]
        );
    }
}

#[test]
fn other_basis_and_other_source_need_their_notes() {
    let p = ContactPatch { legal_basis: Some(LegalBasis::Other), ..Default::default() };
    assert!(apply(None, &email(), false, &creating(&p), &staff(), now()).is_err());
    let p = ContactPatch { legal_basis_note: Some("works council agreement".into()), ..p };
    assert!(apply(None, &email(), false, &creating(&p), &staff(), now()).is_ok());
    let p = ContactPatch { source_type: Some(SourceType::Other), ..Default::default() };
    assert!(apply(None, &email(), false, &creating(&p), &staff(), now()).is_err());
}

#[test]
fn an_unsubscribed_list_is_not_switched_back_on_without_proof() {
    let mut c = existing(OptInStatus::DoubleOptIn);
    c.lists.insert(list("news"), SubscriptionStatus::Unsubscribed);
    let resub =
        ContactPatch { subscribe: vec![(list("news"), Some(SubscriptionStatus::Confirmed))], ..Default::default() };
    for who in [import(), staff()] {
        let out = apply(Some(&c), &email(), false, &resub, &who, now()).unwrap();
        assert_eq!(out.contact.lists[&list("news")], SubscriptionStatus::Unsubscribed);
        assert_eq!(out.protected.len(), 1);
    }
    let out = apply(Some(&c), &email(), false, &resub, &staff_with_proof(), now()).unwrap();
    assert_eq!(out.contact.lists[&list("news")], SubscriptionStatus::Confirmed);
}

#[test]
fn a_withdrawn_purpose_is_not_regranted_without_proof() {
    let mut c = existing(OptInStatus::DoubleOptIn);
    c.purposes.insert(purpose("tracking"), PurposeConsent { state: ConsentState::Withdrawn, at: now() });
    let grant = ContactPatch { grant: vec![purpose("tracking")], ..Default::default() };
    let out = apply(Some(&c), &email(), false, &grant, &import(), now()).unwrap();
    assert!(!out.contact.granted(&purpose("tracking")));
    assert_eq!(out.protected.len(), 1);
    let out = apply(Some(&c), &email(), false, &grant, &staff_with_proof(), now()).unwrap();
    assert!(out.contact.granted(&purpose("tracking")));
}

#[test]
fn bare_list_names_follow_the_opt_in_and_never_downgrade() {
    let p = ContactPatch {
        opt_in: Some(OptInStatus::DoubleOptIn),
        subscribe: vec![(list("a"), None)],
        ..Default::default()
    };
    let out = apply(None, &email(), false, &creating(&p), &import(), now()).unwrap();
    assert_eq!(out.contact.lists[&list("a")], SubscriptionStatus::Confirmed);
    let p = ContactPatch { subscribe: vec![(list("a"), None), (list("b"), None)], ..Default::default() };
    let out = apply(Some(&out.contact), &email(), false, &p, &import(), now()).unwrap();
    assert_eq!(out.contact.lists[&list("a")], SubscriptionStatus::Confirmed);
    let mut single = existing(OptInStatus::SingleOptInUser);
    single.lists.clear();
    let out2 = apply(Some(&single), &email(), false, &p, &import(), now()).unwrap();
    assert_eq!(out2.contact.lists[&list("b")], SubscriptionStatus::Unconfirmed);
}

#[test]
fn restricted_and_erased_records_are_locked() {
    for state in [Processing::Restricted, Processing::ErasureRequested, Processing::Erased] {
        let mut c = existing(OptInStatus::DoubleOptIn);
        c.processing = state;
        let err =
            apply(Some(&c), &email(), false, &patch_opt_in(OptInStatus::None), &staff_with_proof(), now()).unwrap_err();
        assert_eq!(err, Refusal::Locked(state));
    }
}

#[test]
fn the_same_data_again_changes_nothing_and_logs_nothing() {
    let p = ContactPatch {
        opt_in: Some(OptInStatus::DoubleOptIn),
        subscribe: vec![(list("a"), None)],
        grant: vec![purpose("newsletter")],
        ..Default::default()
    };
    let first = apply(None, &email(), false, &creating(&p), &import(), now()).unwrap();
    assert_eq!(first.kind, OutcomeKind::Created);
    let event = first.event.as_ref().unwrap();
    assert_eq!(event.action, "created");
    assert_eq!(event.changes["list.a"], [None, Some("confirmed".into())]);
    let mut stored = first.contact.clone();
    stored.id = Some(crate::domain::ContactId::new(9));
    let later = now() + chrono::Duration::days(1);
    let again = apply(Some(&stored), &email(), false, &p, &import(), later).unwrap();
    assert_eq!(again.kind, OutcomeKind::Unchanged);
    assert!(again.event.is_none());
    assert_eq!(again.contact.updated_at, stored.updated_at);
}

#[test]
fn identity_changes_update_the_record_but_are_not_ledgered() {
    let c = existing(OptInStatus::DoubleOptIn);
    let mut p = ContactPatch::default();
    p.identity.first_name = Some("Ann".into());
    let out = apply(Some(&c), &email(), false, &p, &staff(), now()).unwrap();
    assert_eq!(out.kind, OutcomeKind::Updated);
    assert!(out.event.is_none());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_opt_in() -> impl Strategy<Value = OptInStatus> {
        proptest::sample::select(OptInStatus::ALL.to_vec())
    }

    fn any_status() -> impl Strategy<Value = Option<SubscriptionStatus>> {
        proptest::option::of(proptest::sample::select(SubscriptionStatus::ALL.to_vec()))
    }

    fn any_authority() -> impl Strategy<Value = Authority> {
        prop_oneof![Just(import()), Just(staff()), Just(staff_with_proof()), Just(Authority::new(Actor::Contact))]
    }

    prop_compose! {
        fn any_patch()(opt_in in proptest::option::of(any_opt_in()), sub in any_status(), grant in any::<bool>(), withdraw in any::<bool>()) -> ContactPatch {
            ContactPatch {
                opt_in,
                subscribe: vec![(list("news"), sub)],
                grant: if grant { vec![purpose("tracking")] } else { vec![] },
                withdraw: if withdraw { vec![purpose("newsletter")] } else { vec![] },
                ..Default::default()
            }
        }
    }

    proptest! {
        /// Whatever staff or import ask, with or without proof, a person's own opt-out,
        /// and without proof an unsubscription or a withdrawal, stay as they are; and
        /// a withdrawal asked for always takes effect.
        #[test]
        fn no_patch_lifts_a_protected_choice(patch in any_patch(), who in any_authority(), start in any_opt_in()) {
            let mut c = existing(start);
            c.lists.insert(list("news"), SubscriptionStatus::Unsubscribed);
            c.purposes.insert(purpose("tracking"), PurposeConsent { state: ConsentState::Withdrawn, at: now() });
            let out = apply(Some(&c), &email(), false, &patch, &who, now()).unwrap();
            let proof = who.proof.is_some() && matches!(who.actor, Actor::Cli(_));
            if start == OptInStatus::OptedOutContact {
                prop_assert_eq!(out.contact.opt_in, OptInStatus::OptedOutContact);
            }
            if start == OptInStatus::OptedOutUser && !proof {
                prop_assert!(out.contact.opt_in.is_opted_out());
            }
            if !proof {
                prop_assert_eq!(out.contact.lists[&list("news")], SubscriptionStatus::Unsubscribed);
                prop_assert!(!out.contact.granted(&purpose("tracking")));
            }
            if !patch.withdraw.is_empty() {
                prop_assert!(!out.contact.granted(&purpose("newsletter")));
            }
            prop_assert_eq!(out.event.is_some(), !consent_changes(Some(&c), &out.contact).is_empty());
        }
    }
}

#[test]
fn control_characters_in_any_stored_text_refuse_the_change_whoever_asks() {
    let named = |f: fn(&mut ContactPatch)| {
        let mut p = ContactPatch::default();
        f(&mut p);
        p
    };
    let patches = [
        ("first_name", named(|p| p.identity.first_name = Some("Ni\0ck".into()))),
        ("crm_id", named(|p| p.identity.crm_id = Some("7\r\nBcc: x".into()))),
        ("source_note", named(|p| p.source_note = Some("fair\u{1b}".into()))),
        ("attribute 'plan'", named(|p| _ = p.identity.attributes.insert("plan".into(), "pro\0".into()))),
        ("attribute name", named(|p| _ = p.identity.attributes.insert("pl\nan".into(), "pro".into()))),
    ];
    for (field, patch) in patches {
        for who in [staff(), import(), person_confirming()] {
            match apply(None, &email(), false, &creating(&patch), &who, now()) {
                Err(Refusal::Invalid(why)) => assert!(why.contains(field) && why.contains("control"), "{why}"),
                other => panic!("{field} by {}: {other:?}", who.actor),
            }
        }
    }
    let tab = named(|p| p.identity.company = Some("Smith\tJones".into()));
    assert!(apply(None, &email(), false, &creating(&tab), &staff(), now()).is_ok(), "tab is ordinary text");
}

/// Issue 19: an unsubscribe from a message leaves the lists it was sent for, never a
/// purpose, and never touches a list the message was not sent for.
#[test]
fn an_unsubscribe_from_a_message_leaves_its_lists_and_nothing_more() {
    use SubscriptionStatus::{Confirmed, Unconfirmed, Unsubscribed};
    #[allow(clippy::type_complexity)]
    let cases: [(&str, &[(&str, SubscriptionStatus)], &[&str], &[(&str, SubscriptionStatus)]); 5] = [
        (
            "a vip campaign leaves vip only",
            &[("vip", Confirmed), ("news", Confirmed)],
            &["vip"],
            &[("vip", Unsubscribed), ("news", Confirmed)],
        ),
        (
            "every campaign list the person was on",
            &[("vip", Confirmed), ("news", Unconfirmed)],
            &["vip", "news"],
            &[("vip", Unsubscribed), ("news", Unsubscribed)],
        ),
        (
            "a campaign list the person was never on stays absent",
            &[("news", Confirmed)],
            &["vip", "news"],
            &[("news", Unsubscribed)],
        ),
        ("already out: nothing to do", &[("vip", Unsubscribed)], &["vip"], &[("vip", Unsubscribed)]),
        ("a campaign with no lists changes no list", &[("vip", Confirmed)], &[], &[("vip", Confirmed)]),
    ];
    for (case, before, campaign, after) in cases {
        let mut c = existing(OptInStatus::DoubleOptIn);
        for (l, s) in before {
            c.lists.insert(list(l), *s);
        }
        c.purposes.insert(purpose("newsletter"), PurposeConsent { state: ConsentState::Granted, at: now() });
        let lists: Vec<ListName> = campaign.iter().map(|l| list(l)).collect();
        let patch = unsubscribe_from_message(&c, &lists);
        assert!(patch.withdraw.is_empty() && patch.opt_in.is_none(), "{case}: only lists change");
        let out = apply(Some(&c), &email(), false, &patch, &Authority::new(Actor::Contact), now()).unwrap();
        let want: BTreeMap<ListName, SubscriptionStatus> = after.iter().map(|(l, s)| (list(l), *s)).collect();
        assert_eq!(out.contact.lists, want, "{case}");
        assert!(out.contact.granted(&purpose("newsletter")), "{case}: the purpose stays granted");
        assert_eq!(out.contact.opt_in, OptInStatus::DoubleOptIn, "{case}");
    }
}

#[test]
fn unsubscribing_from_everything_is_the_persons_own_opt_out() {
    for start in [OptInStatus::DoubleOptIn, OptInStatus::SingleOptInUser, OptInStatus::OptedOutUser] {
        let out = apply(
            Some(&existing(start)),
            &email(),
            false,
            &unsubscribe_from_everything(),
            &Authority::new(Actor::Contact),
            now(),
        )
        .unwrap();
        assert_eq!(out.contact.opt_in, OptInStatus::OptedOutContact, "from {start}");
    }
}
