//! Mapping a bounce back to the send it is about (DESIGN §5): the VERP envelope sender
//! first (its MAC checked: a forged or mangled one is ignored), else the returned
//! message's `Message-ID` (keyed: only Herald can make the one it sent that contact).
//! The recipient address alone proves nothing — anyone can mail a report naming anyone
//! to the bounce domain — so it maps a report to the contact's latest send only for an
//! authenticated provider webhook; an inbound report tied to no message Herald sent is
//! kept as unmatched for review and changes nothing. Both checks accept the current and
//! the previous link key, so a key rotation does not orphan the bounces of earlier mail.

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
    /// A known contact with no send to attach the event to (authenticated channel).
    Contact(crate::domain::ContactId),
    /// Tied to no message Herald sent: recorded for review, changes nothing. The contact
    /// the report claims to be about, if the address is one.
    Unmatched(Option<crate::domain::ContactId>),
}

/// How far the channel a report came through can be trusted on its own word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Inbound mail: anyone can send it, so only a VERP MAC or a keyed Message-ID ties
    /// it to a send.
    Inbound,
    /// A provider webhook whose signature was checked: the provider saw the message, so
    /// the recipient address it names is taken at its word.
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBy {
    Verp,
    MessageId,
    Recipient,
}

impl Target {
    /// The contact the event is about: the one whose record it may change, or, for an
    /// unmatched report, the one it claims to be about.
    pub fn contact_id(&self) -> Option<crate::domain::ContactId> {
        match self {
            Target::Send { send, .. } => Some(send.contact_id),
            Target::Contact(id) => Some(*id),
            Target::Unmatched(id) => *id,
        }
    }

    /// Whether the event may change the contact's record.
    pub fn is_matched(&self) -> bool {
        !matches!(self, Target::Unmatched(_))
    }

    pub fn send(&self) -> Option<&SendTarget> {
        match self {
            Target::Send { send, .. } => Some(send),
            _ => None,
        }
    }
}

/// The send id a VERP address among `hints` names, if one carries a valid MAC.
pub fn verp_send_id(link_key: &[u8], hints: &[String]) -> Option<crate::domain::SendId> {
    hints.iter().find_map(|h| headers::parse_verp(link_key, h.trim().trim_matches(['<', '>'])))
}

/// [`verp_send_id`] under any of `keys` (the current link key, then the previous one).
pub fn verp_send_id_any(keys: &[&[u8]], hints: &[String]) -> Option<crate::domain::SendId> {
    keys.iter().find_map(|k| verp_send_id(k, hints))
}

/// Resolves one event: `verp_send` from [`verp_send_id_any`], `message_id` of the
/// original message, the recipient the report names, and the channel it came through.
pub async fn resolve(
    app: &App,
    verp_send: Option<crate::domain::SendId>,
    message_id: Option<&str>,
    recipient: &str,
    channel: Channel,
) -> Result<Target> {
    if let Some(id) = verp_send {
        if let Some(send) = app.store.send_target(id).await? {
            return Ok(Target::Send { send, by: MappedBy::Verp });
        }
        // A report on a test send (`campaign test`): kept for review, never held against
        // anyone (the address was not the contact's, nor is its recipient a campaign's).
        if app.store.message_send(id).await?.is_some_and(|m| m.source == crate::domain::Source::Test) {
            return Ok(Target::Unmatched(None));
        }
    }
    let Ok(email) = EmailAddress::parse(recipient) else {
        return Ok(Target::Unmatched(None));
    };
    let Some(contact_id) = app.store.contact(email.normalized()).await?.and_then(|c| c.id) else {
        return Ok(Target::Unmatched(None));
    };
    let sends = app.store.sends_of_contact(contact_id, MESSAGE_ID_CANDIDATES).await?;
    if let Some(wanted) = message_id.and_then(local_part) {
        let keys = app.secrets.link_keys();
        // The domain of a Message-ID follows the campaign's From; its local part alone
        // is the keyed tag of (campaign, contact).
        if let Some(send) = sends.iter().find(|s| {
            keys.iter().any(|key| {
                local_part(&headers::message_id(key, &s.campaign, contact_id, "x")).is_some_and(|have| have == wanted)
            })
        }) {
            return Ok(Target::Send { send: send.clone(), by: MappedBy::MessageId });
        }
    }
    if channel == Channel::Inbound {
        return Ok(Target::Unmatched(Some(contact_id)));
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
        let good = headers::verp(key, crate::domain::SendId::new(42), "bounces.example");
        let forged = good.replace("+42.", "+43.");
        assert_eq!(
            verp_send_id(key, &["someone@example.org".into(), format!("<{good}>")]),
            Some(crate::domain::SendId::new(42))
        );
        assert_eq!(verp_send_id(key, &[forged]), None);
        assert_eq!(verp_send_id(b"another key, 32 bytes long......", &[good]), None);
    }

    #[test]
    fn message_id_local_parts() {
        assert_eq!(local_part("<abc@example.com>"), Some("abc"));
        assert_eq!(local_part("abc"), None);
    }
}
