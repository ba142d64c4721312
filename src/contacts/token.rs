//! Signed link tokens for the links of a message (unsubscribe, preferences, open, click) and
//! of a confirmation email (DESIGN §11):
//! `base64url(payload) "." base64url(HMAC-SHA256(key, payload)[..16])`, with the payload
//! `v2|key id|kind|contact id|scope|purpose|expiry (unix seconds)`: the key id names the
//! link key that signed it (so a rotation can verify with `HERALD_LINK_KEY_PREVIOUS`), the
//! kind says which routes accept it (an open pixel's token cannot unsubscribe, a message's
//! token cannot confirm), the scope is the campaign (or flow, or confirmation request) it
//! was made for. `t2|…` marks the links of a test send (`campaign test`), which change
//! nothing when followed. Tokens of the first format (`v1|contact|campaign|purpose|expiry`,
//! `t1|…`), already in people's mailboxes, still verify; their kind is read off the purpose.
//! Verification is constant-time (hmac's `verify_truncated_left`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const MAC_LEN: usize = 16;

/// Which links a token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// The unsubscribe and preference links of a message (`/u/`, `/p/`, List-Unsubscribe).
    Message,
    /// The open pixel of a message (`/t/o/`).
    Open,
    /// A tracked link of a message (`/t/c/`); its purpose binds the target URL.
    Click,
    /// A confirmation email's link (`/confirm/`): its scope names the request confirmed.
    Confirm,
}

impl LinkKind {
    fn code(self) -> &'static str {
        match self {
            LinkKind::Message => "m",
            LinkKind::Open => "o",
            LinkKind::Click => "c",
            LinkKind::Confirm => "k",
        }
    }

    fn from_code(code: &str) -> Option<LinkKind> {
        Some(match code {
            "m" => LinkKind::Message,
            "o" => LinkKind::Open,
            "c" => LinkKind::Click,
            "k" => LinkKind::Confirm,
            _ => return None,
        })
    }

    /// A first-format token's kind, read off its purpose.
    fn of_v1(purpose: &str) -> LinkKind {
        if purpose == "open" {
            LinkKind::Open
        } else if purpose.starts_with("click:") {
            LinkKind::Click
        } else {
            LinkKind::Message
        }
    }
}

/// What a link token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub kind: LinkKind,
    pub contact_id: crate::domain::ContactId,
    /// The campaign (or flow) the message was sent for; for [`LinkKind::Confirm`], the
    /// confirmation request.
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

/// The id a token carries for the key that signed it: 8 hex digits of the key's SHA-256
/// (names the key without revealing it).
pub fn key_id(key: &[u8]) -> String {
    Sha256::digest(key)[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl LinkToken {
    pub fn sign(&self, key: &[u8]) -> String {
        let payload = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            if self.test { "t2" } else { "v2" },
            key_id(key),
            self.kind.code(),
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
        let token = parse(&payload)?;
        if token.expires < now {
            return Err(TokenError::Expired);
        }
        Ok(token)
    }

    /// [`LinkToken::verify`] with whichever of `keys` (current first, then the previous
    /// one during a rotation) signed it: a second-format token names its key, a first-format
    /// one is tried with each. The error is the best one seen (an expired token with a good
    /// signature says `Expired`).
    pub fn verify_any(token: &str, keys: &[&[u8]], now: DateTime<Utc>) -> Result<LinkToken, TokenError> {
        let named = named_key_id(token);
        let mut best = TokenError::Malformed;
        for key in keys {
            if named.as_deref().is_some_and(|id| id != key_id(key)) {
                best = best.max_with(TokenError::BadSignature);
                continue;
            }
            match LinkToken::verify(token, key, now) {
                Ok(t) => return Ok(t),
                Err(e) => best = best.max_with(e),
            }
        }
        Err(best)
    }
}

impl TokenError {
    /// The more telling of two errors: expired (the signature was good) over a bad
    /// signature over malformed.
    fn max_with(self, other: TokenError) -> TokenError {
        let rank = |e: &TokenError| match e {
            TokenError::Malformed => 0,
            TokenError::BadSignature => 1,
            TokenError::Expired => 2,
        };
        if rank(&other) > rank(&self) { other } else { self }
    }
}

/// The key id a second-format token names, read before its signature is checked (it only
/// picks the key to check with).
fn named_key_id(token: &str) -> Option<String> {
    let payload = B64.decode(token.split_once('.')?.0).ok()?;
    let payload = String::from_utf8(payload).ok()?;
    let mut parts = payload.split('|');
    match parts.next()? {
        "v2" | "t2" => parts.next().map(str::to_owned),
        _ => None,
    }
}

fn parse(payload: &str) -> Result<LinkToken, TokenError> {
    let parts: Vec<&str> = payload.split('|').collect();
    let (test, kind, id, campaign, purpose, expires) = match parts[..] {
        [version @ ("v2" | "t2"), _key_id, kind, id, campaign, purpose, expires] => {
            let kind = LinkKind::from_code(kind).ok_or(TokenError::Malformed)?;
            (version == "t2", kind, id, campaign, purpose, expires)
        }
        [version @ ("v1" | "t1"), id, campaign, purpose, expires] => {
            (version == "t1", LinkKind::of_v1(purpose), id, campaign, purpose, expires)
        }
        _ => return Err(TokenError::Malformed),
    };
    Ok(LinkToken {
        kind,
        contact_id: crate::domain::ContactId::new(id.parse().map_err(|_| TokenError::Malformed)?),
        campaign: campaign.to_owned(),
        purpose: (!purpose.is_empty()).then(|| purpose.to_owned()),
        expires: expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(TokenError::Malformed)?,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"link-key-0123456789abcdef0123456789";

    fn token() -> LinkToken {
        LinkToken {
            kind: LinkKind::Message,
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
        let real = B64.encode(text.replacen("t2|", "v2|", 1));
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

    /// A token of the first format, as messages sent before the key id carried them.
    fn sign_v1(payload: &str, key: &[u8]) -> String {
        let mut m = mac(key);
        m.update(payload.as_bytes());
        format!("{}.{}", B64.encode(payload), B64.encode(&m.finalize().into_bytes()[..MAC_LEN]))
    }

    #[test]
    fn first_format_tokens_in_mailboxes_still_verify_with_their_kind() {
        let signed = sign_v1("v1|42|spring|newsletter|2000000000", KEY);
        assert_eq!(LinkToken::verify(&signed, KEY, now()), Ok(token()));
        let open = sign_v1("v1|42|spring|open|2000000000", KEY);
        assert_eq!(LinkToken::verify(&open, KEY, now()).unwrap().kind, LinkKind::Open);
        let click = sign_v1("v1|42|spring|click:abc|2000000000", KEY);
        assert_eq!(LinkToken::verify(&click, KEY, now()).unwrap().kind, LinkKind::Click);
        assert!(LinkToken::verify(&sign_v1("t1|42|spring||2000000000", KEY), KEY, now()).unwrap().test);
    }

    #[test]
    fn the_kind_is_signed_and_a_token_names_its_key() {
        let signed = token().sign(KEY);
        let (payload, tag) = signed.split_once('.').unwrap();
        let text = String::from_utf8(B64.decode(payload).unwrap()).unwrap();
        assert!(text.starts_with(&format!("v2|{}|m|42|", key_id(KEY))), "{text}");
        let confirm = B64.encode(text.replacen("|m|", "|k|", 1));
        assert_eq!(LinkToken::verify(&format!("{confirm}.{tag}"), KEY, now()), Err(TokenError::BadSignature));
    }

    #[test]
    fn during_a_rotation_both_keys_verify_and_an_unknown_key_does_not() {
        const PREVIOUS: &[u8] = b"previous-link-key-0123456789abcdef01";
        const OTHER: &[u8] = b"someone-elses-key-0123456789abcdef01";
        let old = token().sign(PREVIOUS);
        assert_eq!(LinkToken::verify_any(&old, &[KEY, PREVIOUS], now()), Ok(token()));
        assert_eq!(LinkToken::verify_any(&old, &[KEY], now()), Err(TokenError::BadSignature));
        assert_eq!(LinkToken::verify_any(&token().sign(OTHER), &[KEY, PREVIOUS], now()), Err(TokenError::BadSignature));
        let late = DateTime::from_timestamp(2_100_000_000, 0).unwrap();
        assert_eq!(LinkToken::verify_any(&old, &[KEY, PREVIOUS], late), Err(TokenError::Expired));
        assert_eq!(LinkToken::verify_any("junk", &[KEY, PREVIOUS], now()), Err(TokenError::Malformed));
        // A first-format token is tried with each key.
        let v1 = sign_v1("v1|42|spring|newsletter|2000000000", PREVIOUS);
        assert_eq!(LinkToken::verify_any(&v1, &[KEY, PREVIOUS], now()), Ok(token()));
    }
}
