//! The `mailto:unsubscribe+TOKEN@<bounce_domain>` of every message's List-Unsubscribe
//! header: mail to it unsubscribes the person from the campaign's lists (and withdraws
//! the campaign's purpose when the token names one). The token is the signed link token
//! of the unsubscribe URL; an expired one is still honoured (a withdrawal never expires).

use crate::app::App;
use crate::consent::{Actor, Authority, ContactPatch};
use crate::domain::{ListName, Purpose};
use crate::error::Result;
use crate::render::token::{LinkToken, TokenError};

/// What mail to an unsubscribe address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    Done,
    AlreadyOut,
    /// Forged, mangled, or for a contact that no longer exists: ignored.
    NotRecognised,
}

/// The token in an `unsubscribe+TOKEN@domain` address, if it is one.
pub fn token_of(address: &str) -> Option<&str> {
    address.split_once('@').and_then(|(local, _)| local.strip_prefix("unsubscribe+")).filter(|t| !t.is_empty())
}

pub async fn by_token(app: &App, token: &str) -> Result<Unsubscribed> {
    let token = match LinkToken::verify(token, &app.secrets.link_key, app.clock.now()) {
        Ok(t) => t,
        Err(TokenError::Expired) => match expired_but_signed(app, token) {
            Some(t) => t,
            None => return Ok(Unsubscribed::NotRecognised),
        },
        Err(_) => return Ok(Unsubscribed::NotRecognised),
    };
    let Some(contact) = app.store.contacts_by_id(&[token.contact_id]).await?.into_iter().next() else {
        return Ok(Unsubscribed::NotRecognised);
    };
    let lists = match app.store.campaign_by_name(&token.campaign).await? {
        Some(c) => campaign_lists(&c.content),
        None => Vec::new(),
    };
    let purposes: Vec<Purpose> = token.purpose.as_deref().and_then(|p| Purpose::parse(p).ok()).into_iter().collect();
    let patch = ContactPatch { unsubscribe: lists, withdraw: purposes, ..ContactPatch::default() };
    let mut authority = Authority::new(Actor::Contact);
    authority.evidence.insert("channel".into(), "mailto unsubscribe".into());
    authority.evidence.insert("campaign".into(), token.campaign.clone());
    let changed = super::rules::apply_patch(app, &contact, &patch, &authority).await?;
    Ok(if changed { Unsubscribed::Done } else { Unsubscribed::AlreadyOut })
}

/// An expired token whose signature is good: verified again with the expiry ignored.
fn expired_but_signed(app: &App, token: &str) -> Option<LinkToken> {
    let far = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    LinkToken::verify(token, &app.secrets.link_key, far).ok()
}

/// The `lists` of a campaign file (its stored content).
fn campaign_lists(content: &str) -> Vec<ListName> {
    let Ok(table) = content.parse::<toml::Table>() else { return Vec::new() };
    table
        .get("lists")
        .and_then(|l| l.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).filter_map(|s| ListName::parse(s).ok()).collect())
        .unwrap_or_default()
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

    #[test]
    fn campaign_lists_are_read_from_the_file() {
        let lists = campaign_lists("name = \"x\"\nlists = [\"newsletter\", \"offers\"]\n");
        assert_eq!(lists.iter().map(|l| l.to_string()).collect::<Vec<_>>(), ["newsletter", "offers"]);
        assert!(campaign_lists("not toml [").is_empty());
    }
}
