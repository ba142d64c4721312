//! One client session of the fake server: the SMTP dialogue and the fault injection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

use super::{Behaviour, Phase, Received, Shared, lock};

/// Largest DATA accepted; beyond it the server answers 552 (keeps a runaway test from eating memory).
const MAX_DATA: usize = 50 * 1024 * 1024;

/// Keeps `current` right however a session ends, abort included.
pub(super) struct CurrentGuard(pub(super) Arc<Shared>);

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The session's connection: plain TCP, or TLS (from the first byte, or after STARTTLS).
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What a command handler wants next.
enum Next {
    Continue,
    Close,
}

pub(super) struct Session {
    stream: BufReader<Box<dyn Io>>,
    /// The session is encrypted.
    tls: bool,
    id: u64,
    shared: Arc<Shared>,
    _guard: CurrentGuard,
    authenticated: bool,
    from: Option<String>,
    to: Vec<String>,
    accepted_here: usize,
}

impl Session {
    pub(super) fn new(stream: Box<dyn Io>, tls: bool, id: u64, guard: CurrentGuard) -> Self {
        let shared = Arc::clone(&guard.0);
        let stream = BufReader::new(stream);
        Session {
            stream,
            tls,
            id,
            shared,
            _guard: guard,
            authenticated: false,
            from: None,
            to: vec![],
            accepted_here: 0,
        }
    }

    fn behaviour(&self) -> Behaviour {
        lock(&self.shared.behaviour).clone()
    }

    pub(super) async fn run(mut self) -> std::io::Result<()> {
        self.reply(220, "fake.smtp ESMTP ready").await?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.stream.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned();
            let (verb, arg) = text.split_once(' ').unwrap_or((&text, ""));
            let verb = verb.to_ascii_uppercase();
            lock(&self.shared.commands).push(verb.clone());
            if let Next::Close = self.handle(&verb, arg.trim()).await? {
                let _ = self.stream.get_mut().shutdown().await;
                return Ok(());
            }
        }
    }

    async fn handle(&mut self, verb: &str, arg: &str) -> std::io::Result<Next> {
        match verb {
            "EHLO" => {
                self.reset();
                let mut lines = vec![format!("fake.smtp greets {arg}")];
                lines.extend(["8BITMIME", "SIZE 52428800", "ENHANCEDSTATUSCODES"].map(String::from));
                let behaviour = self.behaviour();
                if !behaviour.no_smtputf8 {
                    lines.push("SMTPUTF8".to_owned());
                }
                if behaviour.auth.is_some() {
                    lines.push("AUTH PLAIN".to_owned());
                }
                if !behaviour.no_pipelining {
                    lines.push("PIPELINING".to_owned());
                }
                if behaviour.starttls.is_some() && !self.tls {
                    lines.push("STARTTLS".to_owned());
                }
                self.reply(250, &lines.join("\n")).await?;
            }
            "HELO" => {
                self.reset();
                self.reply(250, "fake.smtp").await?;
            }
            "AUTH" => return self.auth(arg).await,
            "MAIL" => return self.mail(arg).await,
            "RCPT" => return self.rcpt(arg).await,
            "DATA" => return self.data().await,
            "RSET" => {
                self.reset();
                self.reply(250, "2.0.0 Ok").await?;
            }
            "NOOP" => self.reply(250, "2.0.0 Ok").await?,
            "QUIT" => {
                self.reply(221, "2.0.0 Bye").await?;
                return Ok(Next::Close);
            }
            "STARTTLS" => return self.starttls().await,
            _ => self.reply(500, "5.5.2 Command not recognized").await?,
        }
        Ok(Next::Continue)
    }

    /// RFC 3207: 220, then the handshake; the session starts afresh (no EHLO, AUTH or transaction).
    async fn starttls(&mut self) -> std::io::Result<Next> {
        let config = match self.behaviour().starttls {
            Some(config) if !self.tls => config,
            _ => {
                self.reply(454, "4.7.0 TLS not available").await?;
                return Ok(Next::Continue);
            }
        };
        match self.behaviour().starttls_injection {
            Some(extra) => {
                let writer = self.stream.get_mut();
                writer.write_all(format!("220 2.0.0 Ready to start TLS\r\n{extra}\r\n").as_bytes()).await?;
                writer.flush().await?;
            }
            None => self.reply(220, "2.0.0 Ready to start TLS").await?,
        }
        // Whatever the client sent behind STARTTLS is thrown away with the buffer, as RFC 3207 requires.
        let placeholder: Box<dyn Io> = Box::new(tokio::io::duplex(1).0);
        let plain = std::mem::replace(&mut self.stream, BufReader::new(placeholder)).into_inner();
        match TlsAcceptor::from(config).accept(plain).await {
            Ok(tls) => {
                self.stream = BufReader::new(Box::new(tls));
                self.tls = true;
                self.authenticated = false;
                self.reset();
                Ok(Next::Continue)
            }
            Err(_) => {
                self.shared.tls_refused.fetch_add(1, Ordering::SeqCst);
                Ok(Next::Close)
            }
        }
    }

    async fn auth(&mut self, arg: &str) -> std::io::Result<Next> {
        let Some((user, pass)) = self.behaviour().auth else {
            self.reply(502, "5.5.1 AUTH not offered").await?;
            return Ok(Next::Continue);
        };
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            self.reply(504, "5.5.4 Only PLAIN").await?;
            return Ok(Next::Continue);
        }
        let mut response = initial.to_owned();
        if response.is_empty() {
            self.reply(334, "").await?;
            let mut line = Vec::new();
            self.stream.read_until(b'\n', &mut line).await?;
            response = String::from_utf8_lossy(&line).trim().to_owned();
        }
        if response == base64(format!("\0{user}\0{pass}").as_bytes()) {
            self.authenticated = true;
            self.reply(235, "2.7.0 Authentication successful").await?;
        } else {
            self.reply(535, "5.7.8 Authentication credentials invalid").await?;
        }
        Ok(Next::Continue)
    }

    async fn mail(&mut self, arg: &str) -> std::io::Result<Next> {
        let behaviour = self.behaviour();
        if self.from.is_some() {
            return self.answer(503, "5.5.1 Nested MAIL command").await;
        }
        if behaviour.auth.is_some() && !self.authenticated {
            return self.answer(530, "5.7.0 Authentication required").await;
        }
        if let Some((n, code, text)) = &behaviour.fail_after
            && self.accepted_here >= *n
        {
            return self.answer(*code, text).await;
        }
        if let Some((per_second, code, text)) = &behaviour.rate_limit
            && !self.take_rate_slot(*per_second)
        {
            return self.answer(*code, text).await;
        }
        self.from = Some(path_address(arg, "FROM:"));
        self.answer(250, "2.1.0 Ok").await
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<Next> {
        if self.from.is_none() {
            return self.answer(503, "5.5.1 Need MAIL first").await;
        }
        let rcpt = path_address(arg, "TO:");
        if let Some((code, text)) = self.take_rule(Phase::Rcpt, std::slice::from_ref(&rcpt)) {
            return self.answer(code, &text).await;
        }
        self.to.push(rcpt);
        self.answer(250, "2.1.5 Ok").await
    }

    async fn data(&mut self) -> std::io::Result<Next> {
        if self.to.is_empty() {
            return self.answer(554, "5.5.1 No valid recipients").await;
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.stream.read_until(b'\n', &mut line).await? == 0 {
                return Ok(Next::Close);
            }
            if line == b".\r\n" || line == b".\n" {
                if !self.stream.buffer().is_empty() {
                    self.shared.pipelined_after_data.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                break;
            }
            // Dot-unstuffing: a leading dot was doubled by the client.
            let content = if line.starts_with(b".") { &line[1..] } else { &line[..] };
            if data.len() + content.len() <= MAX_DATA {
                data.extend_from_slice(content);
            }
        }
        let behaviour = self.behaviour();
        let (from, to) = (self.from.take().unwrap_or_default(), std::mem::take(&mut self.to));
        if data.len() >= MAX_DATA {
            return self.answer(552, "5.3.4 Message too big").await;
        }
        if behaviour.drop_before_data_reply.any(&to) {
            return Ok(Next::Close);
        }
        tokio::time::sleep(behaviour.data_reply_delay).await;
        if let Some((code, text)) = self.take_rule(Phase::Data, &to) {
            return self.answer(code, &text).await;
        }
        let drop_after = behaviour.drop_after_data_reply.any(&to);
        let queue_id = {
            let mut received = lock(&self.shared.received);
            received.push(Received {
                from,
                to,
                data,
                connection: self.id,
                at: std::time::Instant::now(),
                tls: self.tls,
            });
            received.len()
        };
        self.accepted_here += 1;
        self.reply(250, &format!("2.0.0 Ok: queued as FAKE{queue_id}")).await?;
        Ok(if drop_after { Next::Close } else { Next::Continue })
    }

    /// Replies, and closes the session after a 421 as real servers do.
    async fn answer(&mut self, code: u16, text: &str) -> std::io::Result<Next> {
        self.reply(code, text).await?;
        Ok(if code == 421 { Next::Close } else { Next::Continue })
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        tokio::time::sleep(self.behaviour().reply_delay).await;
        let lines: Vec<&str> = text.split('\n').collect();
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{sep}{line}\r\n"));
        }
        let writer = self.stream.get_mut();
        writer.write_all(out.as_bytes()).await?;
        writer.flush().await
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    /// First rule for `phase` matching any of `rcpts` with uses left; uses one.
    fn take_rule(&self, phase: Phase, rcpts: &[String]) -> Option<(u16, String)> {
        let mut behaviour = lock(&self.shared.behaviour);
        let rule =
            behaviour.rules.iter_mut().find(|r| r.phase == phase && r.times != Some(0) && r.matcher.any(rcpts))?;
        if let Some(left) = rule.times.as_mut() {
            *left -= 1;
        }
        Some((rule.code, rule.text.clone()))
    }

    /// Sliding one-second window over MAIL commands of all sessions.
    fn take_rate_slot(&self, per_second: u32) -> bool {
        let now = Instant::now();
        let mut window = lock(&self.shared.rate_window);
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            window.pop_front();
        }
        if window.len() >= per_second as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// `FROM:<a@b> SIZE=1` → `a@b` (also tolerates a missing `<>` or a space after the colon).
fn path_address(arg: &str, prefix: &str) -> String {
    let rest = arg.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map_or(arg, |_| &arg[prefix.len()..]);
    let path = rest.trim_start().split(' ').next().unwrap_or("");
    path.trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Matcher;
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(path_address("FROM:<a@b.c> BODY=8BITMIME", "FROM:"), "a@b.c");
        assert_eq!(path_address("to: <x@y>", "TO:"), "x@y");
        assert_eq!(path_address("FROM:<>", "FROM:"), "");
        assert!(Matcher::Domain("Example.com".into()).matches("a@example.COM"));
        assert!(!Matcher::Address("a@b".into()).matches("aa@b"));
    }
}
