//! Campaign eligibility (DESIGN §3): for one contact and one campaign, `Eligible` or the
//! FIRST exclusion reason, in the contract's order. Pure: the planner's SQL mirrors it
//! (and a property test holds them together), and the sending engine calls it again
//! right before each message, so a withdrawal takes effect mid-campaign.

use crate::domain::{
    BounceStatus, ConsentState, Contact, ExclusionReason, LegalBasis, ListName, OptInStatus, Processing, Purpose,
    SubscriptionStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which opt-in statuses a marketing campaign accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptLevel {
    #[default]
    DoubleOnly,
    DoubleAndUser,
    DoubleUserWebform,
}

impl AcceptLevel {
    pub fn accepts(self, status: OptInStatus) -> bool {
        self.statuses().contains(&status)
    }

    pub fn statuses(self) -> &'static [OptInStatus] {
        use OptInStatus::*;
        match self {
            AcceptLevel::DoubleOnly => &[DoubleOptIn],
            AcceptLevel::DoubleAndUser => &[DoubleOptIn, SingleOptInUser],
            AcceptLevel::DoubleUserWebform => &[DoubleOptIn, SingleOptInUser, SingleOptInWebform],
        }
    }
}

/// At most `max` marketing messages in `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub max: u32,
    pub days: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Subject to every rule.
    #[default]
    Marketing,
    /// Order confirmations and the like: rules 1–4 only (never to erased, restricted,
    /// confirmed-bounce or suppressed addresses).
    Transactional,
    /// Asks people to confirm a subscription: rules 1–5, then any subscription that is
    /// not `unsubscribed` counts; opt-in level and legal basis are what it asks for.
    Reconfirm,
}

impl CampaignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Marketing => "marketing",
            CampaignKind::Transactional => "transactional",
            CampaignKind::Reconfirm => "reconfirm",
        }
    }
}

/// Everything the rules need to know about the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPolicy {
    pub kind: CampaignKind,
    pub accept: AcceptLevel,
    pub purpose: Option<Purpose>,
    pub legitimate_interest_purposes: Vec<Purpose>,
    pub frequency_cap: Option<FrequencyCap>,
    pub exclude_unengaged: Option<u32>,
}

/// Everything the rules need to know about one contact, for one campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub processing: Processing,
    pub bounce: BounceStatus,
    pub suppressed: bool,
    pub opt_in: OptInStatus,
    /// The contact's subscriptions to the campaign's lists, each with whether its list
    /// requires double opt-in.
    pub subscriptions: Vec<(SubscriptionStatus, bool)>,
    pub legal_basis: Option<LegalBasis>,
    /// The state of the campaign's purpose, if it has one and the contact has a record.
    pub purpose: Option<ConsentState>,
    pub tracking_granted: bool,
    /// Marketing messages delivered within the frequency cap's window.
    pub recent_marketing: u32,
    /// Of the contact's last N delivered messages (N = `exclude_unengaged`): how many
    /// there were, and whether any was opened or clicked.
    pub recent_delivered: u32,
    pub recent_engaged: bool,
}

impl Facts {
    /// The facts of a loaded contact. `list_double_opt_in` says which lists need double
    /// opt-in; history counts come from the sending engine.
    pub fn of(
        contact: &Contact,
        suppressed: bool,
        campaign_lists: &[ListName],
        list_double_opt_in: &BTreeMap<ListName, bool>,
        purpose: Option<&Purpose>,
    ) -> Facts {
        Facts {
            processing: contact.processing,
            bounce: contact.bounce.status,
            suppressed,
            opt_in: contact.opt_in,
            subscriptions: campaign_lists
                .iter()
                .filter_map(|l| Some((*contact.lists.get(l)?, list_double_opt_in.get(l).copied().unwrap_or(false))))
                .collect(),
            legal_basis: contact.legal_basis,
            purpose: purpose.and_then(|p| contact.purposes.get(p)).map(|c| c.state),
            tracking_granted: contact.granted(&Purpose::tracking()),
            recent_marketing: 0,
            recent_delivered: 0,
            recent_engaged: false,
        }
    }
}

/// Whether one rule lets the contact through: `None` where the rule does not apply to
/// this campaign. The single source of truth for every rule.
pub fn passes(rule: ExclusionReason, p: &CampaignPolicy, f: &Facts) -> Option<bool> {
    use ExclusionReason::*;
    let marketing = p.kind == CampaignKind::Marketing;
    match rule {
        Erased => Some(f.processing != Processing::Erased),
        Restricted => Some(!matches!(f.processing, Processing::Restricted | Processing::ErasureRequested)),
        ConfirmedBounce => Some(f.bounce != BounceStatus::Confirmed),
        Suppressed => Some(!f.suppressed),
        _ if p.kind == CampaignKind::Transactional => None,
        OptedOut => Some(!f.opt_in.is_opted_out()),
        OptInInsufficient => marketing.then(|| p.accept.accepts(f.opt_in)),
        NotSubscribed => Some(f.subscriptions.iter().any(|(status, double)| match status {
            SubscriptionStatus::Confirmed => true,
            SubscriptionStatus::Unconfirmed => !double || !marketing,
            SubscriptionStatus::Unsubscribed => false,
        })),
        _ if !marketing => None,
        NoLegalBasis => p.purpose.as_ref().map(|purpose| match f.legal_basis {
            None | Some(LegalBasis::Consent) => f.purpose == Some(ConsentState::Granted),
            // An objection (a withdrawn purpose) ends a legitimate interest too (GDPR Art. 21).
            Some(LegalBasis::LegitimateInterest) => {
                p.legitimate_interest_purposes.contains(purpose) && f.purpose != Some(ConsentState::Withdrawn)
            }
            Some(_) => false,
        }),
        FrequencyCap => p.frequency_cap.map(|cap| f.recent_marketing < cap.max),
        Unengaged => p
            .exclude_unengaged
            .filter(|n| *n > 0)
            .map(|n| !f.tracking_granted || f.recent_delivered < n || f.recent_engaged),
    }
}

/// The first rule that excludes the contact, or `Ok` when none does.
pub fn evaluate(p: &CampaignPolicy, f: &Facts) -> Result<(), ExclusionReason> {
    match ExclusionReason::ALL.iter().find(|r| passes(**r, p, f) == Some(false)) {
        Some(reason) => Err(*reason),
        None => Ok(()),
    }
}

/// A contact the policy let through: the only way to get one is [`EligibleRecipient::check`],
/// and the renderer and sender take nothing else, so "sent without consent" does not
/// compile.
#[derive(Debug, Clone)]
pub struct EligibleRecipient {
    contact: Contact,
}

impl EligibleRecipient {
    pub fn check(p: &CampaignPolicy, contact: Contact, facts: &Facts) -> Result<EligibleRecipient, ExclusionReason> {
        evaluate(p, facts).map(|()| EligibleRecipient { contact })
    }

    /// The same for a send of any source, under that source's policy
    /// ([`super::sources::check`]).
    pub fn check_source(
        p: super::sources::SourcePolicy<'_>,
        contact: Contact,
        facts: &Facts,
    ) -> Result<EligibleRecipient, ExclusionReason> {
        super::sources::check(p, facts).map(|()| EligibleRecipient { contact })
    }

    /// For `campaign preview --force` only: shows the message an excluded contact would
    /// get. Nothing that sends may call this.
    pub fn for_preview_only(contact: Contact) -> EligibleRecipient {
        EligibleRecipient { contact }
    }

    pub fn contact(&self) -> &Contact {
        &self.contact
    }
}

/// One line of `campaign plan --explain`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCheck {
    pub rule: ExclusionReason,
    /// `pass`, `fail` or `skipped` (the rule does not apply to this campaign).
    pub result: &'static str,
    /// The data the rule looked at.
    pub looked_at: String,
}

/// Every rule, in order, with its verdict and its data.
pub fn explain(p: &CampaignPolicy, f: &Facts) -> Vec<RuleCheck> {
    ExclusionReason::ALL
        .iter()
        .map(|rule| RuleCheck {
            rule: *rule,
            result: match passes(*rule, p, f) {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "skipped",
            },
            looked_at: looked_at(*rule, p, f),
        })
        .collect()
}

fn looked_at(rule: ExclusionReason, p: &CampaignPolicy, f: &Facts) -> String {
    use ExclusionReason::*;
    match rule {
        Erased | Restricted => format!("processing = {}", f.processing),
        ConfirmedBounce => format!("bounce state = {}", f.bounce),
        Suppressed => format!("on the suppression list: {}", if f.suppressed { "yes" } else { "no" }),
        OptedOut => format!("opt_in_status = {}", f.opt_in),
        OptInInsufficient => {
            let accepted: Vec<&str> = p.accept.statuses().iter().map(|s| s.as_str()).collect();
            format!("opt_in_status = {}; campaign accepts {}", f.opt_in, accepted.join(", "))
        }
        NotSubscribed => {
            let subs: Vec<String> = f
                .subscriptions
                .iter()
                .map(|(s, double)| format!("{s}{}", if *double { " (double opt-in list)" } else { "" }))
                .collect();
            if subs.is_empty() {
                "no subscription to the campaign's lists".into()
            } else {
                format!("subscriptions: {}", subs.join(", "))
            }
        }
        NoLegalBasis => match &p.purpose {
            None => "the campaign declares no purpose".into(),
            Some(purpose) => format!(
                "purpose {purpose}: {}; legal_basis = {}; legitimate-interest purposes: [{}]",
                f.purpose.map(|s| s.to_string()).unwrap_or_else(|| "no record".into()),
                f.legal_basis.map(|b| b.to_string()).unwrap_or_else(|| "none recorded".into()),
                p.legitimate_interest_purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            ),
        },
        FrequencyCap => match p.frequency_cap {
            None => "no frequency cap".into(),
            Some(cap) => {
                format!("{} marketing messages in the last {} days; cap {}", f.recent_marketing, cap.days, cap.max)
            }
        },
        Unengaged => match p.exclude_unengaged {
            None | Some(0) => "no engagement rule".into(),
            Some(n) => format!(
                "tracking consent: {}; {} of the last {n} delivered messages considered; engaged: {}",
                if f.tracking_granted { "granted" } else { "not granted (never judged unengaged)" },
                f.recent_delivered,
                if f.recent_engaged { "yes" } else { "no" }
            ),
        },
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
