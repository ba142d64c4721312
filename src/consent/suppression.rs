//! The suppression list is keyed by an HMAC of the normalised address, so that it can
//! outlive the contact record (erasure) without keeping the address itself; and who may
//! take an address off it.

use super::authority::{Actor, Authority};
use super::rules::Refusal;
use crate::domain::EmailAddress;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct SuppressionKey(Vec<u8>);

impl SuppressionKey {
    pub fn new(secret: &[u8]) -> Self {
        SuppressionKey(secret.to_vec())
    }

    /// Hex HMAC-SHA256 of the normalised address.
    pub fn mac(&self, email: &EmailAddress) -> String {
        self.mac_str(email.normalized())
    }

    fn mac_str(&self, normalized: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A value derived from the key alone, stored in the database so that Herald can
    /// refuse to run with a different key: a changed key would silently empty the
    /// suppression list.
    pub fn fingerprint(&self) -> String {
        self.mac_str("herald:suppression-key-check")[..16].to_owned()
    }
}

/// Whether `authority` may take an address off the suppression list (DESIGN §2): the
/// person's own confirmed double opt-in, or staff with proof that the person asked.
/// Anyone may put an address on it.
pub fn may_lift_suppression(authority: &Authority) -> Result<(), Refusal> {
    if authority.may_lift_staff_recorded_choice() {
        return Ok(());
    }
    Err(match authority.actor {
        Actor::Cli(_) => {
            Refusal::Invalid("removing an address from the suppression list needs --proof saying why".into())
        }
        _ => Refusal::Suppressed,
    })
}

impl std::fmt::Debug for SuppressionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuppressionKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_ignores_case_and_depends_on_the_key() {
        let a = SuppressionKey::new(b"k1-0123456789abcdef0123456789abcdef");
        let b = SuppressionKey::new(b"k2-0123456789abcdef0123456789abcdef");
        let lower = EmailAddress::parse("bob@example.com").unwrap();
        let upper = EmailAddress::parse("BOB@Example.com").unwrap();
        assert_eq!(a.mac(&lower), a.mac(&upper));
        assert_ne!(a.mac(&lower), b.mac(&lower));
        assert!(!a.mac(&lower).contains("bob"));
    }
}
