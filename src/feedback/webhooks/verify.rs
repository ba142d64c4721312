//! The checks the providers share: constant-time comparisons, HMAC-SHA256, timestamp
//! windows, and reading an ECDSA P-256 public key out of its SubjectPublicKeyInfo.

use super::WebhookError;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How far a signed timestamp may be from our clock, either way.
pub(super) const MAX_SKEW: TimeDelta = TimeDelta::minutes(10);

/// Equality of two secrets without an early exit: both sides are hashed first, so neither
/// the position of the first difference nor the lengths show in the time taken.
pub(super) fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a hex HMAC-SHA256 `tag` of the concatenated `parts` (constant time).
pub(super) fn hmac_sha256_hex_ok(key: &[u8], parts: &[&[u8]], tag_hex: &str) -> bool {
    let Ok(tag) = hex::decode(tag_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&tag).is_ok()
}

/// A Unix-seconds timestamp (integer or decimal) within [`MAX_SKEW`] of `now`.
pub(super) fn fresh_unix_timestamp(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, WebhookError> {
    let at = parse_unix_seconds(raw).ok_or_else(|| WebhookError::Unauthorized("timestamp is not a number".into()))?;
    within_skew(at, now, MAX_SKEW)?;
    Ok(at)
}

/// Refuses a signed time further than `skew` from `now`, so a captured request cannot be
/// replayed later.
pub(super) fn within_skew(at: DateTime<Utc>, now: DateTime<Utc>, skew: TimeDelta) -> Result<(), WebhookError> {
    if (now - at).abs() > skew {
        return Err(WebhookError::Unauthorized("timestamp outside the accepted window".into()));
    }
    Ok(())
}

/// Unix seconds, integer or with a fraction ("1588788367", "1521472262.908181").
pub(super) fn parse_unix_seconds(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().ok()?
    };
    DateTime::from_timestamp(secs, nanos)
}

/// The same, from a JSON value that may be a number or a string.
pub(super) fn json_unix_seconds(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    match value {
        serde_json::Value::String(s) => parse_unix_seconds(s),
        serde_json::Value::Number(n) => parse_unix_seconds(&n.to_string()),
        _ => None,
    }
}

/// The uncompressed P-256 point (65 bytes, `04 || x || y`) of a DER SubjectPublicKeyInfo
/// (RFC 5480), after checking its algorithm is id-ecPublicKey on prime256v1.
pub(super) fn p256_point_from_spki(spki: &[u8]) -> Option<Vec<u8>> {
    // AlgorithmIdentifier contents: OID 1.2.840.10045.2.1 (id-ecPublicKey), then the
    // named curve OID 1.2.840.10045.3.1.7 (prime256v1).
    const EC_P256_ALG: &[u8] = &[
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
        0x07,
    ];
    let (spki_body, rest) = der_take(spki, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (alg, rest) = der_take(spki_body, 0x30)?;
    let (bits, rest) = der_take(rest, 0x03)?;
    if alg != EC_P256_ALG || !rest.is_empty() {
        return None;
    }
    // A BIT STRING starts with its count of unused bits, zero for a key.
    let (&unused, point) = bits.split_first()?;
    (unused == 0 && point.len() == 65 && point.first() == Some(&0x04)).then(|| point.to_vec())
}

/// One DER element with the expected tag: (its contents, what follows it). Definite
/// lengths only, as DER requires.
fn der_take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&got, rest) = input.split_first()?;
    if got != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 2 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        (len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)), rest)
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A base64 value (standard alphabet; surrounding whitespace and PEM armour ignored).
pub(super) fn decode_base64_lenient(raw: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 SubjectPublicKeyInfo as SendGrid shows it (from its SDK tests).
    const SENDGRID_SDK_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";

    #[test]
    fn reads_the_point_of_a_p256_spki() {
        let der = decode_base64_lenient(SENDGRID_SDK_KEY).unwrap();
        let point = p256_point_from_spki(&der).unwrap();
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 0x04);
    }

    #[test]
    fn refuses_other_algorithms_and_trailing_bytes() {
        let mut der = decode_base64_lenient(SENDGRID_SDK_KEY).unwrap();
        der[20] ^= 1; // inside the curve OID
        assert_eq!(p256_point_from_spki(&der), None);
        let mut der = decode_base64_lenient(SENDGRID_SDK_KEY).unwrap();
        der.push(0);
        assert_eq!(p256_point_from_spki(&der), None);
        assert_eq!(p256_point_from_spki(&[]), None);
        assert_eq!(p256_point_from_spki(&[0x30, 0x82]), None);
    }

    #[test]
    fn pem_armour_is_accepted_around_the_key() {
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{SENDGRID_SDK_KEY}\n-----END PUBLIC KEY-----\n");
        assert_eq!(decode_base64_lenient(&pem), decode_base64_lenient(SENDGRID_SDK_KEY));
    }

    #[test]
    fn hmac_hex_checks() {
        // RFC 4231 test case 2.
        let tag = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(hmac_sha256_hex_ok(b"Jefe", &[b"what do ya want ", b"for nothing?"], tag));
        assert!(!hmac_sha256_hex_ok(b"Jefe", &[b"what do ya want for nothing!"], tag));
        assert!(!hmac_sha256_hex_ok(b"Jefe", &[b"what do ya want for nothing?"], "zz"));
    }

    #[test]
    fn timestamps_outside_ten_minutes_are_refused() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert!(fresh_unix_timestamp("1700000000", now).is_ok());
        assert!(fresh_unix_timestamp("1699999500.25", now).is_ok());
        assert!(fresh_unix_timestamp("1699999399", now).is_err());
        assert!(fresh_unix_timestamp("1700000601", now).is_err());
        assert!(fresh_unix_timestamp("-5", now).is_err());
        assert!(fresh_unix_timestamp("", now).is_err());
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
