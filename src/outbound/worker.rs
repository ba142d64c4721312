//! The delivery task of `herald daemon`: for each `[[webhooks.out]]`, the pending signals
//! in outbox order, under a lease on the webhook (so several daemons on one PostgreSQL
//! never deliver one webhook's signals out of order, nor twice on purpose).
//!
//! Order: strictly by outbox id per webhook (head-of-line). A contact's changes are
//! serialised by the row lock of its record, so its rows get ascending ids in commit
//! order, and its later signal never reaches the CRM before an earlier one. A signal
//! that fails waits `backoff · 2^(attempt-1)` (±25 % jitter, capped at `max_backoff`)
//! and holds up the webhook meanwhile; after `max_attempts` it is `failed` (kept, shown by
//! `webhooks status`, re-queued by `webhooks retry`) and the queue moves on.
//!
//! Like the send engine's worker, the loop ([`run`]) is split from one step
//! ([`Worker::step`]) so tests drive delivery one step at a time.

use super::http::Client;
use super::payload;
use crate::app::App;
use crate::config::OutboundWebhook;
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Signals read per step.
const BATCH: i64 = 20;
/// How long an idle webhook waits before it looks again.
const POLL: Duration = Duration::from_millis(500);
/// How often delivered rows older than `[webhooks] keep_delivered` are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Delivered or gave up signals; more may be waiting.
    Progress,
    /// Nothing is pending.
    Idle,
    /// The first pending signal is due in this long.
    Waiting(Duration),
    /// Another daemon holds the webhook's lease.
    Held,
    /// The webhook's key variable is not set: nothing can be signed, nothing is sent.
    NoKey,
}

/// Delivers the signals of one daemon.
#[derive(Clone)]
pub struct Worker {
    app: Arc<App>,
    client: Client,
    /// This worker's lease owner name.
    owner: String,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("owner", &self.owner).finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(app: Arc<App>) -> Result<Worker> {
        let client = Client::new().map_err(|e| crate::error::Error::Internal(anyhow::anyhow!("TLS client: {e}")))?;
        let owner = format!("webhooks-{}", hex::encode(rand::random::<[u8; 8]>()));
        Ok(Worker { app, client, owner })
    }

    /// One pass over `webhook`'s queue: up to [`BATCH`] signals, in order, stopping at
    /// the first that is not yet due or fails.
    pub async fn step(&self, webhook: &OutboundWebhook) -> Result<Step> {
        let store = &self.app.store;
        if !self.renew(webhook).await? {
            return Ok(Step::Held);
        }
        let Some(key) = self.app.secrets.outbound.get(&webhook.name) else { return Ok(Step::NoKey) };
        let rows = store.outbox_pending(&webhook.name, BATCH).await?;
        if rows.is_empty() {
            return Ok(Step::Idle);
        }
        for row in rows {
            let now = self.app.clock.now();
            if row.next_at > now {
                return Ok(Step::Waiting(until(now, row.next_at)));
            }
            if !self.renew(webhook).await? {
                return Ok(Step::Held);
            }
            let body = payload::body(&row);
            let headers = payload::headers(key, now.timestamp(), &row, &body);
            let attempt = row.attempts + 1;
            match self.client.post(&webhook.url, &headers, body, webhook.timeout).await {
                Ok(()) => {
                    store.outbox_delivered(row.id, self.app.clock.now()).await?;
                    tracing::debug!(webhook = %webhook.name, outbox_id = row.id, event = %row.signal, attempt, "webhook delivered");
                }
                Err(error) if attempt as u32 >= webhook.max_attempts => {
                    store.outbox_attempt_failed(row.id, &error, None).await?;
                    tracing::warn!(webhook = %webhook.name, outbox_id = row.id, event = %row.signal, attempt, %error,
                        "webhook signal failed for good; `herald webhooks retry` re-queues it");
                }
                Err(error) => {
                    let delay = backoff(webhook, attempt as u32, rand::random::<f64>());
                    let at = self.app.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                    store.outbox_attempt_failed(row.id, &error, Some(at)).await?;
                    tracing::info!(webhook = %webhook.name, outbox_id = row.id, event = %row.signal, attempt, %error,
                        retry_in_ms = delay.as_millis() as u64, "webhook attempt failed");
                    return Ok(Step::Waiting(delay));
                }
            }
        }
        Ok(Step::Progress)
    }

    /// Takes or renews the lease for three request timeouts (at least a second).
    async fn renew(&self, webhook: &OutboundWebhook) -> Result<bool> {
        let now = self.app.clock.now();
        let lease = (webhook.timeout * 3).max(Duration::from_secs(1));
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        self.app.store.outbox_lease(&webhook.name, &self.owner, until, now).await
    }

    /// Gives the webhook's lease up, so another daemon takes over at once.
    pub async fn release(&self, webhook: &OutboundWebhook) -> Result<()> {
        self.app.store.outbox_release(&webhook.name, &self.owner).await
    }

    /// Delivers `webhook`'s signals until `shutdown`.
    async fn serve(self, webhook: OutboundWebhook, mut shutdown: watch::Receiver<bool>) {
        let mut warned_key = false;
        while !*shutdown.borrow() {
            let wait = match self.step(&webhook).await {
                Ok(Step::Progress) => continue,
                Ok(Step::Waiting(d)) => d.min(POLL * 4),
                Ok(Step::Idle | Step::Held) => POLL,
                Ok(Step::NoKey) => {
                    if !warned_key {
                        warned_key = true;
                        tracing::error!(webhook = %webhook.name, variable = %webhook.secret_env,
                            "webhook key not set: its signals stay in the outbox until it is");
                    }
                    POLL * 10
                }
                Err(e) => {
                    tracing::warn!(webhook = %webhook.name, error = %e, "webhook delivery");
                    POLL * 4
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Err(e) = self.release(&webhook).await {
            tracing::warn!(webhook = %webhook.name, error = %e, "releasing the webhook lease");
        }
    }
}

fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// The delay before attempt `failed + 1`: `backoff · 2^(failed-1)`, times a jitter factor
/// in [0.75, 1.25) from `unit` (uniform in [0, 1)), at most `max_backoff`.
pub fn backoff(webhook: &OutboundWebhook, failed: u32, unit: f64) -> Duration {
    let doubled = webhook.backoff.saturating_mul(1u32 << failed.saturating_sub(1).min(20));
    doubled.min(webhook.max_backoff).mul_f64(0.75 + unit.clamp(0.0, 1.0) / 2.0).min(webhook.max_backoff)
}

/// The daemon's webhook task: one delivery loop per `[[webhooks.out]]`, and the purge of
/// delivered rows, until `shutdown`. Returns at once when no webhook is configured.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    if app.config.webhooks.out.is_empty() {
        return Ok(());
    }
    let worker = Worker::new(app.clone())?;
    // A JoinSet: the loops end with this task, even when it is aborted rather than stopped.
    let mut loops = tokio::task::JoinSet::new();
    for w in &app.config.webhooks.out {
        loops.spawn(worker.clone().serve(w.clone(), shutdown.clone()));
    }
    while !*shutdown.borrow() {
        let keep = chrono::Duration::from_std(app.config.webhooks.keep_delivered).unwrap_or(chrono::Duration::MAX);
        match app.store.outbox_purge(app.clock.now() - keep).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "delivered webhook signals purged"),
            Err(e) => tracing::warn!(error = %e, "purging delivered webhook signals"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
    loops.join_all().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(backoff: u64, max: u64) -> OutboundWebhook {
        let text = format!(
            "[[out]]\nurl = \"https://a.example/\"\nevents = [\"erased\"]\nbackoff = \"{backoff}s\"\nmax_backoff = \"{max}s\"\n"
        );
        toml::from_str::<crate::config::WebhooksConfig>(&text).unwrap().out.remove(0)
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let w = webhook(10, 120);
        let mid = |n| backoff(&w, n, 0.5);
        assert_eq!([mid(1), mid(2), mid(3), mid(4), mid(5)].map(|d| d.as_secs()), [10, 20, 40, 80, 120]);
        assert_eq!(backoff(&w, 1, 0.0), Duration::from_millis(7_500));
        assert!(backoff(&w, 1, 0.999) < Duration::from_millis(12_500));
        assert_eq!(backoff(&w, 60, 0.999), Duration::from_secs(120), "never past the cap");
    }
}
