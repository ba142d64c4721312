//! `herald campaign plan`: the audience, the eligible count, and the exclusions by
//! reason (DESIGN §3, §7), computed in the database; `--explain` for one contact.

use super::{Campaign, SegmentField};
use crate::app::App;
use crate::consent::policy::{self, Facts, RuleCheck};
use crate::domain::{Contact, ContactId, EmailAddress, ExclusionReason};
use crate::error::{Error, Result};
use crate::store::{AudienceQuery, Count, SegmentColumn};
use serde::Serialize;
use serde::ser::SerializeMap;

/// `campaign plan --json`: all ten reason keys, always, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    pub campaign: String,
    pub audience: i64,
    pub eligible: i64,
    pub excluded: Exclusions,
}

/// Counts per exclusion reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions(pub [i64; 10]);

impl Exclusions {
    pub fn get(&self, reason: ExclusionReason) -> i64 {
        self.0[reason as usize]
    }
}

impl Serialize for Exclusions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(10))?;
        for reason in ExclusionReason::ALL {
            map.serialize_entry(reason.as_str(), &self.get(*reason))?;
        }
        map.end()
    }
}

pub fn audience_query(c: &Campaign, now: chrono::DateTime<chrono::Utc>) -> AudienceQuery {
    AudienceQuery {
        lists: c.lists.iter().map(|l| l.to_string()).collect(),
        segment: c
            .segment
            .iter()
            .map(|r| {
                let col = match &r.field {
                    SegmentField::Column(name) => SegmentColumn::Column(name),
                    SegmentField::Attribute(key) => SegmentColumn::Attribute(key.clone()),
                };
                (col, r.values.clone())
            })
            .collect(),
        policy: c.policy.clone(),
        now,
    }
}

pub async fn plan(app: &App, campaign: &Campaign) -> Result<PlanReport> {
    let counts = app.store.plan_counts(&audience_query(campaign, app.clock.now())).await?;
    let audience = counts.total;
    let mut excluded = Exclusions::default();
    let mut eligible = 0;
    for Count { key: reason, count: n } in counts.by_reason {
        match reason {
            Some(r) => excluded.0[r as usize] += n,
            None => eligible += n,
        }
    }
    Ok(PlanReport { campaign: campaign.name.clone(), audience, eligible, excluded })
}

/// `--explain EMAIL`: whether the contact is in the audience, and every rule.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub campaign: String,
    pub contact_id: Option<crate::domain::ContactId>,
    pub in_audience: bool,
    /// Why the contact is not in the audience at all (no subscription to the lists, or
    /// the segment does not match).
    pub audience_note: String,
    pub rules: Vec<RuleCheck>,
    /// `eligible`, or the first exclusion reason.
    pub verdict: String,
}

pub async fn explain(app: &App, campaign: &Campaign, email: &EmailAddress) -> Result<Explanation> {
    let contact =
        app.store.contact(email.normalized()).await?.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    let suppressed = app.store.is_suppressed(&app.mac(email)).await?;
    let lists = app.store.list_settings().await?;
    let mut facts = Facts::of(&contact, suppressed, &campaign.lists, &lists, campaign.purpose.as_ref());
    with_history(app, campaign, &mut facts, contact.id).await?;
    let subscribed = campaign.lists.iter().any(|l| contact.lists.contains_key(l));
    let mismatch = campaign.segment.iter().find(|rule| !segment_matches(&contact, &rule.field, &rule.values));
    let audience_note = match (subscribed, mismatch) {
        (false, _) => format!(
            "not subscribed (in any status) to {}",
            campaign.lists.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
        ),
        (true, Some(rule)) => format!(
            "the segment does not match: {} is not one of [{}]",
            field_name(&rule.field),
            rule.values.join(", ")
        ),
        (true, None) => "subscribed to the campaign's lists and matching its segment".into(),
    };
    let in_audience = subscribed && mismatch.is_none();
    let verdict = match policy::evaluate(&campaign.policy, &facts) {
        _ if !in_audience => "not in the audience".to_owned(),
        Ok(()) => "eligible".to_owned(),
        Err(reason) => reason.to_string(),
    };
    Ok(Explanation {
        campaign: campaign.name.clone(),
        contact_id: contact.id,
        in_audience,
        audience_note,
        rules: policy::explain(&campaign.policy, &facts),
        verdict,
    })
}

/// Fills in the delivery history the frequency cap and the unengaged rule judge (the
/// same figures the send-time re-check uses).
pub async fn with_history(
    app: &App,
    campaign: &Campaign,
    facts: &mut Facts,
    contact_id: Option<ContactId>,
) -> Result<()> {
    let p = &campaign.policy;
    let Some(id) = contact_id else { return Ok(()) };
    if p.frequency_cap.is_none() && p.exclude_unengaged.is_none() {
        return Ok(());
    }
    let since = p.frequency_cap.map(|cap| app.clock.now() - chrono::Duration::days(i64::from(cap.days)));
    let h = app.store.history(&[id], since, p.exclude_unengaged).await?.remove(&id).unwrap_or_default();
    facts.recent_marketing = h.recent_marketing;
    facts.recent_delivered = h.recent_delivered;
    facts.recent_engaged = h.recent_engaged;
    Ok(())
}

fn field_name(field: &SegmentField) -> String {
    match field {
        SegmentField::Column(c) => c.to_string(),
        SegmentField::Attribute(a) => format!("attributes.{a}"),
    }
}

fn segment_matches(c: &Contact, field: &SegmentField, values: &[String]) -> bool {
    let id = &c.identity;
    let source = c.source_type.as_str().to_owned();
    let value = match field {
        SegmentField::Column("country") => id.country.as_ref(),
        SegmentField::Column("company") => id.company.as_ref(),
        SegmentField::Column("title") => id.title.as_ref(),
        SegmentField::Column("first_name") => id.first_name.as_ref(),
        SegmentField::Column("last_name") => id.last_name.as_ref(),
        SegmentField::Column("crm_id") => id.crm_id.as_ref(),
        SegmentField::Column("source_type") => Some(&source),
        SegmentField::Column(_) => None,
        SegmentField::Attribute(key) => id.attributes.get(key),
    };
    value.is_some_and(|v| values.contains(v))
}
