//! Sending (DESIGN §4, §5): the queue's workers, the SMTP relays and the outbox, the
//! rate limits, retries and the send-time re-check.
//!
//! Two layers, the second using the first only through its [`smtp::Transport`] trait:
//!
//! - [`smtp`]: the SMTP client: relays, sessions, pipelining, TLS, replies, the outbox.
//! - [`engine`]: the queue's side: claim under a lease, heartbeat, the send-time re-check,
//!   rendering, the mark before DATA, the attempt's [`engine::Verdict`] and its row,
//!   retries, the campaign guard and the metrics.
//! - [`throttle`] (with [`rate`]): the rate limits, shared by both.

pub mod engine;
pub mod rate;
pub mod smtp;
pub mod throttle;

use crate::config::Config;
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The throttle of `[[smtp]] rate`, `[limits] global` and `[limits.domains]` (where the
/// key `default` applies to every domain not named).
pub fn throttle_from_config(config: &Config) -> Result<throttle::Throttle> {
    let parse = |what: String, raw: &str| -> Result<rate::Rate> {
        raw.parse().map_err(|e: rate::RateError| Error::Invalid(format!("{what}: {e}")))
    };
    let mut cfg = throttle::ThrottleConfig {
        global: config.limits.global.as_deref().map(|r| parse("[limits] global".into(), r)).transpose()?,
        ..Default::default()
    };
    for (i, smtp) in config.smtp.iter().enumerate() {
        cfg.relays.push(smtp.rate.as_deref().map(|r| parse(format!("[[smtp]] #{} rate", i + 1), r)).transpose()?);
    }
    let mut domains = HashMap::new();
    for (domain, raw) in &config.limits.domains {
        let rate = parse(format!("[limits.domains] \"{domain}\""), raw)?;
        if domain == "default" {
            cfg.domain_default = Some(rate);
        } else {
            domains.insert(domain.to_lowercase(), rate);
        }
    }
    cfg.domains = domains;
    if let Some(s) = config.limits.cooldown_seconds {
        cfg.cooldown = std::time::Duration::from_secs(s.max(1));
    }
    Ok(throttle::Throttle::new(cfg))
}
