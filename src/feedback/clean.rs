//! `herald lists clean [--apply]`: the report of addresses the list should lose, and
//! with `--apply` the change itself:
//! - confirmed bounces not yet suppressed → the suppression list;
//! - repeated soft bounces (two or more campaigns since the last delivery) → settled by
//!   the bounce rules (at `soft_bounce_limit` they count as a hard bounce);
//! - with `[bounces] unengaged_after = N`: contacts who agreed to tracking and engaged
//!   with none of their last N delivered messages → unsubscribed from their lists.
//!   Contacts without tracking consent are never judged unengaged.

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
    /// With `--apply`: addresses newly suppressed, contacts whose bounce state changed,
    /// contacts unsubscribed as unengaged.
    pub suppressed: usize,
    pub bounce_changed: usize,
    pub unsubscribed: usize,
}

pub async fn clean(app: &App, apply_changes: bool) -> Result<CleanReport> {
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
