//! The outbox of outbound consent webhooks (DESIGN §13, issue 15.6): which signals the
//! configured webhooks ask for ([`OutboxSpec`], handed to the store when the `App` is
//! built), the rows a batch of ledger entries gives ([`OutboxSpec::rows_for`], written by
//! `sql/contact_write.rs`'s `insert_entries` in the ledger's own transaction), and the
//! delivery worker's reads and writes (`sql/outbound.rs`).
//!
//! Layout: one row per (webhook, signal of a ledger event that webhook asks for), so each
//! webhook has its own queue, attempts and errors, and a slow CRM never holds up another.
//! The signal's idempotency id is shared by all webhooks that receive it.

use super::{Backend, Store, postgres, sqlite};
use crate::consent::ledger::{Entry, EventBody};
use crate::consent::signals;
use crate::domain::ContactId;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Per configured webhook, the signal names it receives. Empty (the default): no outbox
/// row is ever written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSpec {
    webhooks: Vec<(String, Vec<&'static str>)>,
}

impl OutboxSpec {
    /// `webhooks`: (name, signal names) per `[[webhooks.out]]`.
    pub fn new(webhooks: impl IntoIterator<Item = (String, Vec<&'static str>)>) -> OutboxSpec {
        OutboxSpec { webhooks: webhooks.into_iter().filter(|(_, events)| !events.is_empty()).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty()
    }

    /// The rows `entries` give: for each signal of each entry (in the entry's order),
    /// one row per webhook that asks for it, all with the same fresh idempotency id.
    pub(crate) fn rows_for(&self, entries: &[Entry]) -> Result<Vec<NewOutboxRow>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        for entry in entries {
            // Bodies are the ledger's canonical JSON, sealed a moment ago: one that does not
            // read back fails the change rather than lose its signal.
            let body = serde_json::from_str::<EventBody>(&entry.body)
                .map_err(|e| Error::Internal(anyhow::anyhow!("a ledger body that does not read back: {e}")))?;
            for signal in signals::of(&body) {
                let mut wanted = self.webhooks.iter().filter(|(_, events)| events.contains(&signal.name)).peekable();
                if wanted.peek().is_none() {
                    continue;
                }
                let event_id = format!("evt_{}", hex::encode(rand::random::<[u8; 16]>()));
                for (webhook, _) in wanted {
                    rows.push(NewOutboxRow {
                        webhook: webhook.clone(),
                        event_id: event_id.clone(),
                        signal: signal.name,
                        list: signal.list.clone(),
                        purpose: signal.purpose.clone(),
                        contact_id: entry.contact_id,
                        occurred_at: entry.at,
                    });
                }
            }
        }
        Ok(rows)
    }
}

/// A row to write beside its ledger entry; the address is read in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewOutboxRow {
    pub webhook: String,
    pub event_id: String,
    pub signal: &'static str,
    pub list: Option<String>,
    pub purpose: Option<String>,
    pub contact_id: ContactId,
    pub occurred_at: DateTime<Utc>,
}

/// A pending signal, as the worker delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: String,
    pub signal: String,
    pub list: Option<String>,
    pub purpose: Option<String>,
    pub contact_id: ContactId,
    /// The address at the time of the change; `None` once the contact is erased.
    pub email: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: i32,
    /// Not to be attempted before this.
    pub next_at: DateTime<Utc>,
}

/// One webhook's figures for `herald webhooks status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStatus {
    pub webhook: String,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// When the oldest pending signal happened.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// The error of the first pending signal that has one, else of the latest failed
    /// one: a status code or a connection error, never a response body.
    pub last_error: Option<String>,
}

impl Store {
    /// This store, writing outbox rows for `spec` beside every ledger entry.
    pub fn with_outbox(mut self, spec: OutboxSpec) -> Store {
        self.outbox = Arc::new(spec);
        self
    }

    /// Takes (or renews) the right to deliver `webhook`'s signals until `until`: true when
    /// this `owner` holds it (no other lease, its own, or an expired one).
    pub async fn outbox_lease(
        &self,
        webhook: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(self.outbound::lease(webhook, owner, until, now))
    }

    /// Gives up `owner`'s lease on `webhook` (a clean shutdown), so another daemon takes
    /// over at once.
    pub async fn outbox_release(&self, webhook: &str, owner: &str) -> Result<()> {
        dispatch!(self.outbound::release(webhook, owner))
    }

    /// The first `limit` pending signals of `webhook`, in delivery order.
    pub async fn outbox_pending(&self, webhook: &str, limit: i64) -> Result<Vec<OutboxRow>> {
        dispatch!(self.outbound::pending(webhook, limit))
    }

    pub async fn outbox_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        dispatch!(self.outbound::delivered(id, now))
    }

    /// Records a failed attempt: `retry_at` the next one, or `None` when the signal is
    /// given up (`failed`).
    pub async fn outbox_attempt_failed(&self, id: i64, error: &str, retry_at: Option<DateTime<Utc>>) -> Result<()> {
        dispatch!(self.outbound::attempt_failed(id, error, retry_at))
    }

    /// Per webhook that has rows, its figures, in name order.
    pub async fn outbox_status(&self) -> Result<Vec<OutboxStatus>> {
        dispatch!(self.outbound::status())
    }

    /// Puts the failed signals (of `webhook`, or of all) back in the queue, due `now`,
    /// with their attempts reset; how many.
    pub async fn outbox_retry(&self, webhook: Option<&str>, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.outbound::retry(webhook, now))
    }

    /// Deletes the signals delivered before `before`; how many.
    pub async fn outbox_purge(&self, before: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.outbound::purge(before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ledger::{EventDraft, Head, seal};
    use std::collections::BTreeMap;

    fn entry(changes: &[(&str, Option<&str>, Option<&str>)]) -> Entry {
        let draft = EventDraft {
            actor: "cli:test".into(),
            action: "updated".into(),
            changes: changes
                .iter()
                .map(|(k, o, n)| ((*k).to_owned(), [o.map(str::to_owned), n.map(str::to_owned)]))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        };
        seal(&draft, ContactId::new(7), &Head::genesis(), Utc::now()).0
    }

    #[test]
    fn a_signal_gives_one_row_per_webhook_that_asks_for_it_with_one_id() {
        let spec = OutboxSpec::new([
            ("crm".to_owned(), vec!["unsubscribed", "opted_out"]),
            ("audit".to_owned(), vec!["unsubscribed"]),
            ("quiet".to_owned(), vec!["erased"]),
        ]);
        let e = entry(&[
            ("list.news", Some("confirmed"), Some("unsubscribed")),
            ("opt_in_status", Some("double_opt_in"), Some("opted_out_contact")),
            ("company", None, Some("Acme")),
        ]);
        let rows = spec.rows_for(std::slice::from_ref(&e)).unwrap();
        let got: Vec<(&str, &str)> = rows.iter().map(|r| (r.webhook.as_str(), r.signal)).collect();
        assert_eq!(got, [("crm", "unsubscribed"), ("audit", "unsubscribed"), ("crm", "opted_out")]);
        assert_eq!(rows[0].event_id, rows[1].event_id, "one idempotency id per signal");
        assert_ne!(rows[0].event_id, rows[2].event_id);
        assert_eq!(rows[0].list.as_deref(), Some("news"));
        assert_eq!((rows[0].contact_id, rows[0].occurred_at), (ContactId::new(7), e.at));
    }

    #[test]
    fn no_webhook_no_rows() {
        let e = entry(&[("list.news", Some("confirmed"), Some("unsubscribed"))]);
        assert!(OutboxSpec::default().rows_for(std::slice::from_ref(&e)).unwrap().is_empty());
        assert!(OutboxSpec::new([("crm".to_owned(), vec![])]).is_empty());
    }
}
