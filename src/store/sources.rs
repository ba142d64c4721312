//! The sends of the message sources other than campaigns (DESIGN §10): a test send, a
//! confirmation or a flow step is one `sends` row with its source, the contact it is
//! rendered as, the address it goes to if not the contact's, and the JSON context it is
//! rendered from. It has no campaign (`campaign_id` is NULL, which the schema holds), so
//! no campaign figure ever counts it. The SQL is in `sql/sources.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ContactId, SendId, SendState, Source};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

/// A message of a source other than `campaign`, to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub source: Source,
    /// The contact it is rendered as (and, but for a test send, sent to).
    pub contact_id: ContactId,
    /// Where it goes when not to the contact's address (a test send).
    pub to_address: Option<String>,
    /// What it is rendered from (for a test send: the campaign file's name and content).
    pub context: serde_json::Value,
}

/// A queued message of another source, as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSend {
    pub id: SendId,
    pub source: Source,
    pub contact_id: ContactId,
    pub to_address: Option<String>,
    pub context: serde_json::Value,
    pub state: SendState,
    pub reason: Option<String>,
    pub relay: Option<String>,
    pub smtp_code: Option<i32>,
    pub smtp_text: Option<String>,
}

impl Store {
    /// Queues one message of a source other than `campaign` (campaign sends are
    /// materialised from their plan); returns its send id.
    pub async fn enqueue_message(&self, m: &NewMessage, now: DateTime<Utc>) -> Result<SendId> {
        if m.source == Source::Campaign {
            return Err(Error::Internal(anyhow::anyhow!("campaign sends are queued from the campaign's plan")));
        }
        dispatch!(self.sources::enqueue(m, now))
    }

    /// A send of another source, by id (`None` if there is none, or it is a campaign's).
    pub async fn message_send(&self, id: SendId) -> Result<Option<MessageSend>> {
        let found: Option<MessageSend> = dispatch!(self.sources::message(id))?;
        Ok(found.filter(|m| m.source != Source::Campaign))
    }

    /// Claims due messages of the other sources under `owner`'s lease (the engine drains
    /// them before any campaign's batch).
    pub async fn claim_messages(
        &self,
        owner: &str,
        limit: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::store::Claim>> {
        dispatch!(self.queue::claim_messages(owner, limit, lease_until, now))
    }

    /// How many messages of the other sources wait in the queue unclaimed, counted up to
    /// `limit` (an index walk of at most `limit` entries): the flow scheduler queues no more
    /// steps while `limit` are waiting (`flows::scheduler`).
    pub async fn waiting_messages(&self, limit: i64) -> Result<i64> {
        dispatch!(self.sources::waiting(limit))
    }

    /// Confirmation messages queued for the contact since `since`: with
    /// [`crate::consent::sources::confirmation_allowed`], the daily limit
    /// (`[web] confirmations_per_day`).
    pub async fn confirmations_since(&self, contact_id: ContactId, since: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.sources::confirmations_since(contact_id, since))
    }
}
