//! What moves contacts into and out of flows, as plain values: the trigger watchers
//! (`flows::triggers`) turn the ledger, engagement, inactivity and custom events into
//! [`EnrolRequest`]s and [`ExitRequest`]s; enrolment (`flows::enrolment`) applies them.
//! Both sides are idempotent by key, so several daemons may watch the same sources.

use crate::domain::ContactId;
use chrono::{DateTime, Utc};

/// Put `contact_id` into the flow `flow` (its first step becomes due `steps[0].after`
/// after `at`). `trigger_key` names what caused it (e.g. `ledger:42:7`, `event:913`,
/// `open:55`, `inactive:2026-12-06`): a flow never enrols one contact twice for the same
/// key, and never twice at all unless the flow says `reenter = true`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolRequest {
    pub flow: String,
    pub contact_id: ContactId,
    pub trigger_key: String,
    /// The triggering event's properties (`{{event.items}}` in templates); `{}` if none.
    pub properties: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Take `contact_id` out of the flow `flow`, or out of every flow when `flow` is `None`
/// (an unsubscribe, a withdrawal, a restriction, an erasure). `reason` is a short word
/// stored on the enrolment (`purchased`, `unsubscribed`, `purpose_withdrawn`,
/// `restricted`, `erased`, `opted_out`, `suppressed`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ExitRequest {
    pub contact_id: ContactId,
    pub flow: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A custom event as the events API recorded it (`POST /api/events`): `contact_id` is
/// `None` when no contact has the address (the event is kept and ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEvent {
    pub id: i64,
    pub contact_id: Option<ContactId>,
    pub name: String,
    pub properties: serde_json::Value,
    pub at: DateTime<Utc>,
}
