//! `[web]`: the daemon's HTTP server — where it listens and what one client, or all of
//! them, may hold (issue 12, point 7). The defaults keep a flood of idle or half-sent
//! connections from taking the file descriptors `/healthz` needs. The sign-up form and
//! confirmations (issue 13): how long a confirmation link lasts, how many a person may be
//! sent a day, the sign-up's rate limits, and what the pages say and link to.

use serde::Deserialize;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: String,
    /// Connections held at once over all clients. When full, a new connection takes the
    /// place of the oldest one that is not being answered (idle, or still sending its
    /// headers); when every one is being answered, it gets a quick `503`.
    pub max_connections: NonZeroUsize,
    /// Connections held at once from one IP address, with the same rule within them.
    pub max_connections_per_ip: NonZeroUsize,
    /// Time a client has to send a request's headers; a kept-alive connection waiting for
    /// its next request is closed after this long too.
    pub header_timeout_seconds: NonZeroU64,
    /// A connection that moves no byte for this long is closed, even with a request in
    /// hand (a client that stops sending its body, or reading its response).
    pub idle_timeout_seconds: NonZeroU64,
    /// How long a confirmation link confirms ("7d", "36h", "90m", "30s"); unconfirmed
    /// sign-ups older than this are deleted by the daemon.
    #[serde(deserialize_with = "duration")]
    pub confirm_expiry: Duration,
    /// Confirmation messages one contact may be sent in 24 hours (DESIGN §10).
    pub confirmations_per_day: u32,
    /// The confirmation message's subject.
    pub confirm_subject: String,
    /// Where `POST /subscribe` sends the browser (303) instead of Herald's own page.
    pub thank_you_url: Option<String>,
    /// The version of the privacy policy the sign-up form shows, kept as evidence.
    pub policy_version: String,
    /// CSP `frame-ancestors` of the sign-up form: the sites that may embed it.
    pub embed_ancestors: String,
    /// Sign-ups one client IP may post a minute.
    pub signup_per_ip_per_minute: NonZeroU32,
    /// Sign-ups for one address an hour, whoever posts them.
    pub signup_per_address_per_hour: NonZeroU32,
}

impl WebConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds.get())
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds.get())
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            max_connections: NonZeroUsize::new(512).expect("non-zero"),
            max_connections_per_ip: NonZeroUsize::new(128).expect("non-zero"),
            header_timeout_seconds: NonZeroU64::new(10).expect("non-zero"),
            idle_timeout_seconds: NonZeroU64::new(30).expect("non-zero"),
            confirm_expiry: Duration::from_secs(7 * 86_400),
            confirmations_per_day: 3,
            confirm_subject: "Please confirm your subscription".into(),
            thank_you_url: None,
            policy_version: "1".into(),
            embed_ancestors: "'self'".into(),
            signup_per_ip_per_minute: NonZeroU32::new(5).expect("non-zero"),
            signup_per_address_per_hour: NonZeroU32::new(3).expect("non-zero"),
        }
    }
}

/// A duration written as a whole number and a unit: `s`, `m`, `h` or `d` ("7d").
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration like \"7d\", \"12h\" or \"30m\""))?;
    let seconds = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("'{text}': the unit must be s, m, h or d")),
    };
    match n.checked_mul(seconds) {
        Some(0) => Err(format!("'{text}': a duration must be more than zero")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Err(format!("'{text}' is too long")),
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_and_refuse_zero_and_nonsense() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("36h"), Ok(Duration::from_secs(36 * 3_600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "7", "d", "0d", "7w", "-1d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let c: WebConfig = toml::from_str("confirm_expiry = \"2d\"\nconfirmations_per_day = 1").unwrap();
        assert_eq!(c.confirm_expiry, Duration::from_secs(2 * 86_400));
        assert_eq!(c.confirmations_per_day, 1);
        assert!(toml::from_str::<WebConfig>("confirm_expiry = \"soon\"").is_err());
    }
}
