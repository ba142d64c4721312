//! `herald lists clean [--apply]`: the report of addresses the list should lose, and
//! with `--apply` the change itself:
//! - confirmed bounces not yet suppressed → the suppression list;
//! - repeated soft bounces (two or more campaigns since the last delivery) → settled by
//!   the bounce rules (at `soft_bounce_limit` they count as a hard bounce);
//! - with `[bounces] unengaged_after = N`: contacts who agreed to tracking and engaged
//!   with none of their last N delivered messages → unsubscribed from their lists.
//!   Contacts without tracking consent are never judged unengaged.
//! - with `--reconfirm-days N` (or `[bounces] reconfirm_days`): contacts a re-permission
//!   campaign (`kind = "reconfirm"`) reached N or more days ago who did not confirm, named
//!   only (count: such campaigns); removing them is the marketer's decision.

use super::rules::{self, Applied};
use crate::app::App;
use crate::consent::{Actor, Authority, ContactPatch};
use crate::contacts::change::{Selector, change_contact};
use crate::domain::SubscriptionStatus;
use crate::error::Result;
use crate::store::CleanCandidate;
use serde::Serialize;
use std::collections::BTreeMap;

/// Soft-bounced campaigns (since the last delivery) that make "repeated".
const REPEATED_SOFT: i64 = 2;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Category {
    pub count: usize,
    pub contacts: Vec<CleanCandidate>,
}

impl From<Vec<CleanCandidate>> for Category {
    fn from(contacts: Vec<CleanCandidate>) -> Self {
        Category { count: contacts.len(), contacts }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanReport {
    pub applied: bool,
    pub confirmed_bounces: Category,
    pub repeated_soft_bounces: Category,
    /// `None` when `[bounces] unengaged_after` is not set.
    pub unengaged: Option<Category>,
    /// `None` without `--reconfirm-days` (or `[bounces] reconfirm_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_reconfirmed: Option<Category>,
    /// With `--apply`: addresses newly suppressed, contacts whose bounce state changed,
    /// contacts unsubscribed as unengaged.
    pub suppressed: usize,
    pub bounce_changed: usize,
    pub unsubscribed: usize,
}

/// The contacts re-permission campaigns reached `days` or more days ago who did not
/// confirm, once each (count: how many such campaigns), in id order.
pub async fn not_reconfirmed(app: &App, days: u32) -> Result<Vec<CleanCandidate>> {
    let before = app.clock.now() - chrono::Duration::days(i64::from(days));
    let mut by_contact: BTreeMap<crate::domain::ContactId, CleanCandidate> = BTreeMap::new();
    for record in app.store.campaigns().await? {
        let Ok(c) =
            crate::campaign::parse(std::path::Path::new(&record.file_path), &record.content, &app.config.policy)
        else {
            continue;
        };
        if c.kind() != crate::consent::policy::CampaignKind::Reconfirm {
            continue;
        }
        let request = crate::contacts::confirm::reconfirm_request(&record.name);
        for candidate in app.store.not_reconfirmed(record.id, &request, before).await? {
            by_contact.entry(candidate.contact_id).and_modify(|c| c.count += 1).or_insert(candidate);
        }
    }
    Ok(by_contact.into_values().collect())
}

pub async fn clean(app: &App, apply_changes: bool) -> Result<CleanReport> {
    clean_with(app, apply_changes, None).await
}

/// [`clean`], naming with `reconfirm_days` those who did not answer a re-permission
/// campaign within that many days.
pub async fn clean_with(app: &App, apply_changes: bool, reconfirm_days: Option<u32>) -> Result<CleanReport> {
    let confirmed = app.store.confirmed_unsuppressed().await?;
    let soft = app.store.repeated_soft(REPEATED_SOFT).await?;
    let unengaged = match app.config.bounces.unengaged_after {
        Some(n) if n > 0 => Some(app.store.unengaged(i64::from(n)).await?),
        _ => None,
    };
    let mut report = CleanReport {
        applied: apply_changes,
        confirmed_bounces: Category::default(),
        repeated_soft_bounces: Category::default(),
        unengaged: None,
        not_reconfirmed: match reconfirm_days {
            Some(days) => Some(not_reconfirmed(app, days).await?.into()),
            None => None,
        },
        suppressed: 0,
        bounce_changed: 0,
        unsubscribed: 0,
    };
    if apply_changes {
        let actor = Actor::System("lists-clean".into());
        for c in &confirmed {
            // The candidate carries its address: no need to load the whole record.
            if let Ok(email) = crate::domain::EmailAddress::parse(&c.email) {
                report.suppressed +=
                    usize::from(crate::contacts::suppression::add(app, &email, "confirmed hard bounce", &actor).await?);
            }
        }
        for c in &soft {
            let mut applied = Applied::default();
            let mut evidence = BTreeMap::new();
            evidence.insert("rule".into(), "repeated soft bounces".into());
            evidence.insert("soft_bounced_campaigns".into(), c.count.to_string());
            rules::settle(app, c.contact_id, &evidence, &mut applied).await?;
            report.bounce_changed += usize::from(applied.bounce_changed);
            report.suppressed += usize::from(applied.suppressed);
        }
        if let (Some(list), Some(n)) = (&unengaged, app.config.bounces.unengaged_after) {
            for c in list {
                report.unsubscribed += usize::from(unsubscribe_unengaged(app, c, n).await?);
            }
        }
    }
    report.confirmed_bounces = confirmed.into();
    report.repeated_soft_bounces = soft.into();
    report.unengaged = unengaged.map(Category::from);
    Ok(report)
}

/// Unsubscribes an unengaged contact from every list it is on, with the rule as evidence.
async fn unsubscribe_unengaged(app: &App, c: &CleanCandidate, n: u32) -> Result<bool> {
    let Some(contact) = app.store.contacts_by_id(&[c.contact_id]).await?.into_iter().next() else {
        return Ok(false);
    };
    let lists = contact.lists.iter().filter(|(_, s)| **s != SubscriptionStatus::Unsubscribed).map(|(l, _)| l.clone());
    let patch = ContactPatch { unsubscribe: lists.collect(), ..ContactPatch::default() };
    let mut authority = Authority::new(Actor::System("lists-clean".into()));
    authority
        .evidence
        .insert("rule".into(), format!("unengaged: none of the last {n} delivered messages opened or clicked"));
    change_contact(app, &Selector::Id(c.contact_id), &patch, &authority).await
}
