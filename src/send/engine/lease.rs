//! The engine's leases (DESIGN §4): who holds them, how long they last, the claims made
//! under them (one campaign, or the running ones in turn), the heartbeat that renews them
//! while attempts run, and the recovery of expired ones.

use super::shared::Shared;
use crate::config::{OnDoubt, SendingConfig};
use crate::domain::CampaignState;
use crate::error::Result;
use crate::store::{Claim, Recovered};
use std::sync::Arc;
use std::time::Duration;

/// How long a claim (or a mark) holds its row.
pub(super) fn length(cfg: &SendingConfig) -> chrono::Duration {
    chrono::Duration::seconds(cfg.lease_seconds.max(3) as i64)
}

/// Lease recovery (expired claims re-queued, expired transmissions in doubt).
pub(super) async fn recover(shared: &Shared) -> Result<Recovered> {
    let app = &shared.app;
    let recovered = app.store.recover(app.clock.now(), shared.cfg.on_doubt == OnDoubt::Resend).await?;
    if recovered.in_doubt > 0 || recovered.requeued > 0 {
        tracing::warn!(requeued = recovered.requeued, in_doubt = recovered.in_doubt, "recovered expired leases");
    }
    Ok(recovered)
}

/// Claims a batch of `campaign`, or of every source: the due messages of the other
/// sources (test sends, confirmations, flow steps), else the running campaigns in turn (so
/// that one large campaign does not hold back the others).
pub(super) async fn claim(
    shared: &Shared,
    campaign: Option<crate::domain::CampaignId>,
    rotation: &mut Rotation,
    limit: i64,
) -> Result<Vec<Claim>> {
    let store = &shared.app.store;
    let now = shared.app.clock.now();
    let lease = length(&shared.cfg);
    if let Some(id) = campaign {
        return shared.writer.claim(id, limit, now + lease, now).await;
    }
    // Every source: the messages of the other sources first (a confirmation is awaited by
    // a person at a web page), then the campaigns.
    let messages = shared.writer.claim_messages(limit, now + lease, now).await?;
    if !messages.is_empty() {
        return Ok(messages);
    }
    if rotation.refreshed.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        rotation.ids = store
            .active_campaigns(now)
            .await?
            .into_iter()
            .filter(|r| r.state == CampaignState::Running)
            .map(|r| r.id)
            .collect();
        rotation.refreshed = Some(tokio::time::Instant::now());
    }
    for _ in 0..rotation.ids.len() {
        rotation.next = (rotation.next + 1) % rotation.ids.len();
        let id = rotation.ids[rotation.next];
        let claims = shared.writer.claim(id, limit, now + lease, now).await?;
        if !claims.is_empty() {
            return Ok(claims);
        }
    }
    // Nothing due anywhere: look at the campaigns afresh next time.
    rotation.refreshed = None;
    Ok(Vec::new())
}

/// Claims due messages of the other sources only (`campaign test` waits on its own).
pub(super) async fn claim_messages(shared: &Shared, limit: i64) -> Result<Vec<Claim>> {
    let now = shared.app.clock.now();
    shared.app.store.claim_messages(&shared.owner, limit, now + length(&shared.cfg), now).await
}

/// Renews this engine's leases every third of their length until aborted.
pub(super) fn heartbeat(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let lease = length(&shared.cfg);
    let every = (lease / 3).to_std().unwrap_or(Duration::from_secs(10));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let now = shared.app.clock.now();
            if let Err(e) = shared.app.store.renew_leases(&shared.owner, now + lease).await {
                tracing::warn!(error = %e, "cannot renew leases");
            }
        }
    })
}

/// The running campaigns the daemon claims from, in turn.
#[derive(Default)]
pub(super) struct Rotation {
    ids: Vec<crate::domain::CampaignId>,
    next: usize,
    refreshed: Option<tokio::time::Instant>,
}

/// Who holds a lease: host, process and a random tag (a restarted process is another
/// owner, so it never mistakes a dead process's rows for its own).
pub(super) fn owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into());
    format!("{host}/{}/{:08x}", std::process::id(), rand::random::<u32>())
}
