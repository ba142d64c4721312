//! `[web]`: the daemon's HTTP server — where it listens and what one client, or all of
//! them, may hold (issue 12, point 7). The defaults keep a flood of idle or half-sent
//! connections from taking the file descriptors `/healthz` needs.

use serde::Deserialize;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: String,
    /// Connections held at once over all clients. When full, a new connection takes the
    /// place of the oldest one that is not being answered (idle, or still sending its
    /// headers); when every one is being answered, it gets a quick `503`.
    pub max_connections: NonZeroUsize,
    /// Connections held at once from one IP address, with the same rule within them.
    pub max_connections_per_ip: NonZeroUsize,
    /// Time a client has to send a request's headers; a kept-alive connection waiting for
    /// its next request is closed after this long too.
    pub header_timeout_seconds: NonZeroU64,
    /// A connection that moves no byte for this long is closed, even with a request in
    /// hand (a client that stops sending its body, or reading its response).
    pub idle_timeout_seconds: NonZeroU64,
}

impl WebConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds.get())
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds.get())
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            max_connections: NonZeroUsize::new(512).expect("non-zero"),
            max_connections_per_ip: NonZeroUsize::new(128).expect("non-zero"),
            header_timeout_seconds: NonZeroU64::new(10).expect("non-zero"),
            idle_timeout_seconds: NonZeroU64::new(30).expect("non-zero"),
        }
    }
}
