//! One pass of the trigger watchers as the daemon runs it, once a second before the
//! scheduler's tick: poll every source ([`super::triggers::poll`], with the custom events
//! the events API recorded since the last pass), apply the enrolments and then the exits
//! ([`super::enrolment`]), and only then commit the cursors. A crash in between re-reads
//! the same batch, which the trigger keys make harmless. A pass goes on while a source
//! had a full batch, up to [`MAX_ROUNDS`] batches, so a burst of 100 000 sign-ups is
//! taken in one pass rather than one batch a second.
//!
//! Custom events are read from the first one recorded: each was accepted with a 202, and
//! an event posted while no daemon ran (the API served by `herald serve`, say) still
//! counts when a daemon starts.

use super::Flow;
use super::enrolment::{self, Enrolled};
use super::triggers;
use crate::app::App;
use crate::error::Result;

/// Most batches one pass takes before it lets the scheduler tick.
pub const MAX_ROUNDS: usize = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub enrolled: Enrolled,
    /// Enrolments ended by an exit request (an `exit_on` event, an unsubscribe, a
    /// withdrawal, a restriction, an erasure).
    pub exited: u64,
}

/// Polls, applies and commits until the sources are drained (or [`MAX_ROUNDS`]), for
/// `flows`, the valid flow files ([`enrolment::valid_flows`]).
pub async fn pass(app: &App, flows: &[Flow]) -> Result<Pass> {
    let mut done = Pass::default();
    for _ in 0..MAX_ROUNDS {
        let after = triggers::events_cursor(app).await?.unwrap_or(0);
        let events = app.store.custom_events_after(after, triggers::BATCH).await?;
        let more_events = events.len() as i64 == triggers::BATCH;
        let polled = triggers::poll(app, flows, &events, app.clock.now()).await?;
        let enrolled = enrolment::enrol(app, flows, &polled.enrol).await?;
        done.exited += enrolment::exit(app, &polled.exit).await?;
        triggers::commit(app, &polled.cursors).await?;
        let e = &mut done.enrolled;
        e.enrolled += enrolled.enrolled;
        e.already += enrolled.already;
        e.unknown_flow += enrolled.unknown_flow;
        e.not_processable += enrolled.not_processable;
        if !(polled.more || more_events) {
            break;
        }
    }
    Ok(done)
}
