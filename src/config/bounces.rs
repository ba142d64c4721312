//! `[bounces]`: the inbound side of DESIGN §5 — where bounces arrive and the rules that
//! turn them into changes to a contact's record.

use serde::Deserialize;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BouncesConfig {
    /// Address of the daemon's inbound SMTP listener for the bounce domain (and the
    /// `unsubscribe+TOKEN@` mailto address); none when unset.
    pub listen: Option<String>,
    /// Largest inbound message the listener accepts, in bytes.
    pub max_message_bytes: usize,
    /// Consecutive hard bounces (no delivery in between) that confirm an address as bad
    /// and put it on the suppression list.
    pub hard_bounce_threshold: u32,
    /// Consecutive campaigns that soft-bounced (no delivery in between) after which the
    /// address counts as hard-bounced once.
    pub soft_bounce_limit: u32,
    /// `lists clean`: contacts with tracking consent who engaged with none of their last N
    /// delivered messages are reported as unengaged (unset: not judged).
    pub unengaged_after: Option<u32>,
    /// The listener's sessions at once over all clients; above it a new connection is
    /// answered `421` and closed (a sending MTA tries again later).
    pub max_connections: NonZeroUsize,
    /// The listener's sessions at once from one IP address.
    pub max_connections_per_ip: NonZeroUsize,
    /// Messages received (DATA) at once; above it DATA is answered `452` (try later).
    /// Each one may hold up to `max_message_bytes` in memory while it is recorded.
    pub max_concurrent_messages: NonZeroUsize,
    /// A session that sends no command (or no line of its message) for this long is closed.
    pub idle_timeout_seconds: NonZeroU64,
    /// The whole of one message (DATA to the final dot) must arrive within this time.
    pub message_timeout_seconds: NonZeroU64,
}

impl BouncesConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds.get())
    }

    pub fn message_timeout(&self) -> Duration {
        Duration::from_secs(self.message_timeout_seconds.get())
    }
}

impl Default for BouncesConfig {
    fn default() -> Self {
        BouncesConfig {
            listen: None,
            max_message_bytes: 10 * 1024 * 1024,
            hard_bounce_threshold: 3,
            soft_bounce_limit: 5,
            unengaged_after: None,
            max_connections: NonZeroUsize::new(100).expect("non-zero"),
            max_connections_per_ip: NonZeroUsize::new(20).expect("non-zero"),
            max_concurrent_messages: NonZeroUsize::new(4).expect("non-zero"),
            idle_timeout_seconds: NonZeroU64::new(60).expect("non-zero"),
            message_timeout_seconds: NonZeroU64::new(300).expect("non-zero"),
        }
    }
}
