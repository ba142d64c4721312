//! What the CRM receives for one signal: the JSON body and the headers that sign it.
//!
//! Body: `{"id", "event", "occurred_at", "contact": {"id", "email"?}, "list"?, "purpose"?}`.
//! `id` is the idempotency id (also `X-Herald-Event-Id`), the same on every retry.
//! `contact.email` is the address at the time of the change; it is left out of an
//! `erased` signal, and of every signal of a contact erased before it was delivered: the
//! CRM matches those by `contact.id`, which every earlier signal carried beside the
//! address.
//!
//! Signature: `X-Herald-Signature: sha256=HEX(HMAC-SHA256(key, TIMESTAMP + "." + BODY))`,
//! where `TIMESTAMP` is `X-Herald-Timestamp` (Unix seconds, decimal, of the attempt) and
//! `BODY` the exact bytes sent. The receiver recomputes it over the raw body, compares in
//! constant time, and refuses a timestamp more than a few minutes old (replays).

use crate::store::OutboxRow;
use chrono::SecondsFormat;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    event: &'a str,
    occurred_at: String,
    contact: ContactRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    list: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'a str>,
}

#[derive(Serialize)]
struct ContactRef<'a> {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

/// The JSON body of `row`.
pub fn body(row: &OutboxRow) -> Vec<u8> {
    let body = Body {
        id: &row.event_id,
        event: &row.signal,
        occurred_at: row.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        contact: ContactRef { id: row.contact_id.get(), email: row.email.as_deref() },
        list: row.list.as_deref(),
        purpose: row.purpose.as_deref(),
    };
    serde_json::to_vec(&body).expect("a struct of strings serialises")
}

/// `sha256=HEX` over `timestamp + "." + body`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The headers of one attempt, besides `Content-Type: application/json`.
pub fn headers(key: &[u8], timestamp: i64, row: &OutboxRow, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("X-Herald-Event-Id", row.event_id.clone()),
        ("X-Herald-Timestamp", timestamp.to_string()),
        ("X-Herald-Signature", signature(key, timestamp, body)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContactId;
    use chrono::{TimeZone, Utc};

    fn row(signal: &str, email: Option<&str>) -> OutboxRow {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 4, 0, 0).unwrap();
        OutboxRow {
            id: 1,
            event_id: "evt_1".into(),
            signal: signal.into(),
            list: Some("news".into()),
            purpose: None,
            contact_id: ContactId::new(42),
            email: email.map(str::to_owned),
            occurred_at: at,
            attempts: 0,
            next_at: at,
        }
    }

    #[test]
    fn the_body_names_the_event_the_contact_and_the_list() {
        let b = body(&row("unsubscribed", Some("p@example.com")));
        assert_eq!(
            String::from_utf8(b).unwrap(),
            r#"{"id":"evt_1","event":"unsubscribed","occurred_at":"2026-12-06T04:00:00.000Z","contact":{"id":42,"email":"p@example.com"},"list":"news"}"#
        );
        let b: serde_json::Value = serde_json::from_slice(&body(&row("erased", None))).unwrap();
        assert_eq!(b["contact"], serde_json::json!({"id": 42}));
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        // Known answer: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature(b"key", 1_700_000_000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(signature(b"key", 1_700_000_001, b"{}"), signature(b"key", 1_700_000_000, b"{}"));
        assert_ne!(signature(b"key", 1_700_000_000, b"{ }"), signature(b"key", 1_700_000_000, b"{}"));
    }
}
