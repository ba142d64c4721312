//! `[webhooks]`: the outbound consent webhooks that keep a CRM in step (DESIGN §13,
//! issue 15.6). Inbound provider webhooks (`POST /hooks/{provider}`) need no config here:
//! their keys come from the environment (`Secrets::webhooks`).
//!
//! ```toml
//! [webhooks]
//! keep_delivered = "7d"          # delivered outbox rows are purged after this
//! [[webhooks.out]]
//! name = "crm"                   # optional; default: the URL's host and path
//! url = "https://crm.example/hooks/herald"
//! events = ["unsubscribed", "opted_out", "purpose_withdrawn", "erased"]
//! secret_env = "HERALD_CRM_WEBHOOK_SECRET"   # the variable holding the HMAC key (default)
//! timeout = "10s"                # per request
//! max_attempts = 12              # then the event is `failed` (kept; `herald webhooks retry`)
//! backoff = "10s"                # first retry delay; doubles per attempt, with jitter
//! max_backoff = "1h"             # the cap of the retry delay
//! ```
//!
//! `events` takes the names of `consent::signals::NAMES`; an unknown one is refused with
//! the file's line. `url` must be `https://`, or `http://` to a loopback host only: the
//! payloads carry addresses.

use super::web::parse_duration;
use crate::consent::signals;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The CRM endpoints told about consent changes.
    #[serde(deserialize_with = "outbound_list")]
    pub out: Vec<OutboundWebhook>,
    /// Delivered outbox rows are deleted this long after delivery.
    #[serde(deserialize_with = "duration")]
    pub keep_delivered: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig { out: Vec::new(), keep_delivered: Duration::from_secs(7 * 86_400) }
    }
}

/// One `[[webhooks.out]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundWebhook {
    /// The key of its outbox rows and what `webhooks status` shows; unique.
    #[serde(default)]
    pub name: String,
    #[serde(deserialize_with = "url")]
    pub url: String,
    /// The signal names it receives (a subset of `consent::signals::NAMES`).
    #[serde(deserialize_with = "events")]
    pub events: Vec<&'static str>,
    /// The environment variable that holds its HMAC key.
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff", deserialize_with = "duration")]
    pub backoff: Duration,
    #[serde(default = "default_max_backoff", deserialize_with = "duration")]
    pub max_backoff: Duration,
}

/// The variable `secret_env` names when it is not given.
pub const DEFAULT_SECRET_ENV: &str = "HERALD_CRM_WEBHOOK_SECRET";

fn default_secret_env() -> String {
    DEFAULT_SECRET_ENV.to_owned()
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_attempts() -> u32 {
    12
}
fn default_backoff() -> Duration {
    Duration::from_secs(10)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(3_600)
}

/// A duration as [`parse_duration`] reads it, or a number of milliseconds (`"200ms"`,
/// for tests and fast local receivers).
fn parse_webhook_duration(text: &str) -> Result<Duration, String> {
    match text.trim().strip_suffix("ms").map(|n| n.trim().parse::<u64>()) {
        Some(Ok(0)) => Err(format!("'{text}': a duration must be more than zero")),
        Some(Ok(ms)) => Ok(Duration::from_millis(ms)),
        Some(Err(_)) => Err(format!("'{text}' is not a duration like \"10s\", \"2m\" or \"500ms\"")),
        None => parse_duration(text),
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_webhook_duration(&text).map_err(serde::de::Error::custom)
}

fn events<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom("`events` is empty: name the signals this webhook receives"));
    }
    let mut out: Vec<&'static str> = Vec::with_capacity(names.len());
    for name in names {
        let known = signals::NAMES.iter().find(|n| **n == name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown event '{name}'; known: {}", signals::NAMES.join(", ")))
        })?;
        if !out.contains(known) {
            out.push(known);
        }
    }
    Ok(out)
}

fn url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    check_url(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

/// `https://HOST[:PORT]/PATH`, or `http://` to a loopback host.
fn check_url(url: &str) -> Result<(), String> {
    let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return Err(format!("'{url}': a webhook URL starts with https://")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("'{url}': the URL needs a host (and no user or password)"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if !secure && !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return Err(format!("'{url}': the payloads carry addresses: use https:// (http:// only to a loopback host)"));
    }
    Ok(())
}

/// The default name: the URL without its scheme and query (which may hold a token).
fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['?', '#']).next().unwrap_or(rest).trim_end_matches('/').to_owned()
}

fn outbound_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<OutboundWebhook>, D::Error> {
    let mut list = Vec::<OutboundWebhook>::deserialize(d)?;
    let mut seen = std::collections::HashSet::new();
    for w in &mut list {
        if w.name.trim().is_empty() {
            w.name = default_name(&w.url);
        }
        if w.max_attempts == 0 {
            return Err(serde::de::Error::custom(format!("webhook '{}': max_attempts must be at least 1", w.name)));
        }
        if !seen.insert(w.name.clone()) {
            return Err(serde::de::Error::custom(format!(
                "two [[webhooks.out]] are named '{}': give each a distinct `name`",
                w.name
            )));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebhooksConfig, String> {
        toml::from_str::<WebhooksConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_entry_takes_defaults_and_a_name_from_its_url() {
        let c = parse("[[out]]\nurl = \"https://crm.example/hooks/h?token=x\"\nevents = [\"erased\", \"opted_out\"]\n")
            .unwrap();
        let w = &c.out[0];
        assert_eq!(w.name, "crm.example/hooks/h");
        assert_eq!(w.events, ["erased", "opted_out"]);
        assert_eq!((w.secret_env.as_str(), w.max_attempts), (DEFAULT_SECRET_ENV, 12));
        assert_eq!((w.timeout, w.backoff), (Duration::from_secs(10), Duration::from_secs(10)));
        assert_eq!(c.keep_delivered, Duration::from_secs(7 * 86_400));
        let c = parse("[[out]]\nurl = \"http://127.0.0.1:9/h\"\nevents = [\"erased\"]\nbackoff = \"200ms\"\n").unwrap();
        assert_eq!(c.out[0].backoff, Duration::from_millis(200));
    }

    #[test]
    fn unknown_events_plain_http_and_duplicate_names_are_refused_with_the_line() {
        let err = parse("\n[[out]]\nurl = \"https://a.example/\"\nevents = [\"unsubscribed\", \"unsubscibed\"]\n")
            .unwrap_err();
        assert!(err.contains("line 4") && err.contains("unsubscibed"), "{err}");
        let err = parse("[[out]]\nurl = \"http://crm.example/h\"\nevents = [\"erased\"]\n").unwrap_err();
        assert!(err.contains("https://"), "{err}");
        let err = parse("[[out]]\nurl = \"https://user:pw@crm.example/h\"\nevents = [\"erased\"]\n").unwrap_err();
        assert!(err.contains("no user"), "{err}");
        let two = "[[out]]\nurl = \"https://a.example/h\"\nevents = [\"erased\"]\n";
        let err = parse(&format!("{two}{two}")).unwrap_err();
        assert!(err.contains("distinct"), "{err}");
        assert!(parse("[[out]]\nurl = \"https://a.example/h\"\nevents = []\n").is_err());
    }
}
