//! The `Rate` value type: "N per second/minute/hour" as written in Herald's configuration
//! (`"10/s"`, `"300/m"`, `"1000/h"`), with conversions to a per-second figure and to a
//! governor [`Quota`].

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

/// The time unit a [`Rate`] counts per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Per {
    /// Per second (`/s`).
    Second,
    /// Per minute (`/m`).
    Minute,
    /// Per hour (`/h`).
    Hour,
}

impl Per {
    /// Length of the unit.
    pub fn duration(self) -> Duration {
        match self {
            Per::Second => Duration::from_secs(1),
            Per::Minute => Duration::from_secs(60),
            Per::Hour => Duration::from_secs(3600),
        }
    }

    fn suffix(self) -> char {
        match self {
            Per::Second => 's',
            Per::Minute => 'm',
            Per::Hour => 'h',
        }
    }
}

/// A sending rate: `count` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: NonZeroU32,
    per: Per,
}

/// Why a rate string could not be parsed; the message names the value and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {value:?}: expected \"N/s\", \"N/m\" or \"N/h\" with N a positive integer (e.g. \"10/s\")")]
pub struct RateError {
    /// The rejected input, verbatim.
    pub value: String,
}

impl Rate {
    /// A rate of `count` per `per`.
    pub const fn new(count: NonZeroU32, per: Per) -> Self {
        Rate { count, per }
    }

    /// The number of messages per unit.
    pub fn count(&self) -> NonZeroU32 {
        self.count
    }

    /// The unit.
    pub fn per(&self) -> Per {
        self.per
    }

    /// The rate in messages per second.
    pub fn per_second(&self) -> f64 {
        f64::from(self.count.get()) / self.per.duration().as_secs_f64()
    }

    /// Time between two messages at a steady pace (never zero).
    pub fn interval(&self) -> Duration {
        let nanos = self.per.duration().as_nanos() / u128::from(self.count.get());
        // u32 counts over at most an hour cannot overflow u64 nanos; max(1) keeps it non-zero.
        Duration::from_nanos((nanos as u64).max(1))
    }

    /// The burst this rate allows: one second's worth of messages, at least 1.
    ///
    /// `N/s` therefore bursts `N` (the usual token-bucket reading), while `120/m` bursts 2 and
    /// `30/m` or any `/h` rate bursts 1. Letting `300/m` fire 300 messages at once would be
    /// exactly the kind of spike a receiving domain's rate limit punishes.
    pub fn burst(&self) -> NonZeroU32 {
        let per_second = u64::from(self.count.get()).div_ceil(self.per.duration().as_secs());
        NonZeroU32::new(per_second as u32).unwrap_or(NonZeroU32::MIN)
    }

    /// A governor quota that replenishes one cell every [`interval`](Self::interval) and
    /// allows [`burst`](Self::burst) cells at once.
    pub fn quota(&self) -> Quota {
        // `with_period` only fails on a zero period, which `interval` rules out.
        Quota::with_period(self.interval()).expect("interval is never zero").allow_burst(self.burst())
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RateError { value: s.to_owned() };
        let (n, unit) = s.split_once('/').ok_or_else(err)?;
        let (n, unit) = (n.trim(), unit.trim());
        // Digits only: `u32::from_str` would also take a leading '+', which no one means here.
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let count = n.parse::<NonZeroU32>().map_err(|_| err())?;
        let per = match unit {
            "s" => Per::Second,
            "m" => Per::Minute,
            "h" => Per::Hour,
            _ => return Err(err()),
        };
        Ok(Rate { count, per })
    }
}

impl TryFrom<&str> for Rate {
    type Error = RateError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<String> for Rate {
    type Error = RateError;

    /// Lets configuration structs use `#[serde(try_from = "String")]`.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_three_units() {
        assert_eq!(rate("10/s"), Rate::new(NonZeroU32::new(10).unwrap(), Per::Second));
        assert_eq!(rate("300/m").per(), Per::Minute);
        assert_eq!(rate("1000/h").count().get(), 1000);
    }

    #[test]
    fn tolerates_whitespace() {
        assert_eq!(rate("  10 / s "), rate("10/s"));
        assert_eq!(rate("\t5/\tm\n"), rate("5/m"));
    }

    #[test]
    fn rejects_bad_values_naming_them() {
        for bad in [
            "",
            "10",
            "/s",
            "10/",
            "0/s",
            "-1/s",
            "+1/s",
            "1.5/s",
            "10/d",
            "10/S",
            "10/sec",
            "ten/s",
            "10/s/s",
            "99999999999/s",
        ] {
            let err = bad.parse::<Rate>().unwrap_err();
            assert_eq!(err.value, bad);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains("N/s") && msg.contains("N/m") && msg.contains("N/h"), "{msg}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["1/s", "10/s", "300/m", "4294967295/h"] {
            assert_eq!(rate(s).to_string(), s);
            assert_eq!(rate(&rate(s).to_string()), rate(s));
        }
        assert_eq!(rate(" 7 / m ").to_string(), "7/m");
    }

    #[test]
    fn per_second_figures() {
        assert_eq!(rate("10/s").per_second(), 10.0);
        assert_eq!(rate("120/m").per_second(), 2.0);
        assert_eq!(rate("3600/h").per_second(), 1.0);
        assert!((rate("1/m").per_second() - 1.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn bursts_are_one_seconds_worth() {
        assert_eq!(rate("10/s").burst().get(), 10);
        assert_eq!(rate("1/s").burst().get(), 1);
        assert_eq!(rate("120/m").burst().get(), 2);
        assert_eq!(rate("121/m").burst().get(), 3);
        assert_eq!(rate("30/m").burst().get(), 1);
        assert_eq!(rate("100000/h").burst().get(), 28);
        assert_eq!(rate("10/h").burst().get(), 1);
    }

    #[test]
    fn quota_matches_rate() {
        let q = rate("10/s").quota();
        assert_eq!(q.replenish_interval(), Duration::from_millis(100));
        assert_eq!(q.burst_size().get(), 10);
        let q = rate("30/m").quota();
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(q.burst_size().get(), 1);
        let q = rate("1/h").quota();
        assert_eq!(q.replenish_interval(), Duration::from_secs(3600));
    }

    #[test]
    fn interval_is_never_zero() {
        assert_eq!(rate("4294967295/s").interval(), Duration::from_nanos(1));
    }

    #[test]
    fn try_from_strings() {
        assert_eq!(Rate::try_from("2/h").unwrap(), rate("2/h"));
        assert!(Rate::try_from(String::from("x")).is_err());
    }
}
