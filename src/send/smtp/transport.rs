//! What the engine needs of a way to send mail: [`Transport`]. The configured one is the
//! [`super::mailer::Mailer`] (relays or outbox); tests use [`super::recording`].

use super::send_error::{Accepted, SendError};
use std::future::Future;

/// One prepared message for one recipient.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Names the message where the transport keeps it (the outbox's file name).
    pub id: &'a str,
    /// The envelope sender; empty for the null sender `<>`.
    pub envelope_from: &'a str,
    pub to: &'a str,
    pub bytes: &'a [u8],
}

/// How a [`Transport::send`] ended.
#[derive(Debug)]
pub enum Sent<R> {
    /// The content went out and the relay replied to it (or did not: an ambiguous
    /// [`SendError`]); carries what the `replied` hook returned.
    Replied(R),
    /// The content never went out: refused before DATA, no session, or the mark before
    /// DATA was refused ([`super::send_error::Stage::Aborted`]).
    NotSent(SendError),
}

/// A way to send one message at a time, through one of its routes (relays).
pub trait Transport: Send + Sync + 'static {
    /// How many messages may be in flight at once (the relays' connections together).
    fn concurrency(&self) -> usize;

    /// The route for the next message.
    fn pick(&self) -> usize;

    /// A name for route `route` (`host:port`, `outbox`), stored with each attempt.
    fn route_name(&self, route: usize) -> String;

    /// Sends `message` through `route`. `before_data` runs before the content goes out
    /// (see [`super::relay::SmtpRelay::send`] for when: on a pipelining session, possibly
    /// early, by the sender whose message this one's commands follow); the content goes
    /// only if it returns `true`. `replied` gets the relay's reply to the content as soon as
    /// it is in, before the session passes to another message, and what it returns comes
    /// back as [`Sent::Replied`]; it is not called when the content never went out.
    fn send<B, Fut, A, R>(
        &self,
        route: usize,
        message: Outgoing<'_>,
        before_data: B,
        replied: A,
    ) -> impl Future<Output = Sent<R>> + Send
    where
        B: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        A: FnOnce(Result<Accepted, SendError>) -> R + Send,
        R: Send;

    /// Politely closes idle sessions.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
