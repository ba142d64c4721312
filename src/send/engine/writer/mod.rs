//! The group-committing writer (DESIGN §4): every "about to transmit" mark and every
//! outcome goes through one task that commits whatever has gathered in one transaction,
//! so durability costs one commit per batch, not one per message.
//!
//! A mark is answered only after its commit: the worker sends DATA only once the row is
//! durably `transmitting`. Outcomes are acknowledged by [`Writer::flush`], which the
//! engine calls before it reports or exits.

mod stats;

use self::stats::Stats;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{Claim, HeldConn, Mark, Outcome, Store, direct};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Requests gathered into one commit at most.
const MAX_BATCH: usize = 512;

/// How long outcomes that came alone wait for a mark to be committed with. An attempt hands
/// its outcome over just before the next message on its session asks for its mark: committed
/// at once, the outcome would take a commit of its own, and that mark would wait for it. Held,
/// it goes with that mark (or, as before, with any mark that comes first), and nothing is
/// weakened: an outcome is still committed no later than the next mark of its session.
const HOLD: Duration = Duration::from_millis(2);

enum Request {
    /// A mark, its reply, and when it was asked for (for the writer's stats).
    Mark(Mark, oneshot::Sender<Result<bool>>, std::time::Instant),
    Claim(ClaimRequest, oneshot::Sender<Result<Vec<Claim>>>),
    Outcome(Box<Outcome>),
    Flush(oneshot::Sender<Result<()>>),
}

struct ClaimRequest {
    /// The campaign, or `None`: the due messages of the other sources.
    campaign: Option<crate::domain::CampaignId>,
    limit: i64,
    lease_until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
}

/// Handle to the writer task; cheap to clone.
///
/// The queue is unbounded so that an outcome can be handed over without waiting (see
/// [`Writer::record`]); what is in it is bounded by the attempts in flight, each of which
/// hands over at most one mark and one outcome.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Request>,
}

impl Writer {
    /// Starts the writer for lease owner `owner`. A granted mark holds the row for
    /// `transmit_lease`; the engine's heartbeat renews it while the reply is awaited.
    pub fn spawn(
        store: Store,
        owner: String,
        clock: Arc<dyn Clock>,
        transmit_lease: Duration,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, owner, clock, transmit_lease, rx));
        (Writer { tx }, task)
    }

    /// Durably marks the send `transmitting`; false when the mark is refused (lease lost,
    /// campaign no longer running, or the contact's record changed since the check).
    pub async fn mark(&self, mark: Mark) -> Result<bool> {
        self.mark_now(mark).await
    }

    /// [`Writer::mark`], with the mark in the queue as soon as this is called (not when the
    /// future is first polled): whatever is handed over after this call is committed with it
    /// or later.
    pub fn mark_now(&self, mark: Mark) -> impl std::future::Future<Output = Result<bool>> + Send + use<> {
        let (tx, rx) = oneshot::channel();
        let sent = self.tx.send(Request::Mark(mark, tx, std::time::Instant::now())).map_err(|_| closed());
        async move {
            sent?;
            rx.await.map_err(|_| closed())?
        }
    }

    /// Claims a batch of `campaign` (see [`Store::claim`]). Claims go through the writer
    /// too, so that this process's writes never wait for each other's locks (on SQLite
    /// a second writer would sleep in the busy handler).
    pub async fn claim(
        &self,
        campaign: crate::domain::CampaignId,
        limit: i64,
        lease_until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Claim>> {
        let (tx, rx) = oneshot::channel();
        let request = ClaimRequest { campaign: Some(campaign), limit, lease_until, now };
        self.tx.send(Request::Claim(request, tx)).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Claims due messages of the other sources (see [`Store::claim_messages`]), through the
    /// writer for the same reason as [`Writer::claim`]: on SQLite a flow step's claims would
    /// otherwise wait in the busy handler behind this writer's commits, and its commits
    /// behind them.
    pub async fn claim_messages(
        &self,
        limit: i64,
        lease_until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Claim>> {
        let (tx, rx) = oneshot::channel();
        let request = ClaimRequest { campaign: None, limit, lease_until, now };
        self.tx.send(Request::Claim(request, tx)).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Records an outcome with the next commit. It goes in the queue at once: anything handed
    /// over after it (such as the mark of the next message on the same session) is committed
    /// with it or later, never before.
    pub fn record(&self, outcome: Outcome) -> Result<()> {
        self.tx.send(Request::Outcome(Box::new(outcome))).map_err(|_| closed())
    }

    /// Waits until everything sent before is committed.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Flush(tx)).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

fn closed() -> Error {
    Error::Internal(anyhow::anyhow!("the send writer has stopped"))
}

async fn run(
    store: Store,
    owner: String,
    clock: Arc<dyn Clock>,
    transmit_lease: Duration,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    // On PostgreSQL a claim and a commit lock different rows (queued ones, this owner's
    // claimed ones) and the server runs them side by side: a claim (hundreds of rows, a
    // commit of its own) runs on another connection of the pool instead of holding up the
    // marks behind it. SQLite has one writer at a time: there claims stay in this task.
    let claims_aside = (store.backend_name() == "postgres").then(|| store.clone());
    let store = match store.dedicated().await {
        Ok(own) => own,
        Err(e) => {
            tracing::warn!(error = %e, "send writer: no connection of its own; sharing the pool");
            store
        }
    };
    // On SQLite, the common commit runs here, without sqlx's thread (see `store/direct.rs`).
    let mut direct = match store.direct_sqlite() {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "send writer: no direct SQLite connection; committing through the pool");
            None
        }
        None => None,
    };
    let turns = store.write_turns();
    let mut store = store.hold();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Outcomes that came without a mark, held back for the next mark (see `HOLD`).
    let mut held: Vec<Outcome> = Vec::new();
    let mut stats = Stats::default();
    let mut pace = Pace::default();
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
            g.take(request, claims_aside.as_ref(), &owner);
        }
        let picked = std::time::Instant::now();
        if g.marks.is_empty()
            && g.flushes.is_empty()
            && g.claims.is_empty()
            && !timed_out
            && g.outcomes.len() < MAX_BATCH
        {
            held = g.outcomes;
            continue;
        }
        if claims_aside.is_some() && !g.marks.is_empty() {
            gather(&mut rx, &mut batch, &mut g, &mut pace, claims_aside.as_ref(), &owner).await;
        }
        let Gathered { marks, mark_replies, asked, outcomes, flushes, claims } = g;
        // A bounce is recorded with its outcome by the store's path (`insert_bounce`).
        let plain = outcomes.iter().all(|o| o.bounce.is_none());
        // The commit's own time (the figures) starts once it has its turn.
        let turn = turns.take().await;
        let started = std::time::Instant::now();
        let result = match direct.as_mut().filter(|_| plain) {
            Some(d) => direct::patiently(|| d.write_batch(&owner, &marks, &outcomes, clock.now())).await,
            None => commit(&mut store, &owner, clock.as_ref(), transmit_lease, &marks, &outcomes).await,
        };
        drop(turn);
        let took = started.elapsed();
        stats.add(marks.len(), outcomes.len(), took);
        stats.marks_answered(&asked, picked, started, std::time::Instant::now());
        if !marks.is_empty() {
            pace.last_commit = took;
        }
        match result {
            Ok(granted) => {
                for (reply, ok) in mark_replies.into_iter().zip(granted) {
                    let _ = reply.send(Ok(ok));
                }
                if !flushes.is_empty() {
                    // The engine stops this task once its last flush is answered.
                    stats.log();
                }
                for reply in flushes {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                // Nothing of this batch was committed: refuse the marks (nothing is sent),
                // and let the rows' leases expire into recovery.
                tracing::error!(error = %e, marks = marks.len(), outcomes = outcomes.len(), "send writer: commit failed");
                for reply in mark_replies {
                    let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("commit failed: {e}"))));
                }
                for reply in flushes {
                    let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("commit failed: {e}"))));
                }
            }
        }
        // After the commit: the marks waiting in it were the urgent part.
        let _turn = if claims.is_empty() { None } else { turns.take().await };
        for (c, reply) in claims {
            let claimed = match (direct.as_mut(), c.campaign) {
                (Some(d), Some(id)) => direct::patiently(|| d.claim(&owner, id, c.limit, c.lease_until, c.now)).await,
                (Some(d), None) => direct::patiently(|| d.claim_messages(&owner, c.limit, c.lease_until, c.now)).await,
                (None, Some(id)) => store.claim(&owner, id, c.limit, c.lease_until, c.now).await,
                (None, None) => store.claim_messages(&owner, c.limit, c.lease_until, c.now).await,
            };
            let _ = reply.send(claimed);
        }
    }
    stats.log();
}

/// The requests of one commit.
#[derive(Default)]
struct Gathered {
    marks: Vec<Mark>,
    mark_replies: Vec<oneshot::Sender<Result<bool>>>,
    /// When each mark was asked for.
    asked: Vec<std::time::Instant>,
    outcomes: Vec<Outcome>,
    flushes: Vec<oneshot::Sender<Result<()>>>,
    claims: Vec<(ClaimRequest, oneshot::Sender<Result<Vec<Claim>>>)>,
}

impl Gathered {
    fn take(&mut self, request: Request, claims_aside: Option<&Store>, owner: &str) {
        match request {
            Request::Claim(c, reply) => match claims_aside {
                Some(pool) => claim_aside(pool, owner, c, reply),
                None => self.claims.push((c, reply)),
            },
            Request::Mark(m, reply, asked) => {
                self.marks.push(m);
                self.mark_replies.push(reply);
                self.asked.push(asked);
            }
            Request::Outcome(o) => self.outcomes.push(*o),
            Request::Flush(reply) => self.flushes.push(reply),
        }
    }
}

/// PostgreSQL: before a commit, waits a little for the marks that are about to come.
///
/// A commit there costs a WAL flush (milliseconds on a disk that honours it), and every
/// session waits for one before each message. The sessions the last commit answered each
/// send their message and ask for their next mark within a fraction of a millisecond: a
/// commit that took only the first of them would leave the others a whole commit to wait.
/// So the commit waits while marks keep coming, each within `gap` of the one before, for at
/// most half the last commit's time (and never more than `HOLD`); and not at all once as
/// many marks are in as a commit carried when they last stopped coming (all the sessions,
/// as far as the writer can tell; every 16th commit looks past it, in case there are more
/// now). Only a wait: nothing is committed in another order.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Request>,
    batch: &mut Vec<Request>,
    g: &mut Gathered,
    pace: &mut Pace,
    claims_aside: Option<&Store>,
    owner: &str,
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
                    g.take(request, claims_aside, owner);
                }
            }
            Ok(_) => return,
            Err(_) => {
                if tokio::time::Instant::now() < deadline {
                    // They stopped coming: this is what the sessions ask for at once.
                    pace.ceiling = Some(g.marks.len());
                }
                return;
            }
        }
    }
}

/// What [`gather`] goes by.
#[derive(Default)]
struct Pace {
    /// How many marks came before they stopped coming, the last time they did.
    ceiling: Option<usize>,
    /// How long the last commit with marks took.
    last_commit: Duration,
    gathers: u64,
}

/// A claim on a connection of the pool, beside the writer's commits (PostgreSQL).
fn claim_aside(pool: &Store, owner: &str, c: ClaimRequest, reply: oneshot::Sender<Result<Vec<Claim>>>) {
    let (pool, owner) = (pool.clone(), owner.to_owned());
    tokio::spawn(async move {
        let mut conn = pool.hold();
        let claimed = match c.campaign {
            Some(id) => conn.claim(&owner, id, c.limit, c.lease_until, c.now).await,
            None => conn.claim_messages(&owner, c.limit, c.lease_until, c.now).await,
        };
        let _ = reply.send(claimed);
    });
}

/// One transaction, retried a few times on a transient database error.
async fn commit(
    store: &mut HeldConn,
    owner: &str,
    clock: &dyn Clock,
    transmit_lease: Duration,
    marks: &[Mark],
    outcomes: &[Outcome],
) -> Result<Vec<bool>> {
    if marks.is_empty() && outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let mut attempt: u32 = 0;
    loop {
        let now = clock.now();
        let lease = now + chrono::Duration::from_std(transmit_lease).unwrap_or(chrono::Duration::minutes(5));
        match store.write_batch(owner, marks, lease, outcomes, now).await {
            Ok(granted) => return Ok(granted),
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "send writer: retrying commit");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    }
}
