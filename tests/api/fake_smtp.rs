#![allow(dead_code)] // a test fixture: each test uses the part it needs
//! A programmable, fault-injecting SMTP server for tests.
//!
//! [`FakeSmtp::start`] listens on `127.0.0.1` at a port the OS picks (read it back with [`FakeSmtp::port`])
//! and speaks enough ESMTP for lettre: EHLO/HELO, optional AUTH PLAIN, MAIL, RCPT, DATA (dot-unstuffed),
//! RSET, NOOP, QUIT, and TLS: STARTTLS when [`Behaviour::starttls`] is set, implicit TLS with
//! [`FakeSmtp::start_tls`] (rustls server settings from the test, e.g. with a test CA). What it does wrong, and when, is set by a [`Behaviour`] that can be changed
//! while it runs ([`FakeSmtp::set`], [`FakeSmtp::update`]); every session reads it afresh at each step.
//! It records accepted messages, the command verbs it saw, and connection counts.
//!
//! The module (this file and `fake_smtp/session.rs`) depends only on tokio and tokio-rustls, so it can be
//! copied into any crate's `tests/` as a helper module.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use self::session::{CurrentGuard, Session};

mod session;

/// Which recipients a rule or fault applies to (compared without regard to case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Matcher {
    /// No one (the default: fault off).
    #[default]
    Nobody,
    /// Every recipient.
    Everyone,
    /// One exact address.
    Address(String),
    /// Every address at this domain.
    Domain(String),
}

impl Matcher {
    /// Whether `rcpt` is covered.
    pub fn matches(&self, rcpt: &str) -> bool {
        match self {
            Matcher::Nobody => false,
            Matcher::Everyone => true,
            Matcher::Address(address) => address.eq_ignore_ascii_case(rcpt),
            Matcher::Domain(domain) => rcpt.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
        }
    }

    fn any(&self, rcpts: &[String]) -> bool {
        rcpts.iter().any(|r| self.matches(r))
    }
}

/// When a [`Rule`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// In reply to RCPT TO.
    Rcpt,
    /// In reply to the final dot after the message content (the message is then not recorded).
    Data,
}

/// A canned reply for matching recipients. Code 421 also closes the connection, as real servers do.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Recipients it applies to.
    pub matcher: Matcher,
    /// When it answers.
    pub phase: Phase,
    /// Reply code.
    pub code: u16,
    /// Reply text; `\n` separates the lines of a multi-line reply.
    pub text: String,
    /// How many more times it applies; `None` is forever (e.g. `Some(1)` simulates greylisting).
    pub times: Option<usize>,
}

impl Rule {
    /// A reply to RCPT TO, e.g. `Rule::rcpt(Matcher::Address(..), 550, "5.1.1 User unknown")`.
    pub fn rcpt(matcher: Matcher, code: u16, text: &str) -> Self {
        Self { matcher, phase: Phase::Rcpt, code, text: text.to_owned(), times: None }
    }

    /// A reply to the end of DATA, e.g. `Rule::data(Matcher::Everyone, 554, "5.7.1 Spam")`.
    pub fn data(matcher: Matcher, code: u16, text: &str) -> Self {
        Self { matcher, phase: Phase::Data, code, text: text.to_owned(), times: None }
    }

    /// Limits the rule to the next `n` matches.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

/// What the server does; `Behaviour::default()` is a well-behaved server.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Per-recipient replies; the first matching rule with uses left wins.
    pub rules: Vec<Rule>,
    /// After N messages accepted on one connection, reply (code, text) to the next MAIL; 421 also closes.
    pub fail_after: Option<(usize, u16, String)>,
    /// Read the whole DATA, then close without replying (the message is not recorded).
    pub drop_before_data_reply: Matcher,
    /// Record the message, reply 250, then close.
    pub drop_after_data_reply: Matcher,
    /// Wait this long before every reply, the greeting included.
    pub reply_delay: Duration,
    /// Wait this long (in addition) before the reply to the end of DATA.
    pub data_reply_delay: Duration,
    /// More than this many MAIL commands per second (all connections together) get (code, text); 421
    /// also closes.
    pub rate_limit: Option<(u32, u16, String)>,
    /// Connections beyond this many at once are greeted with 421 and closed.
    pub max_connections: Option<usize>,
    /// Offer AUTH PLAIN and require these credentials before MAIL.
    pub auth: Option<(String, String)>,
    /// Do not offer PIPELINING (offered by default, as by most relays).
    pub no_pipelining: bool,
    /// Do not offer SMTPUTF8 (offered by default).
    pub no_smtputf8: bool,
    /// Offer STARTTLS (before TLS only) and do the handshake with these settings.
    pub starttls: Option<Arc<rustls::ServerConfig>>,
    /// Send this behind the 220 to STARTTLS, in the same write, before the handshake (a plain-text
    /// reply injected into what the client will take for the encrypted session, CVE-2011-0411).
    pub starttls_injection: Option<String>,
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// MAIL FROM address (empty for `<>`).
    pub from: String,
    /// Accepted RCPT TO addresses.
    pub to: Vec<String>,
    /// Content as the client meant it: dot-unstuffed, without the final `.` line.
    pub data: Vec<u8>,
    /// Number of the connection it came on (1 for the first accepted connection).
    pub connection: u64,
    /// When the end of its DATA arrived.
    pub at: Instant,
    /// It came over TLS (implicit, or after STARTTLS).
    pub tls: bool,
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    commands: Mutex<Vec<String>>,
    rate_window: Mutex<VecDeque<Instant>>,
    current: AtomicUsize,
    max_seen: AtomicUsize,
    total: AtomicU64,
    refused: AtomicU64,
    pipelined_after_data: AtomicU64,
    tls_refused: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the recorded state from the test's own assertions.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake server; dropping it (or [`FakeSmtp::stop`]) closes the listener and every session.
pub struct FakeSmtp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeSmtp {
    /// Binds `127.0.0.1:0` and starts serving. Panics if it cannot bind (this is a test helper).
    pub async fn start(behaviour: Behaviour) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for FakeSmtp");
        let addr = listener.local_addr().expect("FakeSmtp local address");
        let shared = Arc::new(Shared { behaviour: Mutex::new(behaviour), ..Shared::default() });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), None));
        FakeSmtp { addr, shared, task }
    }

    /// Like [`FakeSmtp::start`], speaking TLS from the first byte ("SMTPS", port 465) with `tls`.
    pub async fn start_tls(behaviour: Behaviour, tls: Arc<rustls::ServerConfig>) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for FakeSmtp");
        let addr = listener.local_addr().expect("FakeSmtp local address");
        let shared = Arc::new(Shared { behaviour: Mutex::new(behaviour), ..Shared::default() });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), Some(TlsAcceptor::from(tls))));
        FakeSmtp { addr, shared, task }
    }

    /// Binds `127.0.0.1:port` (a relay that comes up where the config says it is).
    pub async fn start_on(port: u16, behaviour: Behaviour) -> FakeSmtp {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind 127.0.0.1:port for FakeSmtp");
        let addr = listener.local_addr().expect("FakeSmtp local address");
        let shared = Arc::new(Shared { behaviour: Mutex::new(behaviour), ..Shared::default() });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), None));
        FakeSmtp { addr, shared, task }
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the behaviour; sessions see it at their next step.
    pub fn set(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// Changes part of the behaviour in place.
    pub fn update(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut lock(&self.shared.behaviour));
    }

    /// Every accepted message so far, in order of acceptance.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Number of accepted messages.
    pub fn count(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// Messages whose final dot arrived with more commands behind it in the same read (a client
    /// pipelining the next transaction behind the content).
    pub fn pipelined_after_data(&self) -> u64 {
        self.shared.pipelined_after_data.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (the client refused the certificate, or had none to present when one
    /// was required).
    pub fn tls_refused(&self) -> u64 {
        self.shared.tls_refused.load(Ordering::SeqCst)
    }

    /// Command verbs received so far (`EHLO`, `MAIL`, `RCPT`, `DATA`, `RSET`, `NOOP`, ...), all sessions.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// Connections accepted so far (refused ones not included).
    pub fn connections_total(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn connections_current(&self) -> usize {
        self.shared.current.load(Ordering::SeqCst)
    }

    /// Most connections that were open at once.
    pub fn connections_max(&self) -> usize {
        self.shared.max_seen.load(Ordering::SeqCst)
    }

    /// Connections turned away because of `max_connections`.
    pub fn connections_refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every session, and waits until that is done.
    pub async fn stop(mut self) {
        self.task.abort();
        // Resolves (with a cancellation error) once the listener and all sessions are gone.
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    // Owned here so that aborting this task drops the set, which aborts every session with it.
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while sessions.try_join_next().is_some() {}
        let limit = lock(&shared.behaviour).max_connections;
        let now = shared.current.fetch_add(1, Ordering::SeqCst) + 1;
        if limit.is_some_and(|max| now > max) {
            shared.current.fetch_sub(1, Ordering::SeqCst);
            shared.refused.fetch_add(1, Ordering::SeqCst);
            sessions.spawn(refuse(stream));
            continue;
        }
        shared.max_seen.fetch_max(now, Ordering::SeqCst);
        shared.total.fetch_add(1, Ordering::SeqCst);
        next_id += 1;
        let guard = CurrentGuard(Arc::clone(&shared));
        let tls = tls.clone();
        sessions.spawn(async move {
            let Some(acceptor) = tls else {
                let _ = Session::new(Box::new(stream), false, next_id, guard).run().await;
                return;
            };
            match acceptor.accept(stream).await {
                Ok(stream) => {
                    let _ = Session::new(Box::new(stream), true, next_id, guard).run().await;
                }
                Err(_) => {
                    guard.0.tls_refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = stream.write_all(b"421 4.7.0 Too many connections, try again later\r\n").await;
    let _ = stream.shutdown().await;
}
