//! One rate limit inside the throttle: a governor limiter running on tokio's clock, plus an
//! exact mirror of its GCRA state so the throttle can ask "would you admit now?" without
//! spending a token (governor has no peek).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Governor clock reading the throttle's current tokio time.
///
/// The throttle samples `tokio::time::Instant::now()` once per operation (under its lock) and
/// stores it here as nanoseconds since the throttle was created; every limiter reads that
/// value. Two reasons: with `tokio::time::pause()` virtual time drives the limiters (governor's
/// default clock is not tokio's), and every limiter in one decision sees the *same* instant,
/// which is what lets [`Gate`]'s mirror agree with governor to the nanosecond.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokioClock {
    now: Arc<AtomicU64>,
}

impl TokioClock {
    /// Makes `now` (nanoseconds since the throttle's epoch) the time all limiters see.
    pub(crate) fn set(&self, now: u64) {
        self.now.store(now, Ordering::Release);
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::new(self.now.load(Ordering::Acquire))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// A governor limiter and its mirrored GCRA state.
pub(crate) struct Gate {
    limiter: Limiter,
    /// Emission interval T, in nanoseconds (governor uses max(interval, 1 ns)).
    t: u64,
    /// Burst tolerance τ = T × (burst − 1).
    tau: u64,
    /// Theoretical arrival time, as governor keeps it; `None` until the first cell.
    tat: Option<u64>,
}

impl Gate {
    /// A gate enforcing `quota`, as of `now` (the clock must already read `now`).
    ///
    /// `last_sent` carries history over when a limit is *replaced* (adaptive slow-down or
    /// recovery): the new limiter starts as if its bucket had been emptied by the last message,
    /// which is at least as strict as the new limit would have been had it always been in
    /// force, so a change of limit never opens a fresh burst.
    pub(crate) fn new(quota: Quota, clock: &TokioClock, now: u64, last_sent: Option<u64>) -> Self {
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let t = (quota.replenish_interval().as_nanos() as u64).max(1);
        let burst = quota.burst_size().get();
        let mut gate = Gate { limiter, t, tau: t * u64::from(burst - 1), tat: None };
        if let Some(last) = last_sent {
            // Empty-bucket state after `last`: tat = last + burst·T. From a fresh limiter,
            // taking k cells at `now` sets tat = now + k·T, so take the smallest k reaching it.
            let target = last.saturating_add(gate.t * u64::from(burst));
            let k = target.saturating_sub(now).div_ceil(gate.t).min(u64::from(burst)) as u32;
            if let Some(k) = NonZeroU32::new(k) {
                let primed = gate.limiter.check_n(k);
                debug_assert!(matches!(primed, Ok(Ok(()))), "priming a fresh limiter cannot fail");
                gate.tat = Some(now + gate.t * u64::from(k.get()));
            }
        }
        gate
    }

    /// How long (nanoseconds) until this gate would admit one cell; 0 means "now". Pure.
    pub(crate) fn wait(&self, now: u64) -> u64 {
        // GCRA: a cell at t0 conforms iff t0 >= tat - τ.
        self.tat.map_or(0, |tat| tat.saturating_sub(self.tau).saturating_sub(now))
    }

    /// Takes one cell from governor. The mirror is updated exactly as governor updates its
    /// state, so after `wait(now) == 0` this always succeeds; on a refusal the governor wait
    /// (nanoseconds) is returned.
    pub(crate) fn take(&mut self, now: u64) -> Result<(), u64> {
        match self.limiter.check() {
            Ok(()) => {
                self.tat = Some(self.tat.unwrap_or(now).max(now) + self.t);
                Ok(())
            }
            Err(not_until) => Err(not_until.wait_time_from(Nanos::new(now)).as_nanos() as u64),
        }
    }

    /// True when the limiter is fully replenished, i.e. indistinguishable from a new one, so
    /// dropping it and building a fresh one later cannot let anything extra through.
    pub(crate) fn is_idle(&self, now: u64) -> bool {
        self.tat.is_none_or(|tat| tat <= now)
    }
}

/// A governor quota for a fractional per-second rate, burst 1: used for adaptive rates, where
/// smooth pacing is the point. The period is rounded up so the quota never exceeds `rate`.
pub(crate) fn smooth_quota(rate: f64) -> Quota {
    let nanos = (1e9 / rate).ceil().clamp(1.0, u64::MAX as f64) as u64;
    Quota::with_period(Duration::from_nanos(nanos)).expect("period is at least 1 ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn gate(quota: Quota, clock: &TokioClock, now: u64, last: Option<u64>) -> Gate {
        clock.set(now);
        Gate::new(quota, clock, now, last)
    }

    /// Drives a gate through a schedule and checks that the mirror's verdict matches
    /// governor's for every probe.
    #[test]
    fn mirror_agrees_with_governor() {
        let clock = TokioClock::default();
        let quota = Quota::per_second(NonZeroU32::new(7).unwrap()).allow_burst(NonZeroU32::new(3).unwrap());
        let mut g = gate(quota, &clock, 5 * SEC, None);
        let mut now = 5 * SEC;
        let mut admitted = 0;
        for step in 0..5_000u64 {
            // Irregular probing: sometimes bunched, sometimes spread out.
            now += (step * 7_919) % 60_000_000;
            clock.set(now);
            let predicted = g.wait(now);
            match g.take(now) {
                Ok(()) => {
                    assert_eq!(predicted, 0, "mirror refused what governor admitted at step {step}");
                    admitted += 1;
                }
                Err(w) => assert_eq!(predicted, w, "mirror and governor disagree at step {step}"),
            }
        }
        assert!(admitted > 100);
    }

    #[test]
    fn burst_then_pacing() {
        let clock = TokioClock::default();
        let mut g = gate(Quota::per_second(NonZeroU32::new(10).unwrap()), &clock, 0, None);
        assert_eq!(g.tau / g.t + 1, 10, "burst");
        for _ in 0..10 {
            assert_eq!(g.wait(0), 0);
            g.take(0).unwrap();
        }
        assert_eq!(g.wait(0), SEC / 10);
        assert_eq!(g.take(0), Err(SEC / 10));
        assert!(!g.is_idle(0));
        assert!(g.is_idle(SEC));
    }

    #[test]
    fn replacement_starts_with_an_empty_bucket() {
        let clock = TokioClock::default();
        // Last message at 10 s; new limit 10/s burst 10 built at 10.05 s.
        let g = gate(Quota::per_second(NonZeroU32::new(10).unwrap()), &clock, 10 * SEC + SEC / 20, Some(10 * SEC));
        // No fresh burst: the next cell waits about one interval (rounded up to whole cells
        // taken at build time, so never less strict than "one interval after the last").
        assert_eq!(g.wait(10 * SEC + SEC / 20), SEC / 10);
        // Built long after the last message, the bucket has refilled: no priming at all.
        let g = gate(Quota::per_second(NonZeroU32::new(10).unwrap()), &clock, 20 * SEC, Some(10 * SEC));
        assert!(g.is_idle(20 * SEC));
    }

    #[test]
    fn smooth_quota_never_exceeds_the_rate() {
        let q = smooth_quota(3.0);
        assert_eq!(q.burst_size().get(), 1);
        assert!(q.replenish_interval() >= Duration::from_secs_f64(1.0 / 3.0));
        assert_eq!(smooth_quota(1.0 / 60.0).replenish_interval(), Duration::from_secs(60));
    }
}
