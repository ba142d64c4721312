//! The flow scheduler (DESIGN §13): one [`Scheduler::tick`] turns the due steps of the
//! enrolled contacts into `sends` rows of source `flow`, which the engine sends like any
//! message (claim → re-check under the flow's kind and purpose → render → mark → SMTP).
//!
//! Each batch of due enrolments is claimed, decided ([`plan`], pure) and applied in one
//! transaction ([`crate::store::Store::advance_flows`]): the send, the step's record and
//! the enrolment's move to its next step commit together, so a crash anywhere leaves the
//! step either due or queued, once.
//!
//! For each due enrolment, in order:
//! - its previous message was skipped because the contact is no longer eligible
//!   (unsubscribed, withdrew, restricted, erased, suppressed, ...): it exits the flow with
//!   that reason; nothing more is sent;
//! - the flow file changed since its place was set (content hash): it stays on the step
//!   with the same NAME; if that step is gone, on the step now at the same position, or
//!   the next one it has not been through; none left: completed. Logged (ids only), and
//!   `flows status` counts the enrolments set under another version of the file;
//! - the step's `unless` holds (the previous message was clicked / opened, or the
//!   contact's attribute has the value): the step is recorded skipped. The previous
//!   message is the enrolment's last flow message; before any, for a flow triggered by
//!   `opened` / `clicked` campaign X, the message of X whose open or click enrolled the
//!   contact (the send its trigger key names);
//! - otherwise one message is queued, whose context names the enrolment, flow, step,
//!   step index, the file's hash, the flow's kind and the event properties;
//! - the enrolment moves to its next step (due `after` from now) or is completed.
//!
//! Paused flows (`flows pause`) are not ticked, nor flows whose file is missing or
//! invalid (said once in the log, and by `flows status`).
//!
//! A tick keeps the queue fed, not flooded: while [`AHEAD`] messages of the other sources
//! wait unclaimed, it queues no more steps and waits for the engine to take some, for at
//! most [`PACE_FOR`] in a tick; then it returns with [`Tick::more`] and the daemon ticks
//! again at once. A flow that enrols a million contacts thus never puts a million sends
//! in the queue ahead of every campaign (the engine takes the other sources' messages
//! first), and its batches go in between the engine's commits instead of in one burst
//! that holds SQLite's write lock for seconds (`benches/flows.rs`, `BENCH_FLOW_TRACE=1`).

use super::enrolment::valid_flows;
use super::{Flow, Unless};
use crate::app::App;
use crate::consent::policy::CampaignKind;
use crate::domain::ExclusionReason;
use crate::error::Result;
use crate::store::flows::{Advance, Advanced, DueEnrolment, Next, PlainStep, StepDone, StepOutcome};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Notify;

/// Enrolments claimed per transaction.
const BATCH: i64 = 1000;

/// How many messages of the other sources may wait unclaimed before a tick waits for the
/// engine: about half a second of sending at the benchmark's rate, ten engine batches.
pub const AHEAD: i64 = 5_000;

/// The longest a tick waits for room in the queue before it returns with
/// [`Tick::more`] (so that the daemon's loop comes round: triggers, expiry).
pub const PACE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a waiting tick looks at the queue again.
const PACE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The skip reasons of a flow's message that end the contact's enrolment: every exclusion
/// reason (DESIGN §3) but the two that only skip the one message, a frequency cap and an
/// unengaged contact; the others mean the contact is no longer eligible, and will not be
/// for the next step either.
pub fn exit_reasons() -> Vec<&'static str> {
    ExclusionReason::ALL.iter().filter(|r| ends_enrolment(**r)).map(|r| r.as_str()).collect()
}

fn ends_enrolment(r: ExclusionReason) -> bool {
    !matches!(r, ExclusionReason::FrequencyCap | ExclusionReason::Unengaged)
}

/// The scheduler of one daemon: what it last said about the flow files, so that a broken
/// file is logged when it breaks, not every second.
#[derive(Debug)]
pub struct Scheduler {
    invalid: Vec<String>,
    /// The flow versions (name, content hash) whose lists this scheduler has recorded
    /// ([`Store::record_flow_version`](crate::store::Store::record_flow_version)).
    recorded: HashSet<(String, String)>,
    wake: Option<Arc<Notify>>,
    batch: i64,
    /// `None`: never waits for the engine (a tick with no engine running).
    ahead: Option<i64>,
    pace_for: std::time::Duration,
}

impl Default for Scheduler {
    fn default() -> Scheduler {
        Scheduler {
            invalid: Vec::new(),
            recorded: HashSet::new(),
            wake: None,
            batch: BATCH,
            ahead: Some(AHEAD),
            pace_for: PACE_FOR,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    pub advanced: Advanced,
    /// Enrolments ended because their last message was skipped (no longer eligible).
    pub exited_ineligible: u64,
    /// The tick stopped with steps possibly still due: the queue stayed full for
    /// [`PACE_FOR`]. The daemon ticks again without waiting for the next second.
    pub more: bool,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// This scheduler notifying `engine` ([`crate::send::engine::Engine::waker`]) after
    /// each batch that queued messages: the engine sends them while the tick goes on,
    /// instead of at its next poll.
    pub fn waking(mut self, engine: Arc<Notify>) -> Scheduler {
        self.wake = Some(engine);
        self
    }

    /// This scheduler claiming `batch` enrolments per transaction and letting `ahead`
    /// messages wait in the queue before it waits up to `pace_for` for the engine; with no
    /// `ahead`, never waiting (tests; the benchmark's diagnosis, which ticks with no engine
    /// running).
    pub fn paced(mut self, batch: i64, ahead: Option<i64>, pace_for: std::time::Duration) -> Scheduler {
        self.batch = batch.max(1);
        self.ahead = ahead.map(|a| a.max(1));
        self.pace_for = pace_for;
        self
    }

    /// Whether the queue has room for another batch: fewer than `ahead` messages of the
    /// other sources waiting, now or (polling) before `deadline`.
    async fn room(&self, app: &App, deadline: tokio::time::Instant) -> Result<bool> {
        let Some(ahead) = self.ahead else { return Ok(true) };
        loop {
            if app.store.waiting_messages(ahead).await? < ahead {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(PACE_POLL).await;
        }
    }

    /// Runs `advance` (one transaction of at most a batch, in its turn with the send
    /// engine's writer on SQLite: [`crate::store::WriteTurns`]) until it claims less than a
    /// batch: each time once the queue has room ([`Scheduler::room`]), the engine woken
    /// after it. False (and
    /// [`Tick::more`] set) when the queue stayed full until `deadline`.
    async fn in_batches<F, Fut>(
        &self,
        app: &App,
        deadline: tokio::time::Instant,
        tick: &mut Tick,
        mut advance: F,
    ) -> Result<bool>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Advanced>>,
    {
        loop {
            if !self.room(app, deadline).await? {
                tick.more = true;
                return Ok(false);
            }
            let done = advance().await?;
            self.queued(&done);
            tick.advanced.add(done);
            if done.claimed < self.batch as u64 {
                return Ok(true);
            }
        }
    }

    fn queued(&self, done: &Advanced) {
        if done.queued > 0
            && let Some(wake) = &self.wake
        {
            wake.notify_one();
        }
    }

    /// Turns every due step of the running flows into a queued message (or a skipped
    /// step), batch by batch, until none is due.
    pub async fn tick(&mut self, app: &App) -> Result<Tick> {
        let (valid, invalid) = valid_flows(app)?;
        self.tick_flows(app, &valid, invalid).await
    }

    /// [`Scheduler::tick`] over flow files already read ([`valid_flows`]): the daemon
    /// reads them once a second for the trigger pass and the tick together.
    pub async fn tick_flows(&mut self, app: &App, valid: &[Flow], invalid: Vec<String>) -> Result<Tick> {
        if invalid != self.invalid {
            for line in &invalid {
                tracing::warn!("flow file not ticked (invalid): {line}");
            }
            self.invalid = invalid;
        }
        let paused = app.store.paused_flows().await?;
        let running: HashMap<&str, &Flow> =
            valid.iter().filter(|f| !paused.contains(&f.name)).map(|f| (f.name.as_str(), f)).collect();
        let now = app.clock.now();
        // Before any message of a version is queued, its lists are on record: an
        // unsubscribe from that message leaves them, whatever the file says later.
        for flow in running.values() {
            let version = (flow.name.clone(), flow.content_hash.clone());
            if !self.recorded.contains(&version) {
                app.store.record_flow_version(&flow.name, &flow.content_hash, &flow.lists, now).await?;
                self.recorded.insert(version);
            }
        }
        let mut tick =
            Tick { exited_ineligible: app.store.exit_flows_skipped(&exit_reasons(), now).await?, ..Default::default() };
        // One flow at a time: each flow's due enrolments come oldest first from the index
        // on (flow, due_at), never by sorting every flow's active enrolments per batch.
        let mut names: Vec<String> = running.keys().map(|n| (*n).to_owned()).collect();
        names.sort();
        let exits = exit_reasons();
        let deadline = tokio::time::Instant::now() + self.pace_for;
        let batch = self.batch;
        'flows: for name in names {
            // First the steps with no `unless`, set-based in the database; then whatever
            // needs deciding one by one (an `unless`, a changed file, a previous message
            // skipped), through `plan`.
            let flow = running[name.as_str()];
            for (index, step) in flow.steps.iter().enumerate().filter(|(_, s)| s.unless.is_none()) {
                let context = step_context(flow, index, 0, serde_json::Value::Null);
                let next = next_after(flow, index, now);
                let plain = PlainStep {
                    flow: &flow.name,
                    flow_hash: &flow.content_hash,
                    step_index: index as i32,
                    step_name: &step.name,
                    marketing: flow.kind == CampaignKind::Marketing,
                    context: &context,
                    next: &next,
                    exit_reasons: &exits,
                };
                let step = || app.store.advance_flow_step(&plain, now, batch);
                if !self.in_batches(app, deadline, &mut tick, step).await? {
                    break 'flows;
                }
            }
            let decided = || app.store.advance_flows(&name, now, batch, |due| plan(&running, due, now));
            if !self.in_batches(app, deadline, &mut tick, decided).await? {
                break 'flows;
            }
        }
        if tick.advanced.claimed > 0 || tick.exited_ineligible > 0 {
            let a = tick.advanced;
            tracing::info!(
                claimed = a.claimed,
                queued = a.queued,
                skipped = a.skipped,
                completed = a.completed,
                exited = a.exited + tick.exited_ineligible,
                more = tick.more,
                "flow steps"
            );
        }
        Ok(tick)
    }
}

/// What becomes of each due enrolment (see the module's documentation). Pure.
pub fn plan(flows: &HashMap<&str, &Flow>, due: Vec<DueEnrolment>, now: DateTime<Utc>) -> Vec<Advance> {
    due.into_iter().filter_map(|d| flows.get(d.flow.as_str()).map(|f| decide(f, d, now))).collect()
}

fn decide(flow: &Flow, d: DueEnrolment, now: DateTime<Utc>) -> Advance {
    let mut advance = Advance {
        enrolment_id: d.id,
        contact_id: d.contact_id,
        flow_hash: flow.content_hash.clone(),
        done: Vec::new(),
        next: Next::Completed,
    };
    if let Some(reason) = d.previous.as_ref().filter(|p| p.state == "skipped").and_then(|p| p.reason.as_deref())
        && ExclusionReason::ALL.iter().any(|r| r.as_str() == reason && ends_enrolment(*r))
    {
        advance.next = Next::Exited { reason: reason.to_owned() };
        return advance;
    }
    let Some(index) = current_step(flow, &d) else {
        tracing::info!(enrolment = d.id, flow = %flow.name, "flow file changed: no step left, enrolment completed");
        return advance;
    };
    let step = &flow.steps[index];
    if index as i32 != d.step_index || step.name != d.step_name {
        tracing::info!(
            enrolment = d.id,
            flow = %flow.name,
            from = %d.step_name,
            to = %step.name,
            "flow file changed: enrolment kept on a step that exists"
        );
    }
    let skip = match &step.unless {
        Some(Unless::Clicked) => d.previous.as_ref().is_some_and(|p| p.clicked).then_some("unless_clicked"),
        Some(Unless::Opened) => d.previous.as_ref().is_some_and(|p| p.opened || p.clicked).then_some("unless_opened"),
        Some(Unless::Attribute { attribute, equals }) => {
            (d.attributes.get(attribute) == Some(equals)).then_some("unless_attribute")
        }
        None => None,
    };
    let outcome = match skip {
        Some(reason) => StepOutcome::Skipped { reason: reason.to_owned() },
        None => StepOutcome::Queued { context: step_context(flow, index, d.id, d.properties) },
    };
    advance.done.push(StepDone {
        step_index: index as i32,
        step_name: step.name.clone(),
        marketing: flow.kind == CampaignKind::Marketing,
        outcome,
    });
    advance.next = next_after(flow, index, now);
    advance
}

/// The render context of step `index`'s message for an enrolment (what the engine and the
/// templates read: `{{flow}}`, `{{step}}`, `{{event.*}}`).
pub fn step_context(flow: &Flow, index: usize, enrolment: i64, event: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "enrolment": enrolment,
        "flow": flow.name,
        "step": flow.steps[index].name,
        "step_index": index,
        "flow_hash": flow.content_hash,
        "kind": flow.kind,
        "event": event,
    })
}

/// Where an enrolment goes once through step `index`: the next step, due its `after`
/// from `now`, or completed.
fn next_after(flow: &Flow, index: usize, now: DateTime<Utc>) -> Next {
    match flow.steps.get(index + 1) {
        Some(next) => Next::Step {
            index: index as i32 + 1,
            name: next.name.clone(),
            due_at: now + chrono::Duration::from_std(next.after).unwrap_or(chrono::Duration::zero()),
        },
        None => Next::Completed,
    }
}

/// The step the enrolment is on in the flow as it is now: the step of that name, else
/// the step at the same position, then the first one after it not yet gone through.
fn current_step(flow: &Flow, d: &DueEnrolment) -> Option<usize> {
    let start = flow.steps.iter().position(|s| s.name == d.step_name).unwrap_or(d.step_index.max(0) as usize);
    (start..flow.steps.len()).find(|i| !d.done_steps.contains(&flow.steps[*i].name))
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
