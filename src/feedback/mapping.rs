//! Mapping a bounce back to the send it is about (DESIGN §5): the VERP envelope sender
//! first (its MAC checked: a forged or mangled one is ignored), else the returned
//! message's `Message-ID`, else the recipient address, matched to the contact's latest
//! send.

use crate::app::App;
use crate::domain::EmailAddress;
use crate::error::Result;
use crate::render::headers;
use crate::store::SendTarget;

/// Sends of one contact looked at when matching a `Message-ID`.
const MESSAGE_ID_CANDIDATES: i64 = 200;

/// What a bounce was mapped to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Send {
        send: SendTarget,
        by: MappedBy,
    },
    /// A known contact with no send to attach the event to.
    Contact(i64),
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBy {
    Verp,
    MessageId,
    Recipient,
}

impl Target {
    pub fn contact_id(&self) -> Option<i64> {
        match self {
            Target::Send { send, .. } => Some(send.contact_id),
            Target::Contact(id) => Some(*id),
            Target::Unknown => None,
        }
    }

    pub fn send(&self) -> Option<&SendTarget> {
        match self {
            Target::Send { send, .. } => Some(send),
            _ => None,
        }
    }
}

/// The send id a VERP address among `hints` names, if one carries a valid MAC.
pub fn verp_send_id(link_key: &[u8], hints: &[String]) -> Option<i64> {
    hints.iter().find_map(|h| headers::parse_verp(link_key, h.trim().trim_matches(['<', '>'])))
}

/// Resolves one event: `verp_send` from [`verp_send_id`], `message_id` of the original
/// message, and the recipient the report names.
pub async fn resolve(app: &App, verp_send: Option<i64>, message_id: Option<&str>, recipient: &str) -> Result<Target> {
    if let Some(id) = verp_send
        && let Some(send) = app.store.send_target(id).await?
    {
        return Ok(Target::Send { send, by: MappedBy::Verp });
    }
    let Ok(email) = EmailAddress::parse(recipient) else {
        return Ok(Target::Unknown);
    };
    let Some(contact_id) = app.store.contact(email.normalized()).await?.and_then(|c| c.id) else {
        return Ok(Target::Unknown);
    };
    let sends = app.store.sends_of_contact(contact_id, MESSAGE_ID_CANDIDATES).await?;
    if let Some(wanted) = message_id.and_then(local_part) {
        let key = &app.secrets.link_key;
        // The domain of a Message-ID follows the campaign's From; its local part alone
        // is the keyed tag of (campaign, contact).
        if let Some(send) = sends.iter().find(|s| {
            local_part(&headers::message_id(key, &s.campaign, contact_id, "x")).is_some_and(|have| have == wanted)
        }) {
            return Ok(Target::Send { send: send.clone(), by: MappedBy::MessageId });
        }
    }
    Ok(match sends.into_iter().next() {
        Some(send) => Target::Send { send, by: MappedBy::Recipient },
        None => Target::Contact(contact_id),
    })
}

fn local_part(message_id: &str) -> Option<&str> {
    let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
    id.split_once('@').map(|(local, _)| local).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verp_address_with_a_valid_mac_names_a_send() {
        let key = b"0123456789abcdef0123456789abcdef";
        let good = headers::verp(key, 42, "bounces.example");
        let forged = good.replace("+42.", "+43.");
        assert_eq!(verp_send_id(key, &["someone@example.org".into(), format!("<{good}>")]), Some(42));
        assert_eq!(verp_send_id(key, &[forged]), None);
        assert_eq!(verp_send_id(b"another key, 32 bytes long......", &[good]), None);
    }

    #[test]
    fn message_id_local_parts() {
        assert_eq!(local_part("<abc@example.com>"), Some("abc"));
        assert_eq!(local_part("abc"), None);
    }
}
