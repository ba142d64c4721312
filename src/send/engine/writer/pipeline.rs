//! The send writer on PostgreSQL: group commits pipelined over two connections.
//!
//! A commit there is a WAL flush (milliseconds), and the statement that writes a batch's
//! rows costs about as much again. Run one after the other on one connection, every mark
//! waits for both, and for the commit in flight when it came. Here a batch's transaction
//! is opened as soon as its first requests are in, and its rows are written, statement by
//! statement, as they come, while the batch before it commits on the other connection; its
//! own COMMIT goes out only once that one has been acknowledged. So commits stay in the
//! order of the batches (an outcome handed over before a mark is committed no later than
//! that mark: DESIGN §4, whatever batch each is in), and what a mark waits for is mostly
//! the flush before its own, not a statement as well.

use super::{Gathered, HOLD, MAX_BATCH, Pace, Request, Stats, commit};
use crate::clock::Clock;
use crate::error::Error;
use crate::store::queue::WriteTx;
use crate::store::{Outcome, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the task that committed a batch hands back.
struct Committed {
    ok: bool,
    marks: usize,
    outcomes: usize,
    asked: Vec<Instant>,
    picked: Instant,
    began: Instant,
    answered: Instant,
    /// Answered by [`joined`], after the figures are counted.
    flushes: Vec<tokio::sync::oneshot::Sender<crate::error::Result<()>>>,
}

/// The batch being built: its transaction, and how much of it is written.
struct Open<'a> {
    tx: Option<WriteTx>,
    marks_written: usize,
    outcomes_written: usize,
    granted: Vec<bool>,
    owner: &'a str,
    clock: &'a dyn Clock,
    transmit_lease: Duration,
}

impl Open<'_> {
    /// Writes what came since the last call (in this transaction; nothing is durable yet).
    /// A failed statement drops the transaction: the batch is then committed the slow way.
    async fn write_new(&mut self, g: &Gathered, stats: &mut Stats) {
        let (marks, outcomes) = (&g.marks[self.marks_written..], &g.outcomes[self.outcomes_written..]);
        if marks.is_empty() && outcomes.is_empty() {
            return;
        }
        let Some(tx) = self.tx.as_mut() else { return };
        let now = self.clock.now();
        let lease = now + chrono::Duration::from_std(self.transmit_lease).unwrap_or(chrono::Duration::minutes(5));
        let started = Instant::now();
        let written = tx.write(self.owner, marks, lease, outcomes, now).await;
        stats.statements += 1;
        stats.statement_time += started.elapsed();
        match written {
            Ok(granted) => {
                self.granted.extend(granted);
                self.marks_written = g.marks.len();
                self.outcomes_written = g.outcomes.len();
            }
            Err(e) => {
                tracing::warn!(error = %e, "send writer: a statement failed; the batch is retried on its own");
                self.tx = None;
            }
        }
    }
}

/// The writer's loop on PostgreSQL (see the module's comment). `pool` runs the claims and
/// the batches that have to be retried; `conns` are two connections of their own.
pub(super) async fn run(
    pool: Store,
    conns: [Store; 2],
    owner: String,
    clock: Arc<dyn Clock>,
    transmit_lease: Duration,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut held: Vec<Outcome> = Vec::new();
    let mut stats = Stats::default();
    let mut pace = Pace::default();
    let mut inflight: Option<tokio::task::JoinHandle<Committed>> = None;
    let mut turn = 0;
    let mut retry_conn = pool.hold();
    loop {
        let timed_out = if held.is_empty() {
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                break;
            }
            false
        } else {
            match tokio::time::timeout(HOLD, rx.recv_many(&mut batch, MAX_BATCH)).await {
                Ok(0) => true,
                Ok(_) => false,
                Err(_) => true,
            }
        };
        let mut g = Gathered { outcomes: std::mem::take(&mut held), ..Gathered::default() };
        for request in batch.drain(..) {
            g.take(request, Some(&pool), &owner);
        }
        let picked = Instant::now();
        if g.marks.is_empty() && g.flushes.is_empty() && !timed_out && g.outcomes.len() < MAX_BATCH {
            held = g.outcomes;
            continue;
        }
        let tx = match conns[turn].begin_writes().await {
            Some(Ok(tx)) => Some(tx),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "send writer: cannot begin a transaction; the batch is retried on its own");
                None
            }
            None => None,
        };
        turn = 1 - turn;
        let mut open = Open {
            tx,
            marks_written: 0,
            outcomes_written: 0,
            granted: Vec::new(),
            owner: &owner,
            clock: clock.as_ref(),
            transmit_lease,
        };
        open.write_new(&g, &mut stats).await;

        // While the batch before commits: write what comes.
        let waiting = Instant::now();
        let mut before_ok = true;
        let mut ended = false;
        while let Some(before) = inflight.as_mut() {
            tokio::select! {
                biased;
                done = before => {
                    inflight = None;
                    before_ok = joined(done, &mut stats, &mut pace, false);
                }
                n = rx.recv_many(&mut batch, MAX_BATCH), if !ended => {
                    ended = n == 0;
                    for request in batch.drain(..) {
                        g.take(request, Some(&pool), &owner);
                    }
                    open.write_new(&g, &mut stats).await;
                }
            }
        }
        stats.prev_wait += waiting.elapsed();
        if before_ok && !g.marks.is_empty() && gather_enabled() {
            gather(&mut rx, &mut batch, &mut g, &mut open, &mut pace, &pool, &mut stats).await;
        }
        open.write_new(&g, &mut stats).await;

        let Gathered { marks, mark_replies, asked, outcomes, flushes, claims: _ } = g;
        if !before_ok {
            // The batch before did not commit: its outcomes may be lost, so no mark of this
            // batch may be granted (its session's last outcome may be among them). Nothing
            // is sent for a refused mark; this batch's outcomes are still worth keeping.
            drop(open.tx.take());
            for reply in mark_replies {
                let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("the commit before this mark's failed"))));
            }
            let kept = commit(&mut retry_conn, &owner, clock.as_ref(), transmit_lease, &[], &outcomes).await;
            for reply in flushes {
                let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("a commit failed"))));
            }
            if let Err(e) = kept {
                tracing::error!(error = %e, outcomes = outcomes.len(), "send writer: commit failed");
            }
            continue;
        }
        let began = Instant::now();
        let (tx, granted) = match open.tx.take() {
            Some(tx) => (Some(tx), open.granted),
            None => {
                // The transaction failed: the whole batch again, on its own (the batch
                // before is committed: nothing is out of order).
                match commit(&mut retry_conn, &owner, clock.as_ref(), transmit_lease, &marks, &outcomes).await {
                    Ok(granted) => (None, granted),
                    Err(e) => {
                        tracing::error!(error = %e, marks = marks.len(), outcomes = outcomes.len(), "send writer: commit failed");
                        for reply in mark_replies {
                            let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("commit failed: {e}"))));
                        }
                        for reply in flushes {
                            let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("commit failed: {e}"))));
                        }
                        continue;
                    }
                }
            }
        };
        let (n_marks, n_outcomes) = (marks.len(), outcomes.len());
        let has_flushes = !flushes.is_empty();
        inflight = Some(tokio::spawn(async move {
            let committed = match tx {
                Some(tx) => tx.commit().await,
                None => Ok(()),
            };
            let answered = Instant::now();
            let ok = committed.is_ok();
            match committed {
                Ok(()) => {
                    for (reply, ok) in mark_replies.into_iter().zip(granted) {
                        let _ = reply.send(Ok(ok));
                    }
                }
                Err(e) => {
                    // Whether it committed is unknown: refuse the marks (nothing is sent);
                    // the rows' leases expire into recovery.
                    tracing::error!(error = %e, marks = n_marks, outcomes = n_outcomes, "send writer: commit failed");
                    for reply in mark_replies {
                        let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("commit failed: {e}"))));
                    }
                }
            }
            Committed { ok, marks: n_marks, outcomes: n_outcomes, asked, picked, began, answered, flushes }
        }));
        if has_flushes {
            // Answered here, after the figures are logged: the engine stops this task once its
            // last flush is answered.
            let done = inflight.take().expect("just spawned").await;
            joined(done, &mut stats, &mut pace, true);
        }
    }
    if let Some(before) = inflight {
        joined(before.await, &mut stats, &mut pace, false);
    }
    stats.log();
}

/// The end of a batch's commit: its figures, its flushes answered, and whether it
/// committed (`log`: the figures so far logged first).
fn joined(
    done: std::result::Result<Committed, tokio::task::JoinError>,
    stats: &mut Stats,
    pace: &mut Pace,
    log: bool,
) -> bool {
    match done {
        Ok(c) => {
            let took = c.answered.saturating_duration_since(c.began);
            stats.add(c.marks, c.outcomes, took);
            stats.commit_only += took;
            stats.marks_answered(&c.asked, c.picked, c.began, c.answered);
            if c.marks > 0 {
                pace.last_commit = took;
            }
            if log {
                stats.log();
            }
            for reply in c.flushes {
                let _ = reply.send(if c.ok { Ok(()) } else { Err(Error::Internal(anyhow::anyhow!("a commit failed"))) });
            }
            c.ok
        }
        Err(e) => {
            tracing::error!(error = %e, "send writer: the commit task failed");
            false
        }
    }
}

// TEMPORARY (measurement): HERALD_WRITER_GATHER=0 turns the gather off.
fn gather_enabled() -> bool {
    std::env::var("HERALD_WRITER_GATHER").map(|v| v != "0").unwrap_or(true)
}

/// [`super::gather`], writing what comes as it comes.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Request>,
    batch: &mut Vec<Request>,
    g: &mut Gathered,
    open: &mut Open<'_>,
    pace: &mut Pace,
    pool: &Store,
    stats: &mut Stats,
) {
    pace.gathers += 1;
    let ceiling = match pace.ceiling {
        Some(c) if !pace.gathers.is_multiple_of(16) => c,
        _ => usize::MAX,
    };
    let window = (pace.last_commit / 2).min(HOLD);
    let gap = (pace.last_commit / 16).min(Duration::from_micros(250));
    let deadline = tokio::time::Instant::now() + window;
    while g.marks.len() < ceiling {
        let until = deadline.min(tokio::time::Instant::now() + gap);
        match tokio::time::timeout_at(until, rx.recv_many(batch, MAX_BATCH)).await {
            Ok(n) if n > 0 => {
                for request in batch.drain(..) {
                    g.take(request, Some(pool), open.owner);
                }
                open.write_new(g, stats).await;
            }
            Ok(_) => return,
            Err(_) => {
                if tokio::time::Instant::now() < deadline {
                    pace.ceiling = Some(g.marks.len());
                }
                return;
            }
        }
    }
}
