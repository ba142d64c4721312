//! Herald's own webhook format, for relays and scripts that know the outcome already.
//!
//! ```json
//! {"events": [{"recipient": "a@example.com", "kind": "hard", "status": "5.1.1",
//!              "reason": "user_unknown", "diagnostic": "550 5.1.1 no such user",
//!              "message_id": "<id@herald.example>", "id": "relay-42"}]}
//! ```
//! A single event object or a bare array of events is accepted too. `recipient` and `kind`
//! (`hard`, `soft`, `complaint`, `delayed`, `auto_reply`) are required; `status` must be an
//! enhanced status code, `reason` one of the labels of [`crate::feedback::reason`]. The sender's
//! `kind` is taken as given: it is authenticated and documented to follow DESIGN §5.
//!
//! Authentication: `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
//! `HERALD_WEBHOOK_SECRET` (preferred: the secret never travels and the body cannot be
//! altered), or else `Authorization: Bearer <HERALD_WEBHOOK_SECRET>`. A signature header that
//! is present but wrong is refused even when a bearer token is also given.

use super::kind::{bare_message_id, enhanced_status, normalize_recipient, one_line};
use super::verify::{hmac_sha256_hex_ok, secrets_equal};
use super::{ProviderEvent, WebhookError, WebhookRequest, parse_json};
use crate::domain::BounceKind;
use crate::feedback::BounceEvent;
use crate::feedback::reason::Reason;
use serde_json::Value;

pub(super) fn handle(req: &WebhookRequest<'_>, secret: &[u8]) -> Result<Vec<ProviderEvent>, WebhookError> {
    authenticate(req, secret)?;
    let body = parse_json(req.body)?;
    let items: Vec<&Value> = match &body {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => match map.get("events") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(_) => return Err(WebhookError::BadRequest("events: expected an array".into())),
            None => vec![&body],
        },
        _ => return Err(WebhookError::BadRequest("expected an object or an array of events".into())),
    };
    items.into_iter().enumerate().map(|(i, item)| event(i, item)).collect()
}

fn authenticate(req: &WebhookRequest<'_>, secret: &[u8]) -> Result<(), WebhookError> {
    if let Some(sig) = req.header("x-herald-signature") {
        let hex = sig
            .strip_prefix("sha256=")
            .ok_or_else(|| WebhookError::Unauthorized("X-Herald-Signature must be sha256=<hex>".into()))?;
        return if hmac_sha256_hex_ok(secret, &[req.body], hex) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("X-Herald-Signature does not match the body".into()))
        };
    }
    if let Some(auth) = req.header("authorization") {
        let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).unwrap_or("").trim();
        return if !token.is_empty() && secrets_equal(token.as_bytes(), secret) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("bearer token does not match".into()))
        };
    }
    Err(WebhookError::Unauthorized("missing X-Herald-Signature".into()))
}

fn event(i: usize, item: &Value) -> Result<ProviderEvent, WebhookError> {
    let bad = |field: &str, what: &str| WebhookError::BadRequest(format!("events[{i}].{field}: {what}"));
    if !item.is_object() {
        return Err(WebhookError::BadRequest(format!("events[{i}]: expected an object")));
    }
    let text = |field: &str| -> Result<Option<&str>, WebhookError> {
        match item.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
            Some(_) => Err(bad(field, "expected a string")),
        }
    };

    let recipient = text("recipient")?.map(normalize_recipient).ok_or_else(|| bad("recipient", "required"))?;
    let valid_address = recipient.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !recipient.contains(char::is_whitespace)
    });
    if !valid_address {
        return Err(bad("recipient", "not an email address"));
    }
    let kind: BounceKind = text("kind")?
        .ok_or_else(|| bad("kind", "required"))?
        .parse()
        .map_err(|_| bad("kind", "expected hard, soft, complaint, delayed or auto_reply"))?;
    let status = match text("status")? {
        Some(s) => {
            Some(enhanced_status(s).ok_or_else(|| bad("status", "expected an enhanced status code like 5.1.1"))?)
        }
        None => None,
    };
    let reason = match text("reason")? {
        Some(r) => {
            Reason::from_label(r).map(Reason::as_str).ok_or_else(|| bad("reason", "not a known reason label"))?
        }
        None => default_reason(kind),
    };
    let diagnostic = text("diagnostic")?.and_then(one_line);
    let message_id = text("message_id")?.and_then(bare_message_id);
    let provider_event_id = text("id")?.map(str::to_string);

    Ok(ProviderEvent {
        event: BounceEvent { recipient, kind, status, reason: Some(reason.to_string()), diagnostic },
        message_id,
        provider_event_id,
        occurred_at: None,
    })
}

fn default_reason(kind: BounceKind) -> &'static str {
    match kind {
        BounceKind::Complaint => "complaint",
        BounceKind::Delayed => "delayed",
        BounceKind::AutoReply => "auto_reply",
        BounceKind::Hard | BounceKind::Soft => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::webhooks::{Provider, WebhookKeys, WebhookOutcome, handle as dispatch, sns::NoCerts};
    use chrono::Utc;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    const SECRET: &str = "generic-webhook-secret-0123";

    fn sign(body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn keys() -> WebhookKeys {
        WebhookKeys::from_env(&[("HERALD_WEBHOOK_SECRET".to_string(), SECRET.to_string())])
    }

    async fn call(
        headers: Vec<(&str, String)>,
        body: &[u8],
        keys: &WebhookKeys,
    ) -> Result<WebhookOutcome, WebhookError> {
        let headers: Vec<(String, String)> = headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let req = WebhookRequest { headers: &headers, body, now: Utc::now() };
        dispatch(Provider::Generic, &req, keys, &NoCerts).await
    }

    fn events(outcome: WebhookOutcome) -> Vec<ProviderEvent> {
        match outcome {
            WebhookOutcome::Events(e) => e,
            other => panic!("expected events, got {other:?}"),
        }
    }

    const BODY: &str = r#"{"events":[
        {"recipient":" Bob@Example.COM ","kind":"hard","status":"5.1.1","reason":"user_unknown",
         "diagnostic":"550 5.1.1\r\n no such user","message_id":"<m1@herald.example>","id":"relay-1"},
        {"recipient":"carol@example.org","kind":"complaint"}]}"#;

    #[tokio::test]
    async fn signed_events_are_read() {
        let got =
            events(call(vec![("x-herald-signature", sign(BODY.as_bytes()))], BODY.as_bytes(), &keys()).await.unwrap());
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].event,
            BounceEvent {
                recipient: "bob@example.com".into(),
                kind: BounceKind::Hard,
                status: Some("5.1.1".into()),
                reason: Some("user_unknown".into()),
                diagnostic: Some("550 5.1.1 no such user".into()),
            }
        );
        assert_eq!(got[0].message_id.as_deref(), Some("m1@herald.example"));
        assert_eq!(got[0].provider_event_id.as_deref(), Some("relay-1"));
        assert_eq!((got[1].event.kind, got[1].event.reason.as_deref()), (BounceKind::Complaint, Some("complaint")));
    }

    #[tokio::test]
    async fn a_single_object_or_a_bare_array_is_accepted() {
        for body in
            [r#"{"recipient":"a@b.example","kind":"soft"}"#, r#"[{"recipient":"a@b.example","kind":"delayed"}]"#]
        {
            let got = events(
                call(vec![("x-herald-signature", sign(body.as_bytes()))], body.as_bytes(), &keys()).await.unwrap(),
            );
            assert_eq!(got.len(), 1, "{body}");
        }
    }

    #[tokio::test]
    async fn bearer_secret_is_accepted_as_the_fallback() {
        let got = call(vec![("authorization", format!("Bearer {SECRET}"))], BODY.as_bytes(), &keys()).await;
        assert!(got.is_ok());
        let got = call(vec![("authorization", "Bearer wrong-secret-0123456".into())], BODY.as_bytes(), &keys()).await;
        assert!(matches!(got, Err(WebhookError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn one_changed_byte_is_unauthorized() {
        let sig = sign(BODY.as_bytes());
        let tampered = BODY.replace("hard", "soft");
        let got = call(vec![("x-herald-signature", sig.clone())], tampered.as_bytes(), &keys()).await;
        assert!(matches!(got, Err(WebhookError::Unauthorized(_))));
        // A wrong signature is not rescued by a right bearer token.
        let got = call(
            vec![("x-herald-signature", sig), ("authorization", format!("Bearer {SECRET}"))],
            tampered.as_bytes(),
            &keys(),
        )
        .await;
        assert!(matches!(got, Err(WebhookError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn missing_signature_or_wrong_key_is_unauthorized() {
        assert!(matches!(call(vec![], BODY.as_bytes(), &keys()).await, Err(WebhookError::Unauthorized(_))));
        let other =
            WebhookKeys::from_env(&[("HERALD_WEBHOOK_SECRET".to_string(), "another-secret-456789".to_string())]);
        let got = call(vec![("x-herald-signature", sign(BODY.as_bytes()))], BODY.as_bytes(), &other).await;
        assert!(matches!(got, Err(WebhookError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn not_configured_without_a_secret() {
        let got =
            call(vec![("x-herald-signature", sign(BODY.as_bytes()))], BODY.as_bytes(), &WebhookKeys::default()).await;
        assert_eq!(got, Err(WebhookError::NotConfigured));
    }

    #[tokio::test]
    async fn a_bad_event_is_a_bad_request_naming_index_and_field() {
        let cases = [
            (
                r#"{"events":[{"recipient":"a@b.example","kind":"soft"},{"recipient":"a@b.example","kind":"bounced"}]}"#,
                "events[1].kind",
            ),
            (r#"[{"kind":"hard"}]"#, "events[0].recipient"),
            (r#"[{"recipient":"nobody","kind":"hard"}]"#, "events[0].recipient"),
            (r#"[{"recipient":"a@b.example","kind":"hard","status":"550"}]"#, "events[0].status"),
            (r#"[{"recipient":"a@b.example","kind":"hard","reason":"gone"}]"#, "events[0].reason"),
            (r#"[{"recipient":"a@b.example","kind":"hard","diagnostic":5}]"#, "events[0].diagnostic"),
        ];
        for (body, field) in cases {
            let got = call(vec![("x-herald-signature", sign(body.as_bytes()))], body.as_bytes(), &keys()).await;
            match got {
                Err(WebhookError::BadRequest(msg)) => assert!(msg.starts_with(field), "{body}: {msg}"),
                other => panic!("{body}: expected a bad request, got {other:?}"),
            }
        }
    }
}
