//! The daemon's inbound SMTP listener for the bounce domain (`[bounces] listen`): it
//! takes mail for `<anything>@<bounce_domain>` only — VERP bounce addresses, complaint
//! and auto-reply traffic, and the `unsubscribe+TOKEN@` mailto address — and never
//! relays. Each message is size-limited, put through the feedback rules (or the
//! unsubscribe) and only then answered `250`, so a message the relay saw accepted is
//! recorded; a failure answers `451` and the sending MTA tries again (ingesting is
//! idempotent).
//!
//! What clients may hold is bounded (issue 12, point 7; `[bounces]` keys): sessions in
//! all and per IP address (above them a newcomer gets `421` and is closed — a sending
//! MTA retries later), an idle time per command or message line, a time for a whole
//! message, and messages received at once (above it DATA gets `452`), so the memory
//! messages take is at most `max_concurrent_messages × max_message_bytes` (and a little
//! for parsing), and it is freed when each message is recorded.

use super::ingest::{self, IngestReport};
use super::smtp_command::{Command, parse_command};
use super::unsubscribe;
use crate::app::App;
use crate::connections::{Connections, Held, WhenFull};
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// Longest command line accepted (RFC 5321 allows 512 octets; a little slack).
const MAX_LINE: u64 = 2048;
/// Recipients per message.
const MAX_RCPT: usize = 100;

/// Binds `[bounces] listen`; the bound address is returned so `:0` can be used in tests.
pub async fn bind(listen: &str) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {listen} ([bounces] listen): {e}")))
}

/// Serves until `shutdown` turns true.
pub async fn serve(app: Arc<App>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let Some(domain) = app.config.sender.bounce_domain.clone() else {
        tracing::error!("[bounces] listen is set but [sender] bounce_domain is not: the bounce listener is off");
        return;
    };
    let limits = &app.config.bounces;
    let held = Connections::new(limits.max_connections.get(), limits.max_connections_per_ip.get(), WhenFull::Refuse);
    let messages = Arc::new(Semaphore::new(limits.max_concurrent_messages.get()));
    let mut refused: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(place) = held.admit(peer.ip()) else {
                        let _ = stream.try_write(format!("421 4.7.0 {domain} Too many connections, try again later\r\n").as_bytes());
                        refused += 1;
                        if refused.is_power_of_two() {
                            tracing::warn!(refused, "bounce listener: connection caps reached; refusing new connections");
                        }
                        continue;
                    };
                    let session = Session::new(app.clone(), domain.clone(), stream, place, messages.clone());
                    tokio::spawn(async move {
                        if let Err(e) = session.run().await {
                            tracing::debug!(error = %e, "bounce listener: session ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bounce listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}

struct Session {
    app: Arc<App>,
    domain: String,
    stream: BufReader<TcpStream>,
    from: Option<String>,
    to: Vec<String>,
    /// This session's place among the listener's connections, freed when it ends.
    _place: Held,
    /// Permits to receive a message; see `[bounces] max_concurrent_messages`.
    messages: Arc<Semaphore>,
    idle: Duration,
}

impl Session {
    fn new(app: Arc<App>, domain: String, stream: TcpStream, place: Held, messages: Arc<Semaphore>) -> Self {
        let idle = app.config.bounces.idle_timeout();
        Session {
            app,
            domain,
            stream: BufReader::new(stream),
            from: None,
            to: Vec::new(),
            _place: place,
            messages,
            idle,
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.stream.get_mut().write_all(text.as_bytes()).await?;
        self.stream.get_mut().write_all(b"\r\n").await
    }

    async fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(self.idle, (&mut self.stream).take(MAX_LINE).read_until(b'\n', &mut buf)).await;
        match read {
            Err(_) | Ok(Ok(0)) => Ok(None),
            Ok(Ok(_)) if !buf.ends_with(b"\n") => Err(std::io::Error::other("command line too long")),
            Ok(Ok(_)) => Ok(Some(String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned())),
            Ok(Err(e)) => Err(e),
        }
    }

    async fn run(mut self) -> std::io::Result<()> {
        let max = self.app.config.bounces.max_message_bytes;
        self.reply(&format!("220 {} Herald bounce receiver", self.domain)).await?;
        while let Some(line) = self.line().await? {
            match parse_command(&line) {
                Command::Ehlo => {
                    self.reset();
                    let text =
                        format!("250-{}\r\n250-SIZE {max}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES", self.domain);
                    self.reply(&text).await?;
                }
                Command::Helo => {
                    self.reset();
                    self.reply(&format!("250 {}", self.domain)).await?;
                }
                Command::Mail(_) if self.from.is_some() => self.reply("503 5.5.1 Nested MAIL command").await?,
                Command::Mail(Some(from)) => {
                    self.from = Some(from);
                    self.reply("250 2.1.0 Ok").await?;
                }
                Command::Mail(None) => self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await?,
                Command::Rcpt(to) => self.rcpt(to).await?,
                Command::Data => self.data(max).await?,
                Command::Rset => {
                    self.reset();
                    self.reply("250 2.0.0 Ok").await?;
                }
                Command::Noop => self.reply("250 2.0.0 Ok").await?,
                Command::Quit => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                Command::Vrfy => self.reply("252 2.5.2 Cannot verify").await?,
                Command::Unknown => self.reply("502 5.5.2 Command not implemented").await?,
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    async fn rcpt(&mut self, to: Option<String>) -> std::io::Result<()> {
        if self.from.is_none() {
            return self.reply("503 5.5.1 Need MAIL first").await;
        }
        let Some(to) = to else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let ours =
            to.rsplit_once('@').is_some_and(|(local, d)| !local.is_empty() && d.eq_ignore_ascii_case(&self.domain));
        if !ours {
            // Never an open relay: only the bounce domain is served here.
            return self.reply("550 5.7.1 Relaying denied").await;
        }
        if self.to.len() >= MAX_RCPT {
            return self.reply("452 4.5.3 Too many recipients").await;
        }
        self.to.push(to);
        self.reply("250 2.1.5 Ok").await
    }

    async fn data(&mut self, max: usize) -> std::io::Result<()> {
        if self.to.is_empty() {
            return self.reply("503 5.5.1 Need RCPT first").await;
        }
        // Held until the message is recorded: it bounds the memory messages take.
        let Ok(_receiving) = self.messages.clone().try_acquire_owned() else {
            return self.reply("452 4.3.1 Too many messages at once, try again later").await;
        };
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let deadline = Instant::now() + self.app.config.bounces.message_timeout();
        let mut message = Vec::new();
        let mut too_big = false;
        loop {
            let mut line = Vec::new();
            // Each read is capped: a line longer than the whole limit is already too big.
            let cap = max as u64 + 3;
            let until = deadline.min(Instant::now() + self.idle);
            let n = tokio::time::timeout_at(until, (&mut self.stream).take(cap).read_until(b'\n', &mut line)).await;
            match n {
                Err(_) | Ok(Ok(0)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(_)) => {}
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let unstuffed = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
            if message.len() + unstuffed.len() > max {
                too_big = true;
            } else {
                message.extend_from_slice(unstuffed);
            }
        }
        let recipients = std::mem::take(&mut self.to);
        let envelope_from = self.from.take().unwrap_or_default();
        if too_big {
            return self.reply(&format!("552 5.3.4 Message too big (limit {max} bytes)")).await;
        }
        match self.deliver(&envelope_from, &recipients, &message).await {
            Ok(()) => self.reply("250 2.0.0 Ok: recorded").await,
            Err(e) => {
                tracing::error!(error = %e, "bounce listener: cannot record a message");
                self.reply("451 4.3.0 Cannot record the message now, try again later").await
            }
        }
    }

    async fn deliver(&self, envelope_from: &str, recipients: &[String], message: &[u8]) -> Result<()> {
        let mut feedback_to = Vec::new();
        for to in recipients {
            match unsubscribe::token_of(to) {
                Some(token) => {
                    let done = unsubscribe::by_mail(&self.app, token, envelope_from, message).await?;
                    tracing::info!(outcome = ?done, "bounce listener: mail to the unsubscribe address");
                }
                None => feedback_to.push(to.clone()),
            }
        }
        if !feedback_to.is_empty() {
            let mut report = IngestReport::default();
            ingest::ingest_message(&self.app, message, "smtp", &feedback_to, &mut report).await?;
            tracing::info!(
                events = report.events,
                hard = report.hard,
                complaints = report.complaints,
                "bounce listener: message recorded"
            );
        }
        Ok(())
    }
}
