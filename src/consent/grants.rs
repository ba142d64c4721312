//! How the granting part of a request (legal basis, consent date, purposes, list
//! subscriptions) is carried out, and how far: consent changes only as far as the person
//! asked (issue 19, points 2 and 3). Withdrawals are never held back here.

use super::authority::Authority;
use super::rules::ContactPatch;
use crate::domain::{ConsentState, Contact, ListName, OptInStatus, PurposeConsent, SubscriptionStatus};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// Why nobody but the person (or staff with proof) may grant anything to this contact, if
/// the person opted out: an opt-out ends consent, and a grant from an import or a
/// marketer's command would give some of it back behind the person's back.
fn grants_barred(before: Option<&Contact>, authority: &Authority) -> Option<&'static str> {
    match before.map(|c| c.opt_in)? {
        OptInStatus::OptedOutContact if !authority.is_the_person() => {
            Some("the person opted out themself, and only their own confirmed double opt-in can grant anything again")
        }
        OptInStatus::OptedOutUser if !authority.may_lift_staff_recorded_choice() => {
            Some("the person asked to be opted out, and granting anything again needs --proof that they asked")
        }
        _ => None,
    }
}

/// `patch` without the grants the authority may not make to a contact that opted out:
/// no legal basis, consent date, purpose grant or subscription. Profile fields,
/// withdrawals and unsubscriptions stay. Only what would change the record is noted.
pub(super) fn without_barred_grants<'p>(
    before: Option<&Contact>,
    patch: &'p ContactPatch,
    authority: &Authority,
    protected: &mut Vec<String>,
) -> Cow<'p, ContactPatch> {
    let (Some(c), Some(why)) = (before, grants_barred(before, authority)) else {
        return Cow::Borrowed(patch);
    };
    let mut kept = patch.clone();
    let mut hold = |what: String| protected.push(format!("{what}: {why}"));
    if let Some(basis) = kept.legal_basis.take_if(|b| c.legal_basis != Some(*b)) {
        hold(format!("legal_basis is not set to {basis}"));
    }
    if kept.legal_basis_note.take_if(|n| !n.is_empty() && c.legal_basis_note.as_ref() != Some(&*n)).is_some() {
        hold("legal_basis_note is not changed".into());
    }
    if kept.consent_date.take_if(|d| c.consent_date != Some(*d)).is_some() {
        hold("consent_date is not changed".into());
    }
    kept.grant.retain(|p| {
        let granted = c.granted(p);
        if !granted {
            hold(format!("purpose {p} is not granted"));
        }
        granted
    });
    kept.subscribe.retain(|(list, status)| {
        let have = c.lists.get(list).copied();
        let keeps = match status {
            Some(SubscriptionStatus::Unsubscribed) => true,
            Some(s) => have == Some(*s),
            None => have.is_some_and(|h| h != SubscriptionStatus::Unsubscribed),
        };
        if !keeps {
            hold(format!("list {list} is not subscribed"));
        }
        keeps
    });
    Cow::Owned(kept)
}

pub(super) fn apply_purposes(
    next: &mut Contact,
    patch: &ContactPatch,
    authority: &Authority,
    now: DateTime<Utc>,
    protected: &mut Vec<String>,
) {
    let granted_at = patch.consent_date.unwrap_or(now);
    for purpose in &patch.grant {
        match next.purposes.get(purpose).map(|c| c.state) {
            Some(ConsentState::Granted) => {}
            Some(ConsentState::Withdrawn) if !authority.may_lift_staff_recorded_choice() => {
                protected.push(format!(
                    "purpose {purpose} stays withdrawn: re-granting it needs --proof that the person asked"
                ));
            }
            _ => {
                next.purposes.insert(purpose.clone(), PurposeConsent { state: ConsentState::Granted, at: granted_at });
            }
        }
    }
    // Withdrawals win over grants in the same request, and always take effect.
    for purpose in &patch.withdraw {
        if next.purposes.get(purpose).map(|c| c.state) != Some(ConsentState::Withdrawn) {
            next.purposes.insert(purpose.clone(), PurposeConsent { state: ConsentState::Withdrawn, at: now });
        }
    }
}

/// The subscriptions a patch asks for, one per list: a status stated for a list wins over
/// a bare mention of the same list, wherever each comes from (a CSV row's `lists` and the
/// import's `--list`), so a default never raises what was asked explicitly.
fn requested(patch: &ContactPatch) -> Vec<(&ListName, Option<SubscriptionStatus>)> {
    let mut wanted: Vec<(&ListName, Option<SubscriptionStatus>)> = Vec::new();
    for (list, status) in &patch.subscribe {
        match wanted.iter_mut().find(|(l, _)| *l == list) {
            Some(entry) if status.is_some() => entry.1 = *status,
            Some(_) => {}
            None => wanted.push((list, *status)),
        }
    }
    wanted
}

pub(super) fn apply_lists(
    next: &mut Contact,
    patch: &ContactPatch,
    authority: &Authority,
    protected: &mut Vec<String>,
) {
    for (list, status) in requested(patch) {
        let have = next.lists.get(list).copied();
        let mut want = match status {
            Some(s) => s,
            None if have == Some(SubscriptionStatus::Confirmed) => SubscriptionStatus::Confirmed,
            None if next.opt_in == OptInStatus::DoubleOptIn => SubscriptionStatus::Confirmed,
            None => SubscriptionStatus::Unconfirmed,
        };
        if have == Some(SubscriptionStatus::Unsubscribed)
            && want != SubscriptionStatus::Unsubscribed
            && !authority.may_lift_staff_recorded_choice()
        {
            protected
                .push(format!("list {list} stays unsubscribed: re-subscribing needs --proof that the person asked"));
            continue;
        }
        // A subscription is confirmed by the person's double opt-in, not by a file or a
        // command saying so.
        if want == SubscriptionStatus::Confirmed
            && have != Some(SubscriptionStatus::Confirmed)
            && next.opt_in != OptInStatus::DoubleOptIn
            && !authority.is_the_person()
        {
            protected.push(format!(
                "list {list} is unconfirmed, not confirmed: only a contact with opt_in_status double_opt_in has confirmed subscriptions"
            ));
            want = SubscriptionStatus::Unconfirmed;
        }
        next.lists.insert(list.clone(), want);
    }
    for list in &patch.unsubscribe {
        next.lists.insert(list.clone(), SubscriptionStatus::Unsubscribed);
    }
}
