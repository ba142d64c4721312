//! Flow enrolments (DESIGN §13): each contact's place in a flow (`flow_enrolments`), the
//! steps it went through (`flow_steps`), and flows paused by hand (`flow_states`). The
//! SQL is in `sql/flows.rs`.
//!
//! The scheduler's one write, [`Store::advance_flows`], claims the due enrolments and
//! applies what its plan decided for each (a `sends` row of source `flow` queued, or the
//! step skipped, and the enrolment moved on) in ONE transaction, with a row per
//! (enrolment, step name) that cannot be written twice: a crash before the commit leaves
//! every step due, a crash after it leaves every step queued once.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::{ContactId, SendId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// A contact to put into a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEnrolment {
    pub flow: String,
    pub contact_id: ContactId,
    pub trigger_key: String,
    /// `""` for a flow a contact enters once; the trigger key for `reenter = true`.
    pub entry_key: String,
    pub properties: serde_json::Value,
    pub step_index: i32,
    pub step_name: String,
    pub flow_hash: String,
    pub due_at: DateTime<Utc>,
}

/// The message an enrolment's previous step queued, as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousSend {
    pub id: SendId,
    pub state: String,
    pub reason: Option<String>,
    pub opened: bool,
    pub clicked: bool,
}

/// An active enrolment whose step is due, claimed by [`Store::advance_flows`].
#[derive(Debug, Clone, PartialEq)]
pub struct DueEnrolment {
    pub id: i64,
    pub flow: String,
    pub contact_id: ContactId,
    pub step_index: i32,
    pub step_name: String,
    pub flow_hash: String,
    pub properties: serde_json::Value,
    pub due_at: DateTime<Utc>,
    /// The contact's custom attributes (`unless = { attribute, equals }`).
    pub attributes: BTreeMap<String, String>,
    pub previous: Option<PreviousSend>,
    /// The names of the steps this enrolment already went through (sent or skipped).
    pub done_steps: Vec<String>,
}

/// What became of one step of an enrolment.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// A `sends` row of source `flow` with this render context.
    Queued { context: serde_json::Value },
    /// Not sent, for this reason (`unless_clicked`, ...).
    Skipped { reason: String },
}

/// One step done by an enrolment.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDone {
    pub step_index: i32,
    pub step_name: String,
    /// Counts towards the frequency cap (a marketing flow's message).
    pub marketing: bool,
    pub outcome: StepOutcome,
}

/// Where an enrolment goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Step { index: i32, name: String, due_at: DateTime<Utc> },
    Completed,
    Exited { reason: String },
}

/// A step the scheduler can take for a whole batch in the database
/// ([`Store::advance_flow_step`]): one with no `unless`, for the enrolments on it under the
/// flow file as it is now (same hash, same step index and name), not yet through it. For
/// each, what [`Store::advance_flows`] with the scheduler's plan would write: one `sends`
/// row whose context is `context` with the enrolment's id (`enrolment`) and its event
/// properties (`event`) set, the step's row, and the move to `next`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainStep<'a> {
    pub flow: &'a str,
    pub flow_hash: &'a str,
    pub step_index: i32,
    pub step_name: &'a str,
    pub marketing: bool,
    pub context: &'a serde_json::Value,
    pub next: &'a Next,
    /// The skip reasons of a previous message that end the enrolment instead: an enrolment
    /// whose last message was skipped for one of them is left to [`Store::advance_flows`].
    pub exit_reasons: &'a [&'a str],
}

/// What the scheduler decided for one claimed enrolment.
#[derive(Debug, Clone, PartialEq)]
pub struct Advance {
    pub enrolment_id: i64,
    pub contact_id: ContactId,
    /// The flow file's hash the enrolment's place is now set under.
    pub flow_hash: String,
    pub done: Vec<StepDone>,
    pub next: Next,
}

/// What one [`Store::advance_flows`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advanced {
    pub claimed: u64,
    pub queued: u64,
    pub skipped: u64,
    pub completed: u64,
    pub exited: u64,
}

impl Advanced {
    /// Adds another batch's counts to these.
    pub fn add(&mut self, other: Advanced) {
        self.claimed += other.claimed;
        self.queued += other.queued;
        self.skipped += other.skipped;
        self.completed += other.completed;
        self.exited += other.exited;
    }
}

/// One group of `flows status`: the enrolments of a flow in one state, on one step,
/// under one file hash.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolmentGroup {
    pub flow: String,
    pub state: String,
    pub step_name: String,
    pub flow_hash: String,
    pub count: i64,
    pub due: i64,
    pub last_change: Option<DateTime<Utc>>,
}

impl Store {
    /// Inserts the enrolments not already there (a duplicate entry key, or an entry
    /// still active in the flow, is ignored); returns how many were inserted. Multi-row.
    pub async fn enrol(&self, rows: &[NewEnrolment], now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.flows::enrol(rows, now))
    }

    /// Of `ids`, the contacts that exist and whose processing is `active` (not erased,
    /// restricted or awaiting erasure).
    pub async fn processable_contacts(&self, ids: &[ContactId]) -> Result<HashSet<ContactId>> {
        dispatch!(self.flows::processable_contacts(ids))
    }

    /// Ends the contact's active enrolments (in `flow`, or in every flow), with `reason`.
    pub async fn exit_flows(
        &self,
        contact_id: ContactId,
        flow: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        dispatch!(self.flows::exit(contact_id, flow, reason, now))
    }

    /// Ends the active enrolments whose last message was skipped for one of `reasons`
    /// (the contact is no longer eligible: DESIGN §13), each with that reason.
    pub async fn exit_flows_skipped(&self, reasons: &[&str], now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.flows::exit_skipped(reasons, now))
    }

    /// Claims at most `limit` active enrolments of `flow` due at `now` (oldest first), hands them to
    /// `plan`, and applies its decisions (sends queued, steps recorded, enrolments moved
    /// on) in the same transaction. Rows locked by another daemon are skipped
    /// (PostgreSQL); SQLite has one writer at a time.
    pub async fn advance_flows<F>(&self, flow: &str, now: DateTime<Utc>, limit: i64, plan: F) -> Result<Advanced>
    where
        F: FnOnce(Vec<DueEnrolment>) -> Vec<Advance>,
    {
        let _turn = self.turns.take().await;
        dispatch!(self.flows::advance(flow, now, limit, plan))
    }

    /// Takes `step` for at most `limit` of its due enrolments (oldest first) in one
    /// transaction, set-based (see [`PlainStep`]): the same rows as [`Store::advance_flows`]
    /// with the scheduler's plan, without reading each enrolment out and writing it back.
    pub async fn advance_flow_step(&self, step: &PlainStep<'_>, now: DateTime<Utc>, limit: i64) -> Result<Advanced> {
        let _turn = self.turns.take().await;
        dispatch!(self.flow_plain::advance_step(step, now, limit))
    }

    /// Marks `flow` paused (`true`) or running.
    pub async fn set_flow_paused(&self, flow: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
        dispatch!(self.flows::set_paused(flow, paused, now))
    }

    /// Remembers the lists of `flow` as its file of `content_hash` names them (once per
    /// version): what an unsubscribe from a message queued under that version leaves.
    pub async fn record_flow_version(
        &self,
        flow: &str,
        content_hash: &str,
        lists: &[crate::domain::ListName],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let lists = serde_json::to_string(&lists.iter().map(|l| l.as_str()).collect::<Vec<_>>())
            .map_err(|e| crate::error::Error::Internal(e.into()))?;
        dispatch!(self.flows::record_version(flow, content_hash, &lists, now))
    }

    /// The lists the contact's last message of the flow step `step_campaign` (`FLOW.STEP`)
    /// was sent for, as the flow's file named them when the message was queued; `None`
    /// when there is no such message or its version was not recorded (queued before
    /// migration 0022).
    pub async fn flow_message_lists(
        &self,
        contact_id: ContactId,
        step_campaign: &str,
    ) -> Result<Option<Vec<crate::domain::ListName>>> {
        let Some(json) = dispatch!(self.flows::message_lists(contact_id, step_campaign))? else { return Ok(None) };
        let names: Vec<String> = serde_json::from_str(&json).map_err(|e| super::corrupt("flow version lists", e))?;
        let lists = names.iter().map(|n| crate::domain::ListName::parse(n)).collect::<std::result::Result<_, _>>();
        Ok(Some(lists.map_err(|e| super::corrupt("flow version list", e))?))
    }

    /// The flows paused with `flows pause`.
    pub async fn paused_flows(&self) -> Result<HashSet<String>> {
        dispatch!(self.flows::paused())
    }

    /// How many messages of every flow are in each send state (`queued`, `sent`, ...).
    pub async fn flow_send_states(&self) -> Result<BTreeMap<String, i64>> {
        dispatch!(self.flows::send_states())
    }

    /// The enrolments grouped by flow, state, step and file hash (`flows status`).
    pub async fn enrolment_groups(&self, now: DateTime<Utc>) -> Result<Vec<EnrolmentGroup>> {
        dispatch!(self.flows::groups(now))
    }
}
