//! Header values: neutralised contact data, deterministic ids, the VERP sender.

use crate::domain::{ContactId, SendId};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header text from contact or template data: CR, LF and other controls become spaces,
/// so no value can start a new header (header injection).
pub fn clean(value: &str) -> String {
    let mut s: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    s.truncate(s.trim_end().len());
    s.trim_start().to_owned()
}

fn tag(key: &[u8], what: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(what.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `<...@domain>`, the same for the same campaign and contact (a resumed campaign
/// re-renders the same message), opaque to the recipient.
pub fn message_id(key: &[u8], campaign: &str, contact_id: ContactId, domain: &str) -> String {
    format!("<{}@{domain}>", &tag(key, &format!("mid|{campaign}|{contact_id}"))[..32])
}

/// The VERP envelope sender `bounces+<send_id>.<mac>@<bounce_domain>` (DESIGN §5).
pub fn verp(key: &[u8], send_id: SendId, bounce_domain: &str) -> String {
    format!("bounces+{send_id}.{}@{bounce_domain}", verp_mac(key, send_id))
}

pub fn verp_mac(key: &[u8], send_id: SendId) -> String {
    tag(key, &format!("verp|{send_id}"))[..12].to_owned()
}

/// Reads a VERP local part back; `None` for a forged or mangled one.
pub fn parse_verp(key: &[u8], address: &str) -> Option<SendId> {
    let local = address.split('@').next()?.strip_prefix("bounces+")?;
    let (id, mac) = local.split_once('.')?;
    let id = SendId::new(id.parse().ok()?);
    let want = verp_mac(key, id);
    // Constant-time comparison of equal-length ASCII tags.
    (want.len() == mac.len() && want.bytes().zip(mac.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_start_a_header() {
        assert_eq!(clean("Ann\r\nBcc: victim@example.com"), "Ann  Bcc: victim@example.com");
        assert_eq!(clean(" x\t"), "x");
    }

    #[test]
    fn verp_round_trips_and_refuses_forgeries() {
        let key = b"k-0123456789abcdef0123456789abcdef";
        let addr = verp(key, SendId::new(1234), "bounces.acme.example");
        assert_eq!(parse_verp(key, &addr), Some(SendId::new(1234)));
        assert_eq!(parse_verp(key, &addr.replace("1234", "1235")), None);
        assert_eq!(parse_verp(b"other-key-0123456789abcdef01234567", &addr), None);
        assert_eq!(parse_verp(key, "bounces+12@x"), None);
    }

    #[test]
    fn message_ids_are_deterministic_and_opaque() {
        let key = b"k-0123456789abcdef0123456789abcdef";
        let a = message_id(key, "spring", ContactId::new(7), "acme.example");
        assert_eq!(a, message_id(key, "spring", ContactId::new(7), "acme.example"));
        assert_ne!(a, message_id(key, "spring", ContactId::new(8), "acme.example"));
        assert!(!a.contains("spring") && a.ends_with("@acme.example>"));
    }
}
