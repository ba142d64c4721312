//! The `mailto:unsubscribe+TOKEN@<bounce_domain>` of every message's List-Unsubscribe
//! header: mail to it unsubscribes the person from the lists that message was sent for
//! (the campaign's lists they were on), nothing more (issue 19: no purpose is
//! withdrawn), through [`crate::contacts::withdraw::withdraw_by_token`] — the same path
//! as the unsubscribe link.
//!
//! A token that cannot be verified (mangled by a mail client, or signed with a key no
//! longer configured) does not drop the request: as RFC 8058 reads a mailto unsubscribe,
//! the sender of the mail asked, so when the mail's `From` (else its envelope sender) is
//! a contact, that contact is unsubscribed from everything (`opted_out_contact`). A
//! `From` can be forged; the harm of a forged opt-out (a person gets less mail) is
//! smaller than an ignored real one, and the ledger event keeps the evidence (how the
//! person was found, the mail's `Authentication-Results`). Every such mail is recorded,
//! whatever came of it.

use crate::app::App;
use crate::consent::{Actor, Authority, unsubscribe_from_everything};
use crate::contacts::change::{Selector, change_contact};
use crate::contacts::withdraw::{Withdrawal, withdraw_by_token};
use crate::domain::{EmailAddress, Processing};
use crate::error::Result;
use crate::store::MailtoUnsubscribe;

/// What mail to an unsubscribe address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    Done,
    AlreadyOut,
    /// Forged, mangled, or for a contact that no longer exists, and its sender is no
    /// contact: recorded, nothing changed.
    NotRecognised,
    /// The token could not be verified; the mail's sender, a contact, was unsubscribed
    /// from everything.
    SenderOptedOut,
    /// The token is a test send's (`campaign test`): recorded, nothing changed.
    TestLink,
}

impl Unsubscribed {
    fn as_str(self) -> &'static str {
        match self {
            Unsubscribed::Done | Unsubscribed::SenderOptedOut => "done",
            Unsubscribed::AlreadyOut => "already_out",
            Unsubscribed::NotRecognised => "not_recognised",
            Unsubscribed::TestLink => "test_link",
        }
    }
}

/// The token in an `unsubscribe+TOKEN@domain` address, if it is one.
pub fn token_of(address: &str) -> Option<&str> {
    address.split_once('@').and_then(|(local, _)| local.strip_prefix("unsubscribe+")).filter(|t| !t.is_empty())
}

/// One mail to `unsubscribe+TOKEN@`: `envelope_from` is its SMTP `MAIL FROM`, `message`
/// the mail itself (its `From` names the sender).
pub async fn by_mail(app: &App, token: &str, envelope_from: &str, message: &[u8]) -> Result<Unsubscribed> {
    let authority = Authority::contact(false).with_evidence("channel", "mailto unsubscribe");
    let (done, record) = match withdraw_by_token(app, token, &authority).await? {
        Withdrawal::Done { contact_id, campaign, changed } => {
            let done = if changed { Unsubscribed::Done } else { Unsubscribed::AlreadyOut };
            (done, record(app, "token", done, Some(contact_id), Some(campaign)))
        }
        Withdrawal::TestLink { campaign, .. } => {
            let done = Unsubscribed::TestLink;
            (done, record(app, "token", done, None, Some(campaign)))
        }
        Withdrawal::NotVerified | Withdrawal::NoContact { .. } => by_sender(app, envelope_from, message).await?,
    };
    app.store.record_mailto_unsubscribe(&record).await?;
    Ok(done)
}

/// The fallback for a token that cannot be verified: the sender of the mail, when a
/// contact, leaves everything.
async fn by_sender(app: &App, envelope_from: &str, message: &[u8]) -> Result<(Unsubscribed, MailtoUnsubscribe)> {
    let parsed = mail_parser::MessageParser::default().parse_headers(message);
    let header_from = parsed.as_ref().and_then(|m| m.from()).and_then(|a| a.first()).and_then(|a| a.address());
    let candidates = [("from header", header_from), ("envelope sender", Some(envelope_from))];
    for (found_by, address) in candidates {
        let Some(email) = address.and_then(|a| EmailAddress::parse(a).ok()) else { continue };
        let Some(contact) = app.store.contact(email.normalized()).await? else { continue };
        if contact.processing == Processing::Erased {
            continue;
        }
        let mut authority = Authority::new(Actor::Contact);
        let evidence = &mut authority.evidence;
        evidence.insert("channel".into(), "mailto unsubscribe".into());
        evidence.insert(
            "why".into(),
            "the unsubscribe token could not be verified; the mail's sender is this contact (RFC 8058 mailto)".into(),
        );
        evidence.insert("sender_found_by".into(), found_by.into());
        if let Some(auth) = parsed.as_ref().and_then(|m| m.header_raw("Authentication-Results")) {
            evidence.insert("authentication_results".into(), auth.trim().chars().take(300).collect());
        }
        let changed =
            change_contact(app, &Selector::Email(contact.email.clone()), &unsubscribe_from_everything(), &authority)
                .await?;
        let done = if changed { Unsubscribed::SenderOptedOut } else { Unsubscribed::AlreadyOut };
        return Ok((done, record(app, "sender", done, contact.id, None)));
    }
    let done = Unsubscribed::NotRecognised;
    Ok((done, record(app, "none", done, None, None)))
}

fn record(
    app: &App,
    via: &str,
    done: Unsubscribed,
    contact_id: Option<crate::domain::ContactId>,
    campaign: Option<String>,
) -> MailtoUnsubscribe {
    MailtoUnsubscribe {
        received_at: app.clock.now(),
        via: via.into(),
        outcome: done.as_str().into(),
        contact_id,
        campaign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_addresses_carry_their_token() {
        assert_eq!(token_of("unsubscribe+abc.def@bounces.example"), Some("abc.def"));
        assert_eq!(token_of("bounces+1.abc@bounces.example"), None);
        assert_eq!(token_of("unsubscribe+@bounces.example"), None);
    }
}
