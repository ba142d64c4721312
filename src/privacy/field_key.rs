//! The key that encrypts sensitive custom fields at rest (DESIGN §12, issue 14.6), and the
//! sealing itself: ChaCha20-Poly1305 (ring) with a random 96-bit nonce per value.
//!
//! The key comes from `HERALD_FIELD_KEY` (32 bytes, written as 64 hex digits or base64);
//! during a rotation the old one is `HERALD_FIELD_KEY_PREVIOUS`, accepted for reading
//! only (mirroring `HERALD_LINK_KEY_PREVIOUS`). Each sealed value names its key by a key
//! id (the first 8 hex digits of a domain-separated SHA-256 of the key), so the right key
//! opens it; a value whose key is not at hand fails closed with an error naming that key
//! id, never an empty or ciphertext value passed off as plaintext.
//!
//! The field's name is the AEAD's associated data: a value sealed for one field does not
//! open as another.

use crate::error::{Error, Result};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

pub const FIELD_KEY: &str = "HERALD_FIELD_KEY";
pub const PREVIOUS_FIELD_KEY: &str = "HERALD_FIELD_KEY_PREVIOUS";
const KEY_BYTES: usize = 32;

/// One field key. Never printed, never logged (only its id).
#[derive(Clone)]
pub struct FieldKey {
    key: [u8; KEY_BYTES],
    id: String,
}

impl std::fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FieldKey({})", self.id)
    }
}

/// A value as stored: the id of the key that sealed it, and nonce ‖ ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl FieldKey {
    /// Parses a key as the environment gives it; `var` names it in the error.
    pub fn parse(var: &str, text: &str) -> Result<FieldKey> {
        use base64::Engine as _;
        let text = text.trim();
        let decoded = [
            hex::decode(text).ok(),
            base64::engine::general_purpose::STANDARD.decode(text).ok(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok(),
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).ok(),
        ];
        let key: [u8; KEY_BYTES] = decoded.into_iter().flatten().find_map(|b| b.try_into().ok()).ok_or_else(|| {
            Error::Invalid(format!(
                "{var} must be 32 random bytes written as 64 hex digits or base64 (it is {} characters that \
                     decode to no 32-byte key); make one with `openssl rand -hex 32`",
                text.chars().count()
            ))
        })?;
        if key.iter().collect::<std::collections::BTreeSet<_>>().len() < 16 {
            return Err(Error::Invalid(format!(
                "{var} is too weak (fewer than 16 different byte values); make one with `openssl rand -hex 32`"
            )));
        }
        Ok(FieldKey::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; KEY_BYTES]) -> FieldKey {
        let mut h = Sha256::new();
        h.update(b"herald:field-key-id:");
        h.update(key);
        let id = hex::encode(&h.finalize()[..4]);
        FieldKey { key, id }
    }

    /// The key's id, stored with every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.key).expect("a 32-byte ChaCha20-Poly1305 key"))
    }

    /// Seals `plaintext` for `field` with a fresh random nonce.
    pub fn seal(&self, field: &str, plaintext: &str) -> Result<Sealed> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Internal(anyhow::anyhow!("the system random generator failed")))?;
        let mut buf = plaintext.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(field.as_bytes()), &mut buf)
            .map_err(|_| Error::Internal(anyhow::anyhow!("sealing a sensitive field failed")))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&buf);
        Ok(Sealed { key_id: self.id.clone(), bytes })
    }

    fn open(&self, field: &str, sealed: &Sealed) -> Result<String> {
        let broken = || {
            Error::Invalid(format!(
                "the stored value of sensitive field '{field}' does not open with key {} (damaged, or moved from \
                 another field): refusing to use it",
                sealed.key_id
            ))
        };
        if sealed.bytes.len() < NONCE_LEN {
            return Err(broken());
        }
        let (nonce, rest) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let mut buf = rest.to_vec();
        let plain = self.aead().open_in_place(nonce, Aad::from(field.as_bytes()), &mut buf).map_err(|_| broken())?;
        String::from_utf8(plain.to_vec()).map_err(|_| broken())
    }
}

/// The field keys at hand: the current one (seals and opens) and, during a rotation, the
/// previous one (opens only).
#[derive(Debug, Clone, Default)]
pub struct FieldKeys {
    pub current: Option<FieldKey>,
    pub previous: Option<FieldKey>,
}

impl FieldKeys {
    /// Reads `HERALD_FIELD_KEY` and `HERALD_FIELD_KEY_PREVIOUS` from `env`; a malformed
    /// one is an error naming its variable. A previous key without a current one is an
    /// error too: rotating means setting the new key.
    pub fn from_env(env: &[(String, String)]) -> Result<FieldKeys> {
        let get = |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        let current = get(FIELD_KEY).map(|v| FieldKey::parse(FIELD_KEY, v)).transpose()?;
        let previous = get(PREVIOUS_FIELD_KEY).map(|v| FieldKey::parse(PREVIOUS_FIELD_KEY, v)).transpose()?;
        if current.is_none() && previous.is_some() {
            return Err(Error::Invalid(format!(
                "{PREVIOUS_FIELD_KEY} is set but {FIELD_KEY} is not: set the new key as {FIELD_KEY} and keep the old one \
                 as {PREVIOUS_FIELD_KEY} until `herald privacy rotate-key` has run"
            )));
        }
        Ok(FieldKeys { current, previous })
    }

    /// The key new values are sealed with; an error naming the field when none is set.
    pub fn sealing(&self, field: &str) -> Result<&FieldKey> {
        self.current.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "sensitive field '{field}' cannot be stored: {FIELD_KEY} is not set (a 32-byte key, `openssl rand -hex 32`)"
            ))
        })
    }

    /// Opens a value with the key its id names; fails closed, naming the key id, when
    /// that key is not at hand or the value does not open.
    pub fn open(&self, field: &str, sealed: &Sealed) -> Result<String> {
        let key =
            [&self.current, &self.previous].into_iter().flatten().find(|k| k.id == sealed.key_id).ok_or_else(|| {
                Error::Invalid(format!(
                    "sensitive field '{field}' was encrypted with key {}, which is neither {FIELD_KEY} ({}) nor \
                     {PREVIOUS_FIELD_KEY} ({}): set that key to read it",
                    sealed.key_id,
                    self.current.as_ref().map_or("not set", |k| k.id()),
                    self.previous.as_ref().map_or("not set", |k| k.id()),
                ))
            })?;
        key.open(field, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> FieldKey {
        FieldKey::from_bytes(std::array::from_fn(|i| seed.wrapping_add(i as u8 * 7)))
    }

    fn keys(current: u8, previous: Option<u8>) -> FieldKeys {
        FieldKeys { current: Some(key(current)), previous: previous.map(key) }
    }

    #[test]
    fn a_sealed_value_opens_to_the_same_text_and_does_not_contain_it() {
        let k = keys(1, None);
        let sealed = k.sealing("national_id").unwrap().seal("national_id", "AB-123456789").unwrap();
        assert!(!sealed.bytes.windows(12).any(|w| w == b"AB-123456789"));
        assert_eq!(sealed.key_id, key(1).id());
        assert_eq!(k.open("national_id", &sealed).unwrap(), "AB-123456789");
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = key(1);
        assert_ne!(k.seal("f", "same").unwrap().bytes, k.seal("f", "same").unwrap().bytes);
    }

    #[test]
    fn a_value_under_an_absent_key_fails_closed_naming_the_key_id() {
        let sealed = key(1).seal("national_id", "AB-123456789").unwrap();
        let err = keys(2, None).open("national_id", &sealed).unwrap_err().to_string();
        assert!(err.contains(key(1).id()) && err.contains("national_id"), "{err}");
        assert!(!err.contains("AB-123456789"), "{err}");
    }

    #[test]
    fn the_previous_key_opens_what_it_sealed() {
        let sealed = key(1).seal("f", "v").unwrap();
        assert_eq!(keys(2, Some(1)).open("f", &sealed).unwrap(), "v");
    }

    #[test]
    fn a_tampered_or_moved_value_does_not_open() {
        let k = keys(1, None);
        let mut sealed = key(1).seal("national_id", "AB-123456789").unwrap();
        assert!(k.open("tax_id", &sealed).is_err(), "another field's value");
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert!(k.open("national_id", &sealed).is_err(), "a flipped bit");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_ones_name_their_variable() {
        let hex_key = "00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let a = FieldKey::parse(FIELD_KEY, hex_key).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_key).unwrap());
        assert_eq!(FieldKey::parse(FIELD_KEY, &b64).unwrap().id(), a.id());
        for bad in ["short", "zz112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0", &"00".repeat(32)] {
            let err = FieldKey::parse(FIELD_KEY, bad).unwrap_err().to_string();
            assert!(err.contains(FIELD_KEY), "{err}");
        }
        let env = vec![(PREVIOUS_FIELD_KEY.to_owned(), hex_key.to_owned())];
        let err = FieldKeys::from_env(&env).unwrap_err().to_string();
        assert!(err.contains(FIELD_KEY), "{err}");
    }

    #[test]
    fn without_a_key_a_write_is_refused_naming_the_field_and_variable() {
        let err = FieldKeys::default().sealing("national_id").unwrap_err().to_string();
        assert!(err.contains("national_id") && err.contains(FIELD_KEY), "{err}");
    }
}
