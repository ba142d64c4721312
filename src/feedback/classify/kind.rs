//! From what a report says about one recipient — the enhanced status code (RFC 3463) and
//! the remote server's words — to a [`Reason`] of the fixed vocabulary
//! ([`crate::feedback::reason`]) and from it DESIGN §5's kind: `hard` only when the
//! address or its domain does not exist or has moved; every other failure is `soft`,
//! even with a 5xx.
//!
//! ## The team rule (issue 17)
//!
//! No phrase, pattern or special case is added here (or to `phrases` / `hard_phrases`)
//! without a reason that is about mail servers in general: an MTA's documented wording
//! (Postfix, Exim, Sendmail, qmail, Exchange), an RFC (3463, 5321, 7505), a provider's
//! published reply codes (Gmail, Microsoft 365, Yahoo, iCloud), or the public rule sets
//! that collect them (sisimai's `Sisimai::Reason::*` tables and per-MTA modules,
//! flufl.bounce's detectors). Never because one sample of a corpus needs it: the
//! classifier is measured on mail it has not seen (`corpus_tests` prints the figures per
//! source and per kind of message so a rule that helps one source and hurts another
//! shows). Each rule below has a unit test built from a message written for it.
//!
//! ## The hard / soft rules Herald follows
//!
//! 1. Still being retried (`Action: delayed`, delay wording): `delayed`.
//! 2. A full mailbox, or the delivering agent's own failure (a mailbox file it could not
//!    create or write, a local mailer or pipe that exited: `mailer_error`), is soft
//!    whatever the code, even the `5.1.1` a local agent may put on it.
//! 3. A refusal that says in words the recipient does not exist is hard whatever code
//!    it carries (`5.0.0`, `5.5.0`, or a `4.1.1` a report's Status mislabels as
//!    temporary after delivery was given up); so is Microsoft 365's directory-based edge
//!    blocking (`550 5.4.1 Recipient address rejected: Access denied`), an account the
//!    provider reports inactive, deactivated or closed (`account_closed`), and a notice
//!    that asks to check the address for typos (unless a policy code X.7.x says it is
//!    about something else).
//! 4. A permanent refusal about the sender — the sender's domain or address (X.1.7,
//!    X.1.8), the sending IP (`blocked`), authentication or another policy (`policy`),
//!    the content (`spam_blocked`, `filtered`, `too_large`) — is soft for the
//!    recipient, whatever its code: checked before the hard words, so "sender address
//!    rejected: domain not found" is not a missing recipient domain.
//! 5. A mailbox status code (X.2.x) says the mailbox exists: soft. X.2.1 ("disabled")
//!    with "user unknown" refused at RCPT is excepted: several MTAs (Postfix relays,
//!    GMX, Yandex, Mail.ru) send it for a box that is gone.
//! 6. A stock "user unknown" is believed only with an address code (X.1.x, X.2.1,
//!    X.5.x), at RCPT, from the local user table, or in specific words ("does not
//!    exist"); said after DATA, or with no address, it is a filter (soft).
//! 7. An address code alone is hard (X.1.1, X.1.3 user; X.1.2, X.4.4 host; X.1.6
//!    moved; X.1.10 null MX).
//! 8. Anything else is soft; a failure whose words and code give no reason at all is
//!    `other`. An RFC 3464 report whose failures all give no reason (no Diagnostic-Code
//!    words, no status beyond X.0.0, nothing in its prose) is of `unknown` kind — never
//!    hard. A prose notice's unplaced failure stays soft `other`: its reason may be in
//!    words the classifier does not know (another language).

mod hard_phrases;
mod phrases;

use super::dsn::is_status_code;
use crate::domain::BounceKind;
use crate::feedback::reason::Reason;
use hard_phrases::*;
use phrases::*;

/// The kind of one recipient's failure and a short label of its cause (see
/// [`crate::feedback::BounceEvent::reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub kind: BounceKind,
    pub reason: Reason,
}

impl Verdict {
    /// A final failure for `reason`: hard or soft as the vocabulary maps it.
    pub(super) fn failure(reason: Reason) -> Verdict {
        Verdict { kind: reason.failure_kind(), reason }
    }
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

fn soft_reason(text: &str) -> Option<Reason> {
    SOFT.iter().find(|(_, phrases)| matches(text, phrases)).map(|(reason, _)| *reason)
}

fn hard_reason(text: &str) -> Option<Reason> {
    if matches(text, NOT_ACCEPTING) || matches!(reply_code(text), Some("521" | "556")) {
        Some(Reason::NotAccepting)
    } else if matches(text, HOST_UNKNOWN) || matches_pair(text, HOST_UNKNOWN_PAIRS) {
        Some(Reason::HostUnknown)
    } else if matches(text, MOVED) {
        Some(Reason::Moved)
    } else if matches(text, USER_UNKNOWN) || matches_pair(text, USER_UNKNOWN_PAIRS) || bare_address_rejected(text) {
        Some(Reason::UserUnknown)
    } else {
        None
    }
}

/// Codes that by themselves say the address is bad (RFC 3463 §3.2, RFC 7505 §4.2).
fn hard_code_reason(code: &str) -> Option<Reason> {
    match code.get(2..)? {
        "1.1" | "1.3" => Some(Reason::UserUnknown),
        "1.2" | "4.4" => Some(Reason::HostUnknown),
        "1.6" => Some(Reason::Moved),
        "1.10" => Some(Reason::NotAccepting),
        _ => None,
    }
}

/// Soft reason from the code alone (RFC 3463 §3: X.2 mailbox, X.3 mail system, X.4
/// network and routing, X.6 content, X.7 security or policy).
fn code_reason(code: &str) -> Reason {
    let detail = code.get(2..).unwrap_or("");
    match detail {
        "2.2" | "2.3.2" | "3.1" => Reason::MailboxFull,
        "2.1" => Reason::Suspended,
        "2.3" | "3.4" => Reason::TooLarge,
        "4.7" => Reason::Expired,
        _ if detail.starts_with("7.") => Reason::Policy,
        _ if detail.starts_with("2.") || detail.starts_with("6.") => Reason::Filtered,
        _ if detail.starts_with("3.") && detail != "3.0" => Reason::SystemError,
        _ if detail.starts_with("4.") && detail != "4.0" => Reason::NetworkError,
        _ => Reason::Other,
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

/// Rule 3's special wordings, checked before the soft words (which would otherwise
/// read "access denied" or "disabled" as about the sender).
fn recipient_gone(text: &str, code: Option<&str>) -> Option<Reason> {
    if code.is_some_and(|c| c.get(1..) == Some(".4.1")) && text.contains(DIRECTORY_REJECTED) {
        return Some(Reason::UserUnknown);
    }
    if matches(text, ACCOUNT_CLOSED) && !text.contains("temporar") {
        return Some(Reason::AccountClosed);
    }
    None
}

/// A notice asking to check the address for typos, with no policy code beside it.
fn asks_to_check(text: &str, code: Option<&str>) -> bool {
    matches(text, ASKS_TO_CHECK) && code.is_none_or(|c| c.get(1..3) != Some(".7"))
}

/// Judges one recipient's failure (the rules of the module docs, in order).
pub(super) fn judge(e: &Evidence<'_>) -> Verdict {
    let text = e.text;
    let status = e.status.filter(|s| is_status_code(s));
    let code = match status {
        Some(s) if !s.ends_with(".0.0") && !s.ends_with(".0") => Some(s),
        _ => first_status_code(text).filter(|c| !c.ends_with(".0.0")).or(status),
    };
    let soft = soft_reason(text);
    let soft_verdict = |reason: Option<Reason>| Verdict {
        kind: BounceKind::Soft,
        reason: reason.or(soft).unwrap_or_else(|| code.map_or(Reason::Other, code_reason)),
    };
    // Rule 1.
    if e.delayed {
        return Verdict { kind: BounceKind::Delayed, reason: soft.unwrap_or(Reason::Delayed) };
    }
    // Rule 2.
    if matches!(soft, Some(Reason::MailboxFull | Reason::MailerError)) {
        return soft_verdict(None);
    }
    // Rule 3: a report's Status of 4.1.x on a failure that was given up, with words that
    // the recipient does not exist and no 4xx reply, is a mislabel. A 4xx reply stays
    // temporary.
    let temporary = code.is_some_and(|c| c.starts_with('4'));
    let mislabelled = temporary
        && status.is_some_and(|s| s.starts_with("4.1."))
        && !reply_code(text).is_some_and(|c| c.starts_with('4'));
    if temporary && !mislabelled {
        return soft_verdict(None);
    }
    if let Some(reason) = recipient_gone(text, code) {
        return Verdict::failure(reason);
    }
    // Rule 4.
    if soft.is_some() {
        return soft_verdict(None);
    }
    if mislabelled {
        let words = hard_reason(text) == Some(Reason::UserUnknown) && user_unknown_believed(e, status);
        return if words { Verdict::failure(Reason::UserUnknown) } else { soft_verdict(None) };
    }
    // Rule 5. X.2.1 with "user unknown" is believed where servers refuse addresses they
    // do not have (at RCPT, the local user table) or in specific words, as in rule 6.
    let x21_unknown = code.is_some_and(|c| c.ends_with(".2.1"))
        && text.contains("user unknown")
        && (e.at_rcpt || e.local || matches(text, USER_UNKNOWN_SPECIFIC));
    if code.is_some_and(|c| c.get(1..4) == Some(".2.")) && !x21_unknown {
        return soft_verdict(Some(code.map_or(Reason::Other, code_reason)));
    }
    // X.1.7 and X.1.8 are about the sender's address, not the recipient's.
    if code.is_some_and(|c| c.ends_with(".1.7") || c.ends_with(".1.8")) {
        return soft_verdict(Some(Reason::Policy));
    }
    // Rule 6.
    match hard_reason(text) {
        Some(Reason::UserUnknown) if filter_disguised_as_unknown(text) => return soft_verdict(Some(Reason::Filtered)),
        Some(Reason::UserUnknown) if !user_unknown_believed(e, code) => {}
        Some(reason) => return Verdict::failure(reason),
        None => {}
    }
    if asks_to_check(text, code) {
        return Verdict::failure(Reason::UserUnknown);
    }
    // Rule 7.
    if let Some(reason) = code.filter(|c| c.starts_with('5')).and_then(hard_code_reason) {
        return Verdict::failure(reason);
    }
    // Rule 8.
    soft_verdict(None)
}

#[cfg(test)]
mod tests;
