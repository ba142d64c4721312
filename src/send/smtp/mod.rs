//! The SMTP client (DESIGN §4): everything that knows how a message reaches a relay, and
//! nothing about campaigns, consent or the queue.
//!
//! - [`transport`]: the [`Transport`] trait, all the engine asks of this layer: send one
//!   prepared message, with a hook between RCPT and DATA (the mark-before-DATA guarantee)
//!   and one when the relay replied to the content.
//! - [`mailer`]: the configured transport: the `[[smtp]]` relays, or the outbox.
//! - [`relay`]: one SMTP relay driven command by command, with its sessions, pipelining
//!   and TLS (`sessions.rs`, `step.rs`, `wire.rs`, `relay_config.rs`, `relay_tls.rs`,
//!   `starttls.rs` are its parts).
//! - [`outbox`]: the embedded default's "relay": `.eml` files in `data/outbox/`.
//! - [`send_error`], [`reply`]: what a failure means (permanent, transient, ambiguous) and
//!   the class of a reply (hard or soft bounce, throttled, ...).
//! - [`dns`]: the recipient domain's existence check.
//! - [`recording`]: an in-memory [`Transport`] for tests, scripted per address.

pub mod dns;
pub mod mailer;
pub mod outbox;
pub mod recording;
pub mod relay;
mod relay_config;
mod relay_tls;
pub mod reply;
pub mod send_error;
mod sessions;
mod starttls;
mod step;
pub mod transport;
mod wire;

pub use transport::{Outgoing, Sent, Transport};
