//! A [`Transport`] in memory, for tests: each address gets the replies scripted for it
//! ([`Script`]), in order, then [`Script::Accept`]; every message that reached the
//! transport is recorded ([`Record`]), with what its mark before DATA answered.
//!
//! It behaves like a relay that does not pipeline: a refusal at RCPT comes before the
//! mark (which is then not called), the mark comes before the content, and the content is
//! "sent" only when the mark agreed.

use super::send_error::{Accepted, Cause, SendError, Stage};
use super::transport::{Outgoing, Sent, Transport};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// What the fake relay does with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// 250 to the content.
    Accept,
    /// The RCPT is refused with this reply (4xx transient, 5xx permanent): nothing is sent.
    RefuseRcpt(u16, String),
    /// The content is refused with this reply to the final ".".
    RefuseData(u16, String),
    /// The connection drops before DATA: nothing is sent.
    DropBeforeData,
    /// The connection drops after the content went out, before the reply: the relay may
    /// have the message (ambiguous).
    DropAfterData,
    /// Waits this long after the mark, then accepts (a slow relay).
    Slow(Duration),
}

/// One message as the transport saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub route: usize,
    pub id: String,
    pub envelope_from: String,
    pub to: String,
    pub bytes: Vec<u8>,
    /// What the mark before DATA answered; `None` when it was not asked (refused before).
    pub marked: Option<bool>,
    /// Whether the content went out (the relay may have it).
    pub transmitted: bool,
}

/// The recording transport: `routes` named `fake-0`, `fake-1`, ...
#[derive(Debug)]
pub struct RecordingTransport {
    routes: usize,
    concurrency: usize,
    scripts: Mutex<HashMap<String, VecDeque<Script>>>,
    records: Mutex<Vec<Record>>,
}

impl Default for RecordingTransport {
    fn default() -> Self {
        Self::new(1, 4)
    }
}

impl RecordingTransport {
    pub fn new(routes: usize, concurrency: usize) -> Self {
        RecordingTransport {
            routes: routes.max(1),
            concurrency: concurrency.max(1),
            scripts: Mutex::default(),
            records: Mutex::default(),
        }
    }

    /// The next messages to `to` get `replies`, in order (after any scripted before).
    pub fn script(&self, to: &str, replies: impl IntoIterator<Item = Script>) {
        lock(&self.scripts).entry(to.to_lowercase()).or_default().extend(replies);
    }

    /// Every message that reached the transport, in order.
    pub fn records(&self) -> Vec<Record> {
        lock(&self.records).clone()
    }

    /// The messages whose content went out to `to`.
    pub fn transmitted_to(&self, to: &str) -> usize {
        lock(&self.records).iter().filter(|r| r.transmitted && r.to.eq_ignore_ascii_case(to)).count()
    }

    fn next_script(&self, to: &str) -> Script {
        lock(&self.scripts).get_mut(&to.to_lowercase()).and_then(VecDeque::pop_front).unwrap_or(Script::Accept)
    }

    fn record(&self, route: usize, m: &Outgoing<'_>, marked: Option<bool>, transmitted: bool) {
        lock(&self.records).push(Record {
            route,
            id: m.id.to_owned(),
            envelope_from: m.envelope_from.to_owned(),
            to: m.to.to_owned(),
            bytes: m.bytes.to_vec(),
            marked,
            transmitted,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Transport for RecordingTransport {
    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn pick(&self) -> usize {
        0
    }

    fn route_name(&self, route: usize) -> String {
        format!("fake-{}", route % self.routes)
    }

    async fn send<B, Fut, A, R>(&self, route: usize, m: Outgoing<'_>, before_data: B, replied: A) -> Sent<R>
    where
        B: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        A: FnOnce(Result<Accepted, SendError>) -> R + Send,
        R: Send,
    {
        let script = self.next_script(m.to);
        let before = match &script {
            Script::RefuseRcpt(code, text) => {
                Some(SendError::new(Stage::Rcpt, Cause::Reply, Some(*code), text.clone(), false))
            }
            Script::DropBeforeData => {
                Some(SendError::new(Stage::Rcpt, Cause::Connection, None, "connection dropped", false))
            }
            _ => None,
        };
        if let Some(err) = before {
            self.record(route, &m, None, false);
            return Sent::NotSent(err);
        }
        if !before_data().await {
            self.record(route, &m, Some(false), false);
            return Sent::NotSent(SendError::new(Stage::Aborted, Cause::Aborted, None, "cancelled before DATA", false));
        }
        self.record(route, &m, Some(true), true);
        let result = match script {
            Script::Accept => Ok(Accepted { reply: format!("2.0.0 Ok: queued as {}", m.id) }),
            Script::Slow(wait) => {
                tokio::time::sleep(wait).await;
                Ok(Accepted { reply: format!("2.0.0 Ok: queued as {}", m.id) })
            }
            Script::RefuseData(code, text) => Err(SendError::new(Stage::Data, Cause::Reply, Some(code), text, true)),
            Script::DropAfterData => {
                Err(SendError::new(Stage::Data, Cause::Connection, None, "connection dropped", true))
            }
            Script::RefuseRcpt(..) | Script::DropBeforeData => unreachable!("refused before DATA above"),
        };
        Sent::Replied(replied(result))
    }

    async fn close(&self) {}
}
