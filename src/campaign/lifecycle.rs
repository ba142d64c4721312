//! A campaign's life (DESIGN §4): starting it (recording the file and materialising one
//! send per eligible contact, in batches), refusing a changed file under a started name,
//! pause / resume / cancel, and the status report of DESIGN §7.

use super::Campaign;
use super::plan::audience_query;
use crate::app::App;
use crate::domain::{BounceKind, CampaignState, SendState};
use crate::error::{Error, Result};
use crate::store::{CampaignCounts, CampaignRecord, FailedSend, NewCampaign};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Audience members judged per materialisation batch.
const MATERIALISE_BATCH: i64 = 5_000;

/// Records the campaign (or finds it, refusing a changed file), in state `start_as`
/// when new. Returns the record and whether it was new.
pub async fn record(
    app: &App,
    campaign: &Campaign,
    content: &str,
    start_as: CampaignState,
) -> Result<(CampaignRecord, bool)> {
    if let Some(existing) = app.store.campaign_by_name(&campaign.name).await? {
        if existing.content_hash != campaign.content_hash {
            return Err(Error::Refused(format!(
                "campaign '{}' was started from a different file ({}); changed: {}. Give the changed campaign a new `name`",
                campaign.name,
                existing.file_path,
                changed_keys(&existing.content, content)
            )));
        }
        return Ok((existing, false));
    }
    let new = NewCampaign {
        name: campaign.name.clone(),
        kind: campaign.kind().as_str().to_owned(),
        file_path: campaign.path.display().to_string(),
        content: content.to_owned(),
        content_hash: campaign.content_hash.clone(),
        state: start_as,
        send_at: campaign.send_at,
    };
    Ok((app.store.create_campaign(&new, app.clock.now()).await?, true))
}

/// The top-level keys (and `policy.*` keys) whose values differ between two versions of
/// a campaign file.
fn changed_keys(old: &str, new: &str) -> String {
    let parse = |t: &str| t.parse::<toml::Table>().unwrap_or_default();
    let (old, new) = (parse(old), parse(new));
    let mut keys: Vec<String> = Vec::new();
    let all: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in all {
        if old.get(k) != new.get(k) {
            keys.push(k.clone());
        }
    }
    if keys.is_empty() { "formatting or comments only".into() } else { keys.join(", ") }
}

/// Queues one send per eligible audience member, from where materialisation stopped.
/// Several processes may run it at once: sends are unique per campaign and contact.
pub async fn materialise(app: &App, record: &CampaignRecord, campaign: &Campaign) -> Result<u64> {
    if record.materialised {
        return Ok(0);
    }
    let query = audience_query(campaign, app.clock.now());
    // Slices of contact ids, each judged on its own (bounded work per batch, whatever
    // the lists and the segment), up to the newest contact when materialisation starts.
    let last = app.store.max_contact_id().await?;
    let slice_end = |after: i64| (after + MATERIALISE_BATCH).min(last.max(after));
    let mut after = record.materialised_upto;
    let mut upto = slice_end(after);
    let mut batch = app.store.audience_range(&query, after, upto).await?;
    let mut queued = 0;
    loop {
        let done = upto >= last;
        let eligible: Vec<i64> = batch.iter().filter(|(_, reason)| reason.is_none()).map(|(id, _)| *id).collect();
        let queue = app.store.materialise(record.id, &eligible, upto, done, app.clock.now());
        if done {
            return Ok(queued + queue.await?);
        }
        // The next slice is judged (a read, on another connection) while this one is written.
        after = upto;
        upto = slice_end(after);
        let (written, next) = tokio::join!(queue, app.store.audience_range(&query, after, upto));
        queued += written?;
        batch = next?;
    }
}

/// `campaign pause|resume|cancel NAME`.
pub async fn transition(app: &App, name: &str, to: CampaignState, reason: Option<&str>) -> Result<CampaignRecord> {
    let record = find(app, name).await?;
    let from: &[CampaignState] = match to {
        CampaignState::Paused => &[CampaignState::Running, CampaignState::Scheduled],
        CampaignState::Running => &[CampaignState::Paused],
        CampaignState::Cancelled => &[CampaignState::Running, CampaignState::Scheduled, CampaignState::Paused],
        _ => &[],
    };
    if !app.store.set_campaign_state(record.id, from, to, reason, app.clock.now()).await? {
        return Err(Error::Refused(format!("campaign '{name}' is {}; it cannot become {to}", record.state)));
    }
    if to == CampaignState::Cancelled {
        // Nothing more will be sent: queued and deferred sends end as skipped.
        app.store.cancel_open_sends(record.id, app.clock.now()).await?;
    }
    find(app, name).await
}

pub async fn find(app: &App, name: &str) -> Result<CampaignRecord> {
    app.store.campaign_by_name(name).await?.ok_or_else(|| Error::NotFound(format!("no campaign named '{name}'")))
}

/// `campaign send --json` / `campaign status --json` (DESIGN §7), plus what a person
/// reading the status wants: why it is paused, retries, the bounce rate, failures.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub campaign: String,
    pub state: CampaignState,
    pub sent: i64,
    pub failed: i64,
    pub deferred: i64,
    pub skipped: BTreeMap<String, i64>,
    pub in_doubt: i64,
    pub hard_bounces: i64,
    pub soft_bounces: i64,
    pub complaints: i64,
    pub queued: i64,
    pub total: i64,
    pub bounce_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry: Option<DateTime<Utc>>,
    pub failures: Vec<FailedSend>,
}

pub async fn status(app: &App, record: &CampaignRecord) -> Result<Status> {
    let counts: CampaignCounts = app.store.campaign_counts(record.id).await?;
    let sent = counts.get(SendState::Sent);
    let hard = counts.bounces(BounceKind::Hard);
    let attempted = sent + counts.get(SendState::Failed) + counts.get(SendState::InDoubt);
    Ok(Status {
        campaign: record.name.clone(),
        state: record.state,
        sent,
        failed: counts.get(SendState::Failed),
        deferred: counts.get(SendState::Deferred),
        skipped: counts.skipped.clone(),
        in_doubt: counts.get(SendState::InDoubt),
        hard_bounces: hard,
        soft_bounces: counts.bounces(BounceKind::Soft),
        complaints: counts.bounces(BounceKind::Complaint),
        queued: counts.get(SendState::Queued) + counts.get(SendState::Claimed) + counts.get(SendState::Transmitting),
        total: counts.total(),
        bounce_rate: if attempted > 0 { hard as f64 / attempted as f64 } else { 0.0 },
        reason: record.state_reason.clone(),
        next_retry: app.store.next_retry(record.id).await?,
        failures: app.store.failures(record.id, 20).await?,
    })
}
