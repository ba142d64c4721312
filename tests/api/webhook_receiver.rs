//! An in-test CRM for the outbound webhooks: an HTTP receiver on a fixed loopback port
//! that can be down (nothing listens: connection refused), answer 500 to the next N
//! requests, or answer slowly; it keeps every request it got, verifies signatures and
//! dedups by idempotency id.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub event_id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Whether `X-Herald-Signature` is the HMAC of `timestamp + "." + body` under `key`.
    pub fn signature_verifies(&self, key: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{}.", self.timestamp).as_bytes());
        mac.update(&self.body);
        let Some(hex_sig) = self.signature.strip_prefix("sha256=") else { return false };
        let Ok(sig) = hex::decode(hex_sig) else { return false };
        mac.verify_slice(&sig).is_ok()
    }
}

#[derive(Default)]
struct Shared {
    fail_next: AtomicUsize,
    delay_ms: AtomicU64,
    hits: Mutex<Vec<Hit>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver {
    /// A receiver that is down: its port was free a moment ago and nothing listens on it.
    pub async fn down() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        Receiver { addr, shared: Arc::default(), server: Mutex::new(None) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts listening; the next `fail` requests get a 500.
    pub async fn up(&self, fail: usize) {
        self.shared.fail_next.store(fail, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("rebind the receiver's port");
        let app = axum::Router::new().fallback(record).with_state(self.shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap() = Some(task);
    }

    /// Stops listening (connections are refused from now on).
    pub fn stop(&self) {
        if let Some(task) = self.server.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Each request waits this long before its answer.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The requests answered 2xx at `path`, in arrival order.
    pub fn accepted(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path && h.status == 200).collect()
    }

    /// The accepted requests at `path` with their idempotency id seen first (a CRM's
    /// dedup), and how many accepted requests repeated an id already seen.
    pub fn deduped(&self, path: &str) -> (Vec<Hit>, usize) {
        let mut seen = std::collections::HashSet::new();
        let (mut first, mut repeats) = (Vec::new(), 0);
        for h in self.accepted(path) {
            if seen.insert(h.event_id.clone()) {
                first.push(h);
            } else {
                repeats += 1;
            }
        }
        (first, repeats)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn record(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let fail = shared.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let status = if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    shared.hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        event_id: header("x-herald-event-id"),
        timestamp: header("x-herald-timestamp"),
        signature: header("x-herald-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    status
}
