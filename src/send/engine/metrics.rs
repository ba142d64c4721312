//! The engine's counters: what this process has attempted, for progress lines and
//! `/metrics`.

use crate::domain::SendState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of this process, for progress lines and `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub deferred: AtomicU64,
    pub skipped: AtomicU64,
    pub in_doubt: AtomicU64,
    pub requeued: AtomicU64,
    pub throttle_waits: AtomicU64,
    pub throttle_wait_ms: AtomicU64,
}

impl Metrics {
    pub fn count(&self, state: SendState) {
        let counter = match state {
            SendState::Sent => &self.sent,
            SendState::Failed => &self.failed,
            SendState::Deferred => &self.deferred,
            SendState::Skipped => &self.skipped,
            SendState::InDoubt => &self.in_doubt,
            _ => &self.requeued,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn throttled(&self, waited: Duration) {
        self.throttle_waits.fetch_add(1, Ordering::Relaxed);
        self.throttle_wait_ms.fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
    }

    /// Attempts this process has finished (any outcome but a return to the queue).
    pub fn finished(&self) -> u64 {
        [&self.sent, &self.failed, &self.deferred, &self.skipped, &self.in_doubt]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}
