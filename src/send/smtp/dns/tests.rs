//! Domain-check tests. None needs real DNS: this machine (and CI) may have no network.

use std::sync::Arc;

use hickory_resolver::net::NoRecords;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::rdata::{A, MX};
use tokio::time::advance;

use super::*;

const SEC: Duration = Duration::from_secs(1);

fn cache(capacity: usize) -> DnsCache {
    DnsCache::new(&HickoryCheckConfig { cache_capacity: capacity, ..Default::default() })
}

fn no_records(code: ResponseCode) -> NetError {
    NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(Query::default(), code)))
}

fn mx(exchange: &str) -> Record {
    let name = Name::from_ascii("example.com.").unwrap();
    Record::from_rdata(name, 300, RData::MX(MX::new(10, Name::from_ascii(exchange).unwrap())))
}

#[tokio::test]
async fn no_check_accepts_everything() {
    assert_eq!(NoCheck.check("definitely-not-a-domain.invalid").await, DomainStatus::Exists);
}

#[tokio::test]
async fn fake_answers_from_its_map() {
    let fake = FakeCheck::new()
        .with("Example.COM", DomainStatus::Exists)
        .with("flaky.example", DomainStatus::Transient("SERVFAIL".into()));
    assert_eq!(fake.check("example.com.").await, DomainStatus::Exists);
    assert_eq!(fake.check("flaky.example").await, DomainStatus::Transient("SERVFAIL".into()));
    assert_eq!(fake.check("nowhere.example").await, DomainStatus::NoSuchDomain);
    fake.set("nowhere.example", DomainStatus::Exists);
    assert_eq!(fake.check("NOWHERE.example").await, DomainStatus::Exists);
    assert_eq!(fake.calls(), 4);
    let lenient = FakeCheck::new().with_default(DomainStatus::Exists);
    assert_eq!(lenient.check("anything.example").await, DomainStatus::Exists);
}

#[tokio::test]
async fn checks_can_run_on_spawned_tasks() {
    // The trait promises Send futures; prove it for each implementation.
    async fn spawn_check<C: DomainCheck + 'static>(c: Arc<C>) -> DomainStatus {
        tokio::spawn(async move { c.check("example.com").await }).await.unwrap()
    }
    assert_eq!(spawn_check(Arc::new(NoCheck)).await, DomainStatus::Exists);
    assert_eq!(spawn_check(Arc::new(FakeCheck::new())).await, DomainStatus::NoSuchDomain);
    let cfg = HickoryCheckConfig { timeout: SEC, ..Default::default() };
    let hickory = HickoryCheck::with_name_servers(&["127.0.0.1:1".parse().unwrap()], cfg).unwrap();
    assert!(matches!(spawn_check(Arc::new(hickory)).await, DomainStatus::Transient(_)));
}

#[tokio::test(start_paused = true)]
async fn cache_keeps_answers_for_their_ttl() {
    let mut c = cache(100);
    c.insert("yes.example".into(), DomainStatus::Exists, Instant::now());
    c.insert("no.example".into(), DomainStatus::NoSuchDomain, Instant::now());
    c.insert("flaky.example".into(), DomainStatus::Transient("timeout".into()), Instant::now());
    assert_eq!(c.get("flaky.example", Instant::now()), None, "transient answers are not cached");
    advance(600 * SEC - Duration::from_millis(1)).await;
    assert_eq!(c.get("no.example", Instant::now()), Some(DomainStatus::NoSuchDomain));
    advance(Duration::from_millis(1)).await;
    assert_eq!(c.get("no.example", Instant::now()), None, "negative TTL is 10 minutes");
    assert_eq!(c.get("yes.example", Instant::now()), Some(DomainStatus::Exists));
    advance(3000 * SEC).await;
    assert_eq!(c.get("yes.example", Instant::now()), None, "positive TTL is an hour");
    assert!(c.entries.is_empty(), "expired entries are removed when read");
}

#[tokio::test(start_paused = true)]
async fn cache_is_bounded() {
    let mut c = cache(3);
    c.insert("a".into(), DomainStatus::NoSuchDomain, Instant::now()); // expires first
    c.insert("b".into(), DomainStatus::Exists, Instant::now());
    c.insert("c".into(), DomainStatus::Exists, Instant::now());
    c.insert("d".into(), DomainStatus::Exists, Instant::now());
    assert_eq!(c.entries.len(), 3);
    assert_eq!(c.get("a", Instant::now()), None);
    // Re-inserting a present key never evicts.
    c.insert("b".into(), DomainStatus::Exists, Instant::now());
    assert_eq!(c.entries.len(), 3);
    assert!(c.get("c", Instant::now()).is_some());
    // Expired entries go first.
    advance(3600 * SEC).await;
    c.insert("e".into(), DomainStatus::Exists, Instant::now());
    assert_eq!(c.entries.len(), 1);
    // Capacity 0 caches nothing.
    let mut off = cache(0);
    off.insert("a".into(), DomainStatus::Exists, Instant::now());
    assert!(off.entries.is_empty());
}

#[test]
fn negative_answers_are_told_apart_from_failures() {
    assert_eq!(negative(&no_records(ResponseCode::NXDomain)), Some(Negative::NxDomain));
    assert_eq!(negative(&no_records(ResponseCode::NoError)), Some(Negative::NoRecords));
    assert_eq!(negative(&no_records(ResponseCode::ServFail)), None);
    assert_eq!(negative(&NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))), None);
    assert_eq!(negative(&NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused))), None);
    assert_eq!(negative(&NetError::Timeout), None);
    assert_eq!(negative(&NetError::NoConnections), None);
}

#[test]
fn mx_answers() {
    assert_eq!(interpret_mx(&[]), None);
    let a = Record::from_rdata(Name::from_ascii("example.com.").unwrap(), 300, RData::A(A::new(192, 0, 2, 1)));
    assert_eq!(interpret_mx(&[a]), None, "no MX among the answers: fall back to A/AAAA");
    assert_eq!(interpret_mx(&[mx("mx1.example.com.")]), Some(DomainStatus::Exists));
    assert_eq!(interpret_mx(&[mx(".")]), Some(DomainStatus::NoSuchDomain), "null MX (RFC 7505)");
    assert_eq!(interpret_mx(&[mx("."), mx("mx1.example.com.")]), Some(DomainStatus::Exists));
}

/// A resolver that cannot reach any server must answer Transient, never NoSuchDomain, and
/// must not cache that.
#[tokio::test]
async fn unreachable_resolver_is_transient_and_not_cached() {
    let cfg = HickoryCheckConfig { timeout: 2 * SEC, ..Default::default() };
    let check = HickoryCheck::with_name_servers(&["127.0.0.1:1".parse().unwrap()], cfg).unwrap();
    let started = std::time::Instant::now();
    match check.check("example.com").await {
        DomainStatus::Transient(why) => {
            println!("unreachable resolver: {why} after {:?}", started.elapsed());
            assert!(!why.is_empty())
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(started.elapsed() < 5 * SEC, "the timeout bounds the check");
    assert_eq!(check.cached_entries(), 0);
}

#[tokio::test]
async fn answers_without_dns() {
    let cfg = HickoryCheckConfig { timeout: SEC, ..Default::default() };
    let check = HickoryCheck::with_name_servers(&["127.0.0.1:1".parse().unwrap()], cfg).unwrap();
    assert_eq!(check.check("[192.0.2.1]").await, DomainStatus::Exists);
    assert_eq!(check.check("").await, DomainStatus::NoSuchDomain);
    let too_long = format!("{}.example", "a".repeat(64));
    assert_eq!(check.check(&too_long).await, DomainStatus::NoSuchDomain);
    assert_eq!(check.check("bad..example").await, DomainStatus::NoSuchDomain);
    // Negative answers found without DNS are cached like any other.
    assert_eq!(check.cached_entries(), 3);
}

#[tokio::test]
async fn system_resolver_can_be_built() {
    // Whatever /etc/resolv.conf holds (or not), construction succeeds; no query is made.
    assert!(HickoryCheck::from_system(HickoryCheckConfig::default()).is_ok());
}
