//! The contact-change service (issue 18.1): each authority against each protected choice,
//! the three modes, and withdrawal by token, on both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Authority, ContactPatch, OutcomeKind, ProcessingChange, Refusal, Target};
use herald::contacts::change::{ChangeReport, Mode, Request, Selector, change, change_batch};
use herald::contacts::suppression;
use herald::contacts::token::{LinkKind, LinkToken};
use herald::contacts::withdraw::{Withdrawal, withdraw_by_token};
use herald::domain::{
    Bounce, BounceStatus, CampaignState, ConsentState, EmailAddress, LegalBasis, ListName, OptInStatus, Processing,
    Purpose, SourceType, SubscriptionStatus,
};
use herald::error::Error;
use herald::store::NewCampaign;

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn staff() -> Authority {
    Authority::staff("tester", None)
}

fn staff_with_proof() -> Authority {
    Authority::staff("tester", Some("they asked by phone, ticket 12".into()))
}

fn import() -> Authority {
    Authority::import("contacts.csv")
}

fn opt_in(s: OptInStatus) -> ContactPatch {
    ContactPatch { opt_in: Some(s), target: Target::Any, ..Default::default() }
}

fn processing(p: ProcessingChange) -> ContactPatch {
    ContactPatch { processing: Some(p), ..Default::default() }
}

fn company(name: &str) -> ContactPatch {
    ContactPatch {
        identity: herald::consent::IdentityPatch { company: Some(name.into()), ..Default::default() },
        ..Default::default()
    }
}

async fn one(
    t: &TestDb,
    who: &str,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<(OutcomeKind, Vec<String>), Refusal> {
    let report = change(&t.app, &Selector::Email(email(who)), patch, authority, Mode::EachOnItsOwn).await.unwrap();
    only(report)
}

fn only(report: ChangeReport) -> Result<(OutcomeKind, Vec<String>), Refusal> {
    assert_eq!(report.changes.len(), 1);
    report.changes.into_iter().next().unwrap().result.map(|d| (d.kind, d.protected))
}

async fn seed(t: &TestDb, who: &str, patch: ContactPatch) {
    let patch = ContactPatch { target: Target::New, ..patch };
    let (kind, protected) = one(t, who, &patch, &staff()).await.expect("seeded");
    assert_eq!((kind, protected.len()), (OutcomeKind::Created, 0));
}

on_both_backends! {
    async fn a_persons_own_opt_out_is_lifted_only_by_their_confirmed_opt_in(t) {
        seed(&t, "p@example.com", opt_in(OptInStatus::OptedOutContact)).await;
        let back = opt_in(OptInStatus::DoubleOptIn);
        for (who, authority) in [("staff", staff()), ("staff with proof", staff_with_proof()), ("import", import()), ("unconfirmed person", Authority::contact(false)), ("rule", Authority::system("test"))] {
            let (_, protected) = one(&t, "p@example.com", &back, &authority).await.unwrap();
            assert!(!protected.is_empty(), "{who} may not lift it");
            assert_eq!(t.contact("p@example.com").await.unwrap().opt_in, OptInStatus::OptedOutContact, "{who}");
        }
        let (kind, protected) = one(&t, "p@example.com", &back, &Authority::contact(true)).await.unwrap();
        assert_eq!((kind, protected.len()), (OutcomeKind::Updated, 0));
        assert_eq!(t.contact("p@example.com").await.unwrap().opt_in, OptInStatus::DoubleOptIn);
    }

    async fn a_suppressed_address_comes_back_only_through_the_persons_confirmed_opt_in(t) {
        let system = Authority::system("test").actor;
        suppression::add(&t.app, &email("s@example.com"), "complaint", &system).await.unwrap();
        let create = opt_in(OptInStatus::SingleOptInUser);
        for (who, authority) in [("staff", staff_with_proof()), ("import", import()), ("unconfirmed person", Authority::contact(false))] {
            assert_eq!(one(&t, "s@example.com", &create, &authority).await, Err(Refusal::Suppressed), "{who}");
        }
        assert!(t.contact("s@example.com").await.is_none());
        let (kind, _) = one(&t, "s@example.com", &opt_in(OptInStatus::DoubleOptIn), &Authority::contact(true)).await.unwrap();
        assert_eq!(kind, OutcomeKind::Created);
        let s = email("s@example.com");
        assert!(!t.app.store.is_suppressed(&t.app.mac(&s)).await.unwrap(), "their confirmation lifts the suppression");
        let id = t.contact("s@example.com").await.unwrap().id.unwrap();
        assert!(t.app.store.ledger(id).await.unwrap().iter().any(|e| e.body.contains("unsuppressed")));
        // Taking the address off the list by hand: staff need proof, a rule or an
        // unconfirmed request never does it.
        suppression::add(&t.app, &s, "complaint", &system).await.unwrap();
        assert!(matches!(suppression::remove(&t.app, &s, " ", &staff().actor).await, Err(Error::Invalid(_))));
        assert!(matches!(suppression::remove(&t.app, &s, "the form", &Authority::contact(false).actor).await, Err(Error::Refused(_))));
        assert!(matches!(suppression::remove(&t.app, &s, "rule", &system).await, Err(Error::Refused(_))));
        assert!(t.app.store.is_suppressed(&t.app.mac(&s)).await.unwrap());
        assert!(suppression::remove(&t.app, &s, "ticket 12", &staff().actor).await.unwrap());
    }

    async fn a_confirmed_bounce_is_never_lowered_and_only_rules_settle_bounces(t) {
        seed(&t, "b@example.com", opt_in(OptInStatus::SingleOptInUser)).await;
        let confirmed = ContactPatch { bounce: Some(Bounce { status: BounceStatus::Confirmed, consecutive_hard: 3 }), ..Default::default() };
        let ok = ContactPatch { bounce: Some(Bounce::default()), ..Default::default() };
        for (who, authority) in [("staff", staff_with_proof()), ("import", import()), ("person", Authority::contact(true))] {
            assert!(matches!(one(&t, "b@example.com", &ok, &authority).await, Err(Refusal::NotAllowed(_))), "{who}");
        }
        one(&t, "b@example.com", &confirmed, &Authority::system("bounces")).await.unwrap();
        let (_, protected) = one(&t, "b@example.com", &ok, &Authority::system("bounces")).await.unwrap();
        assert!(!protected.is_empty());
        assert_eq!(t.contact("b@example.com").await.unwrap().bounce.status, BounceStatus::Confirmed);
        let ledger = t.app.store.ledger(t.contact("b@example.com").await.unwrap().id.unwrap()).await.unwrap();
        assert!(ledger.iter().any(|e| e.body.contains("\"bounce\"") && e.body.contains("bounce_status")), "ledgered as a bounce");
    }

    async fn an_import_never_regrants_a_withdrawn_purpose(t) {
        let newsletter = Purpose::parse("newsletter").unwrap();
        let consent = ContactPatch {
            legal_basis: Some(LegalBasis::Consent),
            consent_date: Some(chrono::Utc::now()),
            grant: vec![newsletter.clone()],
            ..opt_in(OptInStatus::SingleOptInUser)
        };
        seed(&t, "w@example.com", consent).await;
        let withdraw = ContactPatch { withdraw: vec![newsletter.clone()], ..Default::default() };
        one(&t, "w@example.com", &withdraw, &Authority::contact(false)).await.unwrap();
        let grant = ContactPatch { grant: vec![newsletter.clone()], target: Target::Any, ..Default::default() };
        let (_, protected) = one(&t, "w@example.com", &grant, &import()).await.unwrap();
        assert!(!protected.is_empty());
        let c = t.contact("w@example.com").await.unwrap();
        assert_eq!(c.purposes[&newsletter].state, ConsentState::Withdrawn);
    }

    async fn a_restricted_record_refuses_edits_until_staff_lift_the_restriction(t) {
        seed(&t, "r@example.com", opt_in(OptInStatus::SingleOptInUser)).await;
        for (who, authority) in [("import", import()), ("person", Authority::contact(true))] {
            assert!(matches!(one(&t, "r@example.com", &processing(ProcessingChange::Restrict), &authority).await, Err(Refusal::NotAllowed(_))), "{who}");
        }
        one(&t, "r@example.com", &processing(ProcessingChange::Restrict), &staff()).await.unwrap();
        assert_eq!(t.contact("r@example.com").await.unwrap().processing, Processing::Restricted);
        for (who, authority) in [("staff", staff_with_proof()), ("import", import()), ("person", Authority::contact(true)), ("rule", Authority::system("test"))] {
            assert_eq!(one(&t, "r@example.com", &company("Acme"), &authority).await, Err(Refusal::Locked(Processing::Restricted)), "{who}");
        }
        // Restricting and editing at once is refused too: the record would be locked.
        let both = ContactPatch { processing: Some(ProcessingChange::Restrict), ..company("Acme") };
        assert!(one(&t, "r@example.com", &both, &staff()).await.is_err());
        assert!(matches!(one(&t, "r@example.com", &processing(ProcessingChange::Unrestrict), &Authority::contact(true)).await, Err(Refusal::NotAllowed(_))));
        let lift = ContactPatch { processing: Some(ProcessingChange::Unrestrict), ..company("Acme") };
        one(&t, "r@example.com", &lift, &staff()).await.unwrap();
        let c = t.contact("r@example.com").await.unwrap();
        assert_eq!((c.processing, c.identity.company.as_deref()), (Processing::Active, Some("Acme")));
        let ledger = t.app.store.ledger(c.id.unwrap()).await.unwrap();
        assert_eq!(ledger.iter().filter(|e| e.body.contains("restricted")).count(), 2, "restriction and lift are ledgered");
    }

    async fn an_erased_record_refuses_everything(t) {
        seed(&t, "e@example.com", opt_in(OptInStatus::SingleOptInUser)).await;
        assert!(matches!(one(&t, "e@example.com", &processing(ProcessingChange::Erase), &Authority::contact(true)).await, Err(Refusal::NotAllowed(_))));
        one(&t, "e@example.com", &processing(ProcessingChange::RequestErasure), &Authority::contact(false)).await.unwrap();
        one(&t, "e@example.com", &processing(ProcessingChange::Erase), &Authority::system("retention")).await.unwrap();
        let bounce = ContactPatch { bounce: Some(Bounce { status: BounceStatus::Hard, consecutive_hard: 1 }), ..Default::default() };
        let attempts = [
            ("unrestrict", processing(ProcessingChange::Unrestrict), staff_with_proof()),
            ("erase again", processing(ProcessingChange::Erase), staff()),
            ("edit", company("Acme"), staff_with_proof()),
            ("bounce", bounce, Authority::system("bounces")),
            ("opt in", opt_in(OptInStatus::DoubleOptIn), Authority::contact(true)),
            ("import", opt_in(OptInStatus::SingleOptInUser), import()),
        ];
        for (what, patch, authority) in attempts {
            assert_eq!(one(&t, "e@example.com", &patch, &authority).await, Err(Refusal::Locked(Processing::Erased)), "{what}");
        }
    }

    async fn all_or_nothing_writes_nothing_each_on_its_own_writes_the_rest_and_a_dry_run_nothing(t) {
        let list = ListName::parse("offers").unwrap();
        let on_list = |s| ContactPatch { subscribe: vec![(list.clone(), Some(s))], ..opt_in(OptInStatus::SingleOptInUser) };
        seed(&t, "a@example.com", on_list(SubscriptionStatus::Unconfirmed)).await;
        seed(&t, "b@example.com", on_list(SubscriptionStatus::Unconfirmed)).await;
        one(&t, "b@example.com", &processing(ProcessingChange::Restrict), &staff()).await.unwrap();
        let selector = Selector::List(list.clone());
        let patch = company("Acme");

        let report = change(&t.app, &selector, &patch, &staff(), Mode::AllOrNothing).await.unwrap();
        assert!(!report.written);
        assert_eq!(t.contact("a@example.com").await.unwrap().identity.company, None);

        let report = change(&t.app, &selector, &patch, &staff(), Mode::DryRun).await.unwrap();
        assert!(!report.written);
        assert_eq!(report.changes.iter().filter(|c| c.result.is_ok()).count(), 1);
        assert_eq!(t.contact("a@example.com").await.unwrap().identity.company, None);

        let report = change(&t.app, &selector, &patch, &staff(), Mode::EachOnItsOwn).await.unwrap();
        assert!(report.written);
        assert_eq!(report.notes().count(), 1, "the restricted one is reported: {:?}", report.notes().collect::<Vec<_>>());
        assert_eq!(t.contact("a@example.com").await.unwrap().identity.company.as_deref(), Some("Acme"));
        assert_eq!(t.contact("b@example.com").await.unwrap().identity.company, None);
    }

    async fn an_all_or_nothing_change_of_more_than_one_transaction_is_refused_unwritten(t) {
        let big = ListName::parse("big").unwrap();
        let join = ContactPatch { subscribe: vec![(big.clone(), None)], ..opt_in(OptInStatus::SingleOptInUser) };
        let requests: Vec<Request> = (0..501)
            .map(|i| Request { email: email(&format!("c{i}@example.com")), patch: join.clone(), authority: import() })
            .collect();
        change_batch(&t.app, &requests, Mode::EachOnItsOwn).await.unwrap();
        let err = change(&t.app, &Selector::List(big.clone()), &company("Acme"), &staff(), Mode::AllOrNothing).await;
        assert!(matches!(err, Err(Error::Invalid(_))), "{err:?}");
        assert_eq!(t.contact("c0@example.com").await.unwrap().identity.company, None, "nothing written");
        let each = change(&t.app, &Selector::List(big), &company("Acme"), &staff(), Mode::EachOnItsOwn).await.unwrap();
        assert_eq!(each.changes.len(), 501);
    }

    async fn a_contact_is_selected_by_id_or_by_source_and_an_unknown_id_is_not_found(t) {
        seed(&t, "i@example.com", opt_in(OptInStatus::SingleOptInUser)).await;
        let id = t.contact("i@example.com").await.unwrap().id.unwrap();
        let report = change(&t.app, &Selector::Id(id), &company("ById"), &staff(), Mode::AllOrNothing).await.unwrap();
        assert_eq!(report.changes[0].id, Some(id));
        assert_eq!(t.contact("i@example.com").await.unwrap().identity.company.as_deref(), Some("ById"));
        let report = change(&t.app, &Selector::Id(herald::domain::ContactId::new(id.get() + 1000)), &company("X"), &staff(), Mode::AllOrNothing).await.unwrap();
        assert!(matches!(only(report), Err(Refusal::NotFound)));
        let report = change(&t.app, &Selector::Source(SourceType::Manual), &company("BySource"), &staff(), Mode::EachOnItsOwn).await.unwrap();
        assert_eq!(report.changes.len(), 1);
        assert_eq!(t.contact("i@example.com").await.unwrap().identity.company.as_deref(), Some("BySource"));
    }

    async fn a_batch_names_new_contacts_by_their_ids_and_repeats_build_on_each_other(t) {
        let req = |who: &str, patch: ContactPatch| Request { email: email(who), patch, authority: import() };
        let requests = [
            req("n@example.com", opt_in(OptInStatus::SingleOptInUser)),
            req("m@example.com", opt_in(OptInStatus::SingleOptInUser)),
            req("N@example.com", ContactPatch { target: Target::Any, ..company("Later") }),
        ];
        let report = change_batch(&t.app, &requests, Mode::EachOnItsOwn).await.unwrap();
        let n = t.contact("n@example.com").await.unwrap();
        assert_eq!(n.identity.company.as_deref(), Some("Later"));
        assert_eq!(report.changes[0].id, n.id);
        assert_eq!(report.changes[2].id, n.id);
        assert_eq!(report.changes[1].id, t.contact("m@example.com").await.unwrap().id);
        assert_ne!(report.changes[0].id, report.changes[1].id);
    }

    async fn withdrawal_by_token_leaves_the_stored_campaigns_lists_even_when_expired(t) {
        let (news, offers) = (ListName::parse("newsletter").unwrap(), ListName::parse("offers").unwrap());
        let lists = ContactPatch {
            subscribe: vec![(news.clone(), Some(SubscriptionStatus::Unconfirmed)), (offers.clone(), Some(SubscriptionStatus::Unconfirmed))],
            ..opt_in(OptInStatus::SingleOptInUser)
        };
        seed(&t, "t@example.com", lists).await;
        let id = t.contact("t@example.com").await.unwrap().id.unwrap();
        let content = "name = \"spring\"\nsubject = \"Hi\"\ntemplate = \"spring\"\nlists = [\"offers\"]\n";
        let campaign = NewCampaign {
            name: "spring".into(),
            kind: "marketing".into(),
            file_path: "campaigns/spring.toml".into(),
            content: content.into(),
            content_hash: "h".into(),
            state: CampaignState::Completed,
            send_at: None,
        };
        t.app.store.create_campaign(&campaign, chrono::Utc::now()).await.unwrap();
        let expired = LinkToken { kind: LinkKind::Message, contact_id: id, campaign: "spring".into(), purpose: None, expires: chrono::Utc::now() - chrono::Duration::days(400), test: false };
        let signed = expired.sign(LINK_KEY.as_bytes());
        let done = withdraw_by_token(&t.app, &signed, &Authority::contact(false)).await.unwrap();
        assert_eq!(done, Withdrawal::Done { contact_id: id, campaign: "spring".into(), changed: true });
        let c = t.contact("t@example.com").await.unwrap();
        assert_eq!(c.lists[&offers], SubscriptionStatus::Unsubscribed, "the campaign's list is left");
        assert_eq!(c.lists[&news], SubscriptionStatus::Unconfirmed, "no other list is");
        let again = withdraw_by_token(&t.app, &signed, &Authority::contact(false)).await.unwrap();
        assert_eq!(again, Withdrawal::Done { contact_id: id, campaign: "spring".into(), changed: false });
        let forged = expired.sign(b"not-the-link-key-0123456789abcdef0123");
        assert_eq!(withdraw_by_token(&t.app, &forged, &Authority::contact(false)).await.unwrap(), Withdrawal::NotVerified);
    }

    async fn a_test_sends_link_and_mailto_change_nothing(t) {
        let (news, offers) = (ListName::parse("newsletter").unwrap(), ListName::parse("offers").unwrap());
        let lists = ContactPatch {
            subscribe: vec![(news.clone(), Some(SubscriptionStatus::Unconfirmed)), (offers.clone(), Some(SubscriptionStatus::Unconfirmed))],
            ..opt_in(OptInStatus::SingleOptInUser)
        };
        seed(&t, "t@example.com", lists).await;
        let id = t.contact("t@example.com").await.unwrap().id.unwrap();
        let content = "name = \"spring\"\nsubject = \"Hi\"\ntemplate = \"spring\"\nlists = [\"offers\"]\n";
        let campaign = NewCampaign {
            name: "spring".into(),
            kind: "marketing".into(),
            file_path: "campaigns/spring.toml".into(),
            content: content.into(),
            content_hash: "h".into(),
            state: CampaignState::Completed,
            send_at: None,
        };
        t.app.store.create_campaign(&campaign, chrono::Utc::now()).await.unwrap();
        let before = t.contact("t@example.com").await.unwrap();
        let ledger = t.app.store.ledger(id).await.unwrap().len();
        let test = LinkToken { kind: LinkKind::Message, contact_id: id, campaign: "spring".into(), purpose: None, expires: chrono::Utc::now() + chrono::Duration::days(30), test: true };
        let signed = test.sign(LINK_KEY.as_bytes());
        let done = withdraw_by_token(&t.app, &signed, &Authority::contact(false)).await.unwrap();
        assert_eq!(done, Withdrawal::TestLink { contact_id: id, campaign: "spring".into() });
        // The mailto of the test message's List-Unsubscribe: recorded, nothing changed
        // (not even by its sender, who is the contact here).
        let mail = b"From: t@example.com\r\nTo: unsubscribe@bounces.acme.example\r\nSubject: unsubscribe\r\n\r\n";
        let by_mail = herald::feedback::unsubscribe::by_mail(&t.app, &signed, "t@example.com", mail).await.unwrap();
        assert_eq!(by_mail, herald::feedback::unsubscribe::Unsubscribed::TestLink);
        let after = t.contact("t@example.com").await.unwrap();
        assert_eq!((after.lists, after.opt_in), (before.lists, before.opt_in));
        assert_eq!(t.app.store.ledger(id).await.unwrap().len(), ledger, "no ledger event");
        // The same link as a real one does unsubscribe (the test above can fail).
        let real = LinkToken { test: false, ..test }.sign(LINK_KEY.as_bytes());
        let done = withdraw_by_token(&t.app, &real, &Authority::contact(false)).await.unwrap();
        assert_eq!(done, Withdrawal::Done { contact_id: id, campaign: "spring".into(), changed: true });
    }
}
