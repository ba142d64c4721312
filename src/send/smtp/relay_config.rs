//! The settings of one SMTP relay (`[[smtp]]`), checked when the relay is built
//! ([`super::relay::SmtpRelay::new`]); re-exported from `relay.rs`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text for the whole session (only sensible for a relay on localhost or a private network).
    None,
    /// Plain connect, then STARTTLS; a relay that does not offer STARTTLS is refused (no silent downgrade).
    StartTls,
    /// Implicit TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

/// Settings of one relay.
#[derive(Clone)]
pub struct RelayConfig {
    /// Host name; also the name checked against the relay's TLS certificate.
    pub host: String,
    /// TCP port (25, 587, 465, ...).
    pub port: u16,
    /// How the session is secured.
    pub tls: TlsMode,
    /// User name and password for AUTH (PLAIN or LOGIN, whichever the relay offers).
    pub credentials: Option<(String, String)>,
    /// Most connections open to this relay at once, busy and idle together.
    pub max_connections: usize,
    /// Name sent with EHLO; `None` uses this machine's host name.
    pub hello_name: Option<String>,
    /// Limit on each network step: connecting, each command's reply, and sending the message with its reply.
    pub timeout: Duration,
    /// Extra trusted roots (PEM), e.g. the company CA of a private relay; the public web roots stay trusted.
    pub ca_file: Option<PathBuf>,
    /// A client certificate to present, for relays that require one.
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate (with its chain, PEM) and its private key.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The certificate, then any intermediates, in PEM.
    pub cert_file: PathBuf,
    /// Where the private key comes from.
    pub key: ClientKey,
}

/// Where a client certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1) comes from.
#[derive(Clone)]
pub enum ClientKey {
    /// A file that only its owner may read (mode 0600 or 0400); a looser mode is refused.
    File(PathBuf),
    /// The content of an environment variable.
    Env {
        /// The variable's name (shown in errors).
        var: String,
        /// Its value: the key itself.
        pem: String,
    },
}

// Hand-written so that logging a config never prints a key.
impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::File(path) => f.debug_tuple("File").field(path).finish(),
            ClientKey::Env { var, .. } => f.debug_struct("Env").field("var", var).field("pem", &"<redacted>").finish(),
        }
    }
}

// Hand-written so that logging a config never prints the password.
impl fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "<redacted>")))
            .field("max_connections", &self.max_connections)
            .field("hello_name", &self.hello_name)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("client_identity", &self.client_identity)
            .finish()
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::File(path) => write!(f, "{}", path.display()),
            ClientKey::Env { var, .. } => write!(f, "from the environment variable {var}"),
        }
    }
}

/// A [`RelayConfig`] that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RelayConfigError {
    /// `max_connections` was 0 or absurdly large.
    #[error("max_connections must be between 1 and {max}, got {got}", max = Semaphore::MAX_PERMITS)]
    MaxConnections {
        /// The configured value.
        got: usize,
    },
    /// The TLS settings could not be built.
    #[error("TLS setup for {host} failed: {reason}")]
    Tls {
        /// The relay host.
        host: String,
        /// What is wrong.
        reason: String,
    },
    /// `ca_file` cannot be read or holds no usable certificate.
    #[error("ca_file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `client_cert_file` cannot be read, holds no certificate, or does not match the key.
    #[error("client_cert_file {}: {reason}", path.display())]
    ClientCert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The client key cannot be read, is readable by others, or is not a PEM private key.
    #[error("client key {origin}: {reason}")]
    ClientKey {
        /// The file, or the environment variable.
        origin: String,
        /// What is wrong with it (never the key itself).
        reason: String,
    },
}
