//! One HTTP/1.1 POST to a webhook URL, over TCP (`http://`, loopback only, see
//! `config/webhooks.rs`) or TLS (`https://`, rustls with *ring* and the webpki roots, as
//! the SNS certificate fetch). No redirects (a 3xx is a failed attempt), one connection
//! per attempt, the response body is not read.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why an attempt failed: a status code or a transport error, never a response body
/// (which could echo personal data into `webhooks status`).
pub type AttemptError = String;

/// Posts JSON; shared by every webhook of a daemon.
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("outbound::http::Client")
    }
}

impl Client {
    /// Trusts the webpki roots (Mozilla's list).
    pub fn new() -> Result<Client, rustls::Error> {
        let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client { tls: tokio_rustls::TlsConnector::from(Arc::new(config)) })
    }

    /// POSTs `body` to `url` with `headers`; `Ok` on a 2xx answer within `timeout`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), AttemptError> {
        match tokio::time::timeout(timeout, self.post_once(url, headers, body)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn post_once(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<(), AttemptError> {
        let target = Target::parse(url)?;
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("connecting: {}", e.kind()))?;
        let request = build(&target, headers, body)?;
        if target.tls {
            let name = ServerName::try_from(target.host.clone()).map_err(|e| format!("host name: {e}"))?;
            let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            send(tls, request).await
        } else {
            send(tcp, request).await
        }
    }
}

async fn send<S>(io: S, request: hyper::Request<Full<Bytes>>) -> Result<(), AttemptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"));
    driver.abort();
    let status = response?.status();
    if status.is_success() { Ok(()) } else { Err(format!("HTTP {}", status.as_u16())) }
}

fn build(
    target: &Target,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, AttemptError> {
    let mut request = hyper::Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.host_header.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .header(hyper::header::CONNECTION, "close");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    request.body(Full::new(Bytes::from(body))).map_err(|e| format!("request: {e}"))
}

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `Host:` as the URL writes it (with a non-default port).
    host_header: String,
    /// Path and query.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, AttemptError> {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err("the URL is neither http:// nor https://".into()),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or("bad IPv6 host")?;
                (h.to_owned(), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            },
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| "bad port")?,
            None if tls => 443,
            None => 80,
        };
        Ok(Target { tls, host, port, host_header: authority.to_owned(), path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_path() {
        let t = Target::parse("https://crm.example/hooks/h?x=1#f").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.path.as_str()), (true, "crm.example", 443, "/hooks/h?x=1"));
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str(), t.host_header.as_str()), (false, 8080, "/", "127.0.0.1:8080"));
        let t = Target::parse("http://[::1]:9/h").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert!(Target::parse("ftp://x/").is_err());
    }
}
