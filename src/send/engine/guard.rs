//! The campaign guard (DESIGN §4): a running campaign pauses, with the reason kept for
//! `campaign status`, once failures or hard bounces pass their limits after `min_sample`
//! attempted messages; a materialised campaign with nothing open completes.

use crate::app::App;
use crate::campaign::lifecycle::FAULT_GUARD;
use crate::config::SendingConfig;
use crate::domain::{BounceKind, CampaignState, Fault, SendState};
use crate::error::Result;
use crate::store::{CampaignCounts, CampaignRecord};

/// Checks `campaign` (every active campaign if `None`).
pub async fn check(app: &App, cfg: &SendingConfig, campaign: Option<crate::domain::CampaignId>) -> Result<()> {
    let now = app.clock.now();
    let records = match campaign {
        Some(id) => app.store.campaign_by_id(id).await?.into_iter().collect(),
        None => app.store.active_campaigns(now).await?,
    };
    for r in records.into_iter().filter(|r| r.state == CampaignState::Running) {
        let counts = app.store.campaign_counts(r.id).await?;
        judge(app, cfg, &r, &counts).await?;
    }
    Ok(())
}

/// Judges one running campaign on its `counts` (pause, complete, or neither); returns
/// its state afterwards.
pub async fn judge(
    app: &App,
    cfg: &SendingConfig,
    record: &CampaignRecord,
    counts: &CampaignCounts,
) -> Result<CampaignState> {
    let tried = counts.get(SendState::Sent)
        + counts.get(SendState::Failed)
        + counts.get(SendState::InDoubt)
        + counts.get(SendState::Deferred);
    if let Some(reason) = fault_verdict(cfg, &record.name, tried, counts.faults, None).or_else(|| verdict(cfg, counts))
    {
        pause(app, record.id, &reason).await?;
        return Ok(CampaignState::Paused);
    }
    if record.materialised && counts.open() == 0 {
        let now = app.clock.now();
        // Only the process whose update completes it says so (several daemons may judge it).
        if app
            .store
            .set_campaign_state(record.id, &[CampaignState::Running], CampaignState::Completed, None, now)
            .await?
        {
            tracing::info!(campaign = %record.name, "campaign completed");
        }
        return Ok(CampaignState::Completed);
    }
    Ok(CampaignState::Running)
}

/// Why the campaign must pause, if it must.
pub fn verdict(cfg: &SendingConfig, counts: &CampaignCounts) -> Option<String> {
    let failed = counts.get(SendState::Failed);
    let attempted = counts.get(SendState::Sent) + failed + counts.get(SendState::InDoubt);
    let hard = counts.bounces(BounceKind::Hard);
    if (attempted as u64) < cfg.min_sample.max(1) {
        return None;
    }
    if failed as f64 > cfg.max_error_rate * attempted as f64 {
        return Some(format!(
            "error guard: {failed} of {attempted} attempted messages failed (max_error_rate {})",
            cfg.max_error_rate
        ));
    }
    if hard as f64 > cfg.max_bounce_rate * attempted as f64 {
        return Some(format!(
            "bounce guard: {hard} hard bounces in {attempted} attempted messages (max_bounce_rate {})",
            cfg.max_bounce_rate
        ));
    }
    None
}

/// Why the campaign must pause for failures that are Herald's or the relay's (a render
/// error, a relay that refuses connections, see [`Fault`]): more than `max_error_rate` of
/// the `tried` attempts once `min_sample` were made. `last` is the latest fault's reason.
pub fn fault_verdict(cfg: &SendingConfig, name: &str, tried: i64, faults: i64, last: Option<&str>) -> Option<String> {
    if (tried as u64) < cfg.min_sample.max(1) || faults as f64 <= cfg.max_error_rate * tried as f64 {
        return None;
    }
    let last = last.filter(|r| Fault::of_reason(r).is_some()).map(|r| format!(" (last: {r})")).unwrap_or_default();
    Some(format!(
        "{FAULT_GUARD} {faults} of {tried} attempts failed on Herald's or the relay's side, not the recipients'{last}; \
         fix the cause, then run `herald campaign retry {name}`"
    ))
}

/// Pauses a running campaign with `reason` (nothing happens if it is no longer running).
pub async fn pause(app: &App, campaign_id: crate::domain::CampaignId, reason: &str) -> Result<()> {
    if app
        .store
        .set_campaign_state(
            campaign_id,
            &[CampaignState::Running],
            CampaignState::Paused,
            Some(reason),
            app.clock.now(),
        )
        .await?
    {
        let name = app.store.campaign_by_id(campaign_id).await.ok().flatten().map(|r| r.name).unwrap_or_default();
        tracing::warn!(campaign = %name, campaign_id = campaign_id.get(), %reason, "campaign paused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(sent: i64, failed: i64, hard: i64) -> CampaignCounts {
        let mut c = CampaignCounts::default();
        c.by_state.insert(SendState::Sent, sent);
        c.by_state.insert(SendState::Failed, failed);
        c.bounces.insert(BounceKind::Hard, hard);
        c
    }

    fn cfg() -> SendingConfig {
        SendingConfig { min_sample: 100, max_error_rate: 0.2, max_bounce_rate: 0.02, ..Default::default() }
    }

    #[test]
    fn nothing_is_judged_before_the_minimum_sample() {
        assert_eq!(verdict(&cfg(), &counts(10, 89, 89)), None);
    }

    #[test]
    fn failures_past_the_error_rate_pause_with_the_figures() {
        assert_eq!(verdict(&cfg(), &counts(80, 20, 0)), None, "exactly at the limit is allowed");
        let why = verdict(&cfg(), &counts(79, 21, 0)).expect("pauses");
        assert!(why.starts_with("error guard: 21 of 100"), "{why}");
    }

    #[test]
    fn herald_or_relay_faults_pause_once_the_sample_is_in_naming_the_last_one() {
        let cfg = SendingConfig { min_sample: 5, max_error_rate: 0.2, ..Default::default() };
        assert_eq!(fault_verdict(&cfg, "vip", 4, 4, None), None, "before the sample");
        assert_eq!(fault_verdict(&cfg, "vip", 5, 1, None), None, "at the rate");
        let why = fault_verdict(&cfg, "vip", 5, 2, Some("relay: 127.0.0.1:2525 at connect: refused")).expect("pauses");
        assert!(why.starts_with("fault guard: 2 of 5 attempts"), "{why}");
        assert!(why.contains("(last: relay: 127.0.0.1:2525") && why.contains("herald campaign retry vip"), "{why}");
        let why = fault_verdict(&cfg, "vip", 5, 2, Some("no reply to DATA")).expect("pauses");
        assert!(!why.contains("last:"), "a reason that is not a fault is not named as one: {why}");
    }

    #[test]
    fn hard_bounces_past_the_bounce_rate_pause() {
        assert_eq!(verdict(&cfg(), &counts(98, 2, 2)), None);
        let why = verdict(&cfg(), &counts(97, 3, 3)).expect("pauses");
        assert!(why.starts_with("bounce guard: 3 hard bounces in 100"), "{why}");
    }
}
