//! Where SNS signing certificates come from: a trait, so tests serve their own, and the
//! production source, which fetches over HTTPS (rustls with *ring*, the webpki roots) with
//! a timeout, no redirects and a size cap, and caches each URL's PEM (SNS rotates its
//! certificates rarely, and each new one has a new URL).

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What [`CertSource::cert_pem`] returns.
pub type CertFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Gives the PEM certificate at a `SigningCertURL` that has already been checked to be
/// `https://sns.<region>.amazonaws.com/….pem`.
pub trait CertSource: Send + Sync {
    fn cert_pem<'a>(&'a self, url: &'a str) -> CertFuture<'a>;
}

/// Gives nothing: for deployments without SES, and for tests that must not fetch.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCerts;

impl CertSource for NoCerts {
    fn cert_pem<'a>(&'a self, _url: &'a str) -> CertFuture<'a> {
        Box::pin(async { Err("no certificate source".to_string()) })
    }
}

/// The largest certificate file accepted.
const MAX_PEM_BYTES: usize = 64 * 1024;
/// URLs kept; the cache is emptied when it would grow past this.
const MAX_CACHED: usize = 32;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches certificates over HTTPS and keeps them per URL.
pub struct HttpsCertSource {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    /// Where to connect instead of resolving the host (tests only; the TLS name is still
    /// the URL's host).
    connect_to: Option<SocketAddr>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for HttpsCertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsCertSource").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl HttpsCertSource {
    /// Trusts the webpki roots (Mozilla's list).
    pub fn new() -> Result<HttpsCertSource, rustls::Error> {
        let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        HttpsCertSource::with_roots(roots, None)
    }

    /// Trusts `roots` only, and connects to `connect_to` when given.
    pub fn with_roots(roots: RootCertStore, connect_to: Option<SocketAddr>) -> Result<HttpsCertSource, rustls::Error> {
        // The provider is named: with both *ring* and aws-lc-rs compiled in (other crates
        // enable the latter), rustls has no process default to pick.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpsCertSource {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout: DEFAULT_TIMEOUT,
            connect_to,
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let rest = url.strip_prefix("https://").ok_or("not an https URL")?;
        let (host, path) = rest.find('/').map(|i| rest.split_at(i)).ok_or("URL has no path")?;
        let addr = match self.connect_to {
            Some(addr) => addr,
            None => tokio::net::lookup_host((host, 443))
                .await
                .map_err(|e| format!("resolving the certificate host: {e}"))?
                .next()
                .ok_or("the certificate host has no address")?,
        };
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connecting: {e}"))?;
        let name = ServerName::try_from(host.to_string()).map_err(|e| format!("host name: {e}"))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            driver.abort();
            return Err(format!("certificate URL answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_PEM_BYTES).collect().await;
        driver.abort();
        Ok(body.map_err(|e| format!("reading the certificate: {e}"))?.to_bytes().to_vec())
    }
}

impl CertSource for HttpsCertSource {
    fn cert_pem<'a>(&'a self, url: &'a str) -> CertFuture<'a> {
        Box::pin(async move {
            let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(url).cloned();
            if let Some(pem) = cached {
                return Ok(pem.as_ref().clone());
            }
            let pem = tokio::time::timeout(self.timeout, self.fetch(url))
                .await
                .map_err(|_| "fetching the certificate timed out".to_string())??;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(url.to_string(), Arc::new(pem.clone()));
            Ok(pem)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CA: &str = include_str!("testdata/tls-ca.pem");
    const SERVER_CERT: &str = include_str!("testdata/tls-server-cert.pem");
    const SERVER_KEY: &str = include_str!("testdata/tls-server-key.pem");
    const PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";

    /// A TLS server for sns.us-east-1.amazonaws.com on 127.0.0.1 answering `status` with
    /// `body` to every request, and counting requests.
    async fn serve(status: &'static str, body: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
        let certs = vec![CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            }
        });
        (addr, hits)
    }

    fn source(addr: SocketAddr) -> HttpsCertSource {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(CA.as_bytes()).unwrap()).unwrap();
        HttpsCertSource::with_roots(roots, Some(addr)).unwrap()
    }

    #[tokio::test]
    async fn fetches_over_https_once_per_url() {
        let (addr, hits) = serve("200 OK", PEM).await;
        let certs = source(addr);
        assert_eq!(certs.cert_pem(URL).await.unwrap(), PEM);
        assert_eq!(certs.cert_pem(URL).await.unwrap(), PEM);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the second look-up is served from the cache");
    }

    #[tokio::test]
    async fn an_error_status_is_an_error_and_is_not_cached() {
        let (addr, hits) = serve("404 Not Found", b"nope").await;
        let certs = source(addr);
        assert!(certs.cert_pem(URL).await.is_err());
        assert!(certs.cert_pem(URL).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_server_not_trusted_by_the_roots_is_refused() {
        let (addr, _) = serve("200 OK", PEM).await;
        let certs = HttpsCertSource::with_roots(RootCertStore::empty(), Some(addr)).unwrap();
        let err = certs.cert_pem(URL).await.unwrap_err();
        assert!(err.starts_with("TLS"), "{err}");
    }

    #[tokio::test]
    async fn the_production_roots_build() {
        assert!(HttpsCertSource::new().is_ok());
    }
}
