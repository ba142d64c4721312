//! SNS signature checks against test certificates (see testdata/make-fixtures.sh), and the
//! SES mapping rules.

use super::ses::{bounce_kind, events};
use super::*;
use crate::domain::BounceKind;
use crate::feedback::webhooks::{Provider, WebhookKeys, handle as dispatch};
use base64::Engine as _;
use rustls::pki_types::PrivateKeyDer;
use serde_json::{Value, json};
use std::sync::Mutex;

const SIGNING_CERT: &str = include_str!("testdata/sns-signing-cert.pem");
const SIGNING_KEY: &str = include_str!("testdata/sns-signing-key.pem");
const OTHER_CERT: &str = include_str!("testdata/other-rsa-cert.pem");
/// Signed by openssl with SHA1withRSA (SignatureVersion 1).
const BOUNCE_V1: &str = include_str!("testdata/bounce-v1.json");
const SES_BOUNCE: &str = include_str!("testdata/ses-bounce.json");
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-feedback";
const CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000test.pem";

/// Serves one PEM for every URL and records what was asked.
struct FixedCert {
    pem: &'static str,
    asked: Mutex<Vec<String>>,
}

impl FixedCert {
    fn new(pem: &'static str) -> FixedCert {
        FixedCert { pem, asked: Mutex::new(Vec::new()) }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl CertSource for FixedCert {
    fn cert_pem<'a>(&'a self, url: &'a str) -> CertFuture<'a> {
        self.asked.lock().unwrap().push(url.to_string());
        Box::pin(async move { Ok(self.pem.as_bytes().to_vec()) })
    }
}

fn keys() -> WebhookKeys {
    WebhookKeys::from_env(&[("HERALD_SES_WEBHOOK".to_string(), "1".to_string())])
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// A few minutes after the fixtures' Timestamp.
fn now() -> DateTime<Utc> {
    at("2023-11-14T22:20:00Z")
}

async fn call_at(
    body: &str,
    keys: &WebhookKeys,
    certs: &dyn CertSource,
    now: DateTime<Utc>,
) -> Result<WebhookOutcome, WebhookError> {
    let req = WebhookRequest { headers: &[], body: body.as_bytes(), now };
    dispatch(Provider::Ses, &req, keys, certs).await
}

async fn call(body: &str, certs: &dyn CertSource) -> Result<WebhookOutcome, WebhookError> {
    call_at(body, &keys(), certs, now()).await
}

fn unauthorized(got: &Result<WebhookOutcome, WebhookError>) -> bool {
    matches!(got, Err(WebhookError::Unauthorized(_)))
}

/// The string to sign, written out from AWS's documentation independently of the code
/// under test.
fn canonical(env: &Value) -> String {
    let keys: &[&str] = if env["Type"] == "Notification" {
        &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    } else {
        &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    };
    keys.iter().filter_map(|k| env[*k].as_str().map(|v| format!("{k}\n{v}\n"))).collect()
}

/// Signs `env` with SHA256withRSA (SignatureVersion 2) with the test signing key.
fn sign_v2(mut env: Value) -> String {
    let PrivateKeyDer::Pkcs8(pkcs8) = PrivateKeyDer::from_pem_slice(SIGNING_KEY.as_bytes()).unwrap() else {
        panic!("the fixture key is PKCS#8");
    };
    let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap();
    let mut sig = vec![0u8; pair.public().modulus_len()];
    let rng = ring::rand::SystemRandom::new();
    pair.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, canonical(&env).as_bytes(), &mut sig).unwrap();
    env["SignatureVersion"] = json!("2");
    env["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(sig));
    env.to_string()
}

fn notification(message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "5f3c1a7e-0000-4000-8000-000000000001",
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": message,
        "Timestamp": "2023-11-14T22:13:22.000Z",
        "SigningCertURL": CERT_URL,
    })
}

fn confirmation() -> Value {
    let subscribe =
        format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37");
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": TOPIC,
        "Message": format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe,
        "Timestamp": "2023-11-14T22:10:00.000Z",
        "SigningCertURL": CERT_URL,
    })
}

fn expect_events(got: Result<WebhookOutcome, WebhookError>) -> Vec<ProviderEvent> {
    match got {
        Ok(WebhookOutcome::Events(e)) => e,
        other => panic!("expected events, got {other:?}"),
    }
}

use crate::feedback::webhooks::ProviderEvent;

#[tokio::test]
async fn a_v1_signature_made_by_openssl_is_accepted() {
    let certs = FixedCert::new(SIGNING_CERT);
    let got = expect_events(call(BOUNCE_V1, &certs).await);
    let summary: Vec<(&str, BounceKind, Option<&str>)> =
        got.iter().map(|e| (e.event.recipient.as_str(), e.event.kind, e.event.reason.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            ("gone@example.com", BounceKind::Hard, Some("user_unknown")),
            ("full@example.com", BounceKind::Soft, Some("mailbox_full")),
        ]
    );
    assert_eq!(got[0].message_id.as_deref(), Some("m1@herald.example"));
    assert_eq!(got[0].provider_event_id.as_deref(), Some("0100018c-bounce-feedback-000000:0"));
    assert_eq!(got[1].provider_event_id.as_deref(), Some("0100018c-bounce-feedback-000000:1"));
    assert_eq!(got[0].occurred_at, Some(at("2023-11-14T22:13:21Z")));
    assert_eq!(got[0].event.status.as_deref(), Some("5.1.1"));
    assert_eq!(certs.asked(), vec![CERT_URL.to_string()]);
}

#[tokio::test]
async fn a_v2_signature_with_a_subject_is_accepted() {
    let got = expect_events(call(&sign_v2(notification(SES_BOUNCE)), &FixedCert::new(SIGNING_CERT)).await);
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn a_tampered_message_is_unauthorized() {
    let mut env: Value = serde_json::from_str(BOUNCE_V1).unwrap();
    let message = env["Message"].as_str().unwrap().replace("5.2.2", "5.1.1");
    env["Message"] = json!(message);
    assert!(unauthorized(&call(&env.to_string(), &FixedCert::new(SIGNING_CERT)).await));

    let signed = sign_v2(notification(SES_BOUNCE));
    let tampered = signed.replacen("Gone@Example.com", "Gone@Example.org", 1);
    assert_ne!(signed, tampered);
    assert!(unauthorized(&call(&tampered, &FixedCert::new(SIGNING_CERT)).await));
}

#[tokio::test]
async fn a_missing_or_unsupported_signature_is_unauthorized() {
    let mut env: Value = serde_json::from_str(BOUNCE_V1).unwrap();
    env.as_object_mut().unwrap().remove("Signature");
    assert!(unauthorized(&call(&env.to_string(), &FixedCert::new(SIGNING_CERT)).await));
    let mut env: Value = serde_json::from_str(BOUNCE_V1).unwrap();
    env["SignatureVersion"] = json!("3");
    assert!(unauthorized(&call(&env.to_string(), &FixedCert::new(SIGNING_CERT)).await));
    // A v1 signature presented as v2 does not verify.
    let mut env: Value = serde_json::from_str(BOUNCE_V1).unwrap();
    env["SignatureVersion"] = json!("2");
    assert!(unauthorized(&call(&env.to_string(), &FixedCert::new(SIGNING_CERT)).await));
}

#[tokio::test]
async fn another_key_is_unauthorized() {
    assert!(unauthorized(&call(BOUNCE_V1, &FixedCert::new(OTHER_CERT)).await));
    assert!(unauthorized(&call(&sign_v2(notification(SES_BOUNCE)), &FixedCert::new(OTHER_CERT)).await));
    assert!(unauthorized(&call(BOUNCE_V1, &FixedCert::new("not a certificate")).await));
}

#[tokio::test]
async fn a_signing_cert_url_off_the_sns_hosts_is_refused_without_fetching() {
    let bad_urls = [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-1.pem",
        "https://evil.example#@sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.amazonaws.com/SimpleNotificationService-1.pem",
        "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem?x=.pem",
        "https://sns.us-east-1.amazonaws.com/../evil.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.txt",
        "https://sns.us-east-1.amazonaws.com",
    ];
    for url in bad_urls {
        let mut env: Value = serde_json::from_str(BOUNCE_V1).unwrap();
        env["SigningCertURL"] = json!(url);
        let certs = FixedCert::new(SIGNING_CERT);
        assert!(unauthorized(&call(&env.to_string(), &certs).await), "{url}");
        assert!(certs.asked().is_empty(), "{url} was fetched");
    }
    assert!(check_cert_url("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem").is_ok());
}

#[tokio::test]
async fn a_signed_subscription_confirmation_gives_its_url() {
    let got = call(&sign_v2(confirmation()), &FixedCert::new(SIGNING_CERT)).await;
    let url = confirmation()["SubscribeURL"].as_str().unwrap().to_string();
    assert_eq!(got, Ok(WebhookOutcome::ConfirmSubscription { url }));
}

#[tokio::test]
async fn an_unsigned_or_altered_subscription_confirmation_gives_nothing() {
    assert!(unauthorized(&call(&confirmation().to_string(), &FixedCert::new(SIGNING_CERT)).await));
    let signed = sign_v2(confirmation());
    let redirected = signed.replace("Action=ConfirmSubscription", "Action=ConfirmSubscriptioN");
    assert!(unauthorized(&call(&redirected, &FixedCert::new(SIGNING_CERT)).await));
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_unauthorized_even_when_signed() {
    let certs = FixedCert::new(SIGNING_CERT);
    assert!(unauthorized(&call_at(BOUNCE_V1, &keys(), &certs, at("2023-11-15T22:13:23Z")).await));
    assert!(unauthorized(&call_at(BOUNCE_V1, &keys(), &certs, at("2023-11-14T22:00:00Z")).await));
    assert!(call_at(BOUNCE_V1, &keys(), &certs, at("2023-11-15T22:13:21Z")).await.is_ok());
}

#[tokio::test]
async fn only_listed_topics_are_accepted_when_a_list_is_set() {
    let certs = FixedCert::new(SIGNING_CERT);
    let listed = WebhookKeys::from_env(&[("HERALD_SES_TOPIC_ARNS".to_string(), format!("arn:other,{TOPIC}"))]);
    assert!(call_at(BOUNCE_V1, &listed, &certs, now()).await.is_ok());
    let other =
        WebhookKeys::from_env(&[("HERALD_SES_TOPIC_ARNS".to_string(), "arn:aws:sns:us-east-1:1:x".to_string())]);
    assert!(unauthorized(&call_at(BOUNCE_V1, &other, &certs, now()).await));
}

#[tokio::test]
async fn not_configured_without_the_environment() {
    let got = call_at(BOUNCE_V1, &WebhookKeys::default(), &FixedCert::new(SIGNING_CERT), now()).await;
    assert_eq!(got, Err(WebhookError::NotConfigured));
}

#[tokio::test]
async fn an_unreachable_certificate_is_unavailable_not_unauthorized() {
    assert!(matches!(call(BOUNCE_V1, &NoCerts).await, Err(WebhookError::Unavailable(_))));
}

fn ses(note: Value) -> Vec<ProviderEvent> {
    events(&note.to_string(), "sns-1").unwrap()
}

fn bounce_note(bounce_type: &str, sub_type: &str, status: &str, diagnostic: &str) -> Value {
    json!({"notificationType": "Bounce", "mail": {"messageId": "ses-id", "headers": [{"name": "Message-ID", "value": "<h@herald.example>"}]},
           "bounce": {"bounceType": bounce_type, "bounceSubType": sub_type, "feedbackId": "fb",
                      "bouncedRecipients": [{"emailAddress": "a@example.com", "status": status, "diagnosticCode": diagnostic}]}})
}

#[test]
fn ses_permanent_no_email_with_5_1_1_is_hard() {
    let got = ses(bounce_note("Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 user unknown"));
    assert_eq!((got[0].event.kind, got[0].event.reason.as_deref()), (BounceKind::Hard, Some("user_unknown")));
    // NoEmail is SES saying the address does not exist, even without a status.
    assert_eq!(bounce_kind("Permanent", "NoEmail", None, ""), (BounceKind::Hard, "user_unknown"));
    assert_eq!(got[0].message_id.as_deref(), Some("h@herald.example"), "from mail.headers when commonHeaders lack it");
}

#[test]
fn ses_mailbox_full_is_soft_even_when_permanent() {
    let got = ses(bounce_note("Permanent", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 over quota"));
    assert_eq!((got[0].event.kind, got[0].event.reason.as_deref()), (BounceKind::Soft, Some("mailbox_full")));
    // SES's sub-type decides even when the server put a 5.1.1 on it.
    let got = ses(bounce_note("Permanent", "MailboxFull", "5.1.1", "smtp; 550 5.1.1 rejected"));
    assert_eq!((got[0].event.kind, got[0].event.reason.as_deref()), (BounceKind::Soft, Some("mailbox_full")));
}

#[test]
fn ses_subtypes_map_by_design_section_5() {
    let suppressed = "Amazon SES has suppressed sending to this address because it has a recent history of bouncing";
    assert_eq!(bounce_kind("Permanent", "Suppressed", None, suppressed), (BounceKind::Hard, "user_unknown"));
    assert_eq!(bounce_kind("Permanent", "OnAccountSuppressionList", None, "").0, BounceKind::Hard);
    assert_eq!(bounce_kind("Permanent", "General", Some("5.0.0"), "550 rejected"), (BounceKind::Soft, "other"));
    assert_eq!(
        bounce_kind("Permanent", "General", Some("5.1.1"), "550 5.1.1 no such user"),
        (BounceKind::Hard, "user_unknown")
    );
    assert_eq!(bounce_kind("Permanent", "General", Some("5.7.1"), "550 5.7.1 spam").0, BounceKind::Soft);
    assert_eq!(bounce_kind("Permanent", "NoEmail", Some("5.1.1"), "mailbox disabled"), (BounceKind::Soft, "suspended"));
    assert_eq!(bounce_kind("Permanent", "ContentRejected", Some("5.1.1"), "").0, BounceKind::Soft);
    assert_eq!(bounce_kind("Permanent", "MessageTooLarge", None, "").0, BounceKind::Soft);
    assert_eq!(bounce_kind("Transient", "General", Some("5.1.1"), "user unknown").0, BounceKind::Soft);
    assert_eq!(bounce_kind("Undetermined", "Undetermined", None, "").0, BounceKind::Soft);
}

#[test]
fn ses_complaints_delays_and_other_events() {
    let complaint = json!({"notificationType": "Complaint", "mail": {"commonHeaders": {"messageId": "<c@herald.example>"}},
        "complaint": {"feedbackId": "cf", "complaintFeedbackType": "abuse", "timestamp": "2023-11-14T22:13:21Z",
                      "complainedRecipients": [{"emailAddress": "x@example.com"}]}});
    let got = ses(complaint.clone());
    assert_eq!((got[0].event.kind, got[0].provider_event_id.as_deref()), (BounceKind::Complaint, Some("cf:0")));
    assert_eq!(got[0].message_id.as_deref(), Some("c@herald.example"));

    let mut not_spam = complaint;
    not_spam["complaint"]["complaintFeedbackType"] = json!("not-spam");
    assert!(ses(not_spam).is_empty());

    let delay = json!({"eventType": "DeliveryDelay", "mail": {},
        "deliveryDelay": {"delayType": "TransientCommunicationFailure", "timestamp": "2023-11-14T22:13:21Z",
                          "delayedRecipients": [{"emailAddress": "y@example.com", "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1 timeout"}]}});
    let got = ses(delay);
    assert_eq!((got[0].event.kind, got[0].event.reason.as_deref()), (BounceKind::Delayed, Some("delayed")));
    assert_eq!(got[0].provider_event_id.as_deref(), Some("sns-1:0"));

    assert!(ses(json!({"notificationType": "Delivery", "mail": {}, "delivery": {}})).is_empty());
    assert!(matches!(events("hello from the console", "sns-1"), Err(WebhookError::BadRequest(_))));
}
