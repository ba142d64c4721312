//! When to retry a temporarily failed delivery: exponential backoff with "equal jitter", and
//! when to give up (too many attempts, or the message is too old).
//!
//! Equal jitter rather than full jitter: the delay before a retry is drawn uniformly from
//! `[c/2, c]`, where `c` is the capped exponential delay. Full jitter (`[0, c]`) spreads load
//! a little better but can retry seconds after a failure, and the commonest temporary failure
//! in mail, greylisting, rejects anything retried sooner than a few minutes. Keeping at least
//! half of the exponential delay keeps retries meaningful while still de-synchronising a batch
//! of messages that failed together.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

/// Retry policy. Pure: the same inputs and the same rng state give the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Growth of the ceiling per attempt.
    pub factor: u32,
    /// Largest ceiling.
    pub max_delay: Duration,
    /// Total attempts, the first one included; no retry is scheduled after this many.
    pub max_attempts: u32,
    /// No retry is scheduled for after `first_attempt_at + max_age`.
    pub max_age: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(60),
            factor: 2,
            max_delay: Duration::from_secs(6 * 3600),
            max_attempts: 8,
            max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl Backoff {
    /// The delay ceiling after `attempt` attempts (1 = the first attempt failed):
    /// `min(max_delay, base × factor^(attempt − 1))`. Attempt 0 is treated as 1.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let mut delay = self.base.min(self.max_delay);
        // Multiply step by step rather than with `pow`, which would overflow long before the
        // cap matters; stop as soon as the cap (or a factor that doesn't grow) is reached.
        for _ in 1..attempt {
            if delay >= self.max_delay || self.factor <= 1 {
                break;
            }
            delay = delay.saturating_mul(self.factor).min(self.max_delay);
        }
        delay
    }

    /// The jittered delay after `attempt` attempts: uniform in `[ceiling/2, ceiling]`.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_nanos()).unwrap_or(u64::MAX);
        let half = ceiling / 2;
        Duration::from_nanos(half + rng.random_range(0..=ceiling - half))
    }

    /// When to retry a message that has now failed `attempt` times, the first time at
    /// `first_attempt_at`; `None` when it should bounce instead: `attempt >= max_attempts`,
    /// or the retry would fall after `first_attempt_at + max_age`.
    ///
    /// Giving up rather than clamping the last retry to the age limit is deliberate: the
    /// limit is a promise to the sender ("we stop trying after 3 days"), and squeezing in a
    /// retry just before it would break the backoff spacing for no real gain.
    pub fn next_retry<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        first_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
        rng: &mut R,
    ) -> Option<DateTime<Utc>> {
        if attempt >= self.max_attempts {
            return None;
        }
        let deadline = first_attempt_at.checked_add_signed(TimeDelta::from_std(self.max_age).ok()?)?;
        let at = now.checked_add_signed(TimeDelta::from_std(self.delay(attempt, rng)).ok()?)?;
        (at <= deadline).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const MIN: Duration = Duration::from_secs(60);

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::default();
        let got: Vec<u64> = (0..=12).map(|a| b.ceiling(a).as_secs() / 60).collect();
        assert_eq!(got, [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360, 360]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(6 * 3600));
    }

    #[test]
    fn ceiling_with_odd_parameters() {
        let b = Backoff { factor: 1, ..Backoff::default() };
        assert_eq!(b.ceiling(10), MIN);
        let b = Backoff { factor: 0, ..Backoff::default() };
        assert_eq!(b.ceiling(10), MIN);
        let b = Backoff { base: Duration::from_secs(10 * 3600), ..Backoff::default() };
        assert_eq!(b.ceiling(1), Duration::from_secs(6 * 3600));
        let b = Backoff { factor: u32::MAX, max_delay: Duration::MAX, ..Backoff::default() };
        assert_eq!(b.ceiling(100), Duration::MAX);
    }

    #[test]
    fn delays_are_equal_jitter_within_bounds() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=10 {
            let c = b.ceiling(attempt);
            let mut seen = Vec::new();
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(d >= c / 2 && d <= c, "attempt {attempt}: {d:?} outside [{:?}, {c:?}]", c / 2);
                seen.push(d);
            }
            // Actually jittered: spread over most of the range.
            let (lo, hi) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
            assert!(*hi - *lo > c / 3, "attempt {attempt}: spread {:?}", *hi - *lo);
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let b = Backoff::default();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (1..8).map(|a| b.next_retry(a, t0(), t0(), &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn schedules_relative_to_now() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(1);
        let now = t0() + TimeDelta::hours(1);
        let at = b.next_retry(3, t0(), now, &mut rng).unwrap();
        let wait = (at - now).to_std().unwrap();
        assert!(wait >= 2 * MIN && wait <= 4 * MIN, "{wait:?}");
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(b.next_retry(7, t0(), t0(), &mut rng).is_some());
        assert_eq!(b.next_retry(8, t0(), t0(), &mut rng), None);
        assert_eq!(b.next_retry(100, t0(), t0(), &mut rng), None);
        let once = Backoff { max_attempts: 1, ..Backoff::default() };
        assert_eq!(once.next_retry(1, t0(), t0(), &mut rng), None);
    }

    #[test]
    fn gives_up_when_too_old() {
        let b = Backoff { max_attempts: 1_000, ..Backoff::default() };
        let mut rng = StdRng::seed_from_u64(1);
        let now = t0() + TimeDelta::days(3) - TimeDelta::minutes(5);
        // Attempt 1 waits at most a minute: still inside the limit.
        assert!(b.next_retry(1, t0(), now, &mut rng).is_some());
        // Attempt 20 waits 3–6 hours: past it.
        assert_eq!(b.next_retry(20, t0(), now, &mut rng), None);
        // Already past the limit.
        assert_eq!(b.next_retry(1, t0(), t0() + TimeDelta::days(4), &mut rng), None);
    }

    #[test]
    fn default_schedule_fits_in_the_age_limit() {
        // With the defaults the attempt limit, not the age limit, ends retrying.
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(99);
        let mut now = t0();
        let mut attempts = 1;
        while let Some(at) = b.next_retry(attempts, t0(), now, &mut rng) {
            assert!(at > now);
            now = at;
            attempts += 1;
        }
        assert_eq!(attempts, 8);
        assert!(now - t0() < TimeDelta::hours(3));
    }
}
