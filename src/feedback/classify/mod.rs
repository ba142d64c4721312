//! The bounce classifier (DESIGN §5): one inbound message in, a [`Classification`] out.
//! Pure and total — no I/O, and no input makes it panic or work without bound.
//!
//! The order of evidence: a complaint (ARF, unsubscribe request, provider JSON) first;
//! then an RFC 3464 report's per-recipient fields; then an automatic reply; then a
//! failure notice written as prose (the formats of qmail, Exim, Sendmail, Exchange, ...).
//! Within each, the kind of every recipient's failure comes from [`kind`].

mod address;
mod arf;
mod autoreply;
mod dsn;
mod events;
mod fields;
mod heuristics;
mod kind;
mod parts;
mod provider;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;

use super::event::{BounceEvent, Classification};
use super::reason::Reason;
use crate::domain::BounceKind;
use events::{dedupe, gives_no_reason, make_event, overall};
use kind::{Evidence, Verdict};
use parts::Parsed;

/// Input beyond this is not looked at: real reports are far smaller.
const MAX_INPUT: usize = 4 * 1024 * 1024;
/// Diagnostics are cut to this many bytes.
const MAX_DIAGNOSTIC: usize = 1000;
/// Prose notices are read up to this many bytes for their kind.
const MAX_NOTICE_SCAN: usize = 16 * 1024;
/// Recipients reported per message.
const MAX_EVENTS: usize = 100;

/// Classifies one raw message (RFC 5322, LF or CRLF line ends). Never panics.
pub fn classify(raw: &[u8]) -> Classification {
    let raw = raw.get(..MAX_INPUT).unwrap_or(raw);
    // mail-parser promises not to panic; this keeps that promise for us too.
    std::panic::catch_unwind(|| classify_unguarded(raw)).unwrap_or_default()
}

fn classify_unguarded(raw: &[u8]) -> Classification {
    let parsed = parts::parse(raw);
    let mut out = Classification {
        original_message_id: original_message_id(&parsed),
        envelope_hints: envelope_hints(&parsed),
        ..Classification::default()
    };
    let notice_lower = {
        let end = parsed.notice.floor_char_boundary(MAX_NOTICE_SCAN);
        parsed.notice[..end].to_ascii_lowercase()
    };
    if let Some(complaint) = arf::complaint(&parsed) {
        let reason = if complaint.feedback_type == "unsubscribe" { "unsubscribe" } else { "complaint" };
        out.kind = Some(BounceKind::Complaint);
        out.events = complaint.recipients.into_iter().map(|r| event(r, BounceKind::Complaint, reason)).collect();
        return out;
    }
    if let Some(notification) = provider::ses(&parsed.notice) {
        from_provider(notification, &mut out);
        return out;
    }
    let reports = dsn::parse(&parsed.dsn_texts);
    if !reports.is_empty() && from_dsn(&parsed, &reports, &notice_lower, &mut out) {
        return out;
    }
    if autoreply::is_auto_reply(&parsed) && !heuristics::from_mail_system(&parsed) {
        out.kind = Some(BounceKind::AutoReply);
        return out;
    }
    if heuristics::looks_like_bounce(&parsed, &notice_lower) {
        from_prose(&parsed, &notice_lower, &mut out);
    }
    out
}

fn event(recipient: String, kind: BounceKind, reason: &str) -> BounceEvent {
    BounceEvent { recipient, kind, status: None, reason: Some(reason.to_string()), diagnostic: None }
}

fn from_provider(notification: provider::Notification, out: &mut Classification) {
    match notification {
        provider::Notification::Complaint { recipients } => {
            out.kind = Some(BounceKind::Complaint);
            out.events = recipients.into_iter().map(|r| event(r, BounceKind::Complaint, "complaint")).collect();
        }
        provider::Notification::Bounce { permanent, recipients } => {
            out.is_bounce = true;
            for r in recipients {
                let text = r.diagnostic.as_deref().unwrap_or("").to_ascii_lowercase();
                let mut verdict =
                    kind::judge(&Evidence { status: r.status.as_deref(), text: &text, ..Default::default() });
                if !permanent && verdict.kind == BounceKind::Hard {
                    verdict = Verdict { kind: BounceKind::Soft, reason: Reason::Other };
                }
                out.events.push(make_event(r.address, verdict, r.status, r.diagnostic.as_deref()));
            }
            out.kind = overall(&out.events);
        }
        provider::Notification::Other => {}
    }
}

/// Reads an RFC 3464 report. `false` when it names no recipient and no action, so
/// the prose readers should try.
fn from_dsn(parsed: &Parsed, reports: &[dsn::DsnRecipient], notice_lower: &str, out: &mut Classification) -> bool {
    if !reports.iter().any(|r| r.recipient.is_some() || !r.action.is_empty() || r.status.is_some()) {
        return false;
    }
    let failed: Vec<&dsn::DsnRecipient> = reports.iter().filter(|r| r.is_failure()).collect();
    if failed.is_empty() {
        return true; // a delivery notice: not a bounce, kind unknown
    }
    let diagnostics: Vec<&str> = reports.iter().filter_map(|r| r.diagnostic.as_deref()).collect();
    if autoreply::is_challenge(&diagnostics.join(" ").to_ascii_lowercase()) || autoreply::is_challenge(notice_lower) {
        return true;
    }
    out.is_bounce = true;
    let mut unnamed = fallback_recipients(parsed, notice_lower).into_iter();
    let reader = DsnReader {
        notice: &parsed.notice,
        notice_lower,
        at_rcpt: kind::mentions_rcpt(notice_lower),
        // The prose of a one-recipient report may say "mailbox full" where its fields
        // say "unknown": the mailbox exists.
        notice_full: failed.len() == 1 && kind::says_mailbox_full(notice_lower),
        single: failed.len() == 1,
    };
    let mut fallbacks = Fallbacks::default();
    for r in failed.into_iter().take(MAX_EVENTS) {
        let Some(recipient) = r.recipient.clone().or_else(|| unnamed.next()) else { continue };
        let verdict = reader.judge(r, &recipient, &mut fallbacks);
        let diag = r.diagnostic.as_deref().map(clean_diagnostic).unwrap_or_default();
        let status = r.status.clone().or_else(|| kind::first_status_code(&diag).map(str::to_string));
        out.events.push(make_event(recipient, verdict, status, Some(&diag)));
    }
    dedupe(&mut out.events);
    out.kind = if out.events.is_empty() {
        judge_notice(parsed, notice_lower)
    } else if out.events.iter().all(gives_no_reason) {
        None // a failure asserted without any reason: unknown, never hard
    } else {
        overall(&out.events)
    };
    true
}

/// What a report's prose adds to its per-recipient fields.
struct DsnReader<'a> {
    notice: &'a str,
    notice_lower: &'a str,
    at_rcpt: bool,
    notice_full: bool,
    /// The report is about one recipient: all of its prose is about that one.
    single: bool,
}

impl DsnReader<'_> {
    /// The kind of one recipient's failure: from its Diagnostic-Code and Status (with
    /// the Status comment), else from the notice's words about it.
    fn judge(&self, r: &dsn::DsnRecipient, recipient: &str, fallbacks: &mut Fallbacks) -> Verdict {
        let diagnostic = r.diagnostic.as_deref().unwrap_or("");
        let mut text = clean_diagnostic(diagnostic).to_ascii_lowercase();
        if let Some(comment) = &r.status_comment {
            text = format!("{text} {}", comment.to_ascii_lowercase());
        }
        // Postfix and Sendmail name their own delivery agents: the local user table spoke.
        let diagnostic_type = diagnostic.split_once(';').map(|(t, _)| t.trim().to_ascii_lowercase());
        let local = diagnostic_type.is_some_and(|t| t == "x-postfix" || t == "x-unix") && !text.contains("said:");
        let evidence = |text: &str| {
            let at_rcpt = self.at_rcpt || kind::mentions_rcpt(text);
            kind::judge(&Evidence { status: r.status.as_deref(), text, delayed: r.action == "delayed", at_rcpt, local })
        };
        // The notice is read only when the fields say nothing of the cause: its prose (and
        // anything pasted into it) must not overrule a definite code.
        let mut verdict = evidence(&text);
        if verdict.reason == Reason::Other {
            verdict = fallbacks.judge(|| {
                let context = heuristics::context_of(self.notice, recipient).map(|c| c.to_ascii_lowercase());
                let near = evidence(&format!("{text} {}", context.as_deref().unwrap_or(self.notice_lower)));
                if near.reason != Reason::Other || !self.single || context.is_none() {
                    return near;
                }
                // The one recipient's cause may be told elsewhere in the notice (a
                // Sendmail transcript): read it there, but only for a soft cause — prose
                // far from the address must not make it hard.
                let whole = evidence(&format!("{text} {}", self.notice_lower));
                if whole.kind == BounceKind::Hard { near } else { whole }
            });
        }
        if verdict.kind == BounceKind::Hard && self.notice_full {
            verdict = Verdict { kind: BounceKind::Soft, reason: Reason::MailboxFull };
        }
        verdict
    }
}

/// A failure notice in prose.
fn from_prose(parsed: &Parsed, notice_lower: &str, out: &mut Classification) {
    out.is_bounce = true;
    let delayed = heuristics::is_delay(parsed, notice_lower);
    let at_rcpt = kind::mentions_rcpt(notice_lower);
    let mut fallbacks = Fallbacks::default();
    for m in prose_recipients(parsed).into_iter().take(MAX_EVENTS) {
        let context = m.context.to_ascii_lowercase();
        let mut verdict = kind::judge(&Evidence { text: &context, delayed, at_rcpt, ..Default::default() });
        if verdict.reason == Reason::Other || context.is_empty() {
            verdict = fallbacks.judge(|| {
                let text = format!("{context} {notice_lower}");
                kind::judge(&Evidence { text: &text, delayed, at_rcpt, ..Default::default() })
            });
        }
        let status = kind::first_status_code(&m.context).map(str::to_string);
        out.events.push(make_event(m.address, verdict, status, Some(&m.context)));
    }
    dedupe(&mut out.events);
    out.kind = if out.events.is_empty() { judge_notice(parsed, notice_lower) } else { overall(&out.events) };
}

/// The recipients of a prose notice: those its X-Failed-Recipients header lists (Exim),
/// else those the text names, else the returned original's `To`.
fn prose_recipients(parsed: &Parsed) -> Vec<heuristics::Mention> {
    let mut mentions = heuristics::mentions(&parsed.notice, &own_addresses(parsed));
    let listed = parsed.header("x-failed-recipients").map(address::find_all).unwrap_or_default();
    if !listed.is_empty() {
        mentions.retain(|m| listed.contains(&m.address));
        for a in listed {
            if !mentions.iter().any(|m| m.address == a) {
                let context = heuristics::context_of(&parsed.notice, &a).unwrap_or_default();
                mentions.push(heuristics::Mention { address: a, context });
            }
        }
    }
    if mentions.is_empty() {
        for a in parsed.original_header("to").map(address::find_all).unwrap_or_default() {
            mentions.push(heuristics::Mention { address: a, context: String::new() });
        }
    }
    mentions
}

/// Judging a recipient against the whole notice (when its own words say nothing) is
/// done for the first few; the rest reuse the last answer, so long lists stay cheap.
#[derive(Default)]
struct Fallbacks {
    done: usize,
    last: Option<Verdict>,
}

impl Fallbacks {
    fn judge(&mut self, judge: impl FnOnce() -> Verdict) -> Verdict {
        match self.last {
            Some(v) if self.done >= 8 => v,
            _ => {
                self.done += 1;
                let v = judge();
                self.last = Some(v);
                v
            }
        }
    }
}

/// The kind of a failure notice that names no recipient: from its words, or unknown
/// (`None`) when they say nothing about the cause.
fn judge_notice(parsed: &Parsed, notice_lower: &str) -> Option<BounceKind> {
    let delayed = heuristics::is_delay(parsed, notice_lower);
    let at_rcpt = kind::mentions_rcpt(notice_lower);
    let verdict = kind::judge(&Evidence { text: notice_lower, delayed, at_rcpt, ..Default::default() });
    (verdict.reason != Reason::Other).then_some(verdict.kind)
}

/// Recipients for report groups that do not name theirs: the X-Failed-Recipients
/// header, else the notice's mentions, else the returned original's `To`.
fn fallback_recipients(parsed: &Parsed, notice_lower: &str) -> Vec<String> {
    if let Some(listed) = parsed.header("x-failed-recipients").map(address::find_all).filter(|l| !l.is_empty()) {
        return listed;
    }
    let mentions: Vec<String> =
        heuristics::mentions(notice_lower, &own_addresses(parsed)).into_iter().map(|m| m.address).collect();
    if !mentions.is_empty() {
        return mentions;
    }
    parsed.original_header("to").map(address::find_all).unwrap_or_default()
}

/// Addresses that are the report's own or the original sender's, never recipients.
fn own_addresses(parsed: &Parsed) -> Vec<String> {
    let mut out = Vec::new();
    for name in
        ["from", "to", "cc", "reply-to", "sender", "return-path", "delivered-to", "x-original-to", "envelope-to"]
    {
        if let Some(v) = parsed.header(name) {
            out.extend(address::find_all(v));
        }
    }
    for name in ["from", "sender", "return-path", "reply-to"] {
        if let Some(v) = parsed.original_header(name) {
            out.extend(address::find_all(v));
        }
    }
    out
}

/// One line, whitespace collapsed, the address-type prefix (`smtp;`) dropped, capped.
fn clean_diagnostic(raw: &str) -> String {
    let raw = raw.trim();
    let raw = match raw.split_once(';') {
        Some((kind, rest)) if !kind.contains(char::is_whitespace) && kind.len() < 32 => rest,
        _ => raw,
    };
    let mut out = String::with_capacity(raw.len().min(MAX_DIAGNOSTIC));
    for word in raw.split_whitespace() {
        if out.len() + word.len() + 1 > MAX_DIAGNOSTIC {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn original_message_id(parsed: &Parsed) -> Option<String> {
    let id = parsed.original_header("message-id")?.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!id.is_empty() && id.len() < 1000).then(|| id.to_string())
}

/// Where Herald's VERP sender may appear (see [`Classification::envelope_hints`]).
fn envelope_hints(parsed: &Parsed) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |value: Option<&str>| {
        for a in value.map(address::find_all).unwrap_or_default() {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    };
    for name in ["to", "delivered-to", "x-original-to", "envelope-to"] {
        for f in parsed.headers.iter().filter(|f| f.name == name).take(16) {
            add(Some(&f.value));
        }
    }
    add(parsed.original_header("return-path"));
    out.truncate(64);
    out
}
