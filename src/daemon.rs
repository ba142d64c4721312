//! `herald daemon` (DESIGN §6): the scheduler (due campaigns start, running ones are
//! materialised, unconfirmed sign-ups expire once a minute, retention runs daily when
//! `[retention] enabled`; every second the flow triggers are applied and due flow steps
//! queued: `flows::watch`, `flows::scheduler`), the CRM webhook delivery
//! (`outbound::run`), the engine over every running campaign (its loop also retries deferred
//! sends and recovers expired leases), the HTTP server ([`web::serve`]: caps and
//! timeouts on what clients hold) and the bounce listener. SIGTERM / Ctrl-C stop
//! claiming, let in-flight attempts finish (bounded by the SMTP timeout), release the
//! rest and exit. Several daemons on one PostgreSQL share the work through leases.
//! The outbound webhook worker (`outbound::run`) delivers the consent signals the
//! `[[webhooks.out]]` ask for.

use crate::app::App;
use crate::campaign::{self, lifecycle};
use crate::domain::CampaignState;
use crate::error::{Error, Result};
use crate::send::engine::{Deps, Engine, Until};
use crate::store::CampaignRecord;
use crate::web::{self, WebState};
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How often the scheduler looks for campaigns to start or materialise.
const SCHEDULE_EVERY: Duration = Duration::from_secs(1);
/// How often the scheduler deletes the confirmations that expired unconfirmed (and the
/// contacts of sign-ups that never were), `[web] confirm_expiry` after their request.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// How long the daemon waits after the engine fails (the database went away, say)
/// before it tries again.
const ENGINE_RETRY: Duration = Duration::from_secs(5);

/// Where the daemon listens.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    /// The HTTP server.
    pub web: SocketAddr,
    /// The inbound SMTP listener for the bounce domain, when `[bounces] listen` is set.
    pub bounces: Option<SocketAddr>,
}

/// Runs until `shutdown` turns true. `listening` is told the bound addresses once the
/// servers accept connections.
pub async fn run(
    app: Arc<App>,
    deps: Deps,
    listen: &str,
    mut shutdown: watch::Receiver<bool>,
    listening: impl FnOnce(Listening),
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {listen} ([web] listen): {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(e.into()))?;
    tracing::info!(%addr, "HTTP server listening");
    let bounces = match app.config.bounces.listen.as_deref() {
        Some(addr) => Some(crate::feedback::listener::bind(addr).await?),
        None => None,
    };
    if let Some(bound) = bounces.as_ref().and_then(|l| l.local_addr().ok()) {
        tracing::info!(addr = %bound, "bounce listener (SMTP) listening");
    }
    for warning in app.secrets.webhooks.warnings() {
        tracing::warn!("webhooks: {warning}");
    }
    let certs: Arc<dyn crate::feedback::webhooks::CertSource> = match crate::feedback::webhooks::HttpsCertSource::new()
    {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: no HTTPS client for SNS certificates; SES webhooks will answer 503");
            Arc::new(crate::feedback::webhooks::NoCerts)
        }
    };
    let engine = Engine::new(app.clone(), deps);
    let state = Arc::new(WebState {
        app: app.clone(),
        metrics: engine.metrics(),
        throttle: engine.throttle(),
        stopping: Default::default(),
        certs,
        pages: Arc::new(crate::web::pages::Pages::load(&app.config)?),
        signups: crate::web::signup::Signups::from_config(&app.config.web),
        downloads: Default::default(),
        api: crate::web::api::ApiLimits::new(&app),
    });
    let bounces_addr = bounces.as_ref().and_then(|l| l.local_addr().ok());
    let bounce_listener =
        bounces.map(|l| tokio::spawn(crate::feedback::listener::serve(app.clone(), l, shutdown.clone())));
    let web = {
        let (router, config, stop) = (web::router(state.clone()), app.config.web.clone(), shutdown.clone());
        tokio::spawn(async move { web::serve::serve(listener, router, &config, stop).await })
    };
    // The campaign states as they are before anyone can know the daemon is up: a change
    // made once it has said so is one it logs, however soon its scheduler first runs.
    let seen = Seen::now(&app).await;
    listening(Listening { web: addr, bounces: bounces_addr });
    let scheduler = tokio::spawn(scheduler(app.clone(), shutdown.clone(), engine.waker(), seen));
    // Outbound consent webhooks (`[[webhooks.out]]`): returns at once when none is configured.
    let webhooks_out = tokio::spawn(crate::outbound::run(app.clone(), shutdown.clone()));

    loop {
        match engine.run(None, Until::Shutdown, shutdown.clone(), &|| {}).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "the sending engine stopped; retrying in {}s", ENGINE_RETRY.as_secs());
                tokio::select! {
                    _ = tokio::time::sleep(ENGINE_RETRY) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    state.stopping.store(true, Ordering::Relaxed);
    engine.close().await;
    let _ = scheduler.await;
    if let Ok(Err(e)) = webhooks_out.await {
        tracing::error!(error = %e, "outbound webhooks stopped");
    }
    if let Some(l) = bounce_listener {
        let _ = l.await;
    }
    if tokio::time::timeout(Duration::from_secs(5), web).await.is_err() {
        tracing::warn!("the HTTP server did not stop within 5 s");
    }
    settle_signups(&state).await;
    Ok(())
}

/// Lets the sign-ups already answered finish recording (a few database writes each).
async fn settle_signups(state: &WebState) {
    if tokio::time::timeout(Duration::from_secs(5), state.signups.settled()).await.is_err() {
        tracing::warn!("sign-ups still being recorded after 5 s were dropped");
    }
}

/// `herald serve`: the web surface alone (pages, webhooks, `/healthz`, `/metrics`), no
/// scheduler, no sending engine and no bounce listener. What the pages queue (a
/// confirmation email) is sent by a daemon sharing the database. Runs until `shutdown`.
pub async fn serve_only(
    app: Arc<App>,
    listen: &str,
    shutdown: watch::Receiver<bool>,
    listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {listen} ([web] listen): {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(e.into()))?;
    tracing::info!(%addr, "HTTP server listening (web surface only)");
    let state = Arc::new(WebState::without_engine(app.clone())?);
    let router = web::router(state.clone());
    listening(addr);
    web::serve::serve(listener, router, &app.config.web, shutdown).await;
    settle_signups(&state).await;
    Ok(())
}

/// Resolves once `shutdown` is true (or its sender is gone).
pub(crate) async fn stopped(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

async fn scheduler(
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
    engine: Arc<tokio::sync::Notify>,
    mut seen: Seen,
) {
    // The engine is woken as soon as a batch of steps is queued, not at its next poll.
    let mut flows = crate::flows::scheduler::Scheduler::new().waking(engine);
    let mut last_expiry: Option<tokio::time::Instant> = None;
    loop {
        if let Err(e) = schedule_once(&app).await {
            tracing::warn!(error = %e, "scheduler");
        }
        if last_expiry.is_none_or(|at| at.elapsed() >= EXPIRE_EVERY) {
            last_expiry = Some(tokio::time::Instant::now());
            match crate::contacts::confirm::expire(&app).await {
                Ok((0, _)) => {}
                Ok((confirmations, contacts)) => {
                    tracing::info!(confirmations, contacts, "expired confirmations deleted")
                }
                Err(e) => tracing::warn!(error = %e, "scheduler: expiring confirmations"),
            }
            if app.config.retention.enabled {
                retention_if_due(&app).await;
            }
        }
        // The flow files, read once for the trigger pass and the tick.
        let ticked = match crate::flows::enrolment::valid_flows(&app) {
            Ok((valid, invalid)) => {
                if let Err(e) = crate::flows::watch::pass(&app, &valid).await {
                    tracing::warn!(error = %e, "scheduler: flow triggers");
                }
                flows.tick_flows(&app, &valid, invalid).await
            }
            Err(e) => Err(e),
        };
        // A tick that stopped on a full queue (`Tick::more`) is followed by the next one at
        // once: it has already waited for the engine.
        let more = match ticked {
            Ok(tick) => tick.more,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: flow steps");
                false
            }
        };
        if let Err(e) = seen.log_changes(&app).await {
            tracing::warn!(error = %e, "scheduler: campaign states");
        }
        if !more {
            tokio::select! {
                _ = tokio::time::sleep(SCHEDULE_EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// `[retention] enabled`: retention's daily run, checked at the expiry's pace; the run
/// itself happens once a day (`privacy::retention::run_if_due`).
async fn retention_if_due(app: &App) {
    match crate::privacy::retention::run_if_due(app).await {
        Ok(None) => {}
        Ok(Some(done)) => tracing::info!(
            inactive = done.inactive,
            expired_signups = done.expired_signups,
            erased = done.erased,
            failed = done.failed.len(),
            "retention: daily run"
        ),
        Err(e) => tracing::warn!(error = %e, "scheduler: retention"),
    }
}

/// The campaign states this daemon last saw, so that it can log a pause, resume or
/// cancel made elsewhere (`herald campaign pause` from another shell, another daemon's
/// guard): one INFO line per change it notices. Starts and completions are logged where
/// they happen (the scheduler's start, the engine's completion), so they are not repeated.
/// A campaign that appeared since the last look was created scheduled or running: one
/// found paused or cancelled was paused or cancelled since, and that is logged too (a
/// pause and a resume both made between two looks are not).
#[derive(Default)]
struct Seen {
    states: Option<std::collections::HashMap<crate::domain::CampaignId, CampaignState>>,
}

impl Seen {
    /// The states as they are now, nothing logged; empty (the first look logs nothing)
    /// when the database cannot be read.
    async fn now(app: &App) -> Seen {
        let mut seen = Seen::default();
        if let Err(e) = seen.log_changes(app).await {
            tracing::warn!(error = %e, "scheduler: campaign states");
        }
        seen
    }

    async fn log_changes(&mut self, app: &App) -> Result<()> {
        let now: std::collections::HashMap<crate::domain::CampaignId, CampaignState> = app
            .store
            .campaign_states()
            .await?
            .into_iter()
            .map(|c| {
                let before = self.states.as_ref().map(|s| s.get(&c.id).copied().unwrap_or(CampaignState::Scheduled));
                if let Some(before) = before
                    && before != c.state
                {
                    log_change(&c.name, before, c.state, c.state_reason.as_deref());
                }
                (c.id, c.state)
            })
            .collect();
        self.states = Some(now);
        Ok(())
    }
}

fn log_change(campaign: &str, before: CampaignState, now: CampaignState, reason: Option<&str>) {
    let reason = reason.unwrap_or("");
    match (before, now) {
        (_, CampaignState::Paused) => tracing::info!(campaign, reason, "campaign paused"),
        // Completed since the last look: it was resumed first (its completion is logged
        // where it happens).
        (CampaignState::Paused, CampaignState::Running | CampaignState::Completed) => {
            tracing::info!(campaign, "campaign resumed")
        }
        (_, CampaignState::Cancelled) => tracing::info!(campaign, reason, "campaign cancelled"),
        _ => {}
    }
}

/// Starts the scheduled campaigns whose `send_at` has passed and materialises the
/// running ones that are not yet (or were interrupted while being) materialised, unless
/// another process is materialising them (`Store::try_lock_materialising`).
pub async fn schedule_once(app: &App) -> Result<()> {
    let now = app.clock.now();
    for record in app.store.active_campaigns(now).await? {
        let record = if record.state == CampaignState::Scheduled {
            // Another daemon may win the race: then it is running already.
            if app
                .store
                .set_campaign_state(record.id, &[CampaignState::Scheduled], CampaignState::Running, None, now)
                .await?
            {
                tracing::info!(campaign = %record.name, "campaign started");
            }
            match app.store.campaign_by_id(record.id).await? {
                Some(r) if r.state == CampaignState::Running => r,
                _ => continue,
            }
        } else {
            record
        };
        if record.materialised {
            continue;
        }
        // Another daemon is materialising it (see `store::materialising`): leave it to it.
        let Some(lock) = app.store.try_lock_materialising(record.id).await? else { continue };
        // It may have finished between the read above and the lock: read its cursor again.
        let record = match app.store.campaign_by_id(record.id).await? {
            Some(r) if r.state == CampaignState::Running && !r.materialised => r,
            _ => {
                lock.release().await?;
                continue;
            }
        };
        let done = materialise_or_pause(app, &record, now).await;
        lock.release().await?;
        done?;
    }
    Ok(())
}

/// Materialises a running campaign from its cursor, or pauses it when its stored file no
/// longer parses.
async fn materialise_or_pause(app: &App, record: &CampaignRecord, now: DateTime<Utc>) -> Result<()> {
    match campaign::parse(Path::new(&record.file_path), &record.content, &app.config.policy) {
        Ok(c) => {
            let queued = lifecycle::materialise(app, record, &c).await?;
            tracing::info!(campaign = %record.name, queued, "campaign materialised");
        }
        Err(e) => {
            let reason = format!("cannot prepare the campaign: {e}");
            app.store
                .set_campaign_state(record.id, &[CampaignState::Running], CampaignState::Paused, Some(&reason), now)
                .await?;
            tracing::warn!(campaign = %record.name, %reason, "campaign paused");
        }
    }
    Ok(())
}
