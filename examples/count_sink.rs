//! A counting SMTP sink for the scaling benchmark (`scripts/bench-scale.sh`): it accepts
//! every message, with PIPELINING (RFC 2920), and records each accepted message's
//! envelope recipients, so that a run can be checked for duplicates (an address that
//! received two messages) and losses (an eligible address that received none). Postfix's
//! `smtp-sink` counts nothing per recipient, hence this.
//!
//! A message counts as accepted when the sink answers `250` to its final "." (what a relay
//! answers when it takes responsibility for it). On SIGTERM or Ctrl-C it writes its report
//! and exits 0:
//!
//! ```text
//! cargo run --release --example count_sink -- --listen 127.0.0.1:0 \
//!     [--out REPORT] [--recipients FILE]
//! ```
//!
//! It prints `count_sink listening on ADDR` once bound. The report (`--out`, else stdout)
//! is `key value` lines: `messages` (accepted), `recipients` (accepted envelope
//! recipients), `distinct`, `duplicates` (recipients beyond the first per address),
//! `first_accepted` and `last_accepted` (Unix time, seconds with microseconds, empty when
//! nothing was accepted), `connections`. `--recipients` gets one `COUNT ADDRESS` line per
//! distinct address. Replies are buffered while pipelined commands are waiting in the
//! input and written when it is drained, as a relay that offers PIPELINING does, so one
//! round trip serves a whole group. It keeps up with several thousand messages a second
//! on one core.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};

/// What the sink has accepted so far, shared by every session.
#[derive(Default)]
struct Tally {
    /// Accepted messages per envelope recipient.
    by_recipient: HashMap<String, u32>,
    messages: u64,
    first: Option<f64>,
    last: Option<f64>,
}

impl Tally {
    fn accept(&mut self, recipients: &mut Vec<String>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        self.messages += 1;
        self.first.get_or_insert(now);
        self.last = Some(now);
        for r in recipients.drain(..) {
            *self.by_recipient.entry(r).or_default() += 1;
        }
    }

    fn report(&self, connections: u64) -> String {
        let recipients: u64 = self.by_recipient.values().map(|&c| u64::from(c)).sum();
        let distinct = self.by_recipient.len() as u64;
        let time = |t: Option<f64>| t.map(|t| format!("{t:.6}")).unwrap_or_default();
        format!(
            "messages {}\nrecipients {recipients}\ndistinct {distinct}\nduplicates {}\nfirst_accepted {}\nlast_accepted {}\nconnections {connections}\n",
            self.messages,
            recipients - distinct,
            time(self.first),
            time(self.last),
        )
    }
}

struct Args {
    listen: String,
    out: Option<String>,
    recipients: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { listen: "127.0.0.1:0".into(), out: None, recipients: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = value()?,
            "--out" => a.out = Some(value()?),
            "--recipients" => a.recipients = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: count_sink [--listen ADDR] [--out FILE] [--recipients FILE]"
                ));
            }
        }
    }
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = args().map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(&args.listen).await?;
    println!("count_sink listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let connections = Arc::new(AtomicU64::new(0));
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                connections.fetch_add(1, Ordering::Relaxed);
                let tally = tally.clone();
                tokio::spawn(async move {
                    // A session that breaks off mid-message has not had that message accepted.
                    let _ = session(stream, tally).await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let tally = tally.lock().unwrap_or_else(|p| p.into_inner());
    let report = tally.report(connections.load(Ordering::Relaxed));
    match &args.out {
        Some(path) => std::fs::write(path, &report)?,
        None => print!("{report}"),
    }
    if let Some(path) = &args.recipients {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut rows: Vec<_> = tally.by_recipient.iter().collect();
        rows.sort();
        for (address, count) in rows {
            writeln!(f, "{count} {address}")?;
        }
        f.flush()?;
    }
    Ok(())
}

/// One SMTP session: greeting, EHLO, any number of MAIL / RCPT / DATA transactions.
async fn session(stream: TcpStream, tally: Arc<Mutex<Tally>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut out = BufWriter::with_capacity(16 * 1024, w);
    out.write_all(b"220 count-sink ESMTP\r\n").await?;
    let mut line = Vec::with_capacity(1024);
    let mut recipients: Vec<String> = Vec::new();
    loop {
        if !next_line(&mut reader, &mut out, &mut line).await? {
            return Ok(());
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
        match verb.as_slice() {
            b"EHLO" => {
                out.write_all(
                    b"250-count-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n",
                )
                .await?
            }
            b"HELO" => out.write_all(b"250 count-sink\r\n").await?,
            b"MAIL" => {
                recipients.clear();
                out.write_all(b"250 2.1.0 Ok\r\n").await?
            }
            b"RCPT" => match address(&line) {
                Some(a) => {
                    recipients.push(a);
                    out.write_all(b"250 2.1.5 Ok\r\n").await?
                }
                None => out.write_all(b"501 5.1.3 Bad recipient address syntax\r\n").await?,
            },
            b"DATA" if recipients.is_empty() => out.write_all(b"503 5.5.1 No valid recipients\r\n").await?,
            b"DATA" => {
                out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                loop {
                    if !next_line(&mut reader, &mut out, &mut line).await? {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                tally.lock().unwrap_or_else(|p| p.into_inner()).accept(&mut recipients);
                out.write_all(b"250 2.0.0 Ok: queued\r\n").await?
            }
            b"RSET" => {
                recipients.clear();
                out.write_all(b"250 2.0.0 Ok\r\n").await?
            }
            b"NOOP" => out.write_all(b"250 2.0.0 Ok\r\n").await?,
            b"QUIT" => {
                out.write_all(b"221 2.0.0 Bye\r\n").await?;
                out.flush().await?;
                return Ok(());
            }
            _ => out.write_all(b"502 5.5.2 Command not recognised\r\n").await?,
        }
    }
}

/// Reads the next line into `line` (false at the end of the input). The answers to
/// pipelined commands still in the input are written together, once it is drained.
async fn next_line<R, W>(reader: &mut BufReader<R>, out: &mut BufWriter<W>, line: &mut Vec<u8>) -> std::io::Result<bool>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    if reader.buffer().is_empty() {
        out.flush().await?;
    }
    line.clear();
    Ok(reader.read_until(b'\n', line).await? > 0)
}

/// The address inside `<...>` of a `RCPT TO:<address> [params]` line.
fn address(line: &[u8]) -> Option<String> {
    let open = line.iter().position(|&b| b == b'<')?;
    let close = open + line[open..].iter().position(|&b| b == b'>')?;
    let a = std::str::from_utf8(&line[open + 1..close]).ok()?;
    (!a.is_empty()).then(|| a.to_owned())
}
