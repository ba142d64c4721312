//! Withdrawal by link token: the one path by which an unsubscribe link (`POST /u/{token}`)
//! and the `mailto:unsubscribe+TOKEN@` of List-Unsubscribe take a person off the lists a
//! message was sent for — those of the campaign's `lists` they were on, nothing more (no
//! purpose is withdrawn). The token is checked with the current link key, then the
//! previous one; an expired token with a good signature is still honoured (a withdrawal
//! never expires). The campaign's lists come from the campaign as it was started (its
//! stored record), not from a file that may have changed since; a flow message's from
//! the version of its flow file it was queued under (`flow_versions`). `POST /u/{token}` may
//! also ask for everything ([`Scope::Everything`]).

use super::change::{Selector, change_contact};
use super::token::{LinkKind, LinkToken, TokenError};
use crate::app::App;
use crate::campaign;
use crate::consent::{Authority, ContactPatch, unsubscribe_from_everything, unsubscribe_from_message};
use crate::domain::{ListName, OptInStatus, Processing};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What a withdrawal by token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawal {
    /// The token does not verify with any configured link key (mangled or forged).
    NotVerified,
    /// The token is good but names no live contact (deleted or erased).
    NoContact { contact_id: crate::domain::ContactId, campaign: String },
    /// A link of a test send (`campaign test`): nothing changed.
    TestLink { contact_id: crate::domain::ContactId, campaign: String },
    /// The contact left the campaign's lists (`changed`), or was already off them.
    Done { contact_id: crate::domain::ContactId, campaign: String, changed: bool },
}

/// The token, verified with any configured link key (current first); an expired one whose
/// signature is good too.
pub fn verify_for_withdrawal(app: &App, token: &str) -> Option<LinkToken> {
    verify_with(&app.secrets.link_keys(), token, app.clock.now())
}

fn verify_with(keys: &[&[u8]], token: &str, now: DateTime<Utc>) -> Option<LinkToken> {
    let token = match LinkToken::verify_any(token, keys, now) {
        Ok(t) => t,
        Err(TokenError::Expired) => LinkToken::verify_any(token, keys, DateTime::<Utc>::MIN_UTC).ok()?,
        Err(_) => return None,
    };
    // Only a message's own unsubscribe token withdraws (not an open pixel's or a click's,
    // nor a confirmation's).
    (token.kind == LinkKind::Message).then_some(token)
}

/// How far a withdrawal by token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The lists the message was sent for (RFC 8058 one-click, the mailto).
    Message,
    /// Those lists and every message: the person's own opt-out (`opted_out_contact`),
    /// which only their own confirmed double opt-in lifts.
    Everything,
}

/// Takes the person `token` names off the lists of the campaign it was sent for, as the
/// person (`authority` is theirs: [`Authority::contact`], with the channel's evidence).
pub async fn withdraw_by_token(app: &App, token: &str, authority: &Authority) -> Result<Withdrawal> {
    let Some(token) = verify_for_withdrawal(app, token) else { return Ok(Withdrawal::NotVerified) };
    let lists = message_lists(app, &token).await?;
    withdraw(app, &token, &lists, Scope::Message, authority).await
}

/// [`withdraw_by_token`] with a verified `token` whose message's lists are `lists`
/// ([`message_lists`]), as far as `scope` says. Both parts of [`Scope::Everything`] are
/// one change (one ledger event). Nothing is written when the person is already off
/// everything asked (a second one-click is answered without a write).
pub async fn withdraw(
    app: &App,
    token: &LinkToken,
    lists: &[ListName],
    scope: Scope,
    authority: &Authority,
) -> Result<Withdrawal> {
    let (contact_id, campaign) = (token.contact_id, token.campaign.clone());
    if token.test {
        return Ok(Withdrawal::TestLink { contact_id, campaign });
    }
    let contact = app.store.contacts_by_id(&[contact_id]).await?.into_iter().next();
    let Some(contact) = contact.filter(|c| c.processing != Processing::Erased) else {
        return Ok(Withdrawal::NoContact { contact_id, campaign });
    };
    let mut patch = unsubscribe_from_message(&contact, lists);
    if scope == Scope::Everything && contact.opt_in != OptInStatus::OptedOutContact {
        patch.opt_in = unsubscribe_from_everything().opt_in;
    }
    if patch == ContactPatch::default() {
        return Ok(Withdrawal::Done { contact_id, campaign, changed: false });
    }
    let authority = authority.clone().with_evidence("campaign", campaign.clone());
    // The record just read names the contact: no second look-up by id.
    let changed = change_contact(app, &Selector::Email(contact.email), &patch, &authority).await?;
    Ok(Withdrawal::Done { contact_id, campaign, changed })
}

/// The lists the message of `token` was sent for: its campaign's as stored when it was
/// started (or last revised), none when its stored file no longer validates; for a flow
/// message, those its flow's file named when the message was queued (the version the
/// scheduler recorded), whatever the file says now or if it is gone. A campaign's are
/// parsed once per content ([`CampaignListsCache`]): a burst of one-click unsubscribes
/// reads only the stored content hash.
pub(crate) async fn message_lists(app: &App, token: &LinkToken) -> Result<Arc<[ListName]>> {
    let name = token.campaign.as_str();
    let Some(hash) = app.store.campaign_content_hash(name).await? else {
        return match app.store.flow_message_lists(token.contact_id, name).await? {
            Some(lists) => Ok(lists.into()),
            // Queued before flow versions were recorded (migration 0022), or no such message.
            None => flow_lists(app, name),
        };
    };
    if let Some(lists) = app.campaign_lists.get(name, &hash) {
        return Ok(lists);
    }
    let Some(record) = app.store.campaign_by_name(name).await? else { return Ok(Arc::from([])) };
    let lists: Arc<[ListName]> = match campaign::parse(
        Path::new(&record.file_path),
        &record.content,
        &app.config.policy,
    ) {
        Ok(c) => c.lists.into(),
        Err(e) => {
            tracing::warn!(campaign_id = record.id.get(), error = %e, "the stored campaign does not validate; no lists to leave");
            Arc::from([])
        }
    };
    app.campaign_lists.put(name, &record.content_hash, lists.clone());
    Ok(lists)
}

/// The `lists` of the flow whose step a message was sent for, as its file is now: a flow
/// message's links name `FLOW.STEP` (`Flow::step_campaign`), which no stored campaign has. The step
/// may have been renamed since, so the flow is found by the longest name that prefixes
/// `FLOW.`; none when no valid flow file matches (as for a campaign whose stored file no
/// longer validates).
fn flow_lists(app: &App, name: &str) -> Result<Arc<[ListName]>> {
    let (flows, _) = crate::flows::enrolment::valid_flows(app)?;
    let flow = flows
        .into_iter()
        .filter(|f| name.strip_prefix(f.name.as_str()).is_some_and(|rest| rest.starts_with('.')))
        .max_by_key(|f| f.name.len());
    Ok(flow.map(|f| f.lists.into()).unwrap_or_else(|| Arc::from([])))
}

/// Campaigns' lists parsed from their stored files, by name and content hash.
#[derive(Debug, Default)]
pub struct CampaignListsCache {
    by_name: Mutex<HashMap<String, Parsed>>,
}

/// A campaign's lists and the content hash they were parsed from.
#[derive(Debug)]
struct Parsed {
    hash: String,
    lists: Arc<[ListName]>,
}

/// Campaigns remembered at most; past it the cache starts afresh (a daemon answers links
/// of a few recent campaigns, not thousands).
const CACHED_CAMPAIGNS: usize = 256;

impl CampaignListsCache {
    fn get(&self, name: &str, hash: &str) -> Option<Arc<[ListName]>> {
        let cache = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(name).filter(|p| p.hash == hash).map(|p| p.lists.clone())
    }

    fn put(&self, name: &str, hash: &str, lists: Arc<[ListName]>) {
        let mut cache = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_CAMPAIGNS && !cache.contains_key(name) {
            cache.clear();
        }
        cache.insert(name.to_owned(), Parsed { hash: hash.to_owned(), lists });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &[u8] = b"current-link-key-0123456789abcdef0123";
    const PREVIOUS: &[u8] = b"previous-link-key-0123456789abcdef012";

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn token(expires: i64) -> LinkToken {
        LinkToken {
            kind: LinkKind::Message,
            contact_id: crate::domain::ContactId::new(7),
            campaign: "spring".into(),
            purpose: None,
            expires: at(expires),
            test: false,
        }
    }

    #[test]
    fn a_token_signed_with_the_previous_key_still_withdraws() {
        let signed = token(2_000).sign(PREVIOUS);
        assert_eq!(verify_with(&[CURRENT, PREVIOUS], &signed, at(1_000)), Some(token(2_000)));
        assert_eq!(verify_with(&[CURRENT], &signed, at(1_000)), None, "not without the previous key");
    }

    #[test]
    fn an_expired_token_still_withdraws_but_a_forged_one_does_not() {
        let signed = token(2_000).sign(CURRENT);
        assert_eq!(verify_with(&[CURRENT], &signed, at(3_000)), Some(token(2_000)));
        let forged = token(2_000).sign(b"someone-elses-key-0123456789abcdef01");
        assert_eq!(verify_with(&[CURRENT, PREVIOUS], &forged, at(1_000)), None);
    }

    #[test]
    fn an_open_pixels_or_a_confirmations_token_does_not_withdraw() {
        for kind in [LinkKind::Open, LinkKind::Click, LinkKind::Confirm] {
            let signed = LinkToken { kind, ..token(2_000) }.sign(CURRENT);
            assert_eq!(verify_with(&[CURRENT], &signed, at(1_000)), None, "{kind:?}");
        }
    }
}
