//! The send-time re-check (DESIGN §5): the data a claimed send is decided on, loaded per
//! batch ([`load`]), and the check itself ([`Recheck`]): one trait object the engine calls
//! for every claim, so that another kind of message can bring its own.

use super::shared::CampaignCtx;
use crate::consent::policy::{EligibleRecipient, Facts};
use crate::consent::sources::SourcePolicy;
use crate::domain::{Contact, Source};
use crate::error::Result;
use crate::store::{Claim, History, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The data a claimed send is decided on, loaded per claimed batch.
pub struct Loaded {
    /// The send's source: which policy the re-check applies.
    pub source: Source,
    pub contact: Contact,
    /// The ledger version the re-check saw: the "transmitting" mark is granted only if
    /// it is still current, so a withdrawal committed in between stops the message.
    pub ledger_seq: i64,
    pub suppressed: bool,
    pub history: History,
}

/// The contacts of a claimed batch by id, as [`crate::store::Store::contacts_for_send`] loads
/// them: the contact, its ledger version, and whether it is suppressed.
pub type Contacts = HashMap<crate::domain::ContactId, crate::store::SendContact>;

/// What each of one campaign's claims is decided on: its contact (taken out of `contacts`)
/// and the delivery history the campaign's policy reads (frequency cap, unengaged rule).
pub async fn load(
    store: &Store,
    ctx: &CampaignCtx,
    claims: Vec<Claim>,
    contacts: &mut Contacts,
    now: DateTime<Utc>,
) -> Result<Vec<(Claim, Option<Loaded>)>> {
    let policy = &ctx.campaign.policy;
    let since = policy.frequency_cap.map(|cap| now - chrono::Duration::days(i64::from(cap.days)));
    let last_n = policy.exclude_unengaged;
    let ids: Vec<crate::domain::ContactId> = claims.iter().map(|c| c.contact_id).collect();
    let mut history =
        if since.is_some() || last_n.is_some() { store.history(&ids, since, last_n).await? } else { HashMap::new() };
    Ok(claims
        .into_iter()
        .map(|claim| {
            let loaded = contacts.remove(&claim.contact_id).map(
                |crate::store::SendContact { contact, ledger_seq, suppressed }| Loaded {
                    source: claim.source,
                    contact,
                    ledger_seq,
                    suppressed,
                    history: history.remove(&claim.contact_id).unwrap_or_default(),
                },
            );
            (claim, loaded)
        })
        .collect())
}

/// The send-time re-check (DESIGN §5): whether the recipient loaded for a claim may still
/// be sent to, and if not, the reason it is skipped with. The engine calls the one it was
/// given for every claim, just before rendering; [`CampaignRecheck`] is the campaigns' one.
pub trait Recheck: Send + Sync {
    fn recheck(&self, ctx: &CampaignCtx, loaded: Loaded) -> std::result::Result<EligibleRecipient, String>;
}

/// The policy a send of `source` is re-checked under, with the campaign (or flow) policy
/// of `ctx` where its source has one (DESIGN §10; the rules are in `consent::sources`).
pub fn source_policy(source: Source, ctx: &CampaignCtx) -> SourcePolicy<'_> {
    match source {
        Source::Campaign => SourcePolicy::Campaign(&ctx.campaign.policy),
        Source::Test => SourcePolicy::Test,
        Source::Confirmation => SourcePolicy::Confirmation,
        Source::Flow => SourcePolicy::Flow(&ctx.campaign.policy),
    }
}

/// The default re-check: the policy of the send's source ([`source_policy`]): for a
/// campaign send, the campaign's policy (consent, lists, suppression, frequency cap,
/// engagement) on the contact as it is now.
pub struct CampaignRecheck;

impl Recheck for CampaignRecheck {
    fn recheck(&self, ctx: &CampaignCtx, loaded: Loaded) -> std::result::Result<EligibleRecipient, String> {
        let c = &ctx.campaign;
        let mut facts = Facts::of(&loaded.contact, loaded.suppressed, &c.lists, &ctx.lists, c.purpose.as_ref());
        facts.recent_marketing = loaded.history.recent_marketing;
        facts.recent_delivered = loaded.history.recent_delivered;
        facts.recent_engaged = loaded.history.recent_engaged;
        EligibleRecipient::check_source(source_policy(loaded.source, ctx), loaded.contact, &facts)
            .map_err(|reason| reason.as_str().to_owned())
    }
}
