//! The events API's custom events (DESIGN §13, issue 15 point 4): one row per event,
//! committed before the API answers 202, read back in id order by the flow trigger
//! watcher ([`Store::custom_events_after`]). An event names its contact by id, or by
//! nothing when no contact has the address: the address is never stored. Erasure deletes
//! a contact's events (`sql/erasure.rs`). The SQL is in `sql/events.rs`.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::ContactId;
use crate::error::Result;
use crate::flows::requests::CustomEvent;
use chrono::{DateTime, Utc};

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The contact with the event's address; `None` when there is none.
    pub contact_id: Option<ContactId>,
    pub name: String,
    /// A JSON object.
    pub properties: serde_json::Value,
    /// The id of the API key that sent it (never the key).
    pub key_id: String,
}

impl Store {
    /// Records one event, committed when this returns; its id.
    pub async fn record_event(&self, e: &NewEvent, now: DateTime<Utc>) -> Result<i64> {
        dispatch!(self.events::record(e, now))
    }

    /// Up to `limit` events with an id above `after_id`, in id order: the flow trigger
    /// watcher's cursor over the events table.
    pub async fn custom_events_after(&self, after_id: i64, limit: i64) -> Result<Vec<CustomEvent>> {
        dispatch!(self.events::after(after_id, limit))
    }

    /// The contact's events, oldest first (the privacy export).
    pub async fn contact_events(&self, contact_id: ContactId) -> Result<Vec<CustomEvent>> {
        dispatch!(self.events::of_contact(contact_id))
    }
}
