//! One SMTP relay, driven command by command.
//!
//! [`SmtpRelay`] talks to a configured relay through lettre's low-level [`AsyncSmtpConnection`] instead of
//! lettre's pooled `AsyncSmtpTransport`, because the high-level transport cannot do what a campaign sender
//! needs: it sends NOOP before every reuse, fails the whole send (and drops the connection) at the first
//! refused RCPT, and gives the caller no point between RCPT and DATA at which to record "this message is
//! about to be transmitted". Here one call to [`SmtpRelay::send`] is one transaction with one recipient:
//! MAIL, RCPT, a caller hook, DATA. Every outcome is classified ([`SendError`]) so the caller can tell a
//! refused recipient from a sick relay, and a certain failure from an unknown outcome.
//!
//! The outcome types live in `send_error.rs` and are shared with `FileOutbox` (`outbox.rs`); all three files
//! are siblings and refer to each other through `super::`. What goes on the wire besides lettre's commands (the
//! envelope checks, MAIL parameters, pipelined and dot-stuffed text) is in `wire.rs`; one network step under
//! the timeout and its classification in `step.rs`; the settings in `relay_config.rs`; the sessions themselves,
//! their permits and the line of waiting senders in `sessions.rs`; TLS (trusted roots, client certificate,
//! handshake on our own socket) in `relay_tls.rs`, and the plain-text opening of a STARTTLS session in
//! `starttls.rs`.
//!
//! Over 400 lines on purpose: it is one concept, a relay's transaction from MAIL to the
//! final reply with the hook between RCPT and DATA, and the pipelined variant of the same
//! transaction; cut in two, each half would need the other's private state.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::sync::Semaphore;

pub use super::relay_config::{ClientIdentity, ClientKey, RelayConfig, RelayConfigError, TlsMode};
use super::relay_tls::RelayTls;
pub use super::send_error::{Accepted, Cause, SendError, Stage};
use super::sessions::{BeforeData, Conn, Given, Permit, Sessions, Waiter};
use super::starttls;
use super::step::{StepError, classify, reply_text, step};
use super::transport::Sent;
use super::wire::{Raw, dot_stuffed, mail_parameters, parse_envelope};

/// A pool of sessions to one relay, shared by all senders for the whole run.
///
/// At most `max_connections` sessions are open at once: a sender must hold a permit (the right to use one
/// session) while it uses a session, and opens a new one only when it got no idle session with its permit,
/// so idle + busy never exceeds the number of permits. A session goes with its permit from sender to sender.
/// Idle sessions are reused without NOOP; a stale one shows itself at MAIL, where nothing has been sent
/// yet, and that one send is retried on a fresh session.
///
/// Senders that find no free permit wait in line. When the relay offers PIPELINING, a sender about to
/// write its message takes the first in line and writes that sender's MAIL, RCPT and DATA behind its own
/// message's final "." in the same write (RFC 2920 allows commands after the content), then passes the
/// session on: one round trip per message instead of two.
pub struct SmtpRelay {
    config: RelayConfig,
    hello: ClientId,
    tls: Option<RelayTls>,
    credentials: Option<Credentials>,
    sessions: Arc<Sessions>,
    live: Arc<AtomicUsize>,
}

impl SmtpRelay {
    /// Checks the configuration and builds the TLS settings; opens no connection yet.
    pub fn new(config: RelayConfig) -> Result<Self, RelayConfigError> {
        if config.max_connections == 0 || config.max_connections > Semaphore::MAX_PERMITS {
            return Err(RelayConfigError::MaxConnections { got: config.max_connections });
        }
        let tls = match config.tls {
            TlsMode::None => None,
            // rustls with the webpki roots and `ca_file`, certificate and host name both verified.
            TlsMode::StartTls | TlsMode::Tls => Some(RelayTls::new(&config)?),
        };
        if config.tls == TlsMode::None && config.credentials.is_some() {
            tracing::warn!(host = %config.host, "SMTP credentials will be sent without TLS");
        }
        let hello = config.hello_name.clone().map_or_else(ClientId::default, ClientId::Domain);
        let credentials = config.credentials.clone().map(|(user, pass)| Credentials::new(user, pass));
        let sessions = Sessions::new(config.max_connections);
        Ok(Self { config, hello, tls, credentials, sessions, live: Arc::default() })
    }

    /// The configuration this relay was built from.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Sessions currently open to the relay, busy or idle.
    pub fn open_connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Sends `message` from `envelope_from` (empty for the null sender `<>`) to the single recipient `rcpt`.
    ///
    /// `before_data` runs before the message's content goes out; the caller records there, durably, that the
    /// message is being transmitted. If it returns `false` the transaction is ended and the result is a
    /// [`Stage::Aborted`] error: nothing was transmitted. Its result is awaited only once the relay has
    /// accepted MAIL and RCPT (and DATA, when pipelining); on a session that does not pipeline it is not
    /// called at all when MAIL or RCPT fail. When this sender's commands follow another sender's message
    /// (PIPELINING), that sender calls `before_data` the moment the relay has replied to its own message,
    /// before this sender's replies are read (the future it returns is awaited by this sender, and not at
    /// all after a refusal): a refused MAIL or RCPT then comes after the call, and the caller must still
    /// record the refusal. Dropping the returned future closes the session it was using.
    pub async fn send<F, Fut>(
        &self,
        envelope_from: &str,
        rcpt: &str,
        message: &[u8],
        before_data: F,
    ) -> Result<Accepted, SendError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        match self.send_and_then(envelope_from, rcpt, message, before_data, |result| result).await {
            Sent::Replied(result) => result,
            Sent::NotSent(err) => Err(err),
        }
    }

    /// [`SmtpRelay::send`], calling `after_reply` with the result as soon as the content went out and the
    /// relay replied to it (or did not), before the session passes to another sender: what the caller
    /// records there comes before anything the next sender on this session records. Not called when the
    /// content never went out ([`Sent::NotSent`]); what it returns comes back as [`Sent::Replied`].
    pub async fn send_and_then<F, Fut, A, R>(
        &self,
        envelope_from: &str,
        rcpt: &str,
        message: &[u8],
        before_data: F,
        after_reply: A,
    ) -> Sent<R>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        A: FnOnce(Result<Accepted, SendError>) -> R,
    {
        match self.transact(envelope_from, rcpt, message, before_data, after_reply).await {
            Ok(replied) => Sent::Replied(replied),
            Err(err) => Sent::NotSent(err),
        }
    }

    /// [`SmtpRelay::send_and_then`]; an error means the content never went out.
    async fn transact<F, Fut, A, R>(
        &self,
        envelope_from: &str,
        rcpt: &str,
        message: &[u8],
        before_data: F,
        after_reply: A,
    ) -> Result<R, SendError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        A: FnOnce(Result<Accepted, SendError>) -> R,
    {
        let (from, to) = parse_envelope(envelope_from, rcpt)?;
        let eight_bit = !message.is_ascii();
        let before_data = BeforeData::new(before_data);
        let (mut permit, given) = self.sessions.acquire(&from, &to, eight_bit, &before_data).await?;
        let (mut conn, in_data) = self.start_transaction(&mut permit, given, from, to, eight_bit).await?;
        let limit = self.config.timeout;

        if !before_data.run().await {
            let err = SendError::new(Stage::Aborted, Cause::Aborted, None, "cancelled before DATA", false);
            if in_data {
                // The relay has said 354: the only way out of the data phase without a message is to
                // close the session (a relay never delivers a message whose final "." did not come).
                drop(conn);
            } else {
                self.end_open_transaction(&mut permit, conn, &err).await;
            }
            return Err(err);
        }
        if !in_data && let Err(failure) = step(limit, conn.smtp.command(Data)).await {
            let err = classify(Stage::Data, failure, false);
            self.end_open_transaction(&mut permit, conn, &err).await;
            return Err(err);
        }
        // From here on a lost connection or timeout leaves it unknown whether the relay took the message.
        // The content goes dot-stuffed and with its final "." in one write (lettre's `message` writes
        // them separately: two packets per message), followed by the next sender's MAIL, RCPT and DATA
        // when one is waiting and the relay pipelines.
        let Some(mut raw) = dot_stuffed(message) else {
            let sent = step(limit, conn.smtp.message(message)).await;
            return self.finish(&mut permit, conn, sent, None, after_reply);
        };
        let next = if conn.pipelining { self.sessions.next_waiter() } else { None };
        let next = match next {
            Some(w) => match mail_parameters(&conn.smtp, w.from.as_ref(), &w.to, w.eight_bit) {
                Ok(params) => {
                    let mail = Mail::new(w.from.clone(), params);
                    let rcpt = Rcpt::new(w.to.clone(), vec![]);
                    raw.push_str(&format!("{mail}{rcpt}{Data}"));
                    Some(w)
                }
                Err(_) => {
                    // It finds out for itself on the session it is given.
                    self.sessions.requeue(w);
                    None
                }
            },
            None => None,
        };
        let sent = step(limit, conn.smtp.command(Raw(&raw))).await;
        self.finish(&mut permit, conn, sent, next, after_reply)
    }

    /// The reply to the final "." is in: the outcome (first to `after_reply`), and the session passed on
    /// (to `next`, whose commands followed the message, or to the pool) if it can carry another transaction.
    fn finish<R>(
        &self,
        permit: &mut Permit,
        conn: Conn,
        sent: Result<Response, StepError>,
        next: Option<Waiter>,
        after_reply: impl FnOnce(Result<Accepted, SendError>) -> R,
    ) -> Result<R, SendError> {
        let result = match sent {
            Ok(response) => Ok(Accepted { reply: reply_text(&response) }),
            Err(failure) => Err(classify(Stage::Data, failure, true)),
        };
        // A negative reply to the final dot ends the transaction; the session is clean.
        let usable = match &result {
            Ok(_) => true,
            Err(err) => err.session_usable(),
        };
        let broken = conn.smtp.has_broken();
        let replied = after_reply(result);
        match next {
            // The next sender's commands are on this session: it reads their replies. If it has gone
            // meanwhile, the session (with commands in flight) is closed. Its `before_data` starts now,
            // behind what `after_reply` recorded, rather than once it has been woken and has read its
            // replies: the two then overlap (its result is awaited only after the 354).
            Some(waiter) if usable && !broken => {
                waiter.before_data.start();
                permit.pass(waiter, Given::Pipelined(conn));
            }
            // The session is gone with the next sender's commands: the next sender opens another.
            Some(waiter) => {
                drop(conn);
                permit.pass(waiter, Given::None);
            }
            None if usable => permit.keep(conn),
            None => {}
        }
        Ok(replied)
    }

    /// Sends QUIT on every idle session and closes it. Busy sessions finish their send and are pooled again.
    pub async fn close(&self) {
        let idle = self.sessions.take_idle();
        for mut conn in idle {
            // Best effort: the relay may already have dropped an idle session.
            let _ = step(self.config.timeout, conn.smtp.command(Quit)).await;
        }
    }

    /// Gets a session and has MAIL and RCPT accepted on it: when the relay offers PIPELINING (RFC 2920),
    /// MAIL, RCPT and DATA in one write (or already written by the previous sender: `Given::Pipelined`), and
    /// the session comes back in the data phase (`true`: the relay said 354); otherwise one round trip each
    /// for MAIL and RCPT. A reused session that turns out dead (connection gone, or 421) at MAIL is replaced
    /// by a fresh one once; nothing of the message has been sent at that point.
    async fn start_transaction(
        &self,
        permit: &mut Permit,
        mut given: Given,
        from: Option<Address>,
        to: Address,
        eight_bit: bool,
    ) -> Result<(Conn, bool), SendError> {
        let limit = self.config.timeout;
        loop {
            let (mut conn, written, reused) = match std::mem::replace(&mut given, Given::None) {
                Given::Pipelined(conn) => (conn, true, true),
                Given::Idle(conn) => (conn, false, true),
                Given::None => (self.connect().await?, false, false),
            };
            let mail_reply = if written {
                step(limit, conn.smtp.read_response()).await
            } else {
                let params = match mail_parameters(&conn.smtp, from.as_ref(), &to, eight_bit) {
                    Ok(params) => params,
                    Err(err) => {
                        permit.keep(conn);
                        return Err(err);
                    }
                };
                let mail = Mail::new(from.clone(), params);
                if conn.pipelining {
                    let rcpt = Rcpt::new(to.clone(), vec![]);
                    step(limit, conn.smtp.command(Raw(&format!("{mail}{rcpt}{Data}")))).await
                } else {
                    step(limit, conn.smtp.command(mail)).await
                }
            };
            if let Err(failure) = mail_reply {
                let err = classify(Stage::Mail, failure, false);
                let dead = err.cause == Cause::Connection || err.code == Some(421);
                if reused && dead {
                    tracing::debug!(host = %self.config.host, error = %err, "idle SMTP session was dead; reconnecting");
                    continue;
                }
                // A refused MAIL opens no transaction; a pipelined RCPT and DATA still have their
                // (refused) replies to read first.
                if err.session_usable() {
                    if conn.pipelining {
                        self.drain_pipelined(permit, conn, 2).await;
                    } else {
                        permit.keep(conn);
                    }
                }
                return Err(err);
            }
            let rcpt_reply = if conn.pipelining {
                step(limit, conn.smtp.read_response()).await
            } else {
                step(limit, conn.smtp.command(Rcpt::new(to.clone(), vec![]))).await
            };
            if let Err(failure) = rcpt_reply {
                let err = classify(Stage::Rcpt, failure, false);
                if conn.pipelining {
                    // DATA without a recipient is refused; MAIL's transaction is still open.
                    self.drain_pipelined(permit, conn, 1).await;
                } else {
                    self.end_open_transaction(permit, conn, &err).await;
                }
                return Err(err);
            }
            if !conn.pipelining {
                return Ok((conn, false));
            }
            if let Err(failure) = step(limit, conn.smtp.read_response()).await {
                let err = classify(Stage::Data, failure, false);
                self.end_open_transaction(permit, conn, &err).await;
                return Err(err);
            }
            return Ok((conn, true));
        }
    }

    /// Opens a session: connect, TLS (implicit, or after STARTTLS) if configured, greeting, EHLO, AUTH.
    async fn connect(&self) -> Result<Conn, SendError> {
        let limit = self.config.timeout;
        let server = (self.config.host.as_str(), self.config.port);
        // Our own socket, to turn Nagle's algorithm off: lettre writes the message and the final "."
        // separately, and with Nagle on the second write waits for the relay's delayed ACK (~40 ms on
        // Linux) on every message. TLS runs on this same socket (`relay_tls.rs`).
        let io_error =
            |e: std::io::Error| SendError::new(Stage::Connect, Cause::Connection, None, e.to_string(), false);
        let mut tcp = match tokio::time::timeout(limit, tokio::net::TcpStream::connect(server)).await {
            Ok(tcp) => tcp.map_err(io_error)?,
            Err(_) => return Err(SendError::new(Stage::Connect, Cause::Timeout, None, "timed out", false)),
        };
        tcp.set_nodelay(true).map_err(io_error)?;
        let timed_out = || SendError::new(Stage::Connect, Cause::Timeout, None, "TLS handshake timed out", false);
        let transport: Box<dyn AsyncTokioStream> = match (self.config.tls, &self.tls) {
            (TlsMode::Tls, Some(tls)) => {
                Box::new(tokio::time::timeout(limit, tls.handshake(tcp)).await.map_err(|_| timed_out())??)
            }
            (TlsMode::StartTls, Some(tls)) => {
                let reply = starttls::open(&mut tcp, &self.hello, limit).await?;
                let stream = tokio::time::timeout(limit, tls.handshake(tcp)).await.map_err(|_| timed_out())??;
                // lettre reads a greeting first: the reply to STARTTLS stands in for it, then EHLO again.
                Box::new(stream.with_greeting(&reply))
            }
            _ => Box::new(tcp),
        };
        let connecting = AsyncSmtpConnection::connect_with_transport(transport, &self.hello);
        let smtp = match step(limit, connecting).await {
            Ok(smtp) => smtp,
            Err(StepError::Smtp(e))
                if let Some(text) = self.tls.as_ref().and_then(|t| t.explain_after_handshake(&e)) =>
            {
                return Err(SendError::new(Stage::Connect, Cause::Connection, None, text, false));
            }
            Err(failure) => return Err(classify(Stage::Connect, failure, false)),
        };
        // Counted from here so that every early return below drops (and uncounts) the session.
        let mut conn = Conn::new(smtp, &self.live);

        // lettre keeps only the EHLO keywords it knows, and PIPELINING is not one of them: ask again.
        let ehlo = step(limit, conn.smtp.command(Ehlo::new(self.hello.clone())))
            .await
            .map_err(|f| classify(Stage::Connect, f, false))?;
        conn.pipelining = ehlo
            .message()
            .skip(1)
            .any(|line| line.split_whitespace().next().is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING")));
        if let Some(credentials) = &self.credentials {
            step(limit, conn.smtp.auth(DEFAULT_MECHANISMS, credentials))
                .await
                .map_err(|f| classify(Stage::Connect, f, false))?;
        }
        tracing::debug!(host = %self.config.host, open = self.open_connections(), "SMTP session opened");
        Ok(conn)
    }

    /// After a failure with a transaction open (MAIL accepted): RSET and pool the session if the relay is
    /// still talking normally, otherwise close it.
    async fn end_open_transaction(&self, permit: &mut Permit, mut conn: Conn, err: &SendError) {
        if (err.session_usable() || err.stage == Stage::Aborted)
            && step(self.config.timeout, conn.smtp.command(Rset)).await.is_ok()
        {
            permit.keep(conn);
        }
    }

    /// After a refusal in a pipelined group: reads the `pending` replies still to come (refusals: there
    /// is no transaction, or no recipient), then RSET (MAIL may have opened a transaction) and pools the
    /// session if the relay answered throughout. Should the relay have accepted a command that needed
    /// what it refused (a 354 to DATA without a recipient), the session is closed instead.
    async fn drain_pipelined(&self, permit: &mut Permit, mut conn: Conn, pending: usize) {
        for _ in 0..pending {
            match step(self.config.timeout, conn.smtp.read_response()).await {
                Err(StepError::Smtp(e)) if e.status().is_some() => {}
                _ => return,
            }
        }
        if step(self.config.timeout, conn.smtp.command(Rset)).await.is_ok() {
            permit.keep(conn);
        }
    }
}
