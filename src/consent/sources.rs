//! The send-time policy of each message source (DESIGN §10): one pure function per
//! source, and [`check`] that picks the one a send's source calls for. The sending
//! engine's re-check calls [`check`] for every claimed send, whatever its source.
//!
//! - `campaign`: §3 in full, for the campaign's kind ([`campaign`]).
//! - `test`: none of §3 ([`test`](fn@test)): the message goes to the address the operator typed,
//!   rendered as a contact; it never counts for or changes that contact.
//! - `confirmation`: never to an erased, restricted (or erasure-requested) or
//!   confirmed-bounce contact ([`confirmation`]); at most `[web] confirmations_per_day`
//!   per address, checked where confirmations are created ([`confirmation_allowed`]).
//! - `flow`: §3 in full for the flow's kind and purpose ([`flow`]).

use super::policy::{CampaignPolicy, Facts, evaluate, passes};
use crate::domain::{ExclusionReason, Source};

/// What a send is checked against: its source, with the policy of the campaign or flow
/// it belongs to where it has one.
#[derive(Debug, Clone, Copy)]
pub enum SourcePolicy<'a> {
    Campaign(&'a CampaignPolicy),
    Test,
    Confirmation,
    Flow(&'a CampaignPolicy),
}

impl SourcePolicy<'_> {
    pub fn source(&self) -> Source {
        match self {
            SourcePolicy::Campaign(_) => Source::Campaign,
            SourcePolicy::Test => Source::Test,
            SourcePolicy::Confirmation => Source::Confirmation,
            SourcePolicy::Flow(_) => Source::Flow,
        }
    }
}

/// The first rule of the send's source that excludes the contact, or `Ok`.
pub fn check(p: SourcePolicy<'_>, f: &Facts) -> Result<(), ExclusionReason> {
    match p {
        SourcePolicy::Campaign(policy) => campaign(policy, f),
        SourcePolicy::Test => test(f),
        SourcePolicy::Confirmation => confirmation(f),
        SourcePolicy::Flow(policy) => flow(policy, f),
    }
}

/// A campaign send: every rule of §3 that the campaign's kind applies.
pub fn campaign(p: &CampaignPolicy, f: &Facts) -> Result<(), ExclusionReason> {
    evaluate(p, f)
}

/// A test send: no rule applies (it goes to the operator's address, not the contact's).
pub fn test(_: &Facts) -> Result<(), ExclusionReason> {
    Ok(())
}

/// The rules a confirmation message obeys, in order.
const CONFIRMATION_RULES: [ExclusionReason; 3] =
    [ExclusionReason::Erased, ExclusionReason::Restricted, ExclusionReason::ConfirmedBounce];

/// A confirmation: never to an erased contact (an erased address subscribes anew only
/// through a new form), a restricted one or one whose address bounced for good. A
/// suppressed or opted-out address may still be asked to confirm: confirming is how a
/// person lifts their own suppression.
pub fn confirmation(f: &Facts) -> Result<(), ExclusionReason> {
    // The three rules read the contact's state only; the policy they are asked under
    // does not change them.
    let any = CampaignPolicy {
        kind: super::policy::CampaignKind::Transactional,
        accept: Default::default(),
        purpose: None,
        legitimate_interest_purposes: Vec::new(),
        frequency_cap: None,
        exclude_unengaged: None,
    };
    match CONFIRMATION_RULES.iter().find(|r| passes(**r, &any, f) == Some(false)) {
        Some(reason) => Err(*reason),
        None => Ok(()),
    }
}

/// A flow step: §3 in full, under the flow's kind and purpose.
pub fn flow(p: &CampaignPolicy, f: &Facts) -> Result<(), ExclusionReason> {
    evaluate(p, f)
}

/// Whether one more confirmation may be created for an address that was sent
/// `sent_today` confirmations in the last 24 hours, under `[web] confirmations_per_day`.
pub fn confirmation_allowed(sent_today: u64, per_day: u32) -> bool {
    sent_today < u64::from(per_day)
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
