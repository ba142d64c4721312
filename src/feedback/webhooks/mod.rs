//! Provider webhooks (DESIGN §5): authenticate a delivery-feedback POST, then turn it into
//! one [`BounceEvent`] per recipient. Pure parsing and authentication: the HTTP server
//! hands over the headers and the raw body; the rules and the store act on the result.
//!
//! ```text
//! POST /webhooks/{provider}            provider = ses | sendgrid | postmark | mailgun | generic
//!   -> handle(provider, &WebhookRequest { headers, body, now }, &WebhookKeys, &dyn CertSource)
//!   -> Ok(Events(..))                  200: apply the events (idempotent on provider_event_id)
//!   -> Ok(ConfirmSubscription { url }) 200: GET the url once (SNS SubscriptionConfirmation)
//!   -> Err(Unauthorized(..))           401, change nothing
//!   -> Err(BadRequest(..))             400
//!   -> Err(NotConfigured)              404: this provider's keys are not in the environment
//!   -> Err(Unavailable(..))            503: could not be checked now (SNS certificate fetch)
//! ```
//!
//! Authentication always comes first; nothing in a body is trusted before it passes.
//! Secrets come from the environment only ([`WebhookKeys::from_env`]):
//!
//! | provider | how a request is authenticated | environment |
//! |---|---|---|
//! | `ses` | SNS message signature (SignatureVersion 1 SHA1withRSA / 2 SHA256withRSA) with the certificate at `SigningCertURL`, which must be `https://sns.<region>.amazonaws.com/….pem` | `HERALD_SES_WEBHOOK=1` and/or `HERALD_SES_TOPIC_ARNS` (comma-separated allow-list) |
//! | `sendgrid` | Signed Event Webhook: ECDSA P-256/SHA-256 over `timestamp ‖ body`, timestamp within 10 minutes | `HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY` (base64 DER SubjectPublicKeyInfo) |
//! | `postmark` | HTTP Basic credentials put in the webhook URL | `HERALD_POSTMARK_WEBHOOK_USER`, `HERALD_POSTMARK_WEBHOOK_PASSWORD` |
//! | `mailgun` | hex HMAC-SHA256 of `timestamp ‖ token` in the body, timestamp within 10 minutes | `HERALD_MAILGUN_SIGNING_KEY` |
//! | `generic` | `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (preferred), or `Authorization: Bearer <secret>` | `HERALD_WEBHOOK_SECRET` (16+ characters) |
//!
//! Replays: signed timestamps older than the window are refused; inside it a replay
//! delivers the same `provider_event_id`s again, which the caller records idempotently.
//! The generic format has no timestamp: its senders should give each event an `id`.
//!
//! Kinds follow DESIGN §5 through one rule ([`kind::kind_from_reply`]): hard only when the
//! address or its domain does not exist. Events that are not failures or complaints
//! (delivered, opened, clicked, processed, ...) are ignored, not errors.

mod generic;
mod keys;
pub mod kind;
mod mailgun;
mod postmark;
mod sendgrid;
mod sns;
mod verify;

pub use keys::WebhookKeys;
pub use sns::{CertFuture, CertSource, HttpsCertSource, NoCerts};

use crate::feedback::BounceEvent;
use chrono::{DateTime, Utc};

/// The webhook senders Herald understands; `as_str` is the URL path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Amazon SES notifications delivered by SNS over HTTPS.
    Ses,
    /// SendGrid's Event Webhook.
    Sendgrid,
    /// Postmark's bounce and spam-complaint webhooks.
    Postmark,
    /// Mailgun's webhooks (JSON).
    Mailgun,
    /// Herald's own JSON format, for relays and scripts.
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 5] =
        [Provider::Ses, Provider::Sendgrid, Provider::Postmark, Provider::Mailgun, Provider::Generic];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ses => "ses",
            Provider::Sendgrid => "sendgrid",
            Provider::Postmark => "postmark",
            Provider::Mailgun => "mailgun",
            Provider::Generic => "generic",
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = WebhookError;
    /// Exact, lower-case path segments only; anything else is a 404.
    fn from_str(raw: &str) -> Result<Self, WebhookError> {
        Provider::ALL.into_iter().find(|p| p.as_str() == raw).ok_or(WebhookError::NotConfigured)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One inbound POST as the server received it. `Debug` shows header names and the body's
/// length only: bodies carry addresses.
#[derive(Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// Header names lower-cased; values as received.
    pub headers: &'a [(String, String)],
    /// The raw body: signatures cover these exact bytes.
    pub body: &'a [u8],
    /// Now, for timestamp windows.
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for WebhookRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("WebhookRequest")
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .field("now", &self.now)
            .finish()
    }
}

impl WebhookRequest<'_> {
    /// The first value of a header (`name` in lower case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    }
}

/// One recipient's feedback with what is needed to map it back and to record it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub event: BounceEvent,
    /// Herald's own `Message-ID` of the message it is about, without angle brackets,
    /// when the provider passes it on (not the provider's internal id).
    pub message_id: Option<String>,
    /// The provider's id of this event, unique within the provider, for idempotency.
    /// Never contains the address.
    pub provider_event_id: Option<String>,
    /// When the provider says the event happened.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What an authenticated request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Feedback to apply, possibly none (ignored event types).
    Events(Vec<ProviderEvent>),
    /// An SNS SubscriptionConfirmation whose signature checked: GET `url` to confirm.
    ConfirmSubscription { url: String },
}

/// Why a request was refused. Messages name fields, never addresses or secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// 401: not from the provider (bad, missing or stale signature). Change nothing.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 400: authenticated (or unauthenticatable because unreadable) but malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404: no keys for this provider in the environment.
    #[error("webhook not configured")]
    NotConfigured,
    /// 503: the request could not be checked now (the SNS certificate could not be
    /// fetched). Change nothing; the provider retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Authenticates `req` as coming from `provider` and reads its feedback.
pub async fn handle(
    provider: Provider,
    req: &WebhookRequest<'_>,
    keys: &WebhookKeys,
    certs: &dyn CertSource,
) -> Result<WebhookOutcome, WebhookError> {
    match provider {
        Provider::Ses => sns::handle(req, keys.ses.as_ref().ok_or(WebhookError::NotConfigured)?, certs).await,
        Provider::Sendgrid => sendgrid::handle(req, keys.sendgrid_point.as_deref().ok_or(WebhookError::NotConfigured)?)
            .map(WebhookOutcome::Events),
        Provider::Postmark => postmark::handle(req, keys.postmark.as_ref().ok_or(WebhookError::NotConfigured)?)
            .map(WebhookOutcome::Events),
        Provider::Mailgun => {
            mailgun::handle(req, keys.mailgun.as_ref().ok_or(WebhookError::NotConfigured)?).map(WebhookOutcome::Events)
        }
        Provider::Generic => generic::handle(req, keys.generic_secret.as_deref().ok_or(WebhookError::NotConfigured)?)
            .map(WebhookOutcome::Events),
    }
}

/// Parses an authenticated body as JSON.
fn parse_json(body: &[u8]) -> Result<serde_json::Value, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::BadRequest(format!("body is not JSON: {e}")))
}

/// A string field of a JSON object, trimmed, `None` when absent, not a string, or empty.
fn json_str<'v>(value: &'v serde_json::Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(serde_json::Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_path_segments_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        assert_eq!("SES".parse::<Provider>(), Err(WebhookError::NotConfigured));
        assert_eq!("smtp".parse::<Provider>(), Err(WebhookError::NotConfigured));
    }

    #[test]
    fn headers_are_found_by_lower_case_name() {
        let headers = vec![("x-a".to_string(), " 1 ".to_string())];
        let req = WebhookRequest { headers: &headers, body: b"", now: Utc::now() };
        assert_eq!(req.header("x-a"), Some("1"));
        assert_eq!(req.header("X-A"), Some("1"));
        assert_eq!(req.header("x-b"), None);
    }

    #[test]
    fn debug_of_a_request_shows_no_body_and_no_header_values() {
        let headers = vec![("authorization".to_string(), "Basic c2VjcmV0".to_string())];
        let req = WebhookRequest { headers: &headers, body: b"{\"email\":\"a@example.com\"}", now: Utc::now() };
        let shown = format!("{req:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("c2VjcmV0") && !shown.contains("example"),
            "{shown}"
        );
    }
}
