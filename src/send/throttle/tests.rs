//! Throttle behaviour under tokio's paused (virtual) clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, advance, sleep};

use super::*;

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Asserts that `times` (admission instants, any order) never exceed a GCRA limit of `r`
/// with burst `burst`: in any closed window of length L at most burst + floor(L·r) cells.
fn assert_within_limit(times: &[Instant], r: f64, burst: u32) {
    let mut t: Vec<Instant> = times.to_vec();
    t.sort();
    for window in [0.0, 0.05, 0.5, 1.0, 3.0, 10.0] {
        let allowed = burst as usize + (window * r + 1e-9).floor() as usize;
        let mut j = 0;
        for i in 0..t.len() {
            while secs(t[i] - t[j]) > window {
                j += 1;
            }
            assert!(i - j < allowed, "{} cells within {window}s (allowed {allowed})", i - j + 1);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn n_messages_under_ten_per_second_take_n_minus_burst_tenths() {
    let t = Throttle::new(ThrottleConfig { global: Some(rate("10/s")), ..Default::default() });
    let start = Instant::now();
    let mut times = Vec::new();
    for i in 0..50 {
        t.acquire(0, &format!("d{i}.example")).await;
        times.push(Instant::now());
    }
    let elapsed = secs(start.elapsed());
    assert!(elapsed >= (50.0 - 10.0) / 10.0, "{elapsed}");
    assert!(elapsed < 4.1, "{elapsed}");
    assert_within_limit(&times, 10.0, 10);
    let stats = t.stats();
    assert!(stats.waits >= 40);
    assert!(stats.waited >= Duration::from_secs(4));
    assert_eq!(stats.wasted_tokens, 0);
}

#[tokio::test(start_paused = true)]
async fn per_domain_limit_holds_and_other_domains_are_unaffected() {
    let cfg =
        ThrottleConfig { domains: HashMap::from([("Slow.Example".to_string(), rate("2/s"))]), ..Default::default() };
    let t = Arc::new(Throttle::new(cfg));
    let slow = {
        let t = t.clone();
        tokio::spawn(async move {
            let mut times = Vec::new();
            for _ in 0..10 {
                t.acquire(0, "slow.example.").await; // case and trailing dot don't matter
                times.push(Instant::now());
            }
            times
        })
    };
    let fast = {
        let t = t.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..1_000 {
                t.acquire(0, "fast.example").await;
            }
            start.elapsed()
        })
    };
    assert_eq!(fast.await.unwrap(), Duration::ZERO);
    let times = slow.await.unwrap();
    assert!(secs(times[9] - times[0]) >= (10.0 - 2.0) / 2.0);
    assert_within_limit(&times, 2.0, 2);
    assert_eq!(t.current_rate("SLOW.example"), Some(2.0));
    assert_eq!(t.current_rate("fast.example"), None);
}

#[tokio::test(start_paused = true)]
async fn default_domain_rate_gives_each_domain_its_own_limiter() {
    let t = Throttle::new(ThrottleConfig { domain_default: Some(rate("1/s")), ..Default::default() });
    assert!(t.check(0, "a.example").is_ok());
    assert!(t.check(0, "b.example").is_ok());
    assert_eq!(t.check(0, "a.example"), Err(Duration::from_secs(1)));
    assert_eq!(t.current_rate("never-seen.example"), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn global_cap_holds_across_domains() {
    let cfg = ThrottleConfig { global: Some(rate("5/s")), domain_default: Some(rate("100/s")), ..Default::default() };
    let t = Arc::new(Throttle::new(cfg));
    let times = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|task| {
            let (t, times) = (t.clone(), times.clone());
            tokio::spawn(async move {
                for i in 0..5 {
                    t.acquire(0, &format!("d{task}-{i}.example")).await;
                    times.lock().unwrap().push(Instant::now());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(secs(start.elapsed()) >= (30.0 - 5.0) / 5.0);
    assert_within_limit(&times.lock().unwrap(), 5.0, 5);
    assert_eq!(t.stats().wasted_tokens, 0);
}

#[tokio::test(start_paused = true)]
async fn relay_caps_are_per_relay() {
    let cfg = ThrottleConfig { relays: vec![Some(rate("2/s")), Some(rate("3/s")), None], ..Default::default() };
    let t = Throttle::new(cfg);
    for _ in 0..2 {
        t.check(0, "x.example").unwrap();
    }
    assert_eq!(t.check(0, "x.example"), Err(Duration::from_millis(500)));
    for _ in 0..3 {
        t.check(1, "x.example").unwrap();
    }
    assert!(t.check(1, "x.example").is_err());
    for _ in 0..100 {
        t.check(2, "x.example").unwrap();
        t.check(7, "x.example").unwrap(); // no such relay: uncapped
    }
    advance(Duration::from_millis(500)).await;
    assert!(t.check(0, "x.example").is_ok());
}

/// The refusing limiter must not cost the others a token.
#[tokio::test(start_paused = true)]
async fn a_refusal_spends_no_tokens_elsewhere() {
    let cfg = ThrottleConfig {
        global: Some(rate("10/s")),
        relays: vec![Some(rate("10/s"))],
        domains: HashMap::from([("one.example".to_string(), rate("1/s"))]),
        ..Default::default()
    };
    let t = Throttle::new(cfg);
    t.check(0, "one.example").unwrap();
    for _ in 0..50 {
        assert!(t.check(0, "one.example").is_err());
    }
    // Global and relay still hold 9 of their 10 tokens.
    for i in 0..9 {
        t.check(0, &format!("other{i}.example")).unwrap();
    }
    assert!(t.check(0, "other.example").is_err());
    assert_eq!(t.stats().wasted_tokens, 0);
}

#[tokio::test(start_paused = true)]
async fn waits_report_the_longest_refusal() {
    let cfg = ThrottleConfig {
        global: Some(rate("1/s")),
        domains: HashMap::from([("slow.example".to_string(), rate("1/m"))]),
        ..Default::default()
    };
    let t = Throttle::new(cfg);
    t.check(0, "slow.example").unwrap();
    assert_eq!(t.check(0, "slow.example"), Err(Duration::from_secs(60)));
    assert_eq!(t.check(0, "other.example"), Err(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn concurrent_senders_never_exceed_any_limit() {
    let cfg = ThrottleConfig {
        global: Some(rate("20/s")),
        relays: vec![Some(rate("12/s")), Some(rate("12/s"))],
        domain_default: Some(rate("4/s")),
        domains: HashMap::from([("big.example".to_string(), rate("8/s"))]),
        ..Default::default()
    };
    let t = Arc::new(Throttle::new(cfg));
    let log = Arc::new(Mutex::new(Vec::<(usize, String, Instant)>::new()));
    let domains = ["big.example", "a.example", "b.example", "c.example"];
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (t, log) = (t.clone(), log.clone());
            tokio::spawn(async move {
                for i in 0..25 {
                    let relay = (task + i) % 2;
                    let domain = domains[(task * 7 + i * 3) % domains.len()];
                    t.acquire(relay, domain).await;
                    log.lock().unwrap().push((relay, domain.to_string(), Instant::now()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let log = log.lock().unwrap();
    let all: Vec<Instant> = log.iter().map(|e| e.2).collect();
    assert_eq!(all.len(), 400);
    assert_within_limit(&all, 20.0, 20);
    for relay in 0..2 {
        let times: Vec<Instant> = log.iter().filter(|e| e.0 == relay).map(|e| e.2).collect();
        assert_within_limit(&times, 12.0, 12);
    }
    for d in domains {
        let times: Vec<Instant> = log.iter().filter(|e| e.1 == d).map(|e| e.2).collect();
        let (r, b) = if d == "big.example" { (8.0, 8) } else { (4.0, 4) };
        assert_within_limit(&times, r, b);
    }
    assert_eq!(t.stats().wasted_tokens, 0);
}

#[tokio::test(start_paused = true)]
async fn throttle_signal_halves_then_recovers() {
    let cfg = ThrottleConfig {
        domains: HashMap::from([("mx.example".to_string(), rate("10/s"))]),
        ..Default::default() // cool-down 60 s
    };
    let t = Throttle::new(cfg);
    for _ in 0..10 {
        t.acquire(0, "mx.example").await;
    }
    t.on_throttled("MX.example");
    let signal_at = Instant::now();
    assert_eq!(t.current_rate("mx.example"), Some(5.0));
    // An echo right after the cut (a reply to a message already in flight) does not halve again.
    t.on_throttled("mx.example");
    assert_eq!(t.current_rate("mx.example"), Some(5.0));
    // Paced at 5/s with no fresh burst: 20 messages take at least 20 intervals of 0.2 s.
    let mut times = Vec::new();
    for _ in 0..20 {
        t.acquire(0, "mx.example").await;
        times.push(Instant::now());
    }
    assert!(secs(times[19] - signal_at) >= 20.0 * 0.2 - 1e-6, "{:?}", times[19] - signal_at);
    assert_within_limit(&times, 5.0, 1);
    // Recovery: +25 % of 10/s per quiet cool-down.
    tokio::time::sleep_until(signal_at + Duration::from_secs(59)).await;
    assert_eq!(t.current_rate("mx.example"), Some(5.0));
    advance(Duration::from_secs(1)).await;
    assert_eq!(t.current_rate("mx.example"), Some(7.5));
    advance(Duration::from_secs(60)).await;
    assert_eq!(t.current_rate("mx.example"), Some(10.0));
    // Back to the configured limiter, burst included.
    let start = Instant::now();
    for _ in 0..10 {
        t.acquire(0, "mx.example").await;
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn repeated_signals_keep_halving_down_to_the_floor() {
    let cfg = ThrottleConfig { domains: HashMap::from([("x.example".to_string(), rate("8/s"))]), ..Default::default() };
    let t = Throttle::new(cfg);
    let mut expected = 8.0;
    for _ in 0..12 {
        t.on_throttled("x.example");
        expected = f64::max(expected / 2.0, 1.0 / 60.0);
        assert_eq!(t.current_rate("x.example"), Some(expected));
        advance(Duration::from_secs(59)).await; // past any hold-off, within the cool-down
    }
    assert_eq!(t.current_rate("x.example"), Some(1.0 / 60.0));
}

#[tokio::test(start_paused = true)]
async fn unconfigured_domain_gets_half_its_observed_rate() {
    let t = Throttle::new(ThrottleConfig::default());
    for _ in 0..200 {
        t.acquire(0, "free.example").await;
        sleep(Duration::from_millis(50)).await; // 20/s
    }
    assert_eq!(t.current_rate("free.example"), None);
    t.on_throttled("free.example");
    let r = t.current_rate("free.example").unwrap();
    assert!((r - 10.0).abs() < 1.0, "{r}");
    // Nothing held back for a whole cool-down: the limit is dropped.
    advance(Duration::from_secs(60)).await;
    assert_eq!(t.current_rate("free.example"), None);
    assert!(t.check(0, "free.example").is_ok());
}

#[tokio::test(start_paused = true)]
async fn idle_domains_are_purged_only_when_replenished() {
    let cfg = ThrottleConfig {
        domain_default: Some(rate("10/s")),
        domains: HashMap::from([("hourly.example".to_string(), rate("1/h"))]),
        idle_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let t = Throttle::new(cfg);
    for i in 0..100 {
        t.check(0, &format!("d{i}.example")).unwrap();
    }
    t.check(0, "hourly.example").unwrap();
    t.check(0, "slowed.example").unwrap();
    t.on_throttled("slowed.example");
    assert_eq!(t.tracked_domains(), 102);
    advance(Duration::from_secs(61)).await;
    assert_eq!(t.purge_idle(), 100);
    // Dropping these two would forget a pending wait / a slow-down.
    assert!(t.check(0, "hourly.example").is_err());
    assert_eq!(t.current_rate("slowed.example"), Some(7.5)); // one quiet cool-down in
    assert_eq!(t.tracked_domains(), 2);
}

/// A receiving server that accepts at most `limit` messages in any one-second window and
/// answers "throttled" (421) above that.
struct FakeServer {
    limit: usize,
    accepted: VecDeque<Instant>,
}

impl FakeServer {
    fn offer(&mut self, now: Instant) -> bool {
        while self.accepted.front().is_some_and(|&t| now - t >= Duration::from_secs(1)) {
            self.accepted.pop_front();
        }
        if self.accepted.len() < self.limit {
            self.accepted.push_back(now);
            true
        } else {
            false
        }
    }
}

/// Sends for `minutes` of virtual time through the throttle to a server capped at `limit`/s,
/// with 20 ms per SMTP transaction (so an unthrottled sender would offer ~50/s). Returns
/// (accepted per second, share of attempts refused) over the last two thirds of the run.
async fn simulate(t: &Throttle, limit: usize, minutes: u64) -> (f64, f64) {
    let mut server = FakeServer { limit, accepted: VecDeque::new() };
    let start = Instant::now();
    let end = start + Duration::from_secs(minutes * 60);
    let warm = start + Duration::from_secs(minutes * 20);
    let (mut accepted, mut refused) = (0u64, 0u64);
    while Instant::now() < end {
        t.acquire(0, "mx.example").await;
        sleep(Duration::from_millis(20)).await;
        let now = Instant::now();
        let ok = server.offer(now);
        if !ok {
            t.on_throttled("mx.example");
            if std::env::var("SIM_TRACE").is_ok() {
                println!("{:8.2}s refused; rate now {:?}", secs(now - start), t.current_rate("mx.example"));
            }
        }
        if now >= warm {
            if ok { accepted += 1 } else { refused += 1 }
        }
    }
    let measured = secs(end - warm);
    (accepted as f64 / measured, refused as f64 / (accepted + refused) as f64)
}

#[tokio::test(start_paused = true)]
async fn simulation_converges_to_the_servers_rate_without_a_configured_rate() {
    let t = Throttle::new(ThrottleConfig::default());
    let (rate, refused) = simulate(&t, 5, 60).await;
    println!("unconfigured domain, server limit 5/s: accepted {rate:.2}/s, refused {:.2}%", refused * 100.0);
    assert!((3.0..=5.0).contains(&rate), "accepted {rate}/s");
    assert!(refused < 0.02, "refused share {refused}");
    assert_eq!(t.stats().wasted_tokens, 0);
}

#[tokio::test(start_paused = true)]
async fn simulation_converges_below_a_too_high_configured_rate() {
    let cfg =
        ThrottleConfig { domains: HashMap::from([("mx.example".to_string(), rate("20/s"))]), ..Default::default() };
    let t = Throttle::new(cfg);
    let (rate, refused) = simulate(&t, 4, 60).await;
    println!("configured 20/s, server limit 4/s: accepted {rate:.2}/s, refused {:.2}%", refused * 100.0);
    assert!((2.5..=4.0).contains(&rate), "accepted {rate}/s");
    assert!(refused < 0.02, "refused share {refused}");
}
