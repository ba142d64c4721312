//! Amazon SES feedback through SNS: the SNS envelope and its signature, as AWS documents
//! it ("Verifying the signatures of Amazon SNS messages"):
//!
//! 1. `SigningCertURL` must be `https://sns.<region>.amazonaws.com[.cn]/<name>.pem`: no other
//!    host, no user-info, no port, no query. Checked before anything is fetched.
//! 2. The certificate is fetched over HTTPS from that host ([`CertSource`]); TLS to an
//!    Amazon host is what makes it trusted (its own chain is not rebuilt here).
//! 3. The string to sign is `Key\nValue\n` for these keys in this order — Notification:
//!    Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type;
//!    SubscriptionConfirmation and UnsubscribeConfirmation: Message, MessageId, SubscribeURL,
//!    Timestamp, Token, TopicArn, Type.
//! 4. `Signature` (base64) is checked with the certificate's RSA key: SHA1withRSA for
//!    `SignatureVersion` 1, SHA256withRSA for 2.
//!
//! Also: the topic must be in `HERALD_SES_TOPIC_ARNS` when that is set, and `Timestamp`
//! must be at most [`MAX_AGE`] old (SNS re-sends the original message, signature and
//! timestamp included, while it retries).

mod cert;
mod ses;
#[cfg(test)]
mod tests;

pub use cert::{CertFuture, CertSource, HttpsCertSource, NoCerts};

use super::keys::SesSettings;
use super::verify::{MAX_SKEW, decode_base64_lenient};
use super::{WebhookError, WebhookOutcome, WebhookRequest, parse_json};
use chrono::{DateTime, TimeDelta, Utc};
use rustls::pki_types::alg_id;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm};
use serde::Deserialize;

/// The oldest SNS message accepted, by its signed `Timestamp`.
pub(super) const MAX_AGE: TimeDelta = TimeDelta::hours(24);

/// The SNS HTTP(S) message, as posted.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: Option<String>,
    message_id: Option<String>,
    topic_arn: Option<String>,
    subject: Option<String>,
    message: Option<String>,
    timestamp: Option<String>,
    signature_version: Option<String>,
    signature: Option<String>,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
}

impl Envelope {
    fn field(&self, key: &str) -> Option<&str> {
        let value = match key {
            "Message" => &self.message,
            "MessageId" => &self.message_id,
            "Subject" => &self.subject,
            "SubscribeURL" => &self.subscribe_url,
            "Timestamp" => &self.timestamp,
            "Token" => &self.token,
            "TopicArn" => &self.topic_arn,
            "Type" => &self.kind,
            _ => &None,
        };
        value.as_deref()
    }
}

pub(super) async fn handle(
    req: &WebhookRequest<'_>,
    settings: &SesSettings,
    certs: &dyn CertSource,
) -> Result<WebhookOutcome, WebhookError> {
    let refused = |why: &str| WebhookError::Unauthorized(why.to_string());
    let envelope: Envelope = serde_json::from_value(parse_json(req.body)?)
        .map_err(|e| WebhookError::BadRequest(format!("not an SNS message: {e}")))?;
    let signature = envelope.signature.as_deref().ok_or_else(|| refused("missing Signature"))?;
    let version = envelope.signature_version.as_deref().ok_or_else(|| refused("missing SignatureVersion"))?;
    let cert_url = envelope.signing_cert_url.as_deref().ok_or_else(|| refused("missing SigningCertURL"))?;
    check_cert_url(cert_url)?;
    let topic = envelope.topic_arn.as_deref().ok_or_else(|| refused("missing TopicArn"))?;
    if !settings.topic_arns.is_empty() && !settings.topic_arns.iter().any(|t| t == topic) {
        return Err(refused("topic not in HERALD_SES_TOPIC_ARNS"));
    }
    let to_sign = string_to_sign(&envelope)?;
    let sent_at = envelope
        .timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| refused("Timestamp is not a date"))?;
    if req.now - sent_at > MAX_AGE || sent_at - req.now > MAX_SKEW {
        return Err(refused("Timestamp outside the accepted window"));
    }

    let pem = certs.cert_pem(cert_url).await.map_err(|e| WebhookError::Unavailable(format!("SNS certificate: {e}")))?;
    verify_signature(&pem, version, to_sign.as_bytes(), signature)?;

    match envelope.kind.as_deref() {
        Some("SubscriptionConfirmation") => {
            let url = envelope.subscribe_url.ok_or_else(|| WebhookError::BadRequest("missing SubscribeURL".into()))?;
            check_sns_https_url(&url).map_err(|why| WebhookError::BadRequest(format!("SubscribeURL {why}")))?;
            Ok(WebhookOutcome::ConfirmSubscription { url })
        }
        Some("UnsubscribeConfirmation") => Ok(WebhookOutcome::Events(Vec::new())),
        _ => {
            let message = envelope.message.as_deref().unwrap_or("");
            let sns_id = envelope.message_id.as_deref().unwrap_or("");
            ses::events(message, sns_id).map(WebhookOutcome::Events)
        }
    }
}

/// The canonical string AWS signs for this message type.
fn string_to_sign(envelope: &Envelope) -> Result<String, WebhookError> {
    const NOTIFICATION: &[&str] = &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"];
    const CONFIRMATION: &[&str] = &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
    let keys = match envelope.kind.as_deref() {
        Some("Notification") => NOTIFICATION,
        Some("SubscriptionConfirmation" | "UnsubscribeConfirmation") => CONFIRMATION,
        _ => return Err(WebhookError::Unauthorized("unknown SNS message Type".into())),
    };
    let mut out = String::new();
    for key in keys {
        match envelope.field(key) {
            Some(value) => {
                out.push_str(key);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
            None if *key == "Subject" => {}
            None => return Err(WebhookError::Unauthorized(format!("missing {key}"))),
        }
    }
    Ok(out)
}

/// `https://sns.<region>.amazonaws.com[.cn]/<path>`; the reason it is not, otherwise.
fn check_sns_https_url(url: &str) -> Result<&str, &'static str> {
    let rest = url.strip_prefix("https://").ok_or("is not https")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = rest.split_at(end);
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| h.strip_suffix(".amazonaws.com").or_else(|| h.strip_suffix(".amazonaws.com.cn")))
        .ok_or("is not on an SNS host")?;
    let region_ok = !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.bytes().any(|b| b.is_ascii_digit());
    if !region_ok {
        return Err("is not on an SNS host");
    }
    if !path.starts_with('/') {
        return Err("has no path");
    }
    Ok(path)
}

/// A `SigningCertURL` Herald will fetch: an SNS host, and a plain path to a `.pem` file.
fn check_cert_url(url: &str) -> Result<(), WebhookError> {
    let refused = |why: &str| WebhookError::Unauthorized(format!("SigningCertURL {why}"));
    let path = check_sns_https_url(url).map_err(refused)?;
    let plain = path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if !plain || path.contains("..") || !path.ends_with(".pem") {
        return Err(refused("is not a plain path to a .pem file"));
    }
    Ok(())
}

/// Checks `signature` (base64) over `message` with the certificate's RSA key.
fn verify_signature(pem: &[u8], version: &str, message: &[u8], signature: &str) -> Result<(), WebhookError> {
    static SHA1: RsaPkcs1 = RsaPkcs1 {
        params: &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        // sha1WithRSAEncryption (1.2.840.113549.1.1.5), NULL parameters.
        signature_alg: AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ]),
    };
    static SHA256: RsaPkcs1 =
        RsaPkcs1 { params: &ring::signature::RSA_PKCS1_2048_8192_SHA256, signature_alg: alg_id::RSA_PKCS1_SHA256 };
    let refused = |why: &str| WebhookError::Unauthorized(why.to_string());
    let algorithm: &RsaPkcs1 = match version {
        "1" => &SHA1,
        "2" => &SHA256,
        _ => return Err(refused("unsupported SignatureVersion")),
    };
    let signature = decode_base64_lenient(signature).ok_or_else(|| refused("Signature is not base64"))?;
    let der =
        CertificateDer::from_pem_slice(pem).map_err(|_| refused("SigningCertURL did not give a PEM certificate"))?;
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| refused("the signing certificate does not parse"))?;
    cert.verify_signature(algorithm, message, &signature).map_err(|_| refused("signature does not match"))
}

/// RSA PKCS#1 v1.5 verification by *ring*, in the shape webpki asks for, so webpki finds
/// the key in the certificate. webpki itself offers no SHA-1 (SignatureVersion 1).
#[derive(Debug)]
struct RsaPkcs1 {
    params: &'static ring::signature::RsaParameters,
    signature_alg: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for RsaPkcs1 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.params, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg
    }
}
