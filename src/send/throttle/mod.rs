//! The sending engine's rate limiter: a global cap, a cap per relay and a cap per recipient
//! domain, all enforced together, plus an adaptive slow-down for domains that answer
//! "too many connections" / "rate limited".
//!
//! Limits are governor GCRA limiters running on tokio's clock (module `gate`), so under
//! `tokio::time::pause()` virtual time drives them. [`Throttle::check`] is the core and never
//! sleeps; [`Throttle::acquire`] loops on it with `tokio::time::sleep`.
//!
//! **Token waste.** Governor cannot peek, so naively taking from the global limiter and then
//! finding the domain limiter empty would spend a global token for nothing. Instead every
//! limiter keeps an exact mirror of governor's GCRA state, and a decision is made in two
//! phases under one lock at one instant: first every applicable limiter is *asked* (mirror
//! only), and only if all would admit are tokens taken from each. Since the mirror follows
//! governor's arithmetic on the same instant, the takes cannot fail, so no token is wasted;
//! should they ever disagree, governor still has the last word (a limit is never exceeded)
//! and the tokens already taken are counted in [`ThrottleStats::wasted_tokens`].

mod adaptive;
mod gate;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use self::adaptive::{Adaptive, Meter};
use self::gate::{Gate, TokioClock, smooth_quota};
use super::rate::Rate;

/// Which limits apply.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Cap over all messages.
    pub global: Option<Rate>,
    /// Cap per relay; the index is the relay's index. Relays past the end are uncapped.
    pub relays: Vec<Option<Rate>>,
    /// Cap for each recipient domain without an entry in `domains`; each domain gets its own
    /// limiter at this rate. `None` leaves such domains unlimited (until they throttle us).
    pub domain_default: Option<Rate>,
    /// Per-domain caps, keyed by domain (matched case-insensitively).
    pub domains: HashMap<String, Rate>,
    /// How long a throttled domain stays at its reduced rate, and the period of each recovery
    /// step after that.
    pub cooldown: Duration,
    /// A domain limiter unused for this long, and fully replenished, is dropped.
    pub idle_timeout: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            global: None,
            relays: Vec::new(),
            domain_default: None,
            domains: HashMap::new(),
            cooldown: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleStats {
    /// Times [`Throttle::acquire`] had to sleep.
    pub waits: u64,
    /// Total time slept in [`Throttle::acquire`].
    pub waited: Duration,
    /// Tokens taken from one limiter while a later one refused. Expected to stay 0.
    pub wasted_tokens: u64,
}

/// Per-domain state: its limiter, adaptive slow-down and observed send rate.
struct DomainState {
    /// Configured rate (override or default).
    configured: Option<Rate>,
    /// The limiter in force; `None` means unlimited.
    gate: Option<Gate>,
    /// Per-second rate `gate` enforces, to notice when the desired rate has changed.
    gate_rate: Option<f64>,
    adaptive: Option<Adaptive>,
    meter: Meter,
    last_sent: Option<u64>,
    last_seen: u64,
    /// Last time this domain's own limiter held a message back.
    last_held: u64,
}

impl DomainState {
    fn new(configured: Option<Rate>, clock: &TokioClock, now: u64) -> Self {
        DomainState {
            configured,
            gate: configured.map(|r| Gate::new(r.quota(), clock, now, None)),
            gate_rate: configured.map(|r| r.per_second()),
            adaptive: None,
            meter: Meter::default(),
            last_sent: None,
            last_seen: now,
            last_held: 0,
        }
    }

    /// The adaptive rate in force at `now`, or `None` if the slow-down is over: recovered to
    /// the configured rate, or, for a domain without one, holding nothing back for a whole
    /// cool-down (the limit no longer shapes traffic, so dropping it changes nothing).
    fn adaptive_rate(&self, now: u64, cooldown: u64) -> Option<f64> {
        let a = self.adaptive.as_ref()?;
        let unneeded = self.configured.is_none() && now.saturating_sub(a.last_signal().max(self.last_held)) >= cooldown;
        a.rate_at(now, cooldown).filter(|_| !unneeded)
    }

    /// The rate that should be in force at `now`, ending a finished adaptive state.
    fn desired_rate(&mut self, now: u64, cooldown: u64) -> Option<f64> {
        match self.adaptive_rate(now, cooldown) {
            Some(rate) => return Some(rate),
            None => self.adaptive = None,
        }
        self.configured.map(|r| r.per_second())
    }

    /// Rebuilds the limiter when the desired rate has moved (adaptive cut or recovery step).
    fn sync(&mut self, clock: &TokioClock, now: u64, cooldown: u64) {
        let want = self.desired_rate(now, cooldown);
        if want == self.gate_rate {
            return;
        }
        let quota = match (&self.adaptive, self.configured) {
            (None, Some(rate)) => Some(rate.quota()),
            _ => want.map(smooth_quota),
        };
        self.gate = quota.map(|q| Gate::new(q, clock, now, self.last_sent));
        self.gate_rate = want;
    }

    fn current_rate(&self, now: u64, cooldown: u64) -> Option<f64> {
        self.adaptive_rate(now, cooldown).or(self.configured.map(|r| r.per_second()))
    }

    /// Droppable without changing behaviour: idle, not slowed down, limiter replenished.
    fn is_purgeable(&self, now: u64, idle: u64, cooldown: u64) -> bool {
        now.saturating_sub(self.last_seen) >= idle
            && self.adaptive_rate(now, cooldown).is_none()
            && self.gate.as_ref().is_none_or(|g| g.is_idle(now))
    }
}

struct Inner {
    global: Option<Gate>,
    relays: Vec<Option<Gate>>,
    domains: HashMap<String, DomainState>,
    next_purge: u64,
}

/// Global, per-relay and per-domain rate limiting with adaptive slow-down. Share it behind an
/// `Arc`; all methods take `&self`.
pub struct Throttle {
    inner: Mutex<Inner>,
    clock: TokioClock,
    epoch: Instant,
    domain_default: Option<Rate>,
    domains: HashMap<String, Rate>,
    cooldown: u64,
    idle: u64,
    waits: AtomicU64,
    waited_nanos: AtomicU64,
    wasted: AtomicU64,
}

/// Canonical form of a domain for map keys: trimmed, no trailing dot, lowercase.
fn domain_key(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Throttle {
    /// Builds the limiters. Call inside the tokio runtime whose clock should drive them.
    pub fn new(cfg: ThrottleConfig) -> Self {
        let clock = TokioClock::default();
        let gate = |rate: Option<Rate>| rate.map(|r| Gate::new(r.quota(), &clock, 0, None));
        let inner = Inner {
            global: gate(cfg.global),
            relays: cfg.relays.iter().map(|r| gate(*r)).collect(),
            domains: HashMap::new(),
            next_purge: 0,
        };
        Throttle {
            inner: Mutex::new(inner),
            epoch: Instant::now(),
            domain_default: cfg.domain_default,
            domains: cfg.domains.into_iter().map(|(d, r)| (domain_key(&d), r)).collect(),
            cooldown: nanos(cfg.cooldown).max(1),
            idle: nanos(cfg.idle_timeout),
            clock,
            waits: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
            wasted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the limiters in a state worse than "slightly stale".
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Samples tokio time and shows it to every limiter. Call with the lock held, so the
    /// limiters' clock only moves forward.
    fn tick(&self) -> u64 {
        let now = nanos(Instant::now().saturating_duration_since(self.epoch));
        self.clock.set(now);
        now
    }

    fn configured_rate(&self, key: &str) -> Option<Rate> {
        self.domains.get(key).copied().or(self.domain_default)
    }

    /// Takes a token from every limiter that applies to a message to `domain` through
    /// `relay` (global, that relay, that domain) and returns `Ok`, or takes none and returns
    /// how long to wait before asking again (the longest of the refusing limiters' waits).
    pub fn check(&self, relay: usize, domain: &str) -> Result<(), Duration> {
        let key = domain_key(domain);
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = self.tick();
        if now >= inner.next_purge {
            self.purge_locked(inner, now);
        }
        let ds = inner
            .domains
            .entry(key)
            .or_insert_with_key(|k| DomainState::new(self.configured_rate(k), &self.clock, now));
        ds.sync(&self.clock, now, self.cooldown);
        ds.last_seen = now;
        if ds.gate.as_ref().is_some_and(|g| g.wait(now) > 0) {
            ds.last_held = now;
        }
        {
            let relay_gate = inner.relays.get_mut(relay).and_then(Option::as_mut);
            let mut gates = [inner.global.as_mut(), relay_gate, ds.gate.as_mut()];
            // Phase 1: ask, spending nothing.
            let wait = gates.iter().flatten().map(|g| g.wait(now)).max().unwrap_or(0);
            if wait > 0 {
                return Err(Duration::from_nanos(wait));
            }
            // Phase 2: take. All admitted at this very instant, so governor agrees.
            for (taken, gate) in gates.iter_mut().flatten().enumerate() {
                if let Err(wait) = gate.take(now) {
                    self.wasted.fetch_add(taken as u64, Ordering::Relaxed);
                    return Err(Duration::from_nanos(wait.max(1)));
                }
            }
        }
        ds.meter.record(now);
        ds.last_sent = Some(now);
        Ok(())
    }

    /// Waits until [`check`](Self::check) admits a message, sleeping on tokio's clock; returns
    /// the time waited. Waiters are not queued: under contention whoever asks first after a
    /// token frees up gets it.
    pub async fn acquire(&self, relay: usize, domain: &str) -> Duration {
        let start = Instant::now();
        while let Err(wait) = self.check(relay, domain) {
            let before = Instant::now();
            tokio::time::sleep(wait).await;
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.waited_nanos.fetch_add(nanos(before.elapsed()), Ordering::Relaxed);
        }
        start.elapsed()
    }

    /// Reports that `domain` answered 421 or a 4.7.x "too many connections / rate limited":
    /// halves its rate for a cool-down, after which it is restored step by step (25 % of the
    /// configured rate per quiet cool-down). For a domain without a configured rate, the rate
    /// halved is its observed send rate of the last 10 s, it climbs by 25 % of the rate last
    /// found too fast, and the limit is dropped once it has held nothing back for a cool-down.
    /// Signals within a short hold-off after a cut count as echoes and only restart the
    /// cool-down.
    pub fn on_throttled(&self, domain: &str) {
        let key = domain_key(domain);
        let mut inner = self.lock();
        let now = self.tick();
        let ds = inner
            .domains
            .entry(key)
            .or_insert_with_key(|k| DomainState::new(self.configured_rate(k), &self.clock, now));
        ds.sync(&self.clock, now, self.cooldown);
        ds.last_seen = now;
        let configured = ds.configured.map(|r| r.per_second());
        match &mut ds.adaptive {
            Some(a) => {
                a.signal(configured, now, self.cooldown);
            }
            None => {
                let base = configured.unwrap_or_else(|| ds.meter.rate(now));
                ds.adaptive = Some(Adaptive::start(configured, base, now));
            }
        }
        ds.sync(&self.clock, now, self.cooldown);
    }

    /// The per-second rate currently enforced for `domain` (configured or adaptive), or `None`
    /// if it is unlimited.
    pub fn current_rate(&self, domain: &str) -> Option<f64> {
        let key = domain_key(domain);
        let inner = self.lock();
        let now = self.tick();
        match inner.domains.get(&key) {
            Some(ds) => ds.current_rate(now, self.cooldown),
            None => self.configured_rate(&key).map(|r| r.per_second()),
        }
    }

    /// Counters for metrics.
    pub fn stats(&self) -> ThrottleStats {
        ThrottleStats {
            waits: self.waits.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            wasted_tokens: self.wasted.load(Ordering::Relaxed),
        }
    }

    /// Drops domain state that is idle, not slowed down and fully replenished (so recreating
    /// it later changes nothing); returns how many were dropped. [`check`](Self::check) also
    /// does this periodically.
    pub fn purge_idle(&self) -> usize {
        let mut inner = self.lock();
        let now = self.tick();
        self.purge_locked(&mut inner, now)
    }

    fn purge_locked(&self, inner: &mut Inner, now: u64) -> usize {
        let before = inner.domains.len();
        inner.domains.retain(|_, ds| !ds.is_purgeable(now, self.idle, self.cooldown));
        // Sweep a few times per idle period, at most once a second.
        inner.next_purge = now.saturating_add((self.idle / 4).max(1_000_000_000));
        before - inner.domains.len()
    }

    /// Number of domains with live state (for metrics and tests).
    pub fn tracked_domains(&self) -> usize {
        self.lock().domains.len()
    }
}
