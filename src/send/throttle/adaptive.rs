//! The adaptive slow-down for one recipient domain (pure arithmetic on nanosecond timestamps)
//! and the meter that estimates a domain's recent send rate.
//!
//! Algorithm (AIMD, as TCP does for congestion):
//! * a throttle signal (421, 4.7.x "rate limited") halves the domain's rate, down to
//!   [`FLOOR`]. The rate halved is the current limit for a domain with a configured rate, and
//!   the *observed* send rate of the last [`METER_WINDOW`] for a domain without one (it has no
//!   limit to halve; what it was actually receiving is what was too much);
//! * signals arriving within a short hold-off after a cut are echoes of the same overload
//!   (replies to messages sent before the cut) and do not cut again; they do restart the
//!   cool-down;
//! * once a whole cool-down passes without a signal, the rate grows by a *step* per cool-down.
//!   With a configured rate the step is 25 % of it, and the adaptive limit ends when the
//!   configured rate is reached (at most four quiet cool-downs). Without one the step is 25 %
//!   of the rate last found too fast and there is no ceiling: the limit keeps probing upwards
//!   (back to the too-fast rate within two cool-downs, then beyond) and is dropped, leaving
//!   the domain unlimited again, only once it has held nothing back for a whole cool-down
//!   (see `DomainState` in the parent module). Dropping it on reaching the first observed
//!   rate instead would ratchet downwards: that rate is often itself an underestimate, and the
//!   unlimited burst after it is met by a new signal whose observed rate is the *limited* one.
/// Lowest adaptive rate: one message a minute. Halving below this would just stall a domain.
pub(crate) const FLOOR: f64 = 1.0 / 60.0;
/// Window over which a domain's send rate is observed.
pub(crate) const METER_WINDOW: u64 = 10 * SEC;
const SEC: u64 = 1_000_000_000;

/// Adaptive state of a domain that has been throttled and not yet fully recovered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adaptive {
    /// Rate to recover to (the configured rate); reaching it ends the adaptive state. `None`:
    /// no ceiling.
    target: Option<f64>,
    /// Increase per quiet cool-down.
    step: f64,
    /// Rate set at the last cut.
    cut_rate: f64,
    /// Time of the last cut.
    cut_at: u64,
    /// Time of the last throttle signal (cut or echo): recovery counts from here.
    last_signal: u64,
}

impl Adaptive {
    /// The state after a domain's first throttle signal. `configured` is its configured
    /// per-second rate, if any; `base` is the rate being halved.
    pub(crate) fn start(configured: Option<f64>, base: f64, now: u64) -> Self {
        let base = base.max(FLOOR);
        let step = 0.25 * configured.unwrap_or(base);
        Adaptive { target: configured, step, cut_rate: (base / 2.0).max(FLOOR), cut_at: now, last_signal: now }
    }

    /// The adaptive rate at `now`, or `None` once it has recovered to its target.
    pub(crate) fn rate_at(&self, now: u64, cooldown: u64) -> Option<f64> {
        let quiet_periods = now.saturating_sub(self.last_signal) / cooldown.max(1);
        let rate = self.cut_rate + quiet_periods as f64 * self.step;
        self.target.is_none_or(|target| rate < target).then_some(rate)
    }

    /// Time of the last throttle signal.
    pub(crate) fn last_signal(&self) -> u64 {
        self.last_signal
    }

    /// A further throttle signal at `now`. Returns true if it cut the rate, false if it was
    /// an echo of the previous cut.
    pub(crate) fn signal(&mut self, configured: Option<f64>, now: u64, cooldown: u64) -> bool {
        let current = self.rate_at(now, cooldown).or(self.target).unwrap_or(self.cut_rate);
        self.last_signal = now;
        if now < self.cut_at.saturating_add(hold_off(self.cut_rate, cooldown)) {
            return false;
        }
        if configured.is_none() {
            // No configured rate: step relative to the rate just found too fast.
            self.step = 0.25 * current;
        }
        self.cut_rate = (current / 2.0).max(FLOOR);
        self.cut_at = now;
        true
    }
}

/// How long after a cut further signals count as echoes: two messages' time at the new rate,
/// at least a second, at most half a cool-down. Replies to messages already in flight when the
/// cut happened arrive within that span and say nothing about the new rate.
fn hold_off(rate: f64, cooldown: u64) -> u64 {
    let two_messages = (2.0 / rate * 1e9).min(u64::MAX as f64) as u64;
    two_messages.max(SEC).min((cooldown / 2).max(SEC))
}

/// Sliding-window estimate of a send rate: two fixed buckets of [`METER_WINDOW`], the older
/// one weighted by how much of it still overlaps the window. O(1) memory per domain.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meter {
    first: Option<u64>,
    bucket_start: u64,
    current: u64,
    previous: u64,
}

impl Meter {
    fn roll(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.bucket_start);
        if elapsed >= 2 * METER_WINDOW {
            self.previous = 0;
            self.current = 0;
            self.bucket_start = now - now % METER_WINDOW;
        } else if elapsed >= METER_WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.bucket_start += METER_WINDOW;
        }
    }

    /// Records one message sent at `now`.
    pub(crate) fn record(&mut self, now: u64) {
        if self.first.is_none() {
            self.first = Some(now);
            self.bucket_start = now - now % METER_WINDOW;
        }
        self.roll(now);
        self.current += 1;
    }

    /// Messages per second over the last window (over the time since the first message, at
    /// least a second, when that is shorter).
    pub(crate) fn rate(&mut self, now: u64) -> f64 {
        let Some(first) = self.first else { return 0.0 };
        self.roll(now);
        let into_bucket = now.saturating_sub(self.bucket_start) as f64 / METER_WINDOW as f64;
        let count = self.previous as f64 * (1.0 - into_bucket) + self.current as f64;
        let span = now.saturating_sub(first).clamp(SEC, METER_WINDOW);
        count / (span as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: u64 = 60 * SEC;

    #[test]
    fn configured_domain_halves_and_recovers_in_quarter_steps() {
        let a = Adaptive::start(Some(10.0), 10.0, 0);
        assert_eq!(a.rate_at(0, COOL), Some(5.0));
        assert_eq!(a.rate_at(COOL - 1, COOL), Some(5.0));
        assert_eq!(a.rate_at(COOL, COOL), Some(7.5));
        assert_eq!(a.rate_at(2 * COOL, COOL), None);
    }

    #[test]
    fn echoes_do_not_cut_again_but_restart_the_cooldown() {
        let mut a = Adaptive::start(Some(10.0), 10.0, 0);
        assert!(!a.signal(Some(10.0), SEC / 2, COOL));
        assert_eq!(a.rate_at(SEC / 2, COOL), Some(5.0));
        // Recovery counts from the echo, not from the cut.
        assert_eq!(a.rate_at(COOL, COOL), Some(5.0));
        assert_eq!(a.rate_at(COOL + SEC / 2, COOL), Some(7.5));
        // After the hold-off a new signal cuts again.
        assert!(a.signal(Some(10.0), 5 * SEC, COOL));
        assert_eq!(a.rate_at(5 * SEC, COOL), Some(2.5));
    }

    #[test]
    fn never_below_the_floor() {
        let mut a = Adaptive::start(Some(0.02), 0.02, 0);
        let mut now = 0;
        for _ in 0..20 {
            now += COOL / 2;
            a.signal(Some(0.02), now, COOL);
        }
        assert_eq!(a.rate_at(now, COOL), Some(FLOOR));
    }

    #[test]
    fn unconfigured_domain_steps_from_the_rate_found_too_fast() {
        let mut a = Adaptive::start(None, 100.0, 0);
        assert_eq!(a.rate_at(0, COOL), Some(50.0));
        // Throttled again at 50: cut to 25, step becomes 12.5.
        assert!(a.signal(None, 10 * SEC, COOL));
        assert_eq!(a.rate_at(10 * SEC, COOL), Some(25.0));
        assert_eq!(a.rate_at(10 * SEC + 2 * COOL, COOL), Some(50.0));
        // No ceiling: it keeps probing upwards.
        assert_eq!(a.rate_at(10 * SEC + 10 * COOL, COOL), Some(150.0));
        assert_eq!(a.last_signal(), 10 * SEC);
    }

    #[test]
    fn hold_off_bounds() {
        assert_eq!(hold_off(100.0, COOL), SEC);
        assert_eq!(hold_off(0.5, COOL), 4 * SEC);
        assert_eq!(hold_off(FLOOR, COOL), COOL / 2);
    }

    #[test]
    fn meter_estimates_steady_rates() {
        let mut m = Meter::default();
        assert_eq!(m.rate(0), 0.0);
        let mut now = 3 * SEC;
        for _ in 0..1_000 {
            m.record(now);
            now += SEC / 20; // 20/s
        }
        let r = m.rate(now);
        assert!((r - 20.0).abs() < 1.5, "{r}");
        // Silence empties the window.
        assert_eq!(m.rate(now + 3 * METER_WINDOW), 0.0);
    }

    #[test]
    fn meter_uses_short_history_when_new() {
        let mut m = Meter::default();
        for i in 0..10 {
            m.record(i * SEC / 5); // 5/s for 2 s
        }
        let r = m.rate(2 * SEC);
        assert!((r - 5.0).abs() < 0.01, "{r}");
    }
}
