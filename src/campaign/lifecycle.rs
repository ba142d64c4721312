//! A campaign's life (DESIGN §4): starting it (recording the file and materialising one
//! send per eligible contact, in batches), refusing a changed file under a started name,
//! pause / resume / cancel, and the status report of DESIGN §7.

use super::Campaign;
use super::plan::audience_query;
use crate::app::App;
use crate::domain::{BounceKind, CampaignState, ContactId, SendState};
use crate::error::{Error, Result};
use crate::store::{CampaignCounts, CampaignRecord, FailedSend, NewCampaign, Revision};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Audience members judged per materialisation batch.
const MATERIALISE_BATCH: i64 = 5_000;

/// Records the campaign (or finds it, refusing a changed file once anything has been
/// delivered), in state `start_as` when new. Returns the record and whether it was new.
pub async fn record(
    app: &App,
    campaign: &Campaign,
    content: &str,
    start_as: CampaignState,
) -> Result<(CampaignRecord, bool)> {
    record_with(app, campaign, content, start_as, false).await
}

/// [`record`], and a changed file for a started campaign: accepted as its next revision
/// while nothing has been delivered, or with `new_revision` (the recipients already sent
/// to are never sent to again); refused otherwise, naming the changed keys and the two
/// content hashes.
pub async fn record_with(
    app: &App,
    campaign: &Campaign,
    content: &str,
    start_as: CampaignState,
    new_revision: bool,
) -> Result<(CampaignRecord, bool)> {
    if let Some(existing) = app.store.campaign_by_name(&campaign.name).await? {
        if existing.content_hash == campaign.content_hash {
            return Ok((existing, false));
        }
        let counts = app.store.campaign_counts(existing.id).await?;
        let delivered =
            counts.get(SendState::Sent) + counts.get(SendState::InDoubt) + counts.get(SendState::Transmitting);
        if delivered > 0 && !new_revision {
            let file = campaign.path.display().to_string();
            let started_from = if existing.file_path == file {
                String::new()
            } else {
                format!(" (started from {})", existing.file_path)
            };
            return Err(Error::Refused(format!(
                "campaign '{}' has delivered {delivered} message(s) from its recorded content (sha256 {}){started_from}, \
                 and {file} now differs (sha256 {}); changed: {}. Run `herald campaign send {file} --new-revision` \
                 to send the new content to the recipients not yet sent to, or give the changed campaign a new `name`",
                campaign.name,
                short_hash(&existing.content_hash),
                short_hash(&campaign.content_hash),
                changed_keys(&existing.content, content)
            )));
        }
        if existing.state == CampaignState::Cancelled {
            return Ok((existing, false));
        }
        let revision = Revision {
            file_path: campaign.path.display().to_string(),
            content: content.to_owned(),
            content_hash: campaign.content_hash.clone(),
            kind: campaign.kind().as_str().to_owned(),
            send_at: campaign.send_at,
        };
        let now = app.clock.now();
        let number = app.store.revise_campaign(existing.id, &revision, now).await?;
        // A completed campaign has recipients left under the new content (its audience is
        // judged again); it runs again.
        app.store
            .set_campaign_state(existing.id, &[CampaignState::Completed], CampaignState::Running, None, now)
            .await?;
        tracing::info!(campaign_id = existing.id.get(), revision = number, delivered, "campaign content revised");
        return Ok((find(app, &campaign.name).await?, false));
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

/// Enough of a content hash to tell two apart on a terminal.
fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
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
    let slice_end =
        |after: ContactId| ContactId::new((after.get() + MATERIALISE_BATCH).min(last.get().max(after.get())));
    let mut after = record.materialised_upto;
    let mut upto = slice_end(after);
    let mut batch = app.store.audience_range(&query, after, upto).await?;
    let mut queued = 0;
    loop {
        let done = upto >= last;
        let eligible: Vec<ContactId> = batch.iter().filter(|m| m.exclusion.is_none()).map(|m| m.contact_id).collect();
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

/// `campaign retry NAME`: the sends that failed (or wait for a retry) on Herald's or the
/// relay's side go back to the queue; never a recipient's refusal, never a sent one. A
/// campaign the fault guard paused, or that completed, runs again. Returns how many.
pub async fn retry(app: &App, name: &str) -> Result<(CampaignRecord, u64)> {
    let record = find(app, name).await?;
    if record.state == CampaignState::Cancelled {
        return Err(Error::Refused(format!("campaign '{name}' was cancelled; nothing is sent for it any more")));
    }
    let now = app.clock.now();
    let requeued = app.store.requeue_faults(record.id, now).await?;
    let guarded = record.state_reason.as_deref().is_some_and(|r| r.starts_with(FAULT_GUARD));
    if requeued > 0 && (record.state == CampaignState::Completed || guarded) {
        let from = [CampaignState::Completed, CampaignState::Paused];
        app.store.set_campaign_state(record.id, &from, CampaignState::Running, None, now).await?;
    }
    Ok((find(app, name).await?, requeued))
}

/// How the fault guard's pause reason starts (see `send::guard::fault_verdict`).
pub const FAULT_GUARD: &str = "fault guard:";

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
    /// Which content the campaign runs from: 1, then one more per accepted change.
    pub revision: i64,
    /// Failed or waiting for a retry through Herald's or the relay's fault (not the
    /// recipient's): `campaign retry NAME` puts them back in the queue.
    pub faults: i64,
    /// People who followed a re-permission campaign's confirm link (0 for other kinds).
    pub reconfirmed: u64,
    /// Messages opened, and messages with a link followed (DESIGN §11): counted only for
    /// contacts who consented to tracking, in campaigns with `tracking = true`.
    pub opened: i64,
    pub clicked: i64,
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
        revision: app.store.campaign_revision(record.id).await?,
        faults: counts.faults,
        reconfirmed: app
            .store
            .count_confirmed(
                crate::domain::ConfirmKind::Reconfirm,
                &crate::contacts::confirm::reconfirm_request(&record.name),
            )
            .await?,
        opened: counts.opened,
        clicked: counts.clicked,
        reason: record.state_reason.clone(),
        next_retry: app.store.next_retry(record.id).await?,
        failures: app.store.failures(record.id, 20).await?,
    })
}
