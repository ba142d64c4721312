//! `[api]`: the events and contacts API (DESIGN §13, issue 15 points 4 and 5) — how
//! often one key may call it and how much one request may carry. The keys themselves
//! come from the environment only (`HERALD_API_KEY`, see [`ApiKeys`]).
//!
//! ```toml
//! [api]
//! requests_per_minute = 600     # per key
//! max_body_bytes = 1048576      # one request's body
//! max_properties_bytes = 16384  # an event's properties, as JSON
//! ```

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::num::{NonZeroU32, NonZeroUsize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests one key may make a minute (a burst of as many, then evenly spread).
    pub requests_per_minute: NonZeroU32,
    /// Largest request body; a batch of 1 000 contacts fits in the default.
    pub max_body_bytes: NonZeroUsize,
    /// Largest `properties` object of an event, serialised as JSON.
    pub max_properties_bytes: NonZeroUsize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            requests_per_minute: NonZeroU32::new(600).expect("non-zero"),
            max_body_bytes: NonZeroUsize::new(1 << 20).expect("non-zero"),
            max_properties_bytes: NonZeroUsize::new(16 << 10).expect("non-zero"),
        }
    }
}

/// The environment variable of the API's bearer keys.
pub const API_KEY_VAR: &str = "HERALD_API_KEY";

/// One accepted bearer key: its SHA-256 (what a presented key is compared with, in
/// constant time) and its id (the first 8 hex digits of that digest), which names the
/// key in the ledger (`api:ID`) and in rate limits without revealing it.
#[derive(Clone)]
pub struct ApiKey {
    pub id: String,
    digest: [u8; 32],
}

impl ApiKey {
    fn new(key: &str) -> ApiKey {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        ApiKey { id: hex::encode(&digest[..4]), digest }
    }
}

/// The API's keys (`HERALD_API_KEY`: several, separated by commas or white space, so a
/// new key can be handed out before the old one is withdrawn). Never printed.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// Parses the variable's value; a key shorter than 32 characters is refused (a bearer
    /// key is a password a machine holds: `openssl rand -hex 32`).
    pub fn parse(value: &str) -> Result<ApiKeys, String> {
        let mut keys = Vec::new();
        for key in value.split(|c: char| c == ',' || c.is_whitespace()).filter(|k| !k.is_empty()) {
            if key.len() < 32 {
                return Err(format!(
                    "{API_KEY_VAR}: a key is too short ({} characters): a key needs at least 32; make one with \
                     `openssl rand -hex 32`",
                    key.len()
                ));
            }
            keys.push(ApiKey::new(key));
        }
        Ok(ApiKeys { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key `presented` matches, if any. Every key is compared, each in constant time
    /// over the digests, so the answer's timing says nothing about which key came close.
    pub fn find(&self, presented: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            let diff = key.digest.iter().zip(digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(key);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-first";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-second";

    #[test]
    fn several_keys_by_comma_or_space_each_with_its_own_id() {
        let keys = ApiKeys::parse(&format!(" {A}, \n{B} ")).unwrap();
        let (a, b) = (keys.find(A).unwrap().id.clone(), keys.find(B).unwrap().id.clone());
        assert_ne!(a, b);
        assert_eq!(a.len(), 8);
        assert!(!A.contains(&a) && keys.find("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_none());
        assert!(ApiKeys::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_short_key_is_refused_naming_the_variable_not_the_key() {
        let err = ApiKeys::parse("short-key").unwrap_err();
        assert!(err.contains(API_KEY_VAR) && !err.contains("short-key"), "{err}");
    }
}
