//! The sessions of one relay (`relay.rs`): permits to use a session, the idle sessions, and the
//! senders waiting in line, to whom a session passes, idle or with their commands already written
//! behind the previous message (PIPELINING).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lettre::Address;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use tokio::sync::oneshot;

use super::send_error::{Cause, SendError, Stage};

/// An open session; the guard keeps [`super::relay::SmtpRelay::open_connections`] exact however the session ends.
pub(super) struct Conn {
    pub(super) smtp: AsyncSmtpConnection,
    /// The relay offers PIPELINING (RFC 2920): MAIL, RCPT and DATA go in one write, and the next
    /// transaction's commands may follow a message's final ".".
    pub(super) pipelining: bool,
    _live: LiveGuard,
}

struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Conn {
    /// A session just opened, counted in `live` until it is dropped.
    pub(super) fn new(smtp: AsyncSmtpConnection, live: &Arc<AtomicUsize>) -> Conn {
        live.fetch_add(1, Ordering::SeqCst);
        Conn { smtp, pipelining: false, _live: LiveGuard(Arc::clone(live)) }
    }
}

/// The permits, the idle sessions and the senders waiting for a session.
pub(super) struct Sessions {
    state: Mutex<SessionState>,
}

struct SessionState {
    idle: Vec<Conn>,
    /// Permits no sender holds.
    free: usize,
    waiting: VecDeque<Waiter>,
}

/// A sender waiting for a session, with its envelope so that another sender can pipeline its commands,
/// and its "about to transmit" step, which that sender starts when it passes the session on.
pub(super) struct Waiter {
    pub(super) from: Option<Address>,
    pub(super) to: Address,
    pub(super) eight_bit: bool,
    pub(super) before_data: Arc<BeforeData>,
    tx: oneshot::Sender<Handoff>,
}

type Step = Pin<Box<dyn Future<Output = bool> + Send>>;

/// A sender's `before_data` (see [`super::relay::SmtpRelay::send`]), called once: by the sender itself
/// when its transaction reached DATA, or earlier by the sender whose message its commands followed, the
/// moment that message's reply is in (so that the step runs while the session is being passed on).
pub(super) struct BeforeData(Mutex<Started>);

enum Started {
    No(Box<dyn FnOnce() -> Step + Send>),
    Yes(Step),
    Taken,
}

impl BeforeData {
    pub(super) fn new<F, Fut>(f: F) -> Arc<BeforeData>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Arc::new(BeforeData(Mutex::new(Started::No(Box::new(move || Box::pin(f()))))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Started> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Calls the step now, if nobody has; its result is awaited by [`BeforeData::run`].
    pub(super) fn start(&self) {
        let mut started = self.lock();
        if let Started::No(f) = std::mem::replace(&mut *started, Started::Taken) {
            *started = Started::Yes(f());
        }
    }

    /// The step's result, calling it first if it has not been started.
    pub(super) async fn run(&self) -> bool {
        let step = match std::mem::replace(&mut *self.lock(), Started::Taken) {
            Started::No(f) => f(),
            Started::Yes(step) => step,
            Started::Taken => return false,
        };
        step.await
    }
}

/// What a waiting sender is given: a permit, and a session in one of three states.
struct Handoff {
    permit: Permit,
    session: Given,
}

pub(super) enum Given {
    /// No session: open one.
    None,
    /// An idle session (no transaction).
    Idle(Conn),
    /// A session on which this sender's MAIL, RCPT and DATA went out behind the previous message: their
    /// replies are still to be read.
    Pipelined(Conn),
}

/// The right to use one session, held for one send. Dropped, it passes to the first sender in line, with
/// the session put in it by [`Permit::keep`] (if any), or goes back to the pool.
pub(super) struct Permit {
    sessions: Arc<Sessions>,
    held: bool,
    conn: Option<Conn>,
}

impl Permit {
    /// The session is clean (no transaction open) and goes with this permit when it is released.
    pub(super) fn keep(&mut self, conn: Conn) {
        if !conn.smtp.has_broken() {
            self.conn = Some(conn);
        }
    }

    fn new(sessions: &Arc<Sessions>) -> Permit {
        Permit { sessions: sessions.clone(), held: true, conn: None }
    }

    /// Passes this permit (and nothing else) to `waiter` with `session`. If the waiter has gone, the
    /// session is dropped (closed) and the permit stays here.
    pub(super) fn pass(&mut self, waiter: Waiter, session: Given) {
        if waiter.hand(&self.sessions, session).is_none() {
            self.held = false;
        }
    }
}

impl Waiter {
    /// Gives this waiter a permit of `sessions` with `session`; the session back if it has gone.
    fn hand(self, sessions: &Arc<Sessions>, session: Given) -> Option<Given> {
        let mut back = self.tx.send(Handoff { permit: Permit::new(sessions), session }).err()?;
        back.permit.held = false;
        Some(std::mem::replace(&mut back.session, Given::None))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.held {
            self.sessions.give(self.conn.take());
        }
    }
}

impl Sessions {
    pub(super) fn new(max_connections: usize) -> Arc<Sessions> {
        let state = SessionState { idle: Vec::new(), free: max_connections, waiting: VecDeque::new() };
        Arc::new(Sessions { state: Mutex::new(state) })
    }

    /// A permit for one send: a free one (with an idle session if there is one), or the next one given
    /// back, after waiting in line.
    pub(super) async fn acquire(
        self: &Arc<Self>,
        from: &Option<Address>,
        to: &Address,
        eight_bit: bool,
        before_data: &Arc<BeforeData>,
    ) -> Result<(Permit, Given), SendError> {
        let rx = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                let given = state.idle.pop().map_or(Given::None, Given::Idle);
                return Ok((Permit::new(self), given));
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.push_back(Waiter {
                from: from.clone(),
                to: to.clone(),
                eight_bit,
                before_data: before_data.clone(),
                tx,
            });
            rx
        };
        match rx.await {
            Ok(handoff) => Ok((handoff.permit, handoff.session)),
            Err(_) => Err(SendError::new(Stage::Connect, Cause::Local, None, "relay is shut down", false)),
        }
    }

    /// The idle sessions, taken out of the pool (to close them).
    pub(super) fn take_idle(&self) -> Vec<Conn> {
        std::mem::take(&mut self.lock().idle)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        // The state stays consistent even if a holder panicked: no operation on it can fail half-way.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A permit comes back: to the first sender still waiting (with `conn`), or to the pool.
    fn give(self: &Arc<Self>, mut conn: Option<Conn>) {
        loop {
            let waiter = {
                let mut state = self.lock();
                match state.waiting.pop_front() {
                    Some(w) => w,
                    None => {
                        if let Some(c) = conn {
                            state.idle.push(c);
                        }
                        state.free += 1;
                        return;
                    }
                }
            };
            match waiter.hand(self, conn.take().map_or(Given::None, Given::Idle)) {
                None => return,
                Some(Given::Idle(c)) => conn = Some(c),
                Some(_) => {}
            }
        }
    }

    /// The first sender still waiting, taken out of the line.
    pub(super) fn next_waiter(&self) -> Option<Waiter> {
        let mut state = self.lock();
        while let Some(w) = state.waiting.pop_front() {
            if !w.tx.is_closed() {
                return Some(w);
            }
        }
        None
    }

    /// Puts a waiter back at the head of the line.
    pub(super) fn requeue(&self, waiter: Waiter) {
        self.lock().waiting.push_front(waiter);
    }
}
