//! Mailgun's webhooks (JSON): `{"signature": {timestamp, token, signature}, "event-data": {..}}`,
//! authenticated by the hex HMAC-SHA256 of `timestamp ‖ token` keyed with the webhook
//! signing key. The timestamp must be within 10 minutes of now.
//!
//! Mailgun's signature does not cover `event-data`: someone who saw a signed request could
//! pair its signature with other events for as long as the timestamp is fresh. So the
//! tokens of the last window are remembered with a digest of the `event-data` they came
//! with: the same token with the same events again (Mailgun's retry, or a replay, which the
//! caller absorbs through `provider_event_id`) passes, the same token with other events is
//! refused. The memory is per process and bounded.
//!
//! Events read: `failed` (`severity` `permanent`, or `temporary`, which Mailgun retries and
//! so is a delay) and `complained`; the others are ignored.

use super::keys::MailgunKey;
use super::kind::{
    bare_message_id, enhanced_status, find_enhanced_status, kind_from_reply, normalize_recipient, one_line,
};
use super::verify::{MAX_SKEW, fresh_unix_timestamp, hmac_sha256_hex_ok, json_unix_seconds};
use super::{ProviderEvent, WebhookError, WebhookRequest, json_str, parse_json};
use crate::domain::BounceKind;
use crate::feedback::BounceEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// The most tokens remembered; past it, entries older than the window are dropped first.
const MAX_TOKENS: usize = 50_000;

/// Token → when it was signed, and a digest of the `event-data` it came with.
type Seen = HashMap<String, (DateTime<Utc>, [u8; 32])>;

/// Tokens signed lately.
#[derive(Debug, Default)]
pub(super) struct TokenMemory {
    seen: Mutex<Seen>,
}

impl TokenMemory {
    /// False when `token` came before with other events.
    fn admit(&self, token: &str, signed_at: DateTime<Utc>, events: [u8; 32], now: DateTime<Utc>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, earlier)) = seen.get(token) {
            return *earlier == events;
        }
        if seen.len() >= MAX_TOKENS {
            seen.retain(|_, (at, _)| (now - *at).abs() <= MAX_SKEW);
        }
        if seen.len() < MAX_TOKENS {
            seen.insert(token.to_string(), (signed_at, events));
        }
        true
    }
}

pub(super) fn handle(req: &WebhookRequest<'_>, key: &MailgunKey) -> Result<Vec<ProviderEvent>, WebhookError> {
    let body = parse_json(req.body)?;
    let (token, signed_at) = authenticate(&body, req, &key.key)?;
    let data = body.get("event-data").ok_or_else(|| WebhookError::BadRequest("missing event-data".into()))?;
    let digest: [u8; 32] = Sha256::digest(data.to_string().as_bytes()).into();
    if !key.seen.admit(&token, signed_at, digest, req.now) {
        return Err(WebhookError::Unauthorized("token already used with other events".into()));
    }
    if !data.is_object() {
        return Err(WebhookError::BadRequest("event-data: expected an object".into()));
    }
    Ok(event(data).into_iter().collect())
}

/// The signed token and time, once the signature checks.
fn authenticate(body: &Value, req: &WebhookRequest<'_>, key: &[u8]) -> Result<(String, DateTime<Utc>), WebhookError> {
    let refused = |why: &str| WebhookError::Unauthorized(why.to_string());
    let sig = body.get("signature").ok_or_else(|| refused("missing signature"))?;
    let timestamp = match sig.get("timestamp") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(refused("missing signature.timestamp")),
    };
    let token = json_str(sig, "token").ok_or_else(|| refused("missing signature.token"))?;
    let tag = json_str(sig, "signature").ok_or_else(|| refused("missing signature.signature"))?;
    let signed_at = fresh_unix_timestamp(&timestamp, req.now)?;
    if !hmac_sha256_hex_ok(key, &[timestamp.as_bytes(), token.as_bytes()], tag) {
        return Err(refused("signature does not match"));
    }
    Ok((token.to_string(), signed_at))
}

fn event(data: &Value) -> Option<ProviderEvent> {
    let recipient = normalize_recipient(json_str(data, "recipient")?);
    if recipient.is_empty() {
        return None;
    }
    let status_block = data.get("delivery-status");
    let field = |key: &str| status_block.and_then(|s| json_str(s, key));
    let reply = field("message").unwrap_or("");
    let description = field("description").unwrap_or("");
    let text = format!("{reply} {description}");
    let status = field("enhanced-code").and_then(enhanced_status).or_else(|| find_enhanced_status(&text));

    let (kind, reason) = match json_str(data, "event")? {
        "complained" => (BounceKind::Complaint, "complaint"),
        "failed" => failed(json_str(data, "severity"), json_str(data, "reason"), status.as_deref(), &text)?,
        _ => return None,
    };
    let occurred_at = data.get("timestamp").and_then(json_unix_seconds);
    // Mailgun's event id is unique within a day only: the event's time makes it unique.
    let provider_event_id = json_str(data, "id").map(|id| match data.get("timestamp") {
        Some(Value::Number(t)) => format!("{id}:{t}"),
        Some(Value::String(t)) => format!("{id}:{t}"),
        _ => id.to_string(),
    });
    let message_id = data
        .get("message")
        .and_then(|m| m.get("headers"))
        .and_then(|h| json_str(h, "message-id"))
        .and_then(bare_message_id);
    let diagnostic = if reply.is_empty() { one_line(description) } else { one_line(reply) };
    Some(ProviderEvent {
        event: BounceEvent {
            recipient,
            kind,
            status: status.filter(|_| kind != BounceKind::Complaint),
            reason: Some(reason.to_string()),
            diagnostic: diagnostic.filter(|_| kind != BounceKind::Complaint),
        },
        message_id,
        provider_event_id,
        occurred_at,
    })
}

/// A `failed` event; `None` for failures that are not about delivery to the address.
fn failed(
    severity: Option<&str>,
    reason: Option<&str>,
    status: Option<&str>,
    text: &str,
) -> Option<(BounceKind, &'static str)> {
    if severity == Some("temporary") {
        // Mailgun will try again: a delay, not yet a bounce.
        let why = match kind_from_reply(status, text, false).1 {
            "other" => "delayed",
            why => why,
        };
        return Some((BounceKind::Delayed, why));
    }
    Some(match reason {
        // Mailgun puts an address on its bounce list after a hard bounce and then refuses
        // to send to it: the address was found not to exist.
        Some("suppress-bounce") => (BounceKind::Hard, "user_unknown"),
        // On its complaint list: the person complained earlier.
        Some("suppress-complaint") => (BounceKind::Complaint, "complaint"),
        // Consent is Herald's own business; Mailgun's unsubscribe list is not a bounce.
        Some("suppress-unsubscribe") => return None,
        // Given up after retrying for too long.
        Some("old") => (BounceKind::Soft, "expired"),
        Some("espblock") => (BounceKind::Soft, "policy"),
        _ => kind_from_reply(status, text, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::webhooks::{Provider, WebhookKeys, WebhookOutcome, handle as dispatch, sns::NoCerts};
    use hmac::{Hmac, KeyInit, Mac};

    const KEY: &str = "key-0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";

    fn keys(key: &str) -> WebhookKeys {
        WebhookKeys::from_env(&[("HERALD_MAILGUN_SIGNING_KEY".to_string(), key.to_string())])
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_060, 0).unwrap()
    }

    fn signed(timestamp: &str, event_data: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(format!("{timestamp}{TOKEN}").as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        format!(
            r#"{{"signature":{{"timestamp":"{timestamp}","token":"{TOKEN}","signature":"{sig}"}},"event-data":{event_data}}}"#
        )
    }

    // Shaped after Mailgun's documented "failed" webhook payload.
    const PERMANENT: &str = r#"{"id":"G9Bn5sl1TC6nu79C8C0bwg","timestamp":1700000000.375624,"log-level":"error",
      "event":"failed","severity":"permanent","reason":"bounce","recipient":"Alice@Example.com",
      "recipient-domain":"example.com",
      "delivery-status":{"attempt-no":1,"code":550,"enhanced-code":"5.1.1",
        "message":"550 5.1.1 The email account that you tried to reach does not exist.",
        "description":"","session-seconds":0.4},
      "message":{"headers":{"to":"Alice <alice@example.com>","message-id":"<m1@herald.example>",
        "from":"News <news@herald.example>","subject":"Hello"},"size":111}}"#;

    async fn call(body: &str, keys: &WebhookKeys) -> Result<WebhookOutcome, WebhookError> {
        let req = WebhookRequest { headers: &[], body: body.as_bytes(), now: now() };
        dispatch(Provider::Mailgun, &req, keys, &NoCerts).await
    }

    fn unauthorized(got: Result<WebhookOutcome, WebhookError>) -> bool {
        matches!(got, Err(WebhookError::Unauthorized(_)))
    }

    #[tokio::test]
    async fn signed_permanent_failure_for_an_unknown_user_is_hard() {
        let Ok(WebhookOutcome::Events(got)) = call(&signed("1700000000", PERMANENT), &keys(KEY)).await else {
            panic!("expected events");
        };
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.event.recipient, "alice@example.com");
        assert_eq!((e.event.kind, e.event.reason.as_deref()), (BounceKind::Hard, Some("user_unknown")));
        assert_eq!(e.event.status.as_deref(), Some("5.1.1"));
        assert_eq!(e.message_id.as_deref(), Some("m1@herald.example"));
        assert_eq!(e.provider_event_id.as_deref(), Some("G9Bn5sl1TC6nu79C8C0bwg:1700000000.375624"));
        assert_eq!(e.occurred_at.map(|t| t.timestamp()), Some(1_700_000_000));
    }

    #[tokio::test]
    async fn temporary_failure_is_a_delay() {
        let data = PERMANENT
            .replace(r#""severity":"permanent""#, r#""severity":"temporary""#)
            .replace(r#""reason":"bounce""#, r#""reason":"generic""#)
            .replace("5.1.1", "4.2.2")
            .replace("The email account that you tried to reach does not exist.", "Mailbox full");
        let Ok(WebhookOutcome::Events(got)) = call(&signed("1700000000", &data), &keys(KEY)).await else {
            panic!("expected events");
        };
        assert_eq!((got[0].event.kind, got[0].event.reason.as_deref()), (BounceKind::Delayed, Some("mailbox_full")));
    }

    #[test]
    fn failure_reasons_map_by_design_section_5() {
        assert_eq!(
            failed(Some("permanent"), Some("suppress-bounce"), None, ""),
            Some((BounceKind::Hard, "user_unknown"))
        );
        assert_eq!(failed(Some("permanent"), Some("suppress-unsubscribe"), None, ""), None);
        assert_eq!(failed(Some("permanent"), Some("old"), None, ""), Some((BounceKind::Soft, "expired")));
        assert_eq!(
            failed(Some("permanent"), Some("generic"), Some("5.7.1"), "550 5.7.1 spam"),
            Some((BounceKind::Soft, "spam_blocked"))
        );
        assert_eq!(
            failed(Some("permanent"), Some("bounce"), Some("5.2.2"), "mailbox full"),
            Some((BounceKind::Soft, "mailbox_full"))
        );
        assert_eq!(
            failed(Some("temporary"), Some("generic"), Some("5.1.1"), "user unknown").map(|k| k.0),
            Some(BounceKind::Delayed)
        );
    }

    #[tokio::test]
    async fn complaints_are_read_and_other_events_ignored() {
        let complained = r#"{"id":"c1","timestamp":1700000000,"event":"complained","recipient":"bob@example.com"}"#;
        let Ok(WebhookOutcome::Events(got)) = call(&signed("1700000000", complained), &keys(KEY)).await else {
            panic!("expected events");
        };
        assert_eq!(got[0].event.kind, BounceKind::Complaint);
        let delivered = r#"{"id":"d1","timestamp":1700000000,"event":"delivered","recipient":"bob@example.com"}"#;
        assert_eq!(call(&signed("1700000000", delivered), &keys(KEY)).await, Ok(WebhookOutcome::Events(vec![])));
    }

    #[tokio::test]
    async fn one_changed_byte_in_the_signed_fields_is_unauthorized() {
        let body = signed("1700000000", PERMANENT).replace(TOKEN, &TOKEN.replacen('a', "b", 1));
        assert!(unauthorized(call(&body, &keys(KEY)).await));
    }

    #[tokio::test]
    async fn a_signature_reused_with_other_events_is_unauthorized() {
        let keys = keys(KEY);
        let original = signed("1700000000", PERMANENT);
        assert!(call(&original, &keys).await.is_ok());
        // Mailgun's retry (the same request again) still passes.
        assert!(call(&original, &keys).await.is_ok());
        let forged = original.replace("Alice@Example.com", "someone-else@example.com");
        assert!(unauthorized(call(&forged, &keys).await));
    }

    #[tokio::test]
    async fn missing_signature_is_unauthorized() {
        let body = format!(r#"{{"event-data":{PERMANENT}}}"#);
        assert!(unauthorized(call(&body, &keys(KEY)).await));
    }

    #[tokio::test]
    async fn stale_timestamp_is_unauthorized_even_when_signed() {
        assert!(unauthorized(call(&signed("1699999000", PERMANENT), &keys(KEY)).await));
    }

    #[tokio::test]
    async fn another_key_is_unauthorized() {
        assert!(unauthorized(call(&signed("1700000000", PERMANENT), &keys("key-another-one-entirely")).await));
    }

    #[tokio::test]
    async fn not_configured_without_a_key() {
        assert_eq!(
            call(&signed("1700000000", PERMANENT), &WebhookKeys::default()).await,
            Err(WebhookError::NotConfigured)
        );
    }
}
