//! TLS to a relay on Herald's own socket (`relay.rs`), for STARTTLS and implicit TLS alike.
//!
//! Herald does the handshake itself (tokio-rustls) rather than through lettre's `TlsParameters`, for
//! three reasons: the socket stays ours, so implicit-TLS sessions get `TCP_NODELAY` like plain ones;
//! lettre's `Identity::from_pem` hands the certificate's PEM text to rustls as if it were DER, so a
//! client certificate could not work through it; and a refused certificate can be explained (wrong
//! host name, expired, unknown authority) instead of lettre's "Connection error".
//!
//! Trusted roots: the public web PKI (webpki-roots) plus the `ca_file` of the relay, if any.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::relay_config::{ClientIdentity, ClientKey, RelayConfig, RelayConfigError};
use super::send_error::{Cause, SendError, Stage};

/// The TLS side of one relay: whom to trust, what to present, and the name to check.
pub(super) struct RelayTls {
    connector: TlsConnector,
    name: ServerName<'static>,
    /// `host:port`, for error messages.
    server: String,
}

impl RelayTls {
    /// Reads `ca_file` and the client identity of `config`; every error names the file and what is wrong.
    pub(super) fn new(config: &RelayConfig) -> Result<RelayTls, RelayConfigError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &config.ca_file {
            for cert in read_certs(path).map_err(|reason| RelayConfigError::CaFile { path: path.clone(), reason })? {
                roots.add(cert).map_err(|e| RelayConfigError::CaFile {
                    path: path.clone(),
                    reason: format!("a certificate in it cannot be used as a root: {e}"),
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RelayConfigError::Tls { host: config.host.clone(), reason: e.to_string() })?
            .with_root_certificates(roots);
        let client = match &config.client_identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = read_identity(identity)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| RelayConfigError::ClientCert {
                    path: identity.cert_file.clone(),
                    reason: format!("does not go with the private key {}: {e}", identity.key),
                })?
            }
        };
        let name = ServerName::try_from(config.host.clone()).map_err(|_| RelayConfigError::Tls {
            host: config.host.clone(),
            reason: "not a valid host name or IP address to check the certificate against".into(),
        })?;
        Ok(RelayTls {
            connector: TlsConnector::from(Arc::new(client)),
            name,
            server: format!("{}:{}", config.host, config.port),
        })
    }

    /// The TLS handshake on `tcp`, the relay's certificate checked against the trusted roots and the host name.
    pub(super) async fn handshake(&self, tcp: TcpStream) -> Result<RelayStream, SendError> {
        match self.connector.connect(self.name.clone(), tcp).await {
            Ok(tls) => Ok(RelayStream { tls, greeting: Vec::new() }),
            Err(e) => Err(SendError::new(
                Stage::Connect,
                Cause::Connection,
                None,
                format!("TLS with {} failed: {}", self.server, explain(&e)),
                false,
            )),
        }
    }
}

impl RelayTls {
    /// The first read after the handshake failed with a TLS error: in TLS 1.3 a relay refuses the client's
    /// certificate (or its absence) only after the client has finished the handshake. `None` for any other
    /// failure.
    pub(super) fn explain_after_handshake(&self, err: &(dyn std::error::Error + 'static)) -> Option<String> {
        let mut source = Some(err);
        while let Some(e) = source {
            // An io::Error's `source` skips the error it wraps: look inside it too.
            let wrapped = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
            let tls = e.downcast_ref::<rustls::Error>().or_else(|| wrapped?.downcast_ref::<rustls::Error>());
            if let Some(tls) = tls {
                return Some(format!("TLS with {} failed: {}", self.server, explain_tls(tls)));
            }
            source = e.source();
        }
        None
    }
}

/// Why a handshake failed, in words a marketer's admin can act on.
fn explain(err: &std::io::Error) -> String {
    match err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => explain_tls(tls),
        None => err.to_string(),
    }
}

fn explain_tls(tls: &rustls::Error) -> String {
    let hint = match tls {
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the relay requires a client certificate (client_cert_file)"
        }
        rustls::Error::AlertReceived(AlertDescription::BadCertificate | AlertDescription::UnknownCA) => {
            "the relay refused Herald's client certificate"
        }
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the relay's certificate is not valid for this host name"
            }
            CertificateError::ExpiredContext { not_after, .. } => {
                let day = chrono::DateTime::from_timestamp(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX), 0);
                return match day {
                    Some(day) => format!("the relay's certificate has expired (on {})", day.date_naive()),
                    None => "the relay's certificate has expired".to_owned(),
                };
            }
            CertificateError::Expired => "the relay's certificate has expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the relay's certificate is not valid yet"
            }
            CertificateError::UnknownIssuer => {
                "the relay's certificate is not signed by a trusted authority (a private CA goes in ca_file)"
            }
            _ => "the relay's certificate was refused",
        },
        _ => return tls.to_string(),
    };
    format!("{hint} ({tls})")
}

/// Every certificate in a PEM file; an error if there is none.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (a PEM \"BEGIN CERTIFICATE\" block was expected)".into());
    }
    Ok(certs)
}

fn read_identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), RelayConfigError> {
    let chain = read_certs(&identity.cert_file)
        .map_err(|reason| RelayConfigError::ClientCert { path: identity.cert_file.clone(), reason })?;
    let key_error = |reason: String| RelayConfigError::ClientKey { origin: identity.key.to_string(), reason };
    let pem = match &identity.key {
        ClientKey::File(path) => {
            check_private(path).map_err(key_error)?;
            std::fs::read(path).map_err(|e| key_error(format!("cannot be read: {e}")))?
        }
        ClientKey::Env { pem, .. } => pem.as_bytes().to_vec(),
    };
    // The key's own text never goes into an error: only what kind of problem it has.
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            key_error("holds no private key (a PEM \"BEGIN PRIVATE KEY\" block was expected)".into())
        }
        _ => key_error("is not a valid PEM private key".into()),
    })?;
    Ok((chain, key))
}

/// A private key file readable by others is refused, as ssh does: it must be mode 0600 (or 0400).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!("is readable by other users (mode {:o}): chmod 600 it", mode & 0o777));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// The TLS session handed to lettre. After STARTTLS, lettre (which expects to read a greeting first when
/// given a stream) is first shown the relay's reply to STARTTLS as that greeting: no byte of it comes from
/// the relay after the handshake, so nothing sent before TLS can be mistaken for a protected reply.
#[derive(Debug)]
pub(super) struct RelayStream {
    tls: TlsStream<TcpStream>,
    greeting: Vec<u8>,
}

impl RelayStream {
    /// Shows lettre `reply` (a complete SMTP reply, CRLF-terminated) before anything read from the relay.
    pub(super) fn with_greeting(mut self, reply: &[u8]) -> RelayStream {
        self.greeting = reply.to_vec();
        self
    }
}

impl AsyncRead for RelayStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.greeting.is_empty() {
            let n = self.greeting.len().min(buf.remaining());
            buf.put_slice(&self.greeting[..n]);
            self.greeting.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for RelayStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for RelayStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.tls.get_ref().0.peer_addr()
    }
}
