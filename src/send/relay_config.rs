//! The settings of one SMTP relay (`[[smtp]]`), checked when the relay is built
//! ([`super::relay::SmtpRelay::new`]); re-exported from `relay.rs`.

use std::fmt;
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
            .finish()
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
        /// lettre's explanation.
        reason: String,
    },
}
