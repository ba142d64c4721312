//! `herald campaign send|schedule|validate|retry|status|pause|resume|cancel|list`: the
//! campaign lifecycle of DESIGN §4 and §7.

use super::send_progress::Progress;
use super::{Context, output};
use crate::app::App;
use crate::campaign::{self, check, lifecycle, preview};
use crate::domain::CampaignState;
use crate::error::{Error, Result};
use crate::render::Renderer;
use crate::send::engine::{Deps, Engine, Until};
use crate::send::smtp::mailer::Mailer;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

/// What `campaign send` was asked to do besides sending.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SendFlags {
    /// Wait for deferred retries, and for a relay to come up.
    pub wait: bool,
    /// Record the campaign even when nobody is eligible.
    pub allow_empty: bool,
    /// Continue a campaign that has delivered with its changed file's content.
    pub new_revision: bool,
}

/// Reads and validates the file, and checks that its templates compile and the sender
/// config is complete. Returns the campaign, the file's text, and its renderer.
fn load(app: &App, file: &Path) -> Result<(campaign::Campaign, String, Renderer)> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Invalid(format!("cannot read campaign file {}: {e}", file.display())))?;
    let c = campaign::parse(file, &text, &app.config.policy)?;
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, &c, app.secrets.dkim_key(&app.config)?)?;
    Ok((c, text, renderer))
}

/// The checks before anything is recorded (see [`check`]), for content not recorded yet
/// under this name (a new campaign, or a changed file): a file already recorded was
/// checked when it was, and its audience has since been sent to.
async fn checked(app: &App, file: &Path, allow_empty: bool) -> Result<(campaign::Campaign, String)> {
    let (c, text, renderer) = load(app, file)?;
    let recorded = app.store.campaign_by_name(&c.name).await?;
    if recorded.is_some_and(|r| r.content_hash == c.content_hash) {
        return Ok((c, text));
    }
    check::names_exist(app, &c).await?;
    let readiness = check::readiness(app, &c, &renderer).await?;
    match readiness.refusal(&file.display().to_string(), allow_empty) {
        Some(refusal) => Err(refusal),
        None => Ok((c, text)),
    }
}

/// Every relay is unreachable: an error naming each `host:port` and why, or, with
/// `wait`, a note and another look every `retry_base_seconds`, until one answers.
async fn relays_reachable(app: &App, mailer: &Mailer, wait: bool) -> Result<()> {
    let timeout = std::time::Duration::from_secs(app.config.sending.timeout_seconds.max(1));
    loop {
        let down = mailer.unreachable(timeout).await;
        if down.is_empty() || down.len() < mailer.relay_count() {
            return Ok(());
        }
        let named: Vec<String> = down.iter().map(|(relay, why)| format!("{relay} ({why})")).collect();
        if !wait {
            return Err(Error::Unavailable(format!(
                "no relay can be reached: {}; nothing was sent. Check [[smtp]] in the config, or pass --wait \
                 to wait for a relay",
                named.join(", ")
            )));
        }
        eprintln!("waiting for a relay: {}", named.join(", "));
        tokio::time::sleep(std::time::Duration::from_secs(app.config.sending.retry_base_seconds.max(1))).await;
    }
}

pub(super) async fn send(ctx: &Context, file: &Path, flags: SendFlags) -> Result<i32> {
    let app = Arc::new(ctx.open().await?);
    let (c, text) = checked(&app, file, flags.allow_empty).await?;
    let deps = Deps::from_config(&app)?;
    relays_reachable(&app, &deps.transport, flags.wait).await?;
    let (record, _) = lifecycle::record_with(&app, &c, &text, CampaignState::Running, flags.new_revision).await?;
    match record.state {
        CampaignState::Cancelled => {
            return Err(Error::Refused(format!("campaign '{}' was cancelled; give a new campaign a new name", c.name)));
        }
        CampaignState::Paused => {
            return Err(Error::Refused(format!(
                "campaign '{}' is paused ({}); run `herald campaign resume {}` first",
                c.name,
                record.state_reason.as_deref().unwrap_or("by hand"),
                c.name
            )));
        }
        CampaignState::Completed => {
            let status = lifecycle::status(&app, &record).await?;
            if ctx.json {
                output::json(&status);
            } else {
                println!(
                    "Campaign {} is already complete ({} sent, {} failed); nothing more to send",
                    c.name, status.sent, status.failed
                );
            }
            return Ok(0);
        }
        CampaignState::Scheduled => {
            app.store
                .set_campaign_state(
                    record.id,
                    &[CampaignState::Scheduled],
                    CampaignState::Running,
                    None,
                    app.clock.now(),
                )
                .await?;
        }
        CampaignState::Running => {}
    }
    lifecycle::materialise(&app, &record, &c).await?;
    let engine = Engine::new(app.clone(), deps);
    let outbox = engine.transport().outbox_dir();
    let total = app.store.campaign_counts(record.id).await?;
    let already = total.total() - total.open();
    let progress = Progress::new(!ctx.json && std::io::stderr().is_terminal(), total.total() as u64, already as u64);
    let metrics = engine.metrics();
    let tick = || progress.update(metrics.finished(), metrics.sent.load(Ordering::Relaxed));
    let stop = shutdown_signal();
    let until = if flags.wait { Until::Done } else { Until::Idle };
    let result = engine.run(Some(record.id), until, stop, &tick).await;
    engine.close().await;
    progress.finish();
    result?;
    let record = lifecycle::find(&app, &c.name).await?;
    let status = lifecycle::status(&app, &record).await?;
    if ctx.json {
        output::json(&status);
    } else {
        print_status(&status);
        print_failure_causes(&app.store.failure_reasons(record.id).await?);
        if let Some(dir) = outbox {
            println!("  messages are in {}", dir.display());
        }
    }
    Ok(if record.state == CampaignState::Paused { 1 } else { 0 })
}

pub(super) async fn schedule(ctx: &Context, file: &Path, allow_empty: bool) -> Result<i32> {
    let app = ctx.open().await?;
    let (c, text) = checked(&app, file, allow_empty).await?;
    let (record, new) = lifecycle::record(&app, &c, &text, CampaignState::Scheduled).await?;
    if ctx.json {
        output::json(
            &serde_json::json!({"campaign": record.name, "state": record.state, "send_at": record.send_at, "new": new}),
        );
    } else {
        match record.send_at {
            Some(at) => println!("Campaign {} is {}; the daemon starts it at {at}", record.name, record.state),
            None => println!("Campaign {} is {}; the daemon starts it now", record.name, record.state),
        }
    }
    Ok(0)
}

/// `campaign validate FILE`: the checks `send` makes, and the rendered sample, without
/// recording or sending anything. Exit 0 when `send` would go ahead.
pub(super) async fn validate(ctx: &Context, file: &Path, sample: usize, allow_empty: bool) -> Result<i32> {
    let app = ctx.open().await?;
    let (c, _, renderer) = load(&app, file)?;
    check::names_exist(&app, &c).await?;
    let readiness = check::readiness(&app, &c, &renderer).await?;
    let report = preview::validate(&app, &c, sample, app.secrets.dkim_key(&app.config)?).await?;
    let refusal = readiness.refusal(&file.display().to_string(), allow_empty);
    let ok = refusal.is_none() && report.errors.is_empty();
    if ctx.json {
        let mut v = serde_json::to_value(&report).map_err(|e| Error::Internal(e.into()))?;
        v["audience"] = readiness.audience.into();
        v["eligible"] = readiness.eligible.into();
        v["excluded"] = serde_json::to_value(&readiness.excluded).map_err(|e| Error::Internal(e.into()))?;
        v["missing"] = serde_json::to_value(&readiness.missing).map_err(|e| Error::Internal(e.into()))?;
        v["valid"] = ok.into();
        output::json(&v);
    } else {
        match &refusal {
            Some(refusal) => println!("{refusal}"),
            None => println!(
                "{}: valid; {} eligible contacts ({}); templates compile and render for all of them",
                file.display(),
                readiness.eligible,
                readiness.exclusion_summary()
            ),
        }
        if !report.errors.is_empty() {
            println!("{} of {} sample messages failed to render:", report.errors.len(), report.rendered);
            for e in &report.errors {
                println!("  {e}");
            }
        }
    }
    Ok(match refusal {
        Some(e) => e.exit_code(),
        None if !report.errors.is_empty() => 1,
        None => 0,
    })
}

/// `campaign retry NAME`.
pub(super) async fn retry(ctx: &Context, name: &str) -> Result<i32> {
    let app = ctx.open().await?;
    let (record, requeued) = lifecycle::retry(&app, name).await?;
    if ctx.json {
        output::json(&serde_json::json!({"campaign": record.name, "requeued": requeued, "state": record.state}));
    } else {
        println!(
            "Campaign {}: {requeued} send(s) that failed on Herald's or the relay's side are queued again; it is {}",
            record.name, record.state
        );
        match record.state {
            CampaignState::Running if requeued > 0 => {
                println!("  run `herald campaign send FILE` or the daemon to send them")
            }
            CampaignState::Paused => println!("  run `herald campaign resume {}` to send them", record.name),
            _ => {}
        }
    }
    Ok(0)
}

pub(super) async fn status(ctx: &Context, name: &str) -> Result<i32> {
    let app = ctx.open().await?;
    let record = lifecycle::find(&app, name).await?;
    let status = lifecycle::status(&app, &record).await?;
    if ctx.json {
        output::json(&status);
    } else {
        print_status(&status);
        print_failure_causes(&app.store.failure_reasons(record.id).await?);
    }
    Ok(0)
}

pub(super) async fn transition(ctx: &Context, name: &str, to: CampaignState, reason: Option<String>) -> Result<i32> {
    let app = ctx.open().await?;
    let reason = reason.or_else(|| (to == CampaignState::Paused).then(|| "paused by hand".to_owned()));
    let record = lifecycle::transition(&app, name, to, reason.as_deref()).await?;
    if ctx.json {
        output::json(&serde_json::json!({"campaign": record.name, "state": record.state}));
    } else {
        println!("Campaign {} is {}", record.name, record.state);
        if to == CampaignState::Running {
            println!("  run `herald campaign send FILE` or the daemon to continue sending");
        }
    }
    Ok(0)
}

pub(super) async fn list(ctx: &Context) -> Result<i32> {
    let app = ctx.open().await?;
    let mut rows = Vec::new();
    for r in app.store.campaigns().await? {
        rows.push(lifecycle::status(&app, &r).await?);
    }
    if ctx.json {
        output::json(&rows);
    } else if rows.is_empty() {
        println!("No campaigns yet");
    } else {
        println!("{:<32} {:<10} {:>8} {:>8} {:>8} {:>8}", "campaign", "state", "sent", "failed", "deferred", "queued");
        for s in rows {
            println!(
                "{:<32} {:<10} {:>8} {:>8} {:>8} {:>8}",
                s.campaign, s.state, s.sent, s.failed, s.deferred, s.queued
            );
        }
    }
    Ok(0)
}

fn print_status(s: &lifecycle::Status) {
    println!("Campaign {}: {}", s.campaign, s.state);
    if let Some(reason) = &s.reason {
        println!("  why: {reason}");
    }
    println!("  sent      {:>9}", s.sent);
    println!("  failed    {:>9}", s.failed);
    match s.next_retry {
        Some(at) => println!("  deferred  {:>9}   (next retry at {at})", s.deferred),
        None => println!("  deferred  {:>9}", s.deferred),
    }
    println!("  in doubt  {:>9}", s.in_doubt);
    if s.faults > 0 {
        println!("  faults    {:>9}   (Herald's or the relay's; `herald campaign retry {}`)", s.faults, s.campaign);
    }
    println!("  queued    {:>9}", s.queued);
    if s.reconfirmed > 0 {
        println!("  reconfirmed {:>7}", s.reconfirmed);
    }
    let skipped: i64 = s.skipped.values().sum();
    println!("  skipped   {:>9}", skipped);
    for (reason, n) in &s.skipped {
        println!("    {reason:<22}{n:>9}");
    }
    println!(
        "  bounces: {} hard, {} soft, {} complaints (hard-bounce rate {:.2} %)",
        s.hard_bounces,
        s.soft_bounces,
        s.complaints,
        s.bounce_rate * 100.0
    );
    if s.opened > 0 || s.clicked > 0 {
        println!("  opened    {:>9}   (contacts who consented to tracking only)", s.opened);
        println!("  clicked   {:>9}", s.clicked);
    }
    for f in s.failures.iter().take(10) {
        println!(
            "    send #{} contact #{} {} after {} attempt(s): {} {}",
            f.send_id,
            f.contact_id,
            f.state,
            f.attempts,
            f.smtp_code.map(|c| c.to_string()).unwrap_or_default(),
            f.smtp_text.as_deref().or(f.reason.as_deref()).unwrap_or("")
        );
    }
}

/// The failed sends by cause, one line each however many failed of it (the log says
/// nothing per send: a thousand refusals are one line here, not a thousand in the log).
fn print_failure_causes(causes: &[crate::store::FailureReason]) {
    if causes.is_empty() {
        return;
    }
    println!("  failures by cause:");
    for c in causes {
        let what = match (c.cause.as_str(), c.smtp_code) {
            ("render", _) => format!("did not render (Herald's side), e.g. {}", output::clean(&c.example)),
            ("relay", _) => format!("the relay could not be reached, e.g. {}", output::clean(&c.example)),
            ("smtp", Some(code)) => format!("refused by the recipient's server with SMTP {code}"),
            (other, Some(code)) => format!("{} (SMTP {code})", output::clean(other)),
            (other, None) => output::clean(other),
        };
        println!("    {:>9}  {what}", c.count);
    }
}

/// Turns true on Ctrl-C or SIGTERM: stop claiming, finish or release what is in flight.
pub(crate) fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        let _ = tx.send(true);
    });
    rx
}
