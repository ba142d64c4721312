//! The rules of DESIGN §2 hold through every path, on both backends (issue #2).

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Actor, Authority, ContactPatch};
use herald::contacts::edit::{self, BulkSelection};
use herald::contacts::suppression;
use herald::domain::{EmailAddress, LegalBasis, ListName, OptInStatus, Purpose, SourceType, SubscriptionStatus};
use herald::error::Error;
use herald::store::Selection;

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn staff() -> Authority {
    Authority::new(Actor::Cli("tester".into()))
}

fn opt_in(s: OptInStatus) -> ContactPatch {
    ContactPatch { opt_in: Some(s), ..Default::default() }
}

on_both_backends! {
    async fn staff_cannot_lift_a_persons_own_opt_out_even_with_proof(t) {
        edit::add(&t.app, &email("p@example.com"), &opt_in(OptInStatus::OptedOutContact), &staff()).await.unwrap();
        let err = edit::set(&t.app, &email("p@example.com"), &opt_in(OptInStatus::DoubleOptIn), &staff().with_proof(Some("they called".into()))).await.unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert_eq!(t.contact("p@example.com").await.unwrap().opt_in, OptInStatus::OptedOutContact);
    }

    async fn a_staff_recorded_opt_out_is_lifted_only_with_proof(t) {
        edit::add(&t.app, &email("s@example.com"), &opt_in(OptInStatus::OptedOutUser), &staff()).await.unwrap();
        let err = edit::set(&t.app, &email("s@example.com"), &opt_in(OptInStatus::SingleOptInUser), &staff()).await.unwrap_err();
        assert!(matches!(err, Error::Refused(_)));
        assert_eq!(t.contact("s@example.com").await.unwrap().opt_in, OptInStatus::OptedOutUser);
        edit::set(&t.app, &email("s@example.com"), &opt_in(OptInStatus::SingleOptInUser), &staff().with_proof(Some("ticket 7".into()))).await.unwrap();
        let c = t.contact("s@example.com").await.unwrap();
        assert_eq!(c.opt_in, OptInStatus::SingleOptInUser);
        let entries = t.app.store.ledger(c.id.unwrap()).await.unwrap();
        assert_eq!(entries.last().unwrap().event().unwrap().evidence["proof"], "ticket 7", "the proof is logged");
    }

    async fn manual_creation_never_resurrects_a_suppressed_address(t) {
        let actor = Actor::Cli("tester".into());
        suppression::add(&t.app, &email("gone@example.com"), "complaint", &actor).await.unwrap();
        let err = edit::add(&t.app, &email("Gone@Example.com"), &opt_in(OptInStatus::DoubleOptIn), &staff().with_proof(Some("x".into()))).await.unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(t.contact("gone@example.com").await.is_none());
    }

    async fn suppression_survives_and_is_ledgered_and_removal_needs_proof(t) {
        let actor = Actor::Cli("tester".into());
        edit::add(&t.app, &email("x@example.com"), &opt_in(OptInStatus::DoubleOptIn), &staff()).await.unwrap();
        assert!(suppression::add(&t.app, &email("x@example.com"), "bounce", &actor).await.unwrap());
        assert!(!suppression::add(&t.app, &email("X@example.com"), "bounce", &actor).await.unwrap(), "already there");
        assert!(suppression::remove(&t.app, &email("x@example.com"), "  ", &actor).await.is_err());
        assert!(t.app.store.is_suppressed(&t.app.mac(&email("x@example.com"))).await.unwrap());
        assert!(suppression::remove(&t.app, &email("x@example.com"), "asked by phone, ticket 9", &actor).await.unwrap());
        let c = t.contact("x@example.com").await.unwrap();
        let bodies: Vec<String> = t.app.store.ledger(c.id.unwrap()).await.unwrap().iter().map(|e| serde_json::to_string(&e.event().unwrap()).unwrap()).collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies[1].contains("\"suppressed\":[\"false\",\"true\"]"));
        assert!(bodies[2].contains("ticket 9"));
        let list = suppression::list(&t.app).await.unwrap();
        assert!(list.is_empty());
    }

    async fn consent_basis_needs_date_and_purpose_and_other_needs_its_note(t) {
        let consent = ContactPatch { legal_basis: Some(LegalBasis::Consent), grant: vec![Purpose::parse("newsletter").unwrap()], ..Default::default() };
        assert!(matches!(edit::add(&t.app, &email("c@example.com"), &consent, &staff()).await, Err(Error::Invalid(_))));
        let other = ContactPatch { legal_basis: Some(LegalBasis::Other), ..Default::default() };
        assert!(matches!(edit::add(&t.app, &email("c@example.com"), &other, &staff()).await, Err(Error::Invalid(_))));
        assert!(t.contact("c@example.com").await.is_none(), "nothing written");
    }

    async fn an_unsubscribed_list_is_not_switched_back_on_by_staff_without_proof(t) {
        let news = ListName::parse("newsletter").unwrap();
        let sub = |s| ContactPatch { subscribe: vec![(news.clone(), Some(s))], ..Default::default() };
        edit::add(&t.app, &email("u@example.com"), &sub(SubscriptionStatus::Unsubscribed), &staff()).await.unwrap();
        assert!(edit::set(&t.app, &email("u@example.com"), &sub(SubscriptionStatus::Unconfirmed), &staff()).await.is_err());
        assert_eq!(t.contact("u@example.com").await.unwrap().lists[&news], SubscriptionStatus::Unsubscribed);
        edit::set(&t.app, &email("u@example.com"), &sub(SubscriptionStatus::Unconfirmed), &staff().with_proof(Some("form".into()))).await.unwrap();
        assert_eq!(t.contact("u@example.com").await.unwrap().lists[&news], SubscriptionStatus::Unconfirmed);
    }

    async fn bulk_set_applies_to_the_selection_and_keeps_protected_choices(t) {
        for (e, s) in [("a@example.com", OptInStatus::SingleOptInUser), ("b@example.com", OptInStatus::OptedOutContact), ("c@example.com", OptInStatus::None)] {
            edit::add(&t.app, &email(e), &opt_in(s), &staff()).await.unwrap();
        }
        let patch = ContactPatch { opt_in: Some(OptInStatus::DoubleOptIn), legal_basis: Some(LegalBasis::LegitimateInterest), ..Default::default() };
        let report = edit::bulk_set(&t.app, &BulkSelection::Store(Selection::Source(SourceType::Manual)), &patch, &staff()).await.unwrap();
        assert_eq!((report.matched, report.updated, report.protected), (3, 2, 1));
        assert_eq!(t.contact("a@example.com").await.unwrap().opt_in, OptInStatus::DoubleOptIn);
        let b = t.contact("b@example.com").await.unwrap();
        assert_eq!(b.opt_in, OptInStatus::OptedOutContact);
        assert_eq!(b.legal_basis, None, "no basis is granted over a person's own opt-out (issue 19.3)");
        let again = edit::bulk_set(&t.app, &BulkSelection::Store(Selection::Source(SourceType::Manual)), &patch, &staff()).await.unwrap();
        assert_eq!((again.updated, again.unchanged, again.protected), (0, 2, 1));
    }

    async fn bulk_set_from_an_email_file_with_an_unknown_address_changes_nothing_and_names_it(t) {
        edit::add(&t.app, &email("a@example.com"), &opt_in(OptInStatus::None), &staff()).await.unwrap();
        let file = t.write("emails.txt", "# people who signed the paper form\nA@example.com\n\nnobody@exmaple.com\n");
        let patch = opt_in(OptInStatus::SingleOptInUser);
        let err = edit::bulk_set(&t.app, &BulkSelection::EmailFile(file), &patch, &staff()).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(err.to_string().contains("line 4: nobody@exmaple.com") && err.to_string().contains("emails.txt"), "{err}");
        assert!(t.contact("nobody@exmaple.com").await.is_none(), "never created");
        assert_eq!(t.contact("a@example.com").await.unwrap().opt_in, OptInStatus::None, "nothing changed");
        let file = t.write("known.txt", "A@example.com\n");
        let report = edit::bulk_set(&t.app, &BulkSelection::EmailFile(file), &patch, &staff()).await.unwrap();
        assert_eq!((report.matched, report.updated, report.not_found), (1, 1, 0));
    }

    async fn a_different_suppression_key_is_refused(t) {
        let loaded = herald::config::load(Some(&t.config_path()), &env()).unwrap();
        let other = herald::config::Secrets::new(LINK_KEY.into(), b"another-key-0123456789abcdef0123456789".to_vec(), None);
        let store = herald::store::Store::connect(&t.url).await.unwrap();
        let err = herald::app::App::with_store(&loaded, store, other, std::sync::Arc::new(herald::clock::SystemClock)).await.err().expect("refused");
        assert!(err.to_string().contains("suppression key"), "{err}");
    }
}
