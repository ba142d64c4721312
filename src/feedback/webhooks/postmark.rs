//! Postmark's bounce and spam-complaint webhooks: one JSON record per POST, authenticated
//! by the HTTP Basic credentials Postmark is told to put in the webhook URL
//! (`https://user:password@host/webhooks/postmark`).
//!
//! `Type` is Postmark's own classification; the server's words (`Details`) can overrule it
//! towards soft, never towards hard, except a DNS error that says the domain does not exist.

use super::keys::BasicCredentials;
use super::kind::{Evidence, bare_message_id, evidence, find_enhanced_status, normalize_recipient, one_line};
use super::verify::{decode_base64_lenient, secrets_equal};
use super::{ProviderEvent, WebhookError, WebhookRequest, json_str, parse_json};
use crate::domain::BounceKind;
use crate::feedback::BounceEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub(super) fn handle(req: &WebhookRequest<'_>, creds: &BasicCredentials) -> Result<Vec<ProviderEvent>, WebhookError> {
    authenticate(req, creds)?;
    let record = parse_json(req.body)?;
    if !record.is_object() {
        return Err(WebhookError::BadRequest("expected a JSON object".into()));
    }
    Ok(event(&record).into_iter().collect())
}

fn authenticate(req: &WebhookRequest<'_>, creds: &BasicCredentials) -> Result<(), WebhookError> {
    let refused = |why: &str| WebhookError::Unauthorized(why.to_string());
    let header = req.header("authorization").ok_or_else(|| refused("missing Basic credentials"))?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(|| refused("expected Basic credentials"))?;
    let decoded = decode_base64_lenient(encoded).ok_or_else(|| refused("credentials are not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| refused("credentials are not UTF-8"))?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| refused("credentials lack a password"))?;
    // Both compared, whatever the first gives, so timing does not tell which was wrong.
    let user_ok = secrets_equal(user.as_bytes(), creds.user.as_bytes());
    let password_ok = secrets_equal(password.as_bytes(), creds.password.as_bytes());
    if user_ok & password_ok { Ok(()) } else { Err(refused("credentials do not match")) }
}

fn event(record: &Value) -> Option<ProviderEvent> {
    let recipient = normalize_recipient(json_str(record, "Email")?);
    if recipient.is_empty() {
        return None;
    }
    let details = json_str(record, "Details").unwrap_or("");
    let description = json_str(record, "Description").unwrap_or("");
    let (kind, reason) = match json_str(record, "RecordType")? {
        "SpamComplaint" => (BounceKind::Complaint, "complaint"),
        "Bounce" => bounce_kind(json_str(record, "Type")?, details, description)?,
        _ => return None,
    };
    let occurred_at =
        json_str(record, "BouncedAt").and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    let provider_event_id = match record.get("ID") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    let status = (kind != BounceKind::Complaint).then(|| find_enhanced_status(details)).flatten();
    Some(ProviderEvent {
        event: BounceEvent { recipient, kind, status, reason: Some(reason.to_string()), diagnostic: one_line(details) },
        message_id: our_message_id(record),
        provider_event_id,
        occurred_at,
    })
}

/// Postmark's bounce `Type` read against DESIGN §5; `None` for types that are not
/// delivery feedback (subscription changes, address changes, API errors, ...).
fn bounce_kind(bounce_type: &str, details: &str, description: &str) -> Option<(BounceKind, &'static str)> {
    let said = evidence(None, details);
    let soft = |fallback: &'static str| match said {
        Evidence::NotTheAddress(reason) => (BounceKind::Soft, reason),
        _ => (BounceKind::Soft, fallback),
    };
    Some(match bounce_type {
        // "Unknown user, mailbox not found": hard unless the server's words say otherwise.
        "HardBounce" => match evidence(None, &format!("{details} {description}")) {
            Evidence::NotTheAddress(reason) => (BounceKind::Soft, reason),
            Evidence::AddressGone(reason) => (BounceKind::Hard, reason),
            Evidence::Unclear => (BounceKind::Hard, "user_unknown"),
        },
        "BadEmailAddress" => (BounceKind::Hard, "user_unknown"),
        // Usually a lookup that failed for now; hard only when the domain is said not to exist.
        "DnsError" => match said {
            Evidence::AddressGone("host_unknown") => (BounceKind::Hard, "host_unknown"),
            _ => soft("other"),
        },
        "SoftBounce" | "Transient" | "Unknown" => soft("other"),
        "Blocked" | "SpamNotification" => soft("spam_blocked"),
        "VirusNotification" | "ChallengeVerification" => soft("filtered"),
        "DMARCPolicy" => (BounceKind::Soft, "policy"),
        "AutoResponder" => (BounceKind::AutoReply, "auto_reply"),
        "SpamComplaint" => (BounceKind::Complaint, "complaint"),
        _ => return None,
    })
}

/// Herald's Message-ID, when Postmark passes the message headers on (its `MessageID`
/// is its own id, not ours).
fn our_message_id(record: &Value) -> Option<String> {
    let headers = record.get("Headers")?.as_array()?;
    headers
        .iter()
        .find(|h| json_str(h, "Name").is_some_and(|n| n.eq_ignore_ascii_case("message-id")))
        .and_then(|h| json_str(h, "Value"))
        .and_then(bare_message_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::webhooks::{Provider, WebhookKeys, WebhookOutcome, handle as dispatch, sns::NoCerts};
    use base64::Engine as _;

    fn keys() -> WebhookKeys {
        WebhookKeys::from_env(&[
            ("HERALD_POSTMARK_WEBHOOK_USER".to_string(), "postmark".to_string()),
            ("HERALD_POSTMARK_WEBHOOK_PASSWORD".to_string(), "s3cret-hook-pass".to_string()),
        ])
    }

    fn basic(user: &str, password: &str) -> Vec<(String, String)> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        vec![("authorization".to_string(), format!("Basic {token}"))]
    }

    async fn call(
        headers: &[(String, String)],
        body: &str,
        keys: &WebhookKeys,
    ) -> Result<WebhookOutcome, WebhookError> {
        let req = WebhookRequest { headers, body: body.as_bytes(), now: Utc::now() };
        dispatch(Provider::Postmark, &req, keys, &NoCerts).await
    }

    async fn one(body: &str) -> ProviderEvent {
        match call(&basic("postmark", "s3cret-hook-pass"), body, &keys()).await {
            Ok(WebhookOutcome::Events(mut e)) if e.len() == 1 => e.remove(0),
            other => panic!("expected one event, got {other:?}"),
        }
    }

    // Shaped after Postmark's documented bounce webhook example.
    const HARD: &str = r#"{"RecordType":"Bounce","MessageStream":"outbound","ID":4323372036854775807,
      "Type":"HardBounce","TypeCode":1,"Name":"Hard bounce","Tag":"Test",
      "MessageID":"883953f4-6105-42a2-a16a-77a8eac79483","ServerID":23,
      "Description":"The server was unable to deliver your message (ex: unknown user, mailbox not found).",
      "Details":"smtp;550 5.1.1 The email account that you tried to reach does not exist.",
      "Email":"John@Example.com","From":"sender@example.com","BouncedAt":"2019-11-05T16:33:54.9070259Z",
      "Inactive":true,"CanActivate":true,"Subject":"Test subject",
      "Headers":[{"Name":"Message-ID","Value":"<m1@herald.example>"}]}"#;

    #[tokio::test]
    async fn authenticated_hard_bounce_is_hard() {
        let e = one(HARD).await;
        assert_eq!(e.event.recipient, "john@example.com");
        assert_eq!((e.event.kind, e.event.reason.as_deref()), (BounceKind::Hard, Some("user_unknown")));
        assert_eq!(e.event.status.as_deref(), Some("5.1.1"));
        assert_eq!(e.message_id.as_deref(), Some("m1@herald.example"));
        assert_eq!(e.provider_event_id.as_deref(), Some("4323372036854775807"));
        assert_eq!(e.occurred_at.map(|t| t.timestamp()), Some(1_572_971_634));
    }

    #[tokio::test]
    async fn a_hard_bounce_whose_words_say_mailbox_full_is_soft() {
        let body = HARD.replace("The email account that you tried to reach does not exist.", "Mailbox full");
        let e = one(&body).await;
        assert_eq!((e.event.kind, e.event.reason.as_deref()), (BounceKind::Soft, Some("mailbox_full")));
    }

    #[tokio::test]
    async fn spam_complaint_is_a_complaint() {
        let body = r#"{"RecordType":"SpamComplaint","ID":42,"Type":"SpamComplaint","TypeCode":512,
          "Email":"angry@example.com","BouncedAt":"2019-11-05T16:33:54Z","Details":"Test spam complaint details"}"#;
        let e = one(body).await;
        assert_eq!((e.event.kind, e.event.status), (BounceKind::Complaint, None));
    }

    #[test]
    fn types_map_by_design_section_5() {
        assert_eq!(bounce_kind("BadEmailAddress", "", ""), Some((BounceKind::Hard, "user_unknown")));
        assert_eq!(bounce_kind("DnsError", "Temporary DNS failure", ""), Some((BounceKind::Soft, "other")));
        assert_eq!(
            bounce_kind("DnsError", "Host or domain name not found", ""),
            Some((BounceKind::Hard, "host_unknown"))
        );
        assert_eq!(bounce_kind("SoftBounce", "452 4.2.2 Mailbox full", ""), Some((BounceKind::Soft, "mailbox_full")));
        assert_eq!(bounce_kind("SoftBounce", "550 5.1.1 user unknown", "").map(|k| k.0), Some(BounceKind::Soft));
        assert_eq!(bounce_kind("Blocked", "", ""), Some((BounceKind::Soft, "spam_blocked")));
        assert_eq!(bounce_kind("Transient", "", "").map(|k| k.0), Some(BounceKind::Soft));
        assert_eq!(bounce_kind("AutoResponder", "", ""), Some((BounceKind::AutoReply, "auto_reply")));
        assert_eq!(bounce_kind("SubscriptionChange", "", ""), None);
        assert_eq!(bounce_kind("HardBounce", "", ""), Some((BounceKind::Hard, "user_unknown")));
    }

    #[tokio::test]
    async fn other_record_types_are_ignored() {
        let body = r#"{"RecordType":"Delivery","Recipient":"a@example.com","Email":"a@example.com"}"#;
        assert_eq!(
            call(&basic("postmark", "s3cret-hook-pass"), body, &keys()).await,
            Ok(WebhookOutcome::Events(vec![]))
        );
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_are_unauthorized() {
        for headers in [basic("postmark", "wrong"), basic("other", "s3cret-hook-pass"), vec![]] {
            assert!(matches!(call(&headers, HARD, &keys()).await, Err(WebhookError::Unauthorized(_))));
        }
        let bearer = vec![("authorization".to_string(), "Bearer s3cret-hook-pass".to_string())];
        assert!(matches!(call(&bearer, HARD, &keys()).await, Err(WebhookError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn not_configured_without_credentials() {
        let got = call(&basic("postmark", "s3cret-hook-pass"), HARD, &WebhookKeys::default()).await;
        assert_eq!(got, Err(WebhookError::NotConfigured));
    }
}
