//! From what a report says about one recipient — the enhanced status code (RFC 3463) and
//! the remote server's words — to DESIGN §5's kind: `hard` only when the address or its
//! domain does not exist or has moved; every other failure is `soft`, even with a 5xx.
//!
//! The words decide before the code: many MTAs send `5.0.0` for everything, or `5.1.1`
//! for a full mailbox. A "user unknown" is believed only when nothing points elsewhere:
//! a mailbox-status code (x.2.x) or a rejection of the message body (DATA) says the
//! address was accepted and a filter spoke, so those stay soft.

mod phrases;

use super::dsn::is_status_code;
use crate::domain::BounceKind;
use phrases::*;

/// The kind of one recipient's failure and a short label of its cause (see
/// [`crate::feedback::BounceEvent::reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub kind: BounceKind,
    pub reason: &'static str,
}

/// What is known about one recipient's failure.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Evidence<'a> {
    /// Status field of a DSN, if any.
    pub status: Option<&'a str>,
    /// The server's words about this recipient, lower-cased; may be empty.
    pub text: &'a str,
    /// The report says delivery is still being attempted.
    pub delayed: bool,
    /// The report's text names the RCPT command as the one refused (`RCPT TO`), which
    /// is where servers refuse addresses they do not have.
    pub at_rcpt: bool,
    /// The reporting MTA itself delivered locally (`X-Postfix;`, `X-Unix;` without a
    /// remote reply): its "unknown user" comes from its own user table, not a filter.
    pub local: bool,
}

fn matches(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| text.contains(p))
}

fn matches_pair(text: &str, pairs: &[(&str, &str)]) -> bool {
    pairs.iter().any(|(first, then)| {
        text.match_indices(first).any(|(i, _)| {
            let rest = &text[i + first.len()..];
            let window = &rest[..rest.floor_char_boundary(60)];
            window.contains(then)
        })
    })
}

/// "Address rejected" names the cause only when nothing follows it (`Recipient address
/// rejected: Delivery not authorized` is about something else).
fn bare_address_rejected(text: &str) -> bool {
    text.match_indices("address rejected").any(|(i, m)| !text[i + m.len()..].trim_start().starts_with(':'))
}

/// The first SMTP reply code (`550`) of a server's words.
fn reply_code(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|t| t.len() == 3 && matches!(t.as_bytes().first(), Some(b'2' | b'4' | b'5')))
}

/// The first RFC 3463 code in a text (`550 5.1.1 ...`, `#5.1.0`).
pub(super) fn first_status_code(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).map(|t| t.trim_end_matches('.')).find(|t| is_status_code(t))
}

/// Words that say the mailbox exists but is full (a report's prose may say so when its
/// fields say "unknown").
pub(super) fn says_mailbox_full(text: &str) -> bool {
    matches(text, MAILBOX_FULL)
}

/// The text names the RCPT command (not ORCPT, the DSN parameter).
pub(super) fn mentions_rcpt(text: &str) -> bool {
    text.match_indices("rcpt").any(|(i, _)| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphabetic())
}

fn soft_reason(text: &str) -> Option<&'static str> {
    SOFT.iter().find(|(_, phrases)| matches(text, phrases)).map(|(reason, _)| *reason)
}

fn hard_reason(text: &str) -> Option<&'static str> {
    if matches(text, NOT_ACCEPTING) || matches!(reply_code(text), Some("521" | "556")) {
        Some("not_accepting")
    } else if matches(text, HOST_UNKNOWN) || matches_pair(text, HOST_UNKNOWN_PAIRS) {
        Some("host_unknown")
    } else if matches(text, MOVED) {
        Some("moved")
    } else if matches(text, USER_UNKNOWN) || matches_pair(text, USER_UNKNOWN_PAIRS) || bare_address_rejected(text) {
        Some("user_unknown")
    } else {
        None
    }
}

/// Codes that by themselves say the address is bad (RFC 3463 §3.2, RFC 7505 §4.2).
fn hard_code_reason(code: &str) -> Option<&'static str> {
    match code.get(2..)? {
        "1.1" | "1.3" => Some("user_unknown"),
        "1.2" | "4.4" => Some("host_unknown"),
        "1.6" => Some("moved"),
        "1.10" => Some("not_accepting"),
        _ => None,
    }
}

/// Soft reason from the code alone.
fn code_reason(code: &str) -> &'static str {
    let detail = code.get(2..).unwrap_or("");
    match detail {
        "2.2" | "2.3.2" => "mailbox_full",
        "2.1" => "suspended",
        "2.3" | "3.4" => "too_large",
        "4.7" => "expired",
        _ if detail.starts_with("7.") => "policy",
        _ if detail.starts_with("2.") => "filtered",
        _ => "other",
    }
}

/// A "user unknown" said in reply to the message body (the address was accepted at
/// RCPT), or with no address at all (`550 : User unknown`): a filter, not a missing box.
fn filter_disguised_as_unknown(text: &str) -> bool {
    let after_data =
        ["end of data", ">>> data", "after data", "command data", "command: data"].iter().any(|p| text.contains(p));
    let no_address = text.contains(" : user unknown") || text.contains("<>: user unknown");
    after_data || no_address
}

/// Whether a "user unknown" in the server's words is to be believed, given the code.
fn user_unknown_believed(e: &Evidence<'_>, code: Option<&str>) -> bool {
    let subject = code.and_then(|c| c.split('.').nth(1));
    let specific = matches(e.text, USER_UNKNOWN_SPECIFIC);
    // A content code (x.6) says something else failed; a system (x.3) or policy (x.7)
    // code next to "unknown user" is believed only at RCPT or with specific words.
    let contradicts = subject == Some("6") || matches!(subject, Some("3" | "7")) && !e.at_rcpt && !specific;
    // A stock "user unknown" with no address code (x.1, x.2.1, x.5) and no RCPT or
    // local-delivery context is also what filters answer: not enough for hard.
    let confirmed = matches!(subject, Some("1" | "2" | "5")) || e.at_rcpt || e.local || specific;
    confirmed && !contradicts
}

/// Judges one recipient's failure.
pub(super) fn judge(e: &Evidence<'_>) -> Verdict {
    let text = e.text;
    let status = e.status.filter(|s| is_status_code(s));
    let code = match status {
        Some(s) if !s.ends_with(".0.0") && !s.ends_with(".0") => Some(s),
        _ => first_status_code(text).filter(|c| !c.ends_with(".0.0")).or(status),
    };
    let soft = soft_reason(text);
    let soft_verdict = |reason: Option<&'static str>| Verdict {
        kind: BounceKind::Soft,
        reason: reason.or(soft).unwrap_or_else(|| code.map_or("other", code_reason)),
    };
    if e.delayed {
        return Verdict { kind: BounceKind::Delayed, reason: soft.unwrap_or("delayed") };
    }
    if code.is_some_and(|c| c.starts_with('4')) || soft.is_some() {
        return soft_verdict(None);
    }
    // Mailbox status (x.2.x): the mailbox exists. Only X.2.1 ("mailbox disabled") is
    // also what several MTAs send for a mailbox that is gone, so its words may decide.
    let x21_unknown = code.is_some_and(|c| c.ends_with(".2.1")) && text.contains("user unknown");
    if code.is_some_and(|c| c.get(1..4) == Some(".2.")) && !x21_unknown {
        return soft_verdict(Some(code.map_or("other", code_reason)));
    }
    // X.1.7 and X.1.8 are about the sender's address, not the recipient's.
    if code.is_some_and(|c| c.ends_with(".1.7") || c.ends_with(".1.8")) {
        return soft_verdict(Some("policy"));
    }
    match hard_reason(text) {
        Some("user_unknown") if filter_disguised_as_unknown(text) => return soft_verdict(Some("filtered")),
        Some("user_unknown") if !user_unknown_believed(e, code) => return soft_verdict(Some("other")),
        Some(reason) => return Verdict { kind: BounceKind::Hard, reason },
        None => {}
    }
    if let Some(reason) = code.filter(|c| c.starts_with('5')).and_then(hard_code_reason) {
        return Verdict { kind: BounceKind::Hard, reason };
    }
    soft_verdict(None)
}

#[cfg(test)]
mod tests;
