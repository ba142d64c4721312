//! `herald bounces ingest PATH...`: inbound reports from single `.eml` files, maildir
//! folders (`new/` and `cur/`) and mbox files, each classified, mapped back to its send
//! and put through the rules. Idempotent: every event's fingerprint is the hash of the
//! message and the event's place in it, so the same message twice changes nothing twice.

use super::mapping::{self, Channel};
use super::rules::{self, Applied, Incoming};
use super::{BounceEvent, Classification, classify::classify};
use crate::app::App;
use crate::domain::BounceKind;
use crate::error::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What one ingest run did, by message and by event.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IngestReport {
    pub messages: u64,
    /// Messages that were none of: bounce, complaint, auto-reply.
    pub not_feedback: u64,
    pub events: u64,
    pub hard: u64,
    pub soft: u64,
    pub delayed: u64,
    pub complaints: u64,
    /// Auto-replies: events for those that map to a send, and those that map to none
    /// (recorded nowhere; counted so that `ingest` agrees with `classify`).
    pub auto_replies: u64,
    /// Events recorded before (nothing changed twice).
    pub duplicates: u64,
    /// Events tied to no message Herald sent (no valid VERP or keyed Message-ID), or to
    /// no contact: recorded for review (`bounces list --unmatched`), nothing changed.
    pub unmatched: u64,
    pub confirmed: u64,
    pub opted_out: u64,
    pub suppressed: u64,
    /// Inputs that could not be read, with the reason.
    pub errors: Vec<String>,
}

impl IngestReport {
    fn count(&mut self, kind: BounceKind, applied: Applied) {
        self.events += 1;
        *match kind {
            BounceKind::Hard => &mut self.hard,
            BounceKind::Soft => &mut self.soft,
            BounceKind::Delayed => &mut self.delayed,
            BounceKind::Complaint => &mut self.complaints,
            BounceKind::AutoReply => &mut self.auto_replies,
        } += 1;
        self.duplicates += u64::from(applied.duplicate);
        self.unmatched += u64::from(applied.unmatched);
        self.confirmed += u64::from(applied.confirmed);
        self.opted_out += u64::from(applied.opted_out);
        self.suppressed += u64::from(applied.suppressed);
    }
}

/// Ingests every message under `paths`; `progress` is called after each message.
pub async fn ingest_paths(app: &App, paths: &[PathBuf], progress: &dyn Fn(u64)) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    for path in paths {
        let messages = match read_messages(path) {
            Ok(m) => m,
            Err(e) => {
                report.errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        for raw in messages {
            ingest_message(app, &raw, "inbound", &[], &mut report).await?;
            progress(report.messages);
        }
    }
    Ok(report)
}

/// Classifies one message, maps each event back and applies the rules. `envelope` are
/// the addresses it was delivered to, when known (the listener's RCPT): a VERP address
/// there maps the message even when its headers do not show it.
pub async fn ingest_message(
    app: &App,
    raw: &[u8],
    channel: &str,
    envelope: &[String],
    report: &mut IngestReport,
) -> Result<()> {
    report.messages += 1;
    let c = classify(raw);
    let keys = app.secrets.link_keys();
    let verp =
        mapping::verp_send_id_any(&keys, envelope).or_else(|| mapping::verp_send_id_any(&keys, &c.envelope_hints));
    let digest = hex::encode(&Sha256::digest(raw)[..16]);
    let events = events_of(app, &c, verp).await?;
    if events.is_empty() {
        // An auto-reply that maps to no send (it came to the From or Reply-To address, not
        // a VERP one) changes nothing, but it is an auto-reply, as `bounces classify` says.
        match c.kind {
            Some(BounceKind::AutoReply) => report.auto_replies += 1,
            _ => report.not_feedback += 1,
        }
        return Ok(());
    }
    let source = source_of(&c, channel);
    for (i, event) in events.iter().enumerate() {
        let message_id = c.original_message_id.as_deref();
        let target = mapping::resolve(app, verp, message_id, &event.recipient, Channel::Inbound).await?;
        let incoming = Incoming { event, target: &target, source: &source, fingerprint: format!("msg:{digest}:{i}") };
        let applied = rules::record(app, &incoming).await?;
        report.count(event.kind, applied);
    }
    Ok(())
}

/// The events to record: the classifier's, or — for a report that names nobody but comes
/// back to a VERP address of ours — one event for the send's recipient.
async fn events_of(app: &App, c: &Classification, verp: Option<crate::domain::SendId>) -> Result<Vec<BounceEvent>> {
    if !c.events.is_empty() {
        return Ok(c.events.clone());
    }
    let kind = match c.kind {
        Some(kind) => kind,
        // A bounce of unknown kind is never taken as hard.
        None if c.is_bounce => BounceKind::Soft,
        None => return Ok(Vec::new()),
    };
    let Some(send) = verp else { return Ok(Vec::new()) };
    let Some(target) = app.store.send_target(send).await? else { return Ok(Vec::new()) };
    let Some(contact) = app.store.contacts_by_id(&[target.contact_id]).await?.into_iter().next() else {
        return Ok(Vec::new());
    };
    Ok(vec![BounceEvent {
        recipient: contact.email.normalized().to_owned(),
        kind,
        status: None,
        reason: Some(if c.kind.is_some() { kind.to_string() } else { "unknown".into() }),
        diagnostic: None,
    }])
}

fn source_of(c: &Classification, channel: &str) -> String {
    let what = match c.kind {
        Some(BounceKind::Complaint) => "arf",
        Some(BounceKind::AutoReply) => "auto_reply",
        _ => "dsn",
    };
    format!("{what}:{channel}")
}

/// The messages in one input: a maildir (or any folder of message files), an mbox file,
/// or one message.
pub fn read_messages(path: &Path) -> std::result::Result<Vec<Vec<u8>>, String> {
    if path.is_dir() {
        let mut files = Vec::new();
        let subdirs: Vec<PathBuf> = ["new", "cur"].iter().map(|d| path.join(d)).filter(|d| d.is_dir()).collect();
        let dirs = if subdirs.is_empty() { vec![path.to_path_buf()] } else { subdirs };
        for dir in dirs {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read the folder: {e}"))?;
            for entry in entries {
                let p = entry.map_err(|e| e.to_string())?.path();
                if p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                    files.push(p);
                }
            }
        }
        files.sort();
        return files.iter().map(|f| std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))).collect();
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(if bytes.starts_with(b"From ") { split_mbox(&bytes) } else { vec![bytes] })
}

/// Splits an mbox (mboxo or mboxrd): a message starts at each line beginning "From "
/// (its separator line is dropped); one ">" is taken off quoted ">From " lines.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            continue;
        }
        let Some(m) = current.as_mut() else { continue };
        let quoted = line.iter().position(|b| *b != b'>').is_some_and(|i| i > 0 && line[i..].starts_with(b"From "));
        m.extend_from_slice(if quoted { &line[1..] } else { line });
    }
    messages.extend(current);
    messages.retain(|m| !m.iter().all(u8::is_ascii_whitespace));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_and_unquotes() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\n>From the start\nbody\n\nFrom c@d Tue Jan 2 00:00:00 2024\nSubject: two\n\n>>From x\n";
        let got = split_mbox(mbox);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], b"Subject: one\n\nFrom the start\nbody\n\n");
        assert_eq!(got[1], b"Subject: two\n\n>From x\n");
    }
}
