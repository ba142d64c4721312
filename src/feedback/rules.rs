//! The rules of DESIGN §5: one bounce event becomes a bounce record and, where it says
//! so, a change to the contact — each change a ledger event with the bounce as evidence.
//!
//! - hard / soft: the contact's bounce state is settled from its history since the last
//!   delivery (a `sent` message with no bounce against it): hard-bounced sends count
//!   towards `hard_bounce_threshold`, and `soft_bounce_limit` soft-bounced campaigns
//!   count as one hard bounce. At the threshold the state becomes `confirmed` and the
//!   address goes on the suppression list, so no import can bring it back. Because the
//!   state is derived from the recorded events, settling twice changes nothing twice,
//!   and a delivery resets the streak.
//! - complaint: `opted_out_contact` and the suppression list at once.
//! - delayed, auto_reply: recorded, nothing else.

use super::mapping::Target;
use crate::app::App;
use crate::config::BouncesConfig;
use crate::consent::{Actor, Authority, ContactPatch};
use crate::contacts::change::{Selector, change_contact};
use crate::domain::{Bounce, BounceKind, BounceStatus, Contact, OptInStatus, Processing};
use crate::error::Result;
use crate::store::{BounceInsert, Streak};
use serde::Serialize;
use std::collections::BTreeMap;

use super::BounceEvent;

/// One event with where it came from and what it maps to.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub event: &'a BounceEvent,
    pub target: &'a Target,
    /// `smtp`, `dsn`, `arf`, `auto_reply`, `webhook:<provider>`, ...
    pub source: &'a str,
    /// Identifies the inbound message or provider event and the recipient.
    pub fingerprint: String,
}

/// What recording one event did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Recorded before (the same message or event again): nothing changed twice.
    pub duplicate: bool,
    /// Tied to no message Herald sent (or to no contact): recorded for review only.
    pub unmatched: bool,
    /// The contact's bounce state changed.
    pub bounce_changed: bool,
    /// The address became a confirmed bounce.
    pub confirmed: bool,
    /// The contact opted out through a complaint.
    pub opted_out: bool,
    /// The address was newly put on the suppression list.
    pub suppressed: bool,
}

/// Records `incoming` and applies its rule.
pub async fn record(app: &App, incoming: &Incoming<'_>) -> Result<Applied> {
    let event = incoming.event;
    let send = incoming.target.send();
    let inserted = app
        .store
        .insert_bounce(&BounceInsert {
            send_id: send.map(|s| s.send_id),
            campaign_id: send.map(|s| s.campaign_id),
            contact_id: incoming.target.contact_id(),
            kind: event.kind,
            status: event.status.clone(),
            reason: event.reason.clone(),
            diagnostic: event.diagnostic.clone(),
            source: incoming.source.to_owned(),
            fingerprint: incoming.fingerprint.clone(),
            received_at: app.clock.now(),
            unmatched: !incoming.target.is_matched(),
        })
        .await?;
    let mut applied = Applied { duplicate: !inserted, ..Applied::default() };
    let (true, Some(contact_id)) = (incoming.target.is_matched(), incoming.target.contact_id()) else {
        // Tied to no message Herald sent (a forged or unprovable report): kept for
        // review, and it changes nobody.
        applied.unmatched = true;
        return Ok(applied);
    };
    // Settled even for a duplicate: a crash between the record and the settling is
    // repaired by ingesting the message again, and settling is idempotent.
    match event.kind {
        BounceKind::Hard | BounceKind::Soft => settle(app, contact_id, &evidence(incoming), &mut applied).await?,
        BounceKind::Complaint => complain(app, contact_id, &evidence(incoming), &mut applied).await?,
        BounceKind::Delayed | BounceKind::AutoReply => {}
    }
    Ok(applied)
}

/// The bounce state the history calls for (pure; the heart of the rules).
pub fn settled_state(current: Bounce, streak: Streak, rules: &BouncesConfig) -> Bounce {
    let soft_as_hard =
        i64::from(rules.soft_bounce_limit > 0 && streak.soft_campaigns >= i64::from(rules.soft_bounce_limit));
    let hard = streak.hard + soft_as_hard;
    let consecutive_hard = u32::try_from(hard).unwrap_or(u32::MAX);
    let status = if current.status == BounceStatus::Confirmed || hard >= i64::from(rules.hard_bounce_threshold.max(1)) {
        // Confirmed stays confirmed: only staff lift it (with the suppression's proof).
        BounceStatus::Confirmed
    } else if hard > 0 {
        BounceStatus::Hard
    } else if streak.any {
        BounceStatus::Soft
    } else {
        BounceStatus::Ok
    };
    let consecutive_hard = if current.status == BounceStatus::Confirmed {
        current.consecutive_hard.max(consecutive_hard)
    } else {
        consecutive_hard
    };
    Bounce { status, consecutive_hard }
}

/// Brings the contact's bounce state in line with its history; suppresses a confirmed
/// address.
pub async fn settle(
    app: &App,
    contact_id: crate::domain::ContactId,
    evidence: &BTreeMap<String, String>,
    applied: &mut Applied,
) -> Result<()> {
    let Some(contact) = live_contact(app, contact_id).await? else { return Ok(()) };
    let streak = app.store.bounce_streak(contact_id).await?;
    let settled = settled_state(contact.bounce, streak, &app.config.bounces);
    let patch = ContactPatch { bounce: Some(settled), ..ContactPatch::default() };
    let mut authority = Authority::new(actor());
    authority.evidence = evidence.clone();
    let changed = change_contact(app, &Selector::Id(contact_id), &patch, &authority).await?;
    applied.bounce_changed |= changed;
    let status = if changed { settled.status } else { contact.bounce.status };
    if status == BounceStatus::Confirmed {
        applied.confirmed |= contact.bounce.status != BounceStatus::Confirmed;
        applied.suppressed |=
            crate::contacts::suppression::add(app, &contact.email, "confirmed hard bounce", &actor()).await?;
    }
    Ok(())
}

/// A complaint: the person said "this is spam" — the strongest opt-out there is.
async fn complain(
    app: &App,
    contact_id: crate::domain::ContactId,
    evidence: &BTreeMap<String, String>,
    applied: &mut Applied,
) -> Result<()> {
    let Some(contact) = live_contact(app, contact_id).await? else { return Ok(()) };
    let mut authority = Authority::new(Actor::System("complaint".into()));
    authority.evidence = evidence.clone();
    let patch = ContactPatch { opt_in: Some(OptInStatus::OptedOutContact), ..ContactPatch::default() };
    let changed = change_contact(app, &Selector::Id(contact_id), &patch, &authority).await?;
    applied.opted_out |= changed;
    applied.suppressed |= crate::contacts::suppression::add(app, &contact.email, "complaint", &actor()).await?;
    Ok(())
}

/// The contact, unless it is gone or erased (an erased record is never changed again).
async fn live_contact(app: &App, contact_id: crate::domain::ContactId) -> Result<Option<Contact>> {
    let contact = app.store.contacts_by_id(&[contact_id]).await?.into_iter().next();
    Ok(contact.filter(|c| c.processing != Processing::Erased))
}

fn actor() -> Actor {
    Actor::System("bounces".into())
}

fn evidence(incoming: &Incoming<'_>) -> BTreeMap<String, String> {
    let e = incoming.event;
    let send = incoming.target.send().map(|s| (s.campaign.as_str(), s.send_id));
    let mut out = bounce_evidence(
        e.kind,
        incoming.source,
        e.status.as_deref(),
        e.reason.as_deref(),
        e.diagnostic.as_deref(),
        send,
    );
    out.insert("fingerprint".into(), incoming.fingerprint.clone());
    out
}

/// A bounce as ledger evidence: what it was, where it came from, the send (campaign and
/// id) it is about; of the server's words only a short excerpt.
pub fn bounce_evidence(
    kind: BounceKind,
    source: &str,
    status: Option<&str>,
    reason: Option<&str>,
    diagnostic: Option<&str>,
    send: Option<(&str, crate::domain::SendId)>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("bounce_kind".into(), kind.to_string());
    out.insert("source".into(), source.to_owned());
    for (key, value) in [("status", status), ("reason", reason)] {
        if let Some(v) = value {
            out.insert(key.into(), v.to_owned());
        }
    }
    if let Some(d) = diagnostic {
        out.insert("diagnostic".into(), d.chars().take(300).collect());
    }
    if let Some((campaign, send_id)) = send {
        out.insert("campaign".into(), campaign.to_owned());
        out.insert("send_id".into(), send_id.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streak(hard: i64, soft_campaigns: i64) -> Streak {
        Streak { hard, soft_campaigns, any: hard + soft_campaigns > 0 }
    }

    fn ok() -> Bounce {
        Bounce::default()
    }

    #[test]
    fn hard_bounces_confirm_at_the_threshold() {
        let rules = BouncesConfig::default();
        assert_eq!(settled_state(ok(), streak(1, 0), &rules).status, BounceStatus::Hard);
        assert_eq!(settled_state(ok(), streak(2, 0), &rules).status, BounceStatus::Hard);
        let third = settled_state(ok(), streak(3, 0), &rules);
        assert_eq!((third.status, third.consecutive_hard), (BounceStatus::Confirmed, 3));
        let strict = BouncesConfig { hard_bounce_threshold: 1, ..BouncesConfig::default() };
        assert_eq!(settled_state(ok(), streak(1, 0), &strict).status, BounceStatus::Confirmed);
    }

    #[test]
    fn a_delivery_resets_the_streak_but_never_a_confirmation() {
        let rules = BouncesConfig::default();
        let hard = Bounce { status: BounceStatus::Hard, consecutive_hard: 2 };
        assert_eq!(settled_state(hard, streak(0, 0), &rules), ok());
        let confirmed = Bounce { status: BounceStatus::Confirmed, consecutive_hard: 3 };
        assert_eq!(settled_state(confirmed, streak(0, 0), &rules), confirmed);
    }

    #[test]
    fn soft_bounces_alone_never_confirm_until_the_campaign_limit() {
        let rules = BouncesConfig::default();
        let s = settled_state(ok(), streak(0, 4), &rules);
        assert_eq!((s.status, s.consecutive_hard), (BounceStatus::Soft, 0));
        let s = settled_state(ok(), streak(0, 5), &rules);
        assert_eq!(
            (s.status, s.consecutive_hard),
            (BounceStatus::Hard, 1),
            "five soft-bounced campaigns count as one hard"
        );
        assert_eq!(settled_state(ok(), streak(2, 5), &rules).status, BounceStatus::Confirmed);
    }
}
