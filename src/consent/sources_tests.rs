use super::*;
use crate::consent::policy::{AcceptLevel, CampaignKind, FrequencyCap};
use crate::domain::{BounceStatus, ConsentState, LegalBasis, OptInStatus, Processing, Purpose, SubscriptionStatus};
use ExclusionReason as R;

fn marketing() -> CampaignPolicy {
    CampaignPolicy {
        kind: CampaignKind::Marketing,
        accept: AcceptLevel::DoubleOnly,
        purpose: Some(Purpose::parse("newsletter").unwrap()),
        legitimate_interest_purposes: Vec::new(),
        frequency_cap: Some(FrequencyCap { max: 2, days: 7 }),
        exclude_unengaged: None,
    }
}

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
        recent_delivered: 0,
        recent_engaged: false,
    }
}

type Tweak = fn(&mut Facts);

/// One contact per exclusion reason, each failing that rule alone.
const EVERY_REASON: &[(R, Tweak)] = &[
    (R::Erased, |f| f.processing = Processing::Erased),
    (R::Restricted, |f| f.processing = Processing::Restricted),
    (R::Restricted, |f| f.processing = Processing::ErasureRequested),
    (R::ConfirmedBounce, |f| f.bounce = BounceStatus::Confirmed),
    (R::Suppressed, |f| f.suppressed = true),
    (R::OptedOut, |f| f.opt_in = OptInStatus::OptedOutUser),
    (R::OptInInsufficient, |f| f.opt_in = OptInStatus::SingleOptInWebform),
    (R::NotSubscribed, |f| f.subscriptions.clear()),
    (R::NoLegalBasis, |f| f.purpose = Some(ConsentState::Withdrawn)),
    (R::FrequencyCap, |f| f.recent_marketing = 2),
];

fn with(tweak: Tweak) -> Facts {
    let mut f = eligible();
    tweak(&mut f);
    f
}

#[test]
fn a_campaign_send_obeys_every_rule_of_the_campaign() {
    let p = marketing();
    assert_eq!(check(SourcePolicy::Campaign(&p), &eligible()), Ok(()));
    for (want, tweak) in EVERY_REASON {
        assert_eq!(check(SourcePolicy::Campaign(&p), &with(*tweak)), Err(*want));
    }
}

#[test]
fn a_test_send_obeys_no_rule() {
    for (_, tweak) in EVERY_REASON {
        assert_eq!(check(SourcePolicy::Test, &with(*tweak)), Ok(()));
    }
}

#[test]
fn a_confirmation_never_goes_to_erased_restricted_or_bounced_contacts_and_nothing_else_stops_it() {
    for (reason, tweak) in EVERY_REASON {
        let got = check(SourcePolicy::Confirmation, &with(*tweak));
        match reason {
            R::Erased | R::Restricted | R::ConfirmedBounce => assert_eq!(got, Err(*reason)),
            // Suppressed or opted out: confirming is how the person comes back.
            _ => assert_eq!(got, Ok(()), "{reason}"),
        }
    }
    // The first of the three in order.
    let mut f = with(|f| f.bounce = BounceStatus::Confirmed);
    f.processing = Processing::Erased;
    assert_eq!(confirmation(&f), Err(R::Erased));
}

#[test]
fn a_flow_step_obeys_the_rules_of_its_kind_and_purpose() {
    let p = marketing();
    for (want, tweak) in EVERY_REASON {
        assert_eq!(check(SourcePolicy::Flow(&p), &with(*tweak)), Err(*want));
    }
    // A transactional flow: rules 1-4 only.
    let t = CampaignPolicy { kind: CampaignKind::Transactional, ..marketing() };
    assert_eq!(check(SourcePolicy::Flow(&t), &with(|f| f.opt_in = OptInStatus::OptedOutUser)), Ok(()));
    assert_eq!(check(SourcePolicy::Flow(&t), &with(|f| f.suppressed = true)), Err(R::Suppressed));
}

#[test]
fn each_policy_names_its_source() {
    let p = marketing();
    let names: Vec<_> =
        [SourcePolicy::Campaign(&p), SourcePolicy::Test, SourcePolicy::Confirmation, SourcePolicy::Flow(&p)]
            .iter()
            .map(|s| s.source())
            .collect();
    assert_eq!(names, crate::domain::Source::ALL);
}

#[test]
fn confirmations_stop_at_the_daily_limit() {
    assert!(confirmation_allowed(0, 3));
    assert!(confirmation_allowed(2, 3));
    assert!(!confirmation_allowed(3, 3));
    assert!(!confirmation_allowed(9, 3));
    assert!(!confirmation_allowed(0, 0));
}
