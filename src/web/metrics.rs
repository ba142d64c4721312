//! `/metrics`: the database's view (sends by state, bounces by kind, campaigns by state,
//! queue depth; shared by every daemon on one database) and this process's counters
//! (attempt outcomes, throttle waits). Written as Prometheus text by hand: every figure
//! is either a query at scrape time or an atomic the engine already keeps, so a metrics
//! registry crate would only add a second copy of each.

use crate::app::App;
use crate::domain::{BounceKind, CampaignState, SendState};
use crate::error::Result;
use crate::send::engine::Metrics;
use crate::send::throttle::Throttle;
use crate::store::Count;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(super) async fn render(app: &App, metrics: &Metrics, throttle: &Throttle) -> Result<String> {
    let sends = app.store.send_state_totals().await?;
    let bounces = app.store.bounce_totals().await?;
    let campaigns = app.store.campaign_state_totals().await?;
    let mut out = String::with_capacity(4096);

    family(&mut out, "herald_sends", "gauge", "Sends of all campaigns by state (from the database).");
    for s in SendState::ALL {
        sample(&mut out, "herald_sends", Some(("state", s.as_str())), count(&sends, *s));
    }
    family(
        &mut out,
        "herald_queue_depth",
        "gauge",
        "Sends still to attempt: queued, claimed, or deferred for a retry.",
    );
    let depth =
        count(&sends, SendState::Queued) + count(&sends, SendState::Claimed) + count(&sends, SendState::Deferred);
    sample(&mut out, "herald_queue_depth", None, depth);
    family(
        &mut out,
        "herald_bounces",
        "gauge",
        "Bounced sends by kind, one per send and kind as `campaign status` counts them (from the database).",
    );
    for k in BounceKind::ALL {
        sample(&mut out, "herald_bounces", Some(("kind", k.as_str())), count(&bounces, *k));
    }
    family(&mut out, "herald_campaigns", "gauge", "Campaigns by state.");
    for c in CampaignState::ALL {
        sample(&mut out, "herald_campaigns", Some(("state", c.as_str())), count(&campaigns, *c));
    }

    family(&mut out, "herald_attempts_total", "counter", "Attempts this process finished, by outcome.");
    let outcomes = [
        ("sent", &metrics.sent),
        ("failed", &metrics.failed),
        ("deferred", &metrics.deferred),
        ("skipped", &metrics.skipped),
        ("in_doubt", &metrics.in_doubt),
        ("requeued", &metrics.requeued),
    ];
    for (name, counter) in outcomes {
        sample(&mut out, "herald_attempts_total", Some(("outcome", name)), counter.load(Ordering::Relaxed) as i64);
    }
    let stats = throttle.stats();
    family(&mut out, "herald_throttle_waits_total", "counter", "Times a message waited for a rate limit.");
    sample(&mut out, "herald_throttle_waits_total", None, stats.waits as i64);
    family(&mut out, "herald_throttle_wait_seconds_total", "counter", "Time spent waiting for rate limits.");
    let _ = writeln!(out, "herald_throttle_wait_seconds_total {:.3}", stats.waited.as_secs_f64());
    family(&mut out, "herald_throttle_domains", "gauge", "Recipient domains with live throttle state.");
    sample(&mut out, "herald_throttle_domains", None, throttle.tracked_domains() as i64);
    Ok(out)
}

fn count<K: PartialEq>(rows: &[Count<K>], want: K) -> i64 {
    rows.iter().filter(|r| r.key == want).map(|r| r.count).sum()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, label: Option<(&str, &str)>, value: i64) {
    let _ = match label {
        Some((k, v)) => writeln!(out, "{name}{{{k}=\"{v}\"}} {value}"),
        None => writeln!(out, "{name} {value}"),
    };
}
