//! Outbound consent webhooks (DESIGN §13, issue 15.6): every consent change a
//! `[[webhooks.out]]` asks for reaches the CRM at least once, signed, in order per
//! contact, across daemon crashes and CRM outages.
//!
//! - The outbox rows are written by the store in the ledger entry's own transaction
//!   (`store/outbound.rs`): a change that rolls back leaves no row, a committed one
//!   always has its rows. One row per (webhook, signal).
//! - [`payload`]: the JSON body of one signal and its signature headers.
//! - [`http`]: a minimal HTTP/1.1 POST over TCP or TLS (hyper and rustls, already in the
//!   tree for the SNS certificate fetch); no redirects, a timeout.
//! - [`worker`]: the daemon's delivery task: per webhook, under a lease (one deliverer
//!   per webhook, even with several daemons on one PostgreSQL), strictly in outbox order
//!   (head-of-line: a signal that fails blocks the ones after it until it is delivered or
//!   given up), with exponential backoff and jitter between attempts.
//! - [`keys`]: the HMAC keys, read from the environment variables the config names.
//! - [`status`]: what `herald webhooks status` shows.
//!
//! Delivery is at least once: a crash between the CRM's 2xx and the recorded delivery
//! sends the signal again, with the same `X-Herald-Event-Id`, which the CRM dedups on.

pub mod http;
pub mod keys;
pub mod payload;
pub mod status;
pub mod worker;

pub use keys::OutboundKeys;
pub use worker::{Worker, run};
