//! `[bounces]`: the inbound side of DESIGN §5 — where bounces arrive and the rules that
//! turn them into changes to a contact's record.

use serde::Deserialize;

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
}

impl Default for BouncesConfig {
    fn default() -> Self {
        BouncesConfig {
            listen: None,
            max_message_bytes: 10 * 1024 * 1024,
            hard_bounce_threshold: 3,
            soft_bounce_limit: 5,
            unengaged_after: None,
        }
    }
}
