//! Recipient-domain existence check before sending: a domain that does not exist (NXDOMAIN,
//! no MX and no address, or a null MX) is a hard bounce found without an SMTP round trip;
//! any failure to get an answer is transient and never a bounce.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hickory_resolver::config::{GOOGLE, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record};
use hickory_resolver::{Resolver, ResolverBuilder, TokioResolver};
use tokio::time::Instant;

/// Whether mail can be delivered to a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainStatus {
    /// It has an MX, or failing that an A/AAAA record.
    Exists,
    /// NXDOMAIN; or it exists with no MX and no A/AAAA; or it publishes a null MX (RFC 7505);
    /// or the name is not a valid domain name. A hard bounce.
    NoSuchDomain,
    /// No answer (timeout, SERVFAIL, network error): retry later, never a bounce.
    Transient(String),
}

/// A domain existence check.
pub trait DomainCheck: Send + Sync {
    /// Checks `domain` (case-insensitive, trailing dot optional).
    fn check(&self, domain: &str) -> impl Future<Output = DomainStatus> + Send;
}

/// Canonical form: trimmed, no trailing dot, lowercase.
fn normalize(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// Accepts every domain; for `[dns] check_domains = false`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCheck;

impl DomainCheck for NoCheck {
    async fn check(&self, _domain: &str) -> DomainStatus {
        DomainStatus::Exists
    }
}

/// Answers from a map, for tests. Unlisted domains get the default answer (`NoSuchDomain`
/// unless changed).
#[derive(Debug)]
pub struct FakeCheck {
    answers: Mutex<HashMap<String, DomainStatus>>,
    default: DomainStatus,
    calls: AtomicUsize,
}

impl Default for FakeCheck {
    fn default() -> Self {
        FakeCheck { answers: Mutex::default(), default: DomainStatus::NoSuchDomain, calls: AtomicUsize::new(0) }
    }
}

impl FakeCheck {
    /// A fake where every domain is `NoSuchDomain`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the answer for unlisted domains.
    pub fn with_default(mut self, status: DomainStatus) -> Self {
        self.default = status;
        self
    }

    /// Adds an answer (builder form of [`set`](Self::set)).
    pub fn with(self, domain: &str, status: DomainStatus) -> Self {
        self.set(domain, status);
        self
    }

    /// Sets the answer for `domain`.
    pub fn set(&self, domain: &str, status: DomainStatus) {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner).insert(normalize(domain), status);
    }

    /// How many checks were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl DomainCheck for FakeCheck {
    async fn check(&self, domain: &str) -> DomainStatus {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.get(&normalize(domain)).cloned().unwrap_or_else(|| self.default.clone())
    }
}

/// Settings of [`HickoryCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HickoryCheckConfig {
    /// Longest a whole check (MX, then A/AAAA) may take before it counts as transient.
    pub timeout: Duration,
    /// How long an `Exists` answer is cached.
    pub positive_ttl: Duration,
    /// How long a `NoSuchDomain` answer is cached. Transient answers are never cached.
    pub negative_ttl: Duration,
    /// Most cached answers; 0 disables the cache.
    pub cache_capacity: usize,
}

impl Default for HickoryCheckConfig {
    fn default() -> Self {
        HickoryCheckConfig {
            timeout: Duration::from_secs(5),
            positive_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(600),
            cache_capacity: 10_000,
        }
    }
}

/// The resolver could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct DnsSetupError(#[from] NetError);

/// Bounded cache of answers with per-kind TTLs, on tokio's clock.
#[derive(Debug)]
struct DnsCache {
    entries: HashMap<String, (DomainStatus, Instant)>,
    capacity: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

impl DnsCache {
    fn new(cfg: &HickoryCheckConfig) -> Self {
        DnsCache {
            entries: HashMap::new(),
            capacity: cfg.cache_capacity,
            positive_ttl: cfg.positive_ttl,
            negative_ttl: cfg.negative_ttl,
        }
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<DomainStatus> {
        match self.entries.get(key) {
            Some((status, expires)) if now < *expires => Some(status.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: String, status: DomainStatus, now: Instant) {
        let ttl = match status {
            DomainStatus::Exists => self.positive_ttl,
            DomainStatus::NoSuchDomain => self.negative_ttl,
            // A failure to get an answer says nothing about the domain: ask again next time.
            DomainStatus::Transient(_) => return,
        };
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= self.capacity {
                // Still full of live entries: drop the one that would expire first.
                let victim = self.entries.iter().min_by_key(|(_, (_, expires))| *expires).map(|(k, _)| k.clone());
                if let Some(victim) = victim {
                    self.entries.remove(&victim);
                }
            }
        }
        self.entries.insert(key, (status, now + ttl));
    }
}

/// Why a lookup found nothing.
#[derive(Debug, PartialEq, Eq)]
enum Negative {
    /// NXDOMAIN: the name does not exist at all.
    NxDomain,
    /// NOERROR with no records of the type asked for.
    NoRecords,
}

/// Tells an authoritative "nothing there" apart from a failure to get an answer.
fn negative(err: &NetError) -> Option<Negative> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => Some(Negative::NxDomain),
            ResponseCode::NoError => Some(Negative::NoRecords),
            _ => None,
        },
        _ => None,
    }
}

/// What an MX answer says: `None` if it has no MX records (fall back to A/AAAA).
fn interpret_mx(answers: &[Record]) -> Option<DomainStatus> {
    let mut exchanges = answers.iter().filter_map(|r| match &r.data {
        RData::MX(mx) => Some(&mx.exchange),
        _ => None,
    });
    let first = exchanges.next()?;
    // RFC 7505: a single MX whose exchange is "." means "this domain accepts no mail".
    if first.is_root() && exchanges.all(Name::is_root) {
        Some(DomainStatus::NoSuchDomain)
    } else {
        Some(DomainStatus::Exists)
    }
}

/// Checks domains with hickory's tokio resolver: MX first, then A/AAAA when there is no MX,
/// with a timeout and a cache.
pub struct HickoryCheck {
    resolver: TokioResolver,
    cfg: HickoryCheckConfig,
    cache: Mutex<DnsCache>,
}

impl HickoryCheck {
    /// Uses the system configuration (`/etc/resolv.conf`), or hickory's default public
    /// resolvers if that is missing or unusable. Call inside a tokio runtime.
    pub fn from_system(cfg: HickoryCheckConfig) -> Result<Self, DnsSetupError> {
        let system = TokioResolver::builder_tokio().and_then(|b| Self::build(b, &cfg));
        let resolver = match system {
            Ok(resolver) => resolver,
            Err(_) => {
                let fallback = ResolverConfig::udp_and_tcp(&GOOGLE);
                Self::build(Resolver::builder_with_config(fallback, TokioRuntimeProvider::default()), &cfg)?
            }
        };
        Ok(Self::with_resolver(resolver, cfg))
    }

    /// Queries only the given name servers (UDP, then TCP).
    pub fn with_name_servers(servers: &[SocketAddr], cfg: HickoryCheckConfig) -> Result<Self, DnsSetupError> {
        let servers = servers
            .iter()
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections.iter_mut().for_each(|c| c.port = addr.port());
                ns
            })
            .collect();
        let builder =
            Resolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default());
        Ok(Self::with_resolver(Self::build(builder, &cfg)?, cfg))
    }

    /// Uses a resolver built elsewhere.
    pub fn with_resolver(resolver: TokioResolver, cfg: HickoryCheckConfig) -> Self {
        let cache = Mutex::new(DnsCache::new(&cfg));
        HickoryCheck { resolver, cfg, cache }
    }

    fn build(
        mut builder: ResolverBuilder<TokioRuntimeProvider>,
        cfg: &HickoryCheckConfig,
    ) -> Result<TokioResolver, NetError> {
        let opts = builder.options_mut();
        // Per-query timeout no longer than the whole check's, so a dead server is given up on
        // in time for the next one to be tried.
        opts.timeout = opts.timeout.min(cfg.timeout);
        builder.build()
    }

    /// Number of cached answers (for metrics).
    pub fn cached_entries(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).entries.len()
    }

    async fn lookup(&self, fqdn: &str) -> DomainStatus {
        match self.resolver.mx_lookup(fqdn).await {
            Ok(lookup) => {
                if let Some(status) = interpret_mx(lookup.answers()) {
                    return status;
                }
            }
            Err(e) => match negative(&e) {
                Some(Negative::NxDomain) => return DomainStatus::NoSuchDomain,
                Some(Negative::NoRecords) => {}
                None => return DomainStatus::Transient(format!("MX lookup for {fqdn}: {e}")),
            },
        }
        // No MX: RFC 5321 §5.1 falls back to the domain's own address.
        match self.resolver.lookup_ip(fqdn).await {
            Ok(ips) if ips.iter().next().is_some() => DomainStatus::Exists,
            Ok(_) => DomainStatus::NoSuchDomain,
            Err(e) if negative(&e).is_some() => DomainStatus::NoSuchDomain,
            Err(e) => DomainStatus::Transient(format!("A/AAAA lookup for {fqdn}: {e}")),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, DnsCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DomainCheck for HickoryCheck {
    async fn check(&self, domain: &str) -> DomainStatus {
        let key = normalize(domain);
        if key.starts_with('[') && key.ends_with(']') {
            // An address literal ("user@[192.0.2.1]") has nothing to look up.
            return DomainStatus::Exists;
        }
        if let Some(hit) = self.cache().get(&key, Instant::now()) {
            return hit;
        }
        // Fully qualified, so the resolver's search list is never appended.
        let fqdn = format!("{key}.");
        let status = if key.is_empty() || Name::from_utf8(&fqdn).is_err() {
            DomainStatus::NoSuchDomain
        } else {
            match tokio::time::timeout(self.cfg.timeout, self.lookup(&fqdn)).await {
                Ok(status) => status,
                Err(_) => {
                    DomainStatus::Transient(format!("DNS lookup for {key} timed out after {:?}", self.cfg.timeout))
                }
            }
        };
        // Concurrent checks of one uncached domain each query; the resolver's own cache
        // absorbs most of that, and deduplicating in-flight lookups isn't worth the code.
        self.cache().insert(key, status.clone(), Instant::now());
        status
    }
}

#[cfg(test)]
mod tests;

/// The check the config chose: `[dns] check_domains = true` (hickory, cached) or off;
/// tests hand in a fake. An enum rather than `dyn`: the trait's method returns
/// `impl Future`.
pub enum Dns {
    Hickory(Box<HickoryCheck>),
    Off(NoCheck),
    Fake(std::sync::Arc<FakeCheck>),
}

impl Dns {
    pub fn from_config(config: &crate::config::Config) -> crate::error::Result<Dns> {
        if !config.dns.check_domains {
            return Ok(Dns::Off(NoCheck));
        }
        HickoryCheck::from_system(HickoryCheckConfig::default())
            .map(|h| Dns::Hickory(Box::new(h)))
            .map_err(|e| crate::error::Error::Internal(anyhow::anyhow!("cannot set up DNS look-ups: {e}")))
    }

    pub async fn check(&self, domain: &str) -> DomainStatus {
        match self {
            Dns::Hickory(h) => h.check(domain).await,
            Dns::Off(n) => n.check(domain).await,
            Dns::Fake(f) => f.check(domain).await,
        }
    }
}
