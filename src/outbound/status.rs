//! `herald webhooks status`: per webhook, configured or still holding rows, what waits,
//! what went and what failed, and why (a status code or a connection error: no personal
//! data).

use crate::app::App;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One webhook's line of `webhooks status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookStatus {
    pub name: String,
    /// In the config now (false: rows left by a webhook since removed; they are not sent).
    pub configured: bool,
    /// Its key variable is set in this environment (the daemon's may differ).
    pub key_set: bool,
    pub events: Vec<&'static str>,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub oldest_pending_age_seconds: Option<i64>,
    pub last_error: Option<String>,
}

/// Every configured webhook, then those with rows but no config, by name.
pub async fn status(app: &App) -> Result<Vec<WebhookStatus>> {
    let now = app.clock.now();
    let mut rows = app.store.outbox_status().await?;
    let mut out: Vec<WebhookStatus> = app
        .config
        .webhooks
        .out
        .iter()
        .map(|w| {
            let figures = rows.iter().position(|r| r.webhook == w.name).map(|i| rows.remove(i)).unwrap_or_default();
            WebhookStatus {
                name: w.name.clone(),
                configured: true,
                key_set: app.secrets.outbound.get(&w.name).is_some(),
                events: w.events.clone(),
                pending: figures.pending,
                delivered: figures.delivered,
                failed: figures.failed,
                oldest_pending_at: figures.oldest_pending_at,
                oldest_pending_age_seconds: figures.oldest_pending_at.map(|at| (now - at).num_seconds().max(0)),
                last_error: figures.last_error,
            }
        })
        .collect();
    out.extend(rows.into_iter().map(|r| WebhookStatus {
        name: r.webhook,
        configured: false,
        key_set: false,
        events: Vec::new(),
        pending: r.pending,
        delivered: r.delivered,
        failed: r.failed,
        oldest_pending_at: r.oldest_pending_at,
        oldest_pending_age_seconds: r.oldest_pending_at.map(|at| (now - at).num_seconds().max(0)),
        last_error: r.last_error,
    }));
    Ok(out)
}
