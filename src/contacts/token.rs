//! Signed link tokens for unsubscribe, preference and tracking links:
//! `base64url(payload) "." base64url(HMAC-SHA256(link key, payload)[..16])`, with the
//! payload `v1|contact id|campaign|purpose|expiry (unix seconds)`, or `t1|…` for the
//! links of a test send (`campaign test`), which change nothing when followed.
//! Verification is constant-time (hmac's `verify_truncated_left`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 16;

/// What a link token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub contact_id: crate::domain::ContactId,
    pub campaign: String,
    pub purpose: Option<String>,
    pub expires: DateTime<Utc>,
    /// A link of a test send: following it changes nothing (the message went to an
    /// operator's address, not to the contact).
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

impl LinkToken {
    pub fn sign(&self, key: &[u8]) -> String {
        let payload = format!(
            "{}|{}|{}|{}|{}",
            if self.test { "t1" } else { "v1" },
            self.contact_id,
            self.campaign,
            self.purpose.as_deref().unwrap_or(""),
            self.expires.timestamp()
        );
        let mut m = mac(key);
        m.update(payload.as_bytes());
        let tag = m.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(&tag[..MAC_LEN]))
    }

    /// Checks the signature first (constant-time), then the content, then the expiry.
    /// Withdrawals (unsubscribe) should still be honoured on an expired token: the web
    /// layer decides that with [`TokenError::Expired`].
    pub fn verify(token: &str, key: &[u8], now: DateTime<Utc>) -> Result<LinkToken, TokenError> {
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
        let tag = B64.decode(tag_b64).map_err(|_| TokenError::Malformed)?;
        if tag.len() != MAC_LEN {
            return Err(TokenError::Malformed);
        }
        let mut m = mac(key);
        m.update(&payload);
        m.verify_truncated_left(&tag).map_err(|_| TokenError::BadSignature)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let parts: Vec<&str> = payload.split('|').collect();
        let [version, id, campaign, purpose, expires] = parts[..] else { return Err(TokenError::Malformed) };
        let test = match version {
            "v1" => false,
            "t1" => true,
            _ => return Err(TokenError::Malformed),
        };
        let token = LinkToken {
            contact_id: crate::domain::ContactId::new(id.parse().map_err(|_| TokenError::Malformed)?),
            campaign: campaign.to_owned(),
            purpose: (!purpose.is_empty()).then(|| purpose.to_owned()),
            expires: expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(TokenError::Malformed)?,
            test,
        };
        if token.expires < now {
            return Err(TokenError::Expired);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"link-key-0123456789abcdef0123456789";

    fn token() -> LinkToken {
        LinkToken {
            contact_id: crate::domain::ContactId::new(42),
            campaign: "spring".into(),
            purpose: Some("newsletter".into()),
            expires: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
            test: false,
        }
    }

    #[test]
    fn a_test_sends_token_says_so_and_cannot_be_turned_into_a_real_one() {
        let test = LinkToken { test: true, ..token() };
        let signed = test.sign(KEY);
        assert_eq!(LinkToken::verify(&signed, KEY, now()), Ok(test));
        assert!(!LinkToken::verify(&token().sign(KEY), KEY, now()).unwrap().test);
        // The flag is signed: the same payload as a real link does not verify.
        let (payload, tag) = signed.split_once('.').unwrap();
        let text = String::from_utf8(B64.decode(payload).unwrap()).unwrap();
        let real = B64.encode(text.replacen("t1|", "v1|", 1));
        assert_eq!(LinkToken::verify(&format!("{real}.{tag}"), KEY, now()), Err(TokenError::BadSignature));
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let signed = token().sign(KEY);
        assert!(signed.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "URL-safe: {signed}");
        assert_eq!(LinkToken::verify(&signed, KEY, now()), Ok(token()));
    }

    #[test]
    fn tampered_forged_or_expired_tokens_are_refused() {
        let signed = token().sign(KEY);
        let (payload, tag) = signed.split_once('.').unwrap();
        let other = LinkToken { contact_id: crate::domain::ContactId::new(43), ..token() }.sign(KEY);
        let (other_payload, _) = other.split_once('.').unwrap();
        assert_eq!(LinkToken::verify(&format!("{other_payload}.{tag}"), KEY, now()), Err(TokenError::BadSignature));
        assert_eq!(
            LinkToken::verify(&signed, b"another-key-0123456789abcdef012345", now()),
            Err(TokenError::BadSignature)
        );
        assert_eq!(LinkToken::verify(payload, KEY, now()), Err(TokenError::Malformed));
        assert_eq!(LinkToken::verify("", KEY, now()), Err(TokenError::Malformed));
        let late = DateTime::from_timestamp(2_100_000_000, 0).unwrap();
        assert_eq!(LinkToken::verify(&signed, KEY, late), Err(TokenError::Expired));
    }
}
