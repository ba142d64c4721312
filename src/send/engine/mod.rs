//! The sending engine (DESIGN §4, §10): claims due sends of every source (campaign, test,
//! confirmation, flow: the other sources' first, then the running campaigns in turn; a
//! campaign's re-check is its policy, a test send's none, see `consent::sources`) under
//! a lease, runs one attempt per
//! send on a bounded set of tasks (twice as many as the transport has connections), renews
//! its leases while it works, recovers expired ones, pauses campaigns that trip the guard,
//! and completes the ones that are done. It sends through a [`Transport`] only.
//!
//! - [`Engine::step`]: one batch, start to end (what tests drive), and
//!   [`Engine::step_messages`] over the other sources only (`campaign test`); [`Engine::run`]: the
//!   loop of `campaign send` and the daemon, which claims the next batch while the last
//!   one's attempts are still on the wire, through the same `claim` and `dispatch`.
//! - `attempt.rs`: one send: the re-check ([`Recheck`]), rendering, domain check, throttle,
//!   the transport with the mark before DATA, and the [`Verdict`].
//! - `verdict.rs`: the [`Verdict`] and its row for the store, in one place.
//! - `writer/`: the group-committing writer of claims, marks and rows, and its figures.
//! - `shared.rs`, `contexts.rs`: what attempts share; the campaigns as they need them.
//! - `lease.rs`, `recheck.rs`: leases (claim, heartbeat, recovery); the send-time re-check.
//! - `guard.rs`, `retry.rs`, `metrics.rs`: the campaign guard, the backoff, the counters.
//!
//! (This file is the engine's loop and step, one concept: it reads better whole.)

pub mod attempt;
mod contexts;
pub mod guard;
mod lease;
pub mod metrics;
pub mod recheck;
pub mod retry;
mod shared;
pub mod verdict;
pub mod writer;

use self::contexts::Contexts;
use self::lease::Rotation;
use self::retry::Backoff;
use self::writer::Writer;
use crate::app::App;
use crate::domain::{CampaignId, CampaignState, ContactId, Fault, SendId, SendState};
use crate::error::{Error, Result};
use crate::send::smtp::Transport;
use crate::send::smtp::mailer::Mailer;
use crate::send::throttle::Throttle;
use crate::store::{Claim, Recovered};
pub use attempt::Finished;
pub use metrics::Metrics;
pub use recheck::{CampaignRecheck, Loaded, Recheck};
pub use shared::{CampaignCtx, Deps, Shared};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
pub use verdict::Verdict;

/// How often a running engine checks the campaign guard (and completion).
const GUARD_EVERY: Duration = Duration::from_secs(5);

/// Claims re-checked and rendered per trip to a blocking thread.
const PREPARE_CHUNK: usize = 25;

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// `campaign send`: when nothing is due any more (deferred sends may remain).
    Idle,
    /// `campaign send --wait`: when nothing is open any more, retries included.
    Done,
    /// The daemon: until shut down.
    Shutdown,
}

pub struct Engine<T: Transport = Mailer> {
    shared: Arc<Shared>,
    transport: Arc<T>,
    recheck: Arc<dyn Recheck>,
    contexts: Contexts,
    writer_task: tokio::task::JoinHandle<()>,
}

impl<T: Transport> Engine<T> {
    pub fn new(app: Arc<App>, deps: Deps<T>) -> Engine<T> {
        let cfg = app.config.sending.clone();
        let owner = lease::owner();
        let lease = lease::length(&cfg).to_std().unwrap_or(Duration::from_secs(3));
        let (writer, writer_task) = Writer::spawn(app.store.clone(), owner.clone(), app.clock.clone(), lease);
        let backoff = Backoff {
            base: Duration::from_secs(cfg.retry_base_seconds.max(1)),
            max_delay: Duration::from_secs(cfg.retry_max_seconds.max(1)),
            max_attempts: cfg.max_attempts.max(1),
            max_age: Duration::from_secs(cfg.max_age_hours * 3600),
            ..Backoff::default()
        };
        let shared = Shared {
            app,
            throttle: Arc::new(deps.throttle),
            dns: Arc::new(deps.dns),
            writer,
            cfg,
            backoff,
            metrics: Arc::new(Metrics::default()),
            owner,
            pauses: Mutex::new(Vec::new()),
            tallies: Mutex::new(HashMap::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        Engine {
            shared: Arc::new(shared),
            transport: Arc::new(deps.transport),
            recheck: Arc::new(CampaignRecheck),
            contexts: Contexts::new(),
            writer_task,
        }
    }

    /// This engine with another send-time re-check (the campaigns' one by default).
    pub fn with_recheck(mut self, recheck: Arc<dyn Recheck>) -> Engine<T> {
        self.recheck = recheck;
        self
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// What wakes this engine when it waits for work (`poll_milliseconds` at most): the
    /// daemon's scheduler notifies it once a tick has queued flow steps, so they go out
    /// at once rather than at the next poll. A wake while the engine is busy is kept for
    /// its next wait.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.shared.wake.clone()
    }

    pub fn throttle(&self) -> Arc<Throttle> {
        self.shared.throttle.clone()
    }

    pub fn transport(&self) -> Arc<T> {
        self.transport.clone()
    }

    /// Lease recovery (expired claims re-queued, expired transmissions in doubt).
    pub async fn recover(&self) -> Result<Recovered> {
        lease::recover(&self.shared).await
    }

    /// Works through the queue of `campaign` (every running campaign if `None`) until
    /// `until`, or until `shutdown` turns true. `tick` is called about once a second.
    pub async fn run(
        &self,
        campaign: Option<crate::domain::CampaignId>,
        until: Until,
        mut shutdown: watch::Receiver<bool>,
        tick: &(dyn Fn() + Sync),
    ) -> Result<()> {
        let span = tracing::info_span!("run", campaign_id = campaign.map(CampaignId::get));
        self.run_loop(campaign, until, &mut shutdown, tick).instrument(span).await
    }

    async fn run_loop(
        &self,
        campaign: Option<CampaignId>,
        until: Until,
        shutdown: &mut watch::Receiver<bool>,
        tick: &(dyn Fn() + Sync),
    ) -> Result<()> {
        let shared = &self.shared;
        let store = &shared.app.store;
        let poll = Duration::from_millis(shared.cfg.poll_milliseconds.max(10));
        let concurrency = self.transport.concurrency().max(1);
        // Twice as many attempts as connections: while one attempt uses a session, the next is
        // ready behind it, so that a relay that pipelines gets the next message's commands in the
        // same write as this one's content (see `relay.rs`). Only an attempt holding a session
        // marks its send `transmitting`, so at most one per connection is ever in doubt.
        let slots = Arc::new(Semaphore::new(2 * concurrency));
        let limit = shared.cfg.batch_size.max(1).max(2 * concurrency as i64);
        // A place for every attempt claimed and not finished: a batch is claimed once no
        // more than `concurrency` remain (enough to keep every connection busy meanwhile).
        // Waiting for a whole batch's worth of places wakes this loop once per batch, not
        // once per finished attempt.
        let places = Arc::new(Semaphore::new(2 * concurrency + limit as usize));
        let mut tasks: JoinSet<Finished> = JoinSet::new();
        let heartbeat = lease::heartbeat(self.shared.clone());
        let mut last_tick = tokio::time::Instant::now();
        let mut last_recover = tokio::time::Instant::now();
        let mut rotation = Rotation::default();
        let mut last_guard = tokio::time::Instant::now();
        self.recover().await?;
        let result: Result<()> = async {
            loop {
                if *shutdown.borrow() {
                    return Ok(());
                }
                while tasks.try_join_next().is_some() {}
                if last_tick.elapsed() >= Duration::from_secs(1) {
                    self.apply_pauses().await?;
                    tick();
                    last_tick = tokio::time::Instant::now();
                }
                // The guard counts the campaign's sends: every few seconds, not every
                // batch (a million-send campaign takes a noticeable moment to count).
                if last_guard.elapsed() >= GUARD_EVERY {
                    self.guard(campaign).await?;
                    last_guard = tokio::time::Instant::now();
                }
                // Claim a batch only when the attempts already claimed would not keep
                // every connection busy: few, larger claims keep the claim transactions
                // out of the writer's way (on SQLite they would wait for each other).
                // At least once a second the loop comes round (ticks, guard, shutdown).
                let mut batch_places = tokio::select! {
                    p = places.clone().acquire_many_owned(limit as u32) => p.expect("the places are never closed"),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                };
                // A pause the fault guard asked for lands before the next claim.
                self.apply_pauses().await?;
                let claims = lease::claim(&self.shared, campaign, &mut rotation, limit).await?;
                if claims.is_empty() {
                    drop(batch_places);
                    if !tasks.is_empty() {
                        tasks.join_next().await;
                        continue;
                    }
                    shared.writer.flush().await?;
                    self.apply_pauses().await?;
                    match campaign {
                        // One count serves both the guard and the decision to stop.
                        Some(id) if until != Until::Shutdown => {
                            let Some(record) = store.campaign_by_id(id).await? else { return Ok(()) };
                            let counts = store.campaign_counts(id).await?;
                            let state = match record.state {
                                CampaignState::Running => {
                                    guard::judge(&shared.app, &shared.cfg, &record, &counts).await?
                                }
                                other => other,
                            };
                            let open = counts.open();
                            let only_retries = until == Until::Idle && open == counts.get(SendState::Deferred);
                            if state != CampaignState::Running || open == 0 || only_retries {
                                return Ok(());
                            }
                        }
                        _ => self.guard(campaign).await?,
                    }
                    if last_recover.elapsed() >= lease::length(&self.shared.cfg).to_std().unwrap_or(poll) / 2 {
                        self.recover().await?;
                        last_recover = tokio::time::Instant::now();
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = shutdown.changed() => {}
                        _ = shared.wake.notified() => {}
                    }
                    continue;
                }
                // The verdicts come back from the tasks; the loop needs only their rows, which
                // the attempts have handed to the writer.
                self.dispatch(claims, &slots, &mut batch_places, &mut tasks).await?;
            }
        }
        .await;
        self.drain(&mut tasks).await;
        heartbeat.abort();
        shared.writer.flush().await?;
        store.release(&shared.owner, shared.app.clock.now()).await?;
        self.guard(campaign).await?;
        tick();
        result
    }

    /// One batch, start to end: claims a batch of `campaign` (if `None`: the due messages
    /// of the other sources, else of the first running campaign with sends due), runs each claim through the transport, and waits
    /// until every row is committed. Returns each claim's verdict, by send id (empty when
    /// nothing was due). Leases are renewed while it runs, and the pauses its attempts asked
    /// for are applied before it returns. Lease recovery and the campaign guard are the
    /// caller's ([`Engine::recover`], [`guard::check`]).
    pub async fn step(&self, campaign: Option<CampaignId>) -> Result<Vec<Finished>> {
        let span = tracing::info_span!("step", campaign_id = campaign.map(CampaignId::get));
        self.step_with(
            |shared, limit| async move { lease::claim(shared, campaign, &mut Rotation::default(), limit).await },
        )
        .instrument(span)
        .await
    }

    /// [`Engine::step`] over the due messages of the other sources only (test sends,
    /// confirmations, flow steps): what `campaign test` drives until its send is settled.
    pub async fn step_messages(&self) -> Result<Vec<Finished>> {
        let span = tracing::info_span!("step_messages");
        self.step_with(lease::claim_messages).instrument(span).await
    }

    async fn step_with<'a, F, Fut>(&'a self, claim: F) -> Result<Vec<Finished>>
    where
        F: FnOnce(&'a Shared, i64) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Claim>>>,
    {
        {
            self.apply_pauses().await?;
            let concurrency = self.transport.concurrency().max(1);
            let limit = self.shared.cfg.batch_size.max(1).max(2 * concurrency as i64);
            let claims = claim(&self.shared, limit).await?;
            if claims.is_empty() {
                return Ok(Vec::new());
            }
            let heartbeat = lease::heartbeat(self.shared.clone());
            let slots = Arc::new(Semaphore::new(2 * concurrency));
            let mut places = Arc::new(Semaphore::new(limit as usize))
                .acquire_many_owned(limit as u32)
                .await
                .expect("a new semaphore is not closed");
            let mut tasks = JoinSet::new();
            let dispatched = self.dispatch(claims, &slots, &mut places, &mut tasks).await;
            let mut finished = Vec::new();
            let mut failed = None;
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(f) => finished.push(f),
                    Err(e) => failed = Some(Error::Internal(anyhow::anyhow!("an attempt failed: {e}"))),
                }
            }
            heartbeat.abort();
            finished.extend(dispatched?);
            if let Some(e) = failed {
                return Err(e);
            }
            self.shared.writer.flush().await?;
            self.apply_pauses().await?;
            finished.sort_by_key(|f| f.claim.send_id);
            Ok(finished)
        }
    }

    /// Loads what the claimed batch is decided on and starts one attempt per claim, each
    /// holding one of `places` until it ends.
    async fn dispatch(
        &self,
        mut claims: Vec<Claim>,
        slots: &Arc<Semaphore>,
        places: &mut OwnedSemaphorePermit,
        tasks: &mut JoinSet<Finished>,
    ) -> Result<Vec<Finished>> {
        let mut decided = Vec::new();
        let shared = &self.shared;
        let store = &shared.app.store;
        let ids: Vec<ContactId> = claims.iter().map(|c| c.contact_id).collect();
        let mut contacts: recheck::Contacts =
            store.contacts_for_send(&ids).await?.into_iter().filter_map(|t| Some((t.contact.id?, t))).collect();
        // A campaign's claims share its context; a message of another source has its own, but
        // flow sends of one step with the same event data share one.
        let mut by_context: BTreeMap<(Option<CampaignId>, Option<SendId>), Vec<Claim>> = BTreeMap::new();
        let shared_flow_contexts = Contexts::flow_groups(&mut claims);
        for c in claims {
            let own =
                c.campaign_id.is_none().then(|| shared_flow_contexts.get(&c.send_id).copied().unwrap_or(c.send_id));
            by_context.entry((c.campaign_id, own)).or_default().push(c);
        }
        for ((campaign_id, message), claims) in by_context {
            let Some(campaign_id) = campaign_id else {
                let send_id = message.expect("a claim without a campaign is keyed by its send");
                let ctx = match self.contexts.message(&shared.app, send_id).await {
                    Ok(ctx) => ctx,
                    Err(e) => {
                        // A message that cannot be prepared fails: it is not a campaign's to
                        // pause, and nothing would make it render later.
                        tracing::debug!(send_id = send_id.get(), error = %e, "cannot prepare the message");
                        for claim in claims {
                            let verdict = Verdict::Failed {
                                reason: Some(Fault::Render.reason(&e.to_string())),
                                reply: verdict::Reply::default(),
                            };
                            shared.writer.record(verdict.row(&claim, None))?;
                            decided.push(Finished { claim, verdict });
                        }
                        continue;
                    }
                };
                self.start(ctx, None, claims, &mut contacts, slots, places, tasks).await?;
                continue;
            };
            shared.running_again(campaign_id);
            let ctx = match self.contexts.get(&shared.app, campaign_id).await {
                Ok(ctx) => ctx,
                Err(e) => {
                    // A campaign that cannot render (a template deleted since it started):
                    // pause it with the reason; its claims go back to the queue.
                    shared.pause(campaign_id, format!("cannot prepare the campaign: {e}"));
                    for claim in claims {
                        let verdict = Verdict::Requeued(None);
                        shared.writer.record(verdict.row(&claim, None))?;
                        decided.push(Finished { claim, verdict });
                    }
                    continue;
                }
            };
            self.start(ctx, Some(campaign_id), claims, &mut contacts, slots, places, tasks).await?;
        }
        Ok(decided)
    }

    /// Re-checks and renders one context's claims on a blocking thread, a chunk at a
    /// time, and starts an attempt for each.
    #[allow(clippy::too_many_arguments, reason = "the dispatch's own state, passed down once")]
    async fn start(
        &self,
        ctx: Arc<CampaignCtx>,
        campaign_id: Option<CampaignId>,
        claims: Vec<Claim>,
        contacts: &mut recheck::Contacts,
        slots: &Arc<Semaphore>,
        places: &mut OwnedSemaphorePermit,
        tasks: &mut JoinSet<Finished>,
    ) -> Result<()> {
        let shared = &self.shared;
        let store = &shared.app.store;
        {
            let mut loaded = recheck::load(store, &ctx, claims, contacts, shared.app.clock.now()).await?;
            let unsealed = loaded.iter_mut().filter_map(|(_, l)| l.as_mut().map(|l| &mut l.contact));
            crate::privacy::sensitive::unseal_for_campaign(&shared.app, &ctx.campaign.sensitive_fields, unsealed)
                .await?;
            // The re-check and the rendering run on a blocking thread, a chunk at a time: the
            // tasks that drive the SMTP sessions and the writer are never held up behind them.
            let mut rest = loaded.into_iter();
            loop {
                let chunk: Vec<_> = rest.by_ref().take(PREPARE_CHUNK).collect();
                if chunk.is_empty() {
                    break;
                }
                let for_thread = ctx.clone();
                let recheck = self.recheck.clone();
                let now = shared.app.clock.now();
                let prepared = tokio::task::spawn_blocking(move || {
                    chunk
                        .into_iter()
                        .map(|(claim, loaded)| {
                            let p = attempt::prepare(&for_thread, recheck.as_ref(), &claim, loaded, now);
                            (claim, p)
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .map_err(|e| Error::Internal(anyhow::anyhow!("preparing messages: {e}")))?;
                for (claim, prepared) in prepared {
                    let slots = slots.clone();
                    let shared = self.shared.clone();
                    let transport = self.transport.clone();
                    let ctx = ctx.clone();
                    // (A claim can return more than a batch, queued and due retries together:
                    // the extra attempts hold no place.)
                    let place = places.split(1);
                    // Ids only: never an address or a name.
                    let span = tracing::info_span!(
                        "attempt",
                        campaign_id = campaign_id.map(CampaignId::get),
                        send_id = claim.send_id.get(),
                        contact_id = claim.contact_id.get()
                    );
                    tasks.spawn(
                        async move {
                            let permit = slots.acquire_owned().await.expect("the slots are never closed");
                            let finished = attempt::run(&shared, transport.as_ref(), &ctx, claim, prepared).await;
                            drop((permit, place));
                            finished
                        }
                        .instrument(span),
                    );
                }
            }
        }
        Ok(())
    }

    async fn apply_pauses(&self) -> Result<()> {
        for (id, reason) in self.shared.take_pauses() {
            guard::pause(&self.shared.app, id, &reason).await?;
        }
        Ok(())
    }

    async fn guard(&self, campaign: Option<CampaignId>) -> Result<()> {
        guard::check(&self.shared.app, &self.shared.cfg, campaign).await
    }

    /// Lets in-flight attempts finish, for at most the SMTP timeout and a little more;
    /// what is still running then is abandoned: a claimed row goes back to the queue
    /// (release), a transmitting one ends in recovery as `in_doubt`.
    async fn drain(&self, tasks: &mut JoinSet<Finished>) {
        let limit = Duration::from_secs(self.shared.cfg.timeout_seconds.max(1) + 5);
        if tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!(abandoned = tasks.len(), "shutdown: abandoning attempts that did not finish in time");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Stops the writer and closes the SMTP connections.
    pub async fn close(self) {
        let _ = self.shared.writer.flush().await;
        self.transport.close().await;
        self.writer_task.abort();
    }
}
