//! SendGrid's Event Webhook: a JSON array of events, authenticated by the Signed Event
//! Webhook (ECDSA P-256 with SHA-256 over the `X-Twilio-Email-Event-Webhook-Timestamp`
//! header followed by the raw body; the base64 DER signature in
//! `X-Twilio-Email-Event-Webhook-Signature`).
//!
//! Events read: `bounce` (`type` `bounce` or `blocked`), `dropped`, `deferred`, `spamreport`;
//! the others (processed, delivered, open, click, ...) are ignored.

use super::kind::{
    Evidence, bare_message_id, enhanced_status, evidence, kind_from_reply, normalize_recipient, one_line,
};
use super::verify::{decode_base64_lenient, fresh_unix_timestamp, json_unix_seconds};
use super::{ProviderEvent, WebhookError, WebhookRequest, json_str, parse_json};
use crate::domain::BounceKind;
use crate::feedback::BounceEvent;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde_json::Value;

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

pub(super) fn handle(req: &WebhookRequest<'_>, public_point: &[u8]) -> Result<Vec<ProviderEvent>, WebhookError> {
    authenticate(req, public_point)?;
    let Value::Array(items) = parse_json(req.body)? else {
        return Err(WebhookError::BadRequest("expected a JSON array of events".into()));
    };
    Ok(items.iter().filter_map(event).collect())
}

fn authenticate(req: &WebhookRequest<'_>, public_point: &[u8]) -> Result<(), WebhookError> {
    let signature = req.header(SIGNATURE).ok_or_else(|| WebhookError::Unauthorized(format!("missing {SIGNATURE}")))?;
    let timestamp = req.header(TIMESTAMP).ok_or_else(|| WebhookError::Unauthorized(format!("missing {TIMESTAMP}")))?;
    fresh_unix_timestamp(timestamp, req.now)?;
    let signature =
        decode_base64_lenient(signature).ok_or_else(|| WebhookError::Unauthorized("signature is not base64".into()))?;
    let mut signed = Vec::with_capacity(timestamp.len() + req.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(req.body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_point)
        .verify(&signed, &signature)
        .map_err(|_| WebhookError::Unauthorized("signature does not match".into()))
}

/// One event, or `None` when it is not feedback Herald acts on (or names no recipient).
fn event(item: &Value) -> Option<ProviderEvent> {
    let recipient = normalize_recipient(json_str(item, "email")?);
    if recipient.is_empty() {
        return None;
    }
    let status = json_str(item, "status").and_then(enhanced_status);
    let text = json_str(item, "reason").or_else(|| json_str(item, "response")).unwrap_or("");
    let (kind, reason) = match json_str(item, "event")? {
        "bounce" => bounce(json_str(item, "type"), json_str(item, "bounce_classification"), status.as_deref(), text),
        "dropped" => dropped(text)?,
        "deferred" => (BounceKind::Delayed, delayed_reason(status.as_deref(), text)),
        "spamreport" => (BounceKind::Complaint, "complaint"),
        _ => return None,
    };
    let status = status.or_else(|| super::kind::find_enhanced_status(text));
    Some(ProviderEvent {
        event: BounceEvent {
            recipient,
            kind,
            status: status.filter(|_| kind != BounceKind::Complaint),
            reason: Some(reason.to_string()),
            diagnostic: one_line(text),
        },
        message_id: json_str(item, "smtp-id").and_then(bare_message_id),
        provider_event_id: json_str(item, "sg_event_id").map(str::to_string),
        occurred_at: item.get("timestamp").and_then(json_unix_seconds),
    })
}

fn bounce(
    bounce_type: Option<&str>,
    classification: Option<&str>,
    status: Option<&str>,
    text: &str,
) -> (BounceKind, &'static str) {
    if bounce_type == Some("blocked") {
        // A block is the receiving side refusing the sender (IP, domain, content), not the
        // address: soft whatever the status, with the cause when the words give one.
        return match evidence(status, text) {
            Evidence::NotTheAddress(reason) => (BounceKind::Soft, reason),
            Evidence::AddressGone(_) | Evidence::Unclear => (BounceKind::Soft, "spam_blocked"),
        };
    }
    // SendGrid's own reading of the reply; it only tips a reply that says nothing either way.
    if classification == Some("Invalid Address") && evidence(status, text) == Evidence::Unclear {
        return (BounceKind::Hard, "user_unknown");
    }
    kind_from_reply(status, text, true)
}

/// SendGrid drops a message without trying it when the address is on one of its lists.
fn dropped(reason: &str) -> Option<(BounceKind, &'static str)> {
    match reason {
        // On the bounce list only after an earlier hard bounce; "Invalid" is an address
        // that cannot exist.
        "Bounced Address" | "Invalid" => Some((BounceKind::Hard, "user_unknown")),
        "Spam Reporting Address" => Some((BounceKind::Complaint, "complaint")),
        // Consent is Herald's own business; SendGrid's unsubscribe list is not a bounce.
        "Unsubscribed Address" => None,
        "Spam Content" => Some((BounceKind::Soft, "filtered")),
        _ => Some((BounceKind::Soft, "other")),
    }
}

fn delayed_reason(status: Option<&str>, text: &str) -> &'static str {
    match kind_from_reply(status, text, false).1 {
        "other" => "delayed",
        reason => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::webhooks::{Provider, WebhookKeys, WebhookOutcome, handle as dispatch, sns::NoCerts};
    use base64::Engine as _;
    use chrono::{DateTime, Utc};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    const SPKI_P256_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];

    struct Signer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn new() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            Signer { pair, rng }
        }

        /// The key as SendGrid shows it: base64 DER SubjectPublicKeyInfo.
        fn keys(&self) -> WebhookKeys {
            let mut spki = SPKI_P256_PREFIX.to_vec();
            spki.extend_from_slice(self.pair.public_key().as_ref());
            let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
            WebhookKeys::from_env(&[("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY".to_string(), b64)])
        }

        fn headers(&self, timestamp: &str, body: &[u8]) -> Vec<(String, String)> {
            let signed = [timestamp.as_bytes(), body].concat();
            let sig = self.pair.sign(&self.rng, &signed).unwrap();
            vec![
                (SIGNATURE.to_string(), base64::engine::general_purpose::STANDARD.encode(sig.as_ref())),
                (TIMESTAMP.to_string(), timestamp.to_string()),
            ]
        }
    }

    const TS: &str = "1700000000";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_120, 0).unwrap()
    }

    // Shaped after SendGrid's documented event examples.
    const BODY: &str = r#"[
      {"email":"Unknown@Example.com","timestamp":1700000000,"smtp-id":"<m1@herald.example>","event":"bounce",
       "type":"bounce","bounce_classification":"Invalid Address","sg_event_id":"ev-1","sg_message_id":"sg-1",
       "reason":"550 5.1.1 The email account that you tried to reach does not exist.","status":"5.1.1"},
      {"email":"blocked@example.com","timestamp":1700000001,"smtp-id":"<m2@herald.example>","event":"bounce",
       "type":"blocked","sg_event_id":"ev-2","reason":"550 5.7.1 Service unavailable; Client host blocked","status":"5.7.1"},
      {"email":"slow@example.com","timestamp":1700000002,"event":"deferred","sg_event_id":"ev-3",
       "response":"450 4.2.2 mailbox full, try again later","attempt":"2"},
      {"email":"angry@example.com","timestamp":1700000003,"event":"spamreport","sg_event_id":"ev-4"},
      {"email":"gone@example.com","timestamp":1700000004,"event":"dropped","reason":"Bounced Address","sg_event_id":"ev-5"},
      {"email":"left@example.com","timestamp":1700000005,"event":"dropped","reason":"Unsubscribed Address","sg_event_id":"ev-6"},
      {"email":"fine@example.com","timestamp":1700000006,"event":"delivered","sg_event_id":"ev-7"},
      {"email":"fine@example.com","timestamp":1700000007,"event":"open","sg_event_id":"ev-8"}
    ]"#;

    async fn call(
        headers: &[(String, String)],
        body: &[u8],
        keys: &WebhookKeys,
    ) -> Result<WebhookOutcome, WebhookError> {
        let req = WebhookRequest { headers, body, now: now() };
        dispatch(Provider::Sendgrid, &req, keys, &NoCerts).await
    }

    fn unauthorized(got: Result<WebhookOutcome, WebhookError>) -> bool {
        matches!(got, Err(WebhookError::Unauthorized(_)))
    }

    #[tokio::test]
    async fn signed_batch_yields_the_failures_and_complaints() {
        let s = Signer::new();
        let Ok(WebhookOutcome::Events(got)) = call(&s.headers(TS, BODY.as_bytes()), BODY.as_bytes(), &s.keys()).await
        else {
            panic!("expected events");
        };
        let summary: Vec<(&str, BounceKind, Option<&str>)> =
            got.iter().map(|e| (e.event.recipient.as_str(), e.event.kind, e.event.reason.as_deref())).collect();
        assert_eq!(
            summary,
            vec![
                ("unknown@example.com", BounceKind::Hard, Some("user_unknown")),
                ("blocked@example.com", BounceKind::Soft, Some("spam_blocked")),
                ("slow@example.com", BounceKind::Delayed, Some("mailbox_full")),
                ("angry@example.com", BounceKind::Complaint, Some("complaint")),
                ("gone@example.com", BounceKind::Hard, Some("user_unknown")),
            ]
        );
        assert_eq!(got[0].message_id.as_deref(), Some("m1@herald.example"));
        assert_eq!(got[0].provider_event_id.as_deref(), Some("ev-1"));
        assert_eq!(got[0].event.status.as_deref(), Some("5.1.1"));
        assert_eq!(got[0].occurred_at, DateTime::from_timestamp(1_700_000_000, 0));
        assert_eq!(got[2].event.status.as_deref(), Some("4.2.2"));
    }

    #[test]
    fn blocked_550_5_7_1_is_soft_not_hard() {
        assert_eq!(bounce(Some("blocked"), None, Some("5.7.1"), "550 5.7.1 rejected"), (BounceKind::Soft, "policy"));
        // Even when the words look like an unknown user, a block is about the sender.
        assert_eq!(bounce(Some("blocked"), None, Some("5.1.1"), "550 user unknown").0, BounceKind::Soft);
    }

    #[test]
    fn a_bounce_is_hard_only_by_the_status_and_words() {
        assert_eq!(bounce(Some("bounce"), None, Some("5.0.0"), "550 rejected"), (BounceKind::Soft, "other"));
        assert_eq!(bounce(Some("bounce"), None, Some("5.2.2"), "552 mailbox full").0, BounceKind::Soft);
        assert_eq!(bounce(Some("bounce"), Some("Invalid Address"), Some("5.0.0"), "550 rejected").0, BounceKind::Hard);
        assert_eq!(bounce(Some("bounce"), Some("Invalid Address"), Some("5.2.2"), "mailbox full").0, BounceKind::Soft);
    }

    #[tokio::test]
    async fn one_changed_byte_is_unauthorized() {
        let s = Signer::new();
        let headers = s.headers(TS, BODY.as_bytes());
        let tampered = BODY.replacen("Unknown@", "Unknowm@", 1);
        assert!(unauthorized(call(&headers, tampered.as_bytes(), &s.keys()).await));
    }

    #[tokio::test]
    async fn missing_signature_is_unauthorized() {
        let s = Signer::new();
        let headers: Vec<(String, String)> =
            s.headers(TS, BODY.as_bytes()).into_iter().filter(|(k, _)| k != SIGNATURE).collect();
        assert!(unauthorized(call(&headers, BODY.as_bytes(), &s.keys()).await));
    }

    #[tokio::test]
    async fn stale_timestamp_is_unauthorized_even_when_signed() {
        let s = Signer::new();
        let stale = "1699999000"; // 18 minutes before now()
        assert!(unauthorized(call(&s.headers(stale, BODY.as_bytes()), BODY.as_bytes(), &s.keys()).await));
    }

    #[tokio::test]
    async fn another_key_is_unauthorized() {
        let (s, other) = (Signer::new(), Signer::new());
        assert!(unauthorized(call(&s.headers(TS, BODY.as_bytes()), BODY.as_bytes(), &other.keys()).await));
    }

    #[tokio::test]
    async fn not_configured_without_a_key() {
        let s = Signer::new();
        let got = call(&s.headers(TS, BODY.as_bytes()), BODY.as_bytes(), &WebhookKeys::default()).await;
        assert_eq!(got, Err(WebhookError::NotConfigured));
    }
}
