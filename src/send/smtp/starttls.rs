//! The plain-text opening of a STARTTLS session (RFC 3207), on Herald's own socket: greeting, EHLO,
//! STARTTLS. Done here rather than by lettre so that the TLS handshake that follows is ours too
//! (`relay_tls.rs`); lettre takes over once the session is encrypted.

use std::time::Duration;

use lettre::transport::smtp::commands::{Ehlo, Starttls};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::send_error::{Cause, SendError, Stage};

/// Longest plain-text reply read before TLS; a relay that sends more is not speaking SMTP.
const MAX_REPLY: usize = 64 * 1024;

/// Greeting, EHLO and STARTTLS on `tcp`; returns the relay's (220) reply to STARTTLS. A relay that does not
/// offer STARTTLS is refused ([`Cause::Local`]): there is no fallback to plain text.
pub(super) async fn open(tcp: &mut TcpStream, hello: &ClientId, limit: Duration) -> Result<Vec<u8>, SendError> {
    let mut reader = Replies { tcp, pending: Vec::new(), limit };
    reader.expect(2).await?;
    reader.send(&Ehlo::new(hello.clone()).to_string()).await?;
    let ehlo = reader.expect(2).await?;
    let offered = ehlo
        .split(|&b| b == b'\n')
        .skip(1)
        .any(|line| line.get(4..).is_some_and(|k| k.trim_ascii().eq_ignore_ascii_case(b"STARTTLS")));
    if !offered {
        return Err(SendError::new(
            Stage::Connect,
            Cause::Local,
            None,
            "the relay does not offer STARTTLS (tls = \"starttls\" never falls back to plain text)",
            false,
        ));
    }
    reader.send(&Starttls.to_string()).await?;
    let reply = reader.expect(2).await?;
    // Anything the relay sent behind its reply would be read as if it came over TLS (CVE-2011-0411).
    if !reader.pending.is_empty() {
        return Err(connection("the relay sent data behind its reply to STARTTLS"));
    }
    Ok(reply)
}

fn connection(text: impl Into<String>) -> SendError {
    SendError::new(Stage::Connect, Cause::Connection, None, text, false)
}

struct Replies<'a> {
    tcp: &'a mut TcpStream,
    /// Bytes read and not yet part of a reply.
    pending: Vec<u8>,
    limit: Duration,
}

impl Replies<'_> {
    async fn send(&mut self, command: &str) -> Result<(), SendError> {
        match tokio::time::timeout(self.limit, self.tcp.write_all(command.as_bytes())).await {
            Ok(result) => result.map_err(|e| connection(e.to_string())),
            Err(_) => Err(SendError::new(Stage::Connect, Cause::Timeout, None, "timed out", false)),
        }
    }

    /// The next complete reply (all its lines, CRLF included); an error unless its code starts with `class`.
    async fn expect(&mut self, class: u8) -> Result<Vec<u8>, SendError> {
        let reply = match tokio::time::timeout(self.limit, self.next_reply()).await {
            Ok(reply) => reply?,
            Err(_) => return Err(SendError::new(Stage::Connect, Cause::Timeout, None, "timed out", false)),
        };
        let code = reply.get(..3).and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(code) if code / 100 == u16::from(class) => Ok(reply),
            Some(code) => {
                let text = String::from_utf8_lossy(&reply)
                    .lines()
                    .map(|l| l.get(4..).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(SendError::new(Stage::Connect, Cause::Reply, Some(code), text, false))
            }
            None => Err(connection("the relay's reply is not SMTP")),
        }
    }

    async fn next_reply(&mut self) -> Result<Vec<u8>, SendError> {
        loop {
            if let Some(end) = reply_end(&self.pending) {
                return Ok(self.pending.drain(..end).collect());
            }
            if self.pending.len() > MAX_REPLY {
                return Err(connection("the relay's reply is too long"));
            }
            let mut chunk = [0u8; 4096];
            let n = self.tcp.read(&mut chunk).await.map_err(|e| connection(e.to_string()))?;
            if n == 0 {
                return Err(connection("the relay closed the connection"));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Where the first complete reply in `buf` ends: after the line whose fourth byte is not `-`.
fn reply_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + nl + 1];
        start += nl + 1;
        if line.len() < 5 || line[3] != b'-' {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::reply_end;

    #[test]
    fn a_reply_ends_at_its_last_line() {
        assert_eq!(reply_end(b"250-a\r\n250 b\r\nrest"), Some(14));
        assert_eq!(reply_end(b"220 ready\r\n"), Some(11));
        assert_eq!(reply_end(b"250-a\r\n250-b"), None);
    }
}
