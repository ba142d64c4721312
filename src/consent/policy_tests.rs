use super::*;
use ExclusionReason as R;

fn purpose(n: &str) -> Purpose {
    Purpose::parse(n).unwrap()
}

fn marketing() -> CampaignPolicy {
    CampaignPolicy {
        kind: CampaignKind::Marketing,
        accept: AcceptLevel::DoubleOnly,
        purpose: Some(purpose("newsletter")),
        legitimate_interest_purposes: vec![purpose("product_updates")],
        frequency_cap: Some(FrequencyCap { max: 2, days: 7 }),
        exclude_unengaged: Some(3),
    }
}

/// A contact every rule lets through.
fn eligible() -> Facts {
    Facts {
        processing: Processing::Active,
        bounce: BounceStatus::Ok,
        suppressed: false,
        opt_in: OptInStatus::DoubleOptIn,
        subscriptions: vec![(SubscriptionStatus::Confirmed, true)],
        legal_basis: Some(LegalBasis::Consent),
        purpose: Some(ConsentState::Granted),
        tracking_granted: true,
        recent_marketing: 0,
        recent_delivered: 5,
        recent_engaged: true,
    }
}

#[test]
fn every_reason_excludes_on_its_own() {
    type Tweak = fn(&mut Facts);
    let cases: &[(R, Tweak)] = &[
        (R::Erased, |f| f.processing = Processing::Erased),
        (R::Restricted, |f| f.processing = Processing::Restricted),
        (R::Restricted, |f| f.processing = Processing::ErasureRequested),
        (R::ConfirmedBounce, |f| f.bounce = BounceStatus::Confirmed),
        (R::Suppressed, |f| f.suppressed = true),
        (R::OptedOut, |f| f.opt_in = OptInStatus::OptedOutUser),
        (R::OptedOut, |f| f.opt_in = OptInStatus::OptedOutContact),
        (R::OptInInsufficient, |f| f.opt_in = OptInStatus::SingleOptInUser),
        (R::OptInInsufficient, |f| f.opt_in = OptInStatus::None),
        (R::NotSubscribed, |f| f.subscriptions = vec![(SubscriptionStatus::Unsubscribed, false)]),
        (R::NotSubscribed, |f| f.subscriptions = vec![(SubscriptionStatus::Unconfirmed, true)]),
        (R::NotSubscribed, |f| f.subscriptions.clear()),
        (R::NoLegalBasis, |f| f.purpose = Some(ConsentState::Withdrawn)),
        (R::NoLegalBasis, |f| f.purpose = None),
        (R::NoLegalBasis, |f| f.legal_basis = Some(LegalBasis::Contract)),
        (R::NoLegalBasis, |f| f.legal_basis = Some(LegalBasis::LegitimateInterest)),
        (R::FrequencyCap, |f| f.recent_marketing = 2),
        (R::Unengaged, |f| f.recent_engaged = false),
    ];
    assert_eq!(evaluate(&marketing(), &eligible()), Ok(()));
    for (want, tweak) in cases {
        let mut f = eligible();
        tweak(&mut f);
        assert_eq!(evaluate(&marketing(), &f), Err(*want), "{f:?}");
    }
}

#[test]
fn a_contact_failing_several_rules_is_counted_under_the_first() {
    // Each row: the rules broken, and the reason reported.
    type Tweak = fn(&mut Facts);
    let cases: &[(&str, Tweak, R)] = &[
        (
            "opted out AND suppressed",
            |f| {
                f.opt_in = OptInStatus::OptedOutContact;
                f.suppressed = true;
            },
            R::Suppressed,
        ),
        (
            "erased AND restricted-looking AND suppressed",
            |f| {
                f.processing = Processing::Erased;
                f.suppressed = true;
            },
            R::Erased,
        ),
        (
            "confirmed bounce AND suppressed",
            |f| {
                f.bounce = BounceStatus::Confirmed;
                f.suppressed = true;
            },
            R::ConfirmedBounce,
        ),
        (
            "double opt-in but unsubscribed from the list",
            |f| f.subscriptions = vec![(SubscriptionStatus::Unsubscribed, true)],
            R::NotSubscribed,
        ),
        (
            "single opt-in AND unsubscribed",
            |f| {
                f.opt_in = OptInStatus::SingleOptInUser;
                f.subscriptions.clear();
            },
            R::OptInInsufficient,
        ),
        (
            "purpose withdrawn AND over the cap",
            |f| {
                f.purpose = Some(ConsentState::Withdrawn);
                f.recent_marketing = 9;
            },
            R::NoLegalBasis,
        ),
        (
            "over the cap AND unengaged",
            |f| {
                f.recent_marketing = 9;
                f.recent_engaged = false;
            },
            R::FrequencyCap,
        ),
        (
            "restricted AND opted out",
            |f| {
                f.processing = Processing::Restricted;
                f.opt_in = OptInStatus::OptedOutUser;
            },
            R::Restricted,
        ),
    ];
    for (what, tweak, want) in cases {
        let mut f = eligible();
        tweak(&mut f);
        assert_eq!(evaluate(&marketing(), &f), Err(*want), "{what}");
    }
}

#[test]
fn legitimate_interest_needs_an_allowed_purpose_that_was_not_objected_to() {
    let mut p = marketing();
    p.purpose = Some(purpose("product_updates"));
    let mut f = eligible();
    f.legal_basis = Some(LegalBasis::LegitimateInterest);
    f.purpose = None;
    assert_eq!(evaluate(&p, &f), Ok(()));
    f.purpose = Some(ConsentState::Withdrawn);
    assert_eq!(evaluate(&p, &f), Err(R::NoLegalBasis));
    p.purpose = Some(purpose("partner_offers"));
    f.purpose = None;
    assert_eq!(evaluate(&p, &f), Err(R::NoLegalBasis), "purpose not in the allowed list");
}

#[test]
fn without_a_purpose_opt_in_and_subscription_govern() {
    let mut p = marketing();
    p.purpose = None;
    let mut f = eligible();
    f.legal_basis = Some(LegalBasis::Contract);
    f.purpose = None;
    assert_eq!(evaluate(&p, &f), Ok(()));
}

#[test]
fn transactional_skips_5_to_10_but_never_1_to_4() {
    let p = CampaignPolicy { kind: CampaignKind::Transactional, ..marketing() };
    let mut f = eligible();
    f.opt_in = OptInStatus::OptedOutContact;
    f.subscriptions.clear();
    f.purpose = Some(ConsentState::Withdrawn);
    f.recent_marketing = 99;
    assert_eq!(evaluate(&p, &f), Ok(()), "transactional to an opted-out contact");
    for (tweak, want) in [
        (Facts { processing: Processing::Erased, ..f.clone() }, R::Erased),
        (Facts { processing: Processing::Restricted, ..f.clone() }, R::Restricted),
        (Facts { bounce: BounceStatus::Confirmed, ..f.clone() }, R::ConfirmedBounce),
        (Facts { suppressed: true, ..f.clone() }, R::Suppressed),
    ] {
        assert_eq!(evaluate(&p, &tweak), Err(want));
    }
}

#[test]
fn accept_levels_widen_in_order() {
    let mut f = eligible();
    for (level, ok) in [
        (AcceptLevel::DoubleOnly, [true, false, false]),
        (AcceptLevel::DoubleAndUser, [true, true, false]),
        (AcceptLevel::DoubleUserWebform, [true, true, true]),
    ] {
        let p = CampaignPolicy { accept: level, ..marketing() };
        for (status, want) in [OptInStatus::DoubleOptIn, OptInStatus::SingleOptInUser, OptInStatus::SingleOptInWebform]
            .into_iter()
            .zip(ok)
        {
            f.opt_in = status;
            assert_eq!(evaluate(&p, &f).is_ok(), want, "{level:?} {status}");
        }
    }
}

#[test]
fn unconfirmed_counts_only_on_single_opt_in_lists() {
    let mut f = eligible();
    f.subscriptions = vec![(SubscriptionStatus::Unconfirmed, false)];
    assert_eq!(evaluate(&marketing(), &f), Ok(()));
    f.subscriptions = vec![(SubscriptionStatus::Unconfirmed, true), (SubscriptionStatus::Unsubscribed, false)];
    assert_eq!(evaluate(&marketing(), &f), Err(R::NotSubscribed));
    f.subscriptions.push((SubscriptionStatus::Confirmed, true));
    assert_eq!(evaluate(&marketing(), &f), Ok(()), "one usable list of several is enough");
}

#[test]
fn contacts_without_tracking_consent_are_never_unengaged() {
    let mut f = eligible();
    f.recent_engaged = false;
    f.tracking_granted = false;
    assert_eq!(evaluate(&marketing(), &f), Ok(()));
    f.tracking_granted = true;
    f.recent_delivered = 2;
    assert_eq!(evaluate(&marketing(), &f), Ok(()), "fewer than N delivered: not judged yet");
}

#[test]
fn reconfirm_asks_unconfirmed_people_but_never_the_opted_out() {
    let p = CampaignPolicy { kind: CampaignKind::Reconfirm, ..marketing() };
    let mut f = eligible();
    f.opt_in = OptInStatus::None;
    f.subscriptions = vec![(SubscriptionStatus::Unconfirmed, true)];
    f.purpose = None;
    assert_eq!(evaluate(&p, &f), Ok(()));
    f.opt_in = OptInStatus::OptedOutUser;
    assert_eq!(evaluate(&p, &f), Err(R::OptedOut));
}

#[test]
fn explain_lists_every_rule_with_its_data() {
    let mut f = eligible();
    f.suppressed = true;
    let lines = explain(&marketing(), &f);
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[3].result, "fail");
    assert!(lines[3].looked_at.contains("yes"));
    assert_eq!(lines[5].result, "pass");
}
