//! Sending (DESIGN §4, §5): the queue's workers, the SMTP relays and the outbox, the
//! rate limits, retries and the send-time re-check.
//!
//! - [`relay`]: one SMTP relay driven command by command (MAIL, RCPT, a hook, DATA).
//! - [`outbox`]: the embedded default's "relay": `.eml` files in `data/outbox/`.
//! - [`send_error`]: what an attempt's failure means (permanent, transient, ambiguous).

pub mod mailer;
pub mod outbox;
pub mod relay;
pub mod send_error;
pub mod writer;
