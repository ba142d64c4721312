//! `[sending]` and `[limits]`: how the sending engine works through the queue (DESIGN §4)
//! and how fast it may go. Rates are written `N/s`, `N/m` or `N/h`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What becomes of a message whose outcome a crash made unknowable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDoubt {
    /// Record it as `in_doubt` and send nothing (a person may otherwise get it twice).
    #[default]
    Skip,
    /// Queue it again (a person may get it twice).
    Resend,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingConfig {
    /// How long a claim (or a transmission) is held before another worker may recover
    /// it; workers renew their leases every third of this.
    pub lease_seconds: u64,
    pub on_doubt: OnDoubt,
    /// Attempts of a transiently failing message before it is `failed`.
    pub max_attempts: u32,
    /// ... and how long after its first attempt.
    pub max_age_hours: u64,
    /// First retry delay; doubled per attempt (with jitter) up to `retry_max_seconds`.
    pub retry_base_seconds: u64,
    pub retry_max_seconds: u64,
    /// The campaign guard: pause a campaign when failures pass this share of attempts ...
    pub max_error_rate: f64,
    /// ... or hard bounces pass this share of sends (DESIGN §5) ...
    pub max_bounce_rate: f64,
    /// ... once this many messages have been attempted.
    pub min_sample: u64,
    /// Sends claimed at a time. Each claim is a statement on the send writer (which the marks
    /// behind it wait for), a load of the claimed contacts and a trip to the rendering thread:
    /// on the sending benchmark, claims of 500 sent ~4 % more per second than claims of 200.
    /// (Claims of 1 000 were faster still, but a 1 000 000-send campaign then peaked at 146 MB.)
    pub batch_size: i64,
    /// Concurrent writes into the outbox (when no `[[smtp]]` is configured).
    pub outbox_concurrency: usize,
    /// SMTP command and DATA timeout.
    pub timeout_seconds: u64,
    /// How often an idle daemon looks for work.
    pub poll_milliseconds: u64,
}

impl Default for SendingConfig {
    fn default() -> Self {
        SendingConfig {
            lease_seconds: 60,
            on_doubt: OnDoubt::Skip,
            max_attempts: 8,
            max_age_hours: 72,
            retry_base_seconds: 60,
            retry_max_seconds: 6 * 3600,
            max_error_rate: 0.2,
            max_bounce_rate: 0.02,
            min_sample: 100,
            batch_size: 500,
            outbox_concurrency: 4,
            timeout_seconds: 60,
            poll_milliseconds: 1000,
        }
    }
}

/// `[limits]`: a global cap, and per recipient domain (`[limits.domains]`, with
/// `default` for every domain not named).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub global: Option<String>,
    pub domains: BTreeMap<String, String>,
    /// How long a domain that answered 421 / 4.7.x stays at the reduced rate before it
    /// is raised again step by step.
    pub cooldown_seconds: Option<u64>,
}
