//! Bounces that are not RFC 3464 reports: qmail, old Exim and Sendmail, Exchange,
//! Lotus Notes, Yahoo and other providers that write the failure as prose. The notice
//! names the recipients on lines of their own (`<addr>:`, an indented address, `RCPT
//! TO:<addr>`) or in sentences near failure phrases, followed by the server's reply.

use super::address::{self, Found};
use super::parts::Parsed;

/// Subjects of delivery failure and delay notices.
const SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery fail",
    "failure notice",
    "failure delivery",
    "failed delivery",
    "returned mail",
    "delivery status",
    "non-delivery",
    "nondelivery",
    "non delivery",
    "not delivered",
    "could not be delivered",
    "mail system error",
    "delivery problem",
    "delivery report",
    "delayed mail",
    "delayed",
    "mail delivery",
    "delivery failure",
    "returned to sender",
    "error sending",
    "processing error",
    "delivery notification",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "message status",
    "mail not delivered",
    "mail could not be delivered",
    "returned message",
    "rejected mail",
    "automatically rejected",
    "failed mail",
    "permanent error",
    "delivery warning",
];

/// Phrases of delivery-failure notices.
const PHRASES: &[&str] = &[
    "qmail-send program",
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "wasn't delivered",
    "undeliverable",
    "delivery has failed",
    "delivery failed",
    "permanent error",
    "permanent fatal error",
    "transcript of session follows",
    "unable to deliver",
    "address(es) failed",
    "addresses failed",
    "following addresses had",
    "could not be sent",
    "failed to deliver",
    "not be delivered",
    "delivery to the following",
    "delivery failure",
    "message could not",
    "returned to sender",
    "could not deliver",
    "mail delivery software",
    "did not reach",
    "had delivery problems",
    "could not reach",
    "couldn't reach",
    "has not been delivered",
    "not yet been delivered",
    "delivery attempts",
    "delivery problem",
    "delivery of your message",
    "message delivery",
    "failed recipient",
    "will not continue",
    "given up",
    "giving up",
    "error transferring",
    "non-delivery",
    "non delivery",
    "delivery error",
    "failed to send",
    "delivery has been delayed",
    "is delayed",
    "been delayed",
    "returned mail",
    "not delivered",
];

/// Phrases of delay warnings (delivery still being attempted).
const DELAY_PHRASES: &[&str] = &[
    "will continue to try",
    "will keep trying",
    "still being retried",
    "will be retried",
    "will retry",
    "still trying",
    "not yet been delivered",
    "has been delayed",
    "been delayed",
    "delivery is delayed",
    "message delayed",
    "delayed mail",
    "(delay)",
    "warning: message",
    "delivery status notification (delay)",
    "no action is required",
    "delivery warning",
    ": warning",
    "is delayed",
    "delivery delayed",
    "warning message only",
    "transient non-fatal",
    "could not send message for past",
];

/// Phrases that say the failure is final, which overrides delay wording.
const FINAL_PHRASES: &[&str] =
    &["permanent", "given up", "giving up", "will not continue", "not be retried", "could not be delivered", "failed"];

/// Recipients taken from one notice, per kind of evidence.
const MAX_MENTIONS: usize = 100;
/// Bytes of the server's reply kept after a mention.
const MAX_CONTEXT: usize = 2_000;

/// Mail systems' own senders.
pub(super) fn from_mail_system(parsed: &Parsed) -> bool {
    let from = parsed.header("from").unwrap_or("").to_ascii_lowercase();
    [
        "mailer-daemon",
        "postmaster",
        "post_master",
        "mail delivery",
        "mail-daemon",
        "mail administrator",
        "mailer daemon",
        "mdaemon",
    ]
    .iter()
    .any(|s| from.contains(s))
}

fn bounce_subject(parsed: &Parsed) -> bool {
    let subject = parsed.header("subject").unwrap_or("").to_ascii_lowercase();
    SUBJECTS.iter().any(|s| subject.contains(s))
}

/// Looks like a failure or delay notice written as prose.
pub(super) fn looks_like_bounce(parsed: &Parsed, notice_lower: &str) -> bool {
    let phrases = PHRASES.iter().any(|p| notice_lower.contains(p));
    let smtp_reply = notice_lower
        .split(|c: char| !c.is_ascii_digit())
        .any(|t| t.len() == 3 && (t.starts_with('5') || t.starts_with('4')));
    phrases || from_mail_system(parsed) || bounce_subject(parsed) && (parsed.original.is_some() || smtp_reply)
}

/// The notice (and subject) say delivery is still being tried.
pub(super) fn is_delay(parsed: &Parsed, notice_lower: &str) -> bool {
    let subject = parsed.header("subject").unwrap_or("").to_ascii_lowercase();
    let says_delay = DELAY_PHRASES.iter().any(|p| subject.contains(p) || notice_lower.contains(p));
    let says_final = FINAL_PHRASES.iter().any(|p| notice_lower.contains(p))
        || subject.contains("fail")
        || subject.contains("undeliver");
    says_delay && !says_final
}

/// A recipient named in the notice, with the text that follows it (its reason).
pub(super) struct Mention {
    pub address: String,
    pub context: String,
}

/// Words of a sentence about a failed address.
const FAILURE_WORDS: &[&str] = &[
    "not ",
    "n't",
    "fail",
    "unknown",
    "invalid",
    "undeliver",
    "reject",
    "error",
    "addressed",
    "unable",
    "denied",
    "no such",
    "bounce",
];

/// Lines whose addresses are never bounced recipients.
fn is_noise_line(lower_line: &str) -> bool {
    let l = lower_line.trim_start_matches(['>', ' ', '\t', '*', '-']);
    [
        "from:",
        "reply-to:",
        "return-path:",
        "sender:",
        "message-id:",
        "received:",
        "envelope-from",
        "x-",
        "in-reply-to:",
        "references:",
        "by ",
        "for <",
        "id <",
    ]
    .iter()
    .any(|p| l.starts_with(p))
}

/// An address inside a link (`...?email=a@b.example`, `mailto:a@b.example`) is the
/// link's, not a recipient.
fn inside_link(line: &str, start_in_line: usize) -> bool {
    let before = line.get(..start_in_line).unwrap_or("");
    let before = before.get(before.floor_char_boundary(before.len().saturating_sub(256))..).unwrap_or("");
    let token = before.rsplit(char::is_whitespace).next().unwrap_or("");
    token.contains("://") || token.contains("mailto:") || token.ends_with('=') || token.ends_with('/')
}

/// How sure a mention is: an address that starts its line (qmail `<addr>:`, Exim's
/// indented list, Sendmail's fatal-errors list) or follows `RCPT TO:` is a recipient.
fn is_strong(line: &str, found: &Found, line_start: usize) -> bool {
    let before = line.get(..found.start.saturating_sub(line_start)).unwrap_or("");
    // Only the few characters before an address tell how it is introduced; looking at no
    // more keeps long lines of addresses linear.
    let before = before.get(before.floor_char_boundary(before.len().saturating_sub(48))..).unwrap_or("");
    let at_line_start = found.start.saturating_sub(line_start) == before.len();
    let before_trim = before.trim_start_matches(['>', ' ', '\t', '<', '"', '\'', '*', '-', '[']);
    let after = line.get(found.end.saturating_sub(line_start)..).unwrap_or("");
    let after = after.get(..after.floor_char_boundary(8)).unwrap_or("");
    let after = after.trim_start_matches(['>', '"', '\'', ']', ')']);
    let lower_before = before.to_ascii_lowercase();
    let quoted_header = ["to:", "cc:", "bcc:"].iter().any(|h| before_trim.to_ascii_lowercase().starts_with(h));
    let starts_line = at_line_start
        && before_trim.is_empty()
        && (after.trim().is_empty() || after.starts_with(':') || after.starts_with(' ') || after.starts_with("..."));
    !quoted_header && starts_line
        || [
            "rcpt to:",
            "rcpt to:<",
            "rcpt to: <",
            "recipient address:",
            "recipient:",
            "addressed to:",
            "expanded from:",
        ]
        .iter()
        .any(|p| lower_before.trim_end().ends_with(p))
        || at_line_start && is_reply_prefix(before_trim)
}

/// Sendmail's transcript lines name the recipient right after the reply code:
/// `550 <addr>... User unknown`, `<<< 554 5.1.1 <addr>...`.
fn is_reply_prefix(before: &str) -> bool {
    let mut rest = before.trim();
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if code.len() != 3 || !matches!(code.as_bytes()[0], b'4' | b'5') {
        return false;
    }
    rest = rest[3..].trim_start_matches(['-', ' ']);
    let enhanced: &str = rest.split(' ').next().unwrap_or("");
    if super::dsn::is_status_code(enhanced) {
        rest = rest[enhanced.len()..].trim_start();
    }
    rest.trim_end_matches(['<', ' ']).is_empty()
}

/// Recipients named in a prose notice, strongest evidence first; `exclude` are the
/// report's own and the original sender's addresses.
pub(super) fn mentions(notice: &str, exclude: &[String]) -> Vec<Mention> {
    let mut strong: Vec<Mention> = Vec::new();
    // Addresses in sentences: those on a line about the failure first, then any.
    let mut weak_failing: Vec<Mention> = Vec::new();
    let mut weak: Vec<Mention> = Vec::new();
    // The sender's own addresses count only as a list entry, and only when no other
    // recipient is listed (mail to oneself).
    let mut strong_own: Vec<Mention> = Vec::new();
    let lines: Vec<(usize, &str)> = line_offsets(notice);
    for (idx, &(start, line)) in lines.iter().enumerate().take(2_000) {
        if !line.contains('@') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if is_noise_line(&lower) {
            continue;
        }
        let about_failure = FAILURE_WORDS.iter().any(|w| lower.contains(w));
        for found in address::scan(line) {
            let found = Found { start: found.start + start, end: found.end + start, address: found.address };
            if address::is_system_mailbox(&found.address) || inside_link(line, found.start - start) {
                continue;
            }
            let list = match (is_strong(line, &found, start), exclude.contains(&found.address)) {
                (true, false) => &mut strong,
                (true, true) => &mut strong_own,
                (false, false) if about_failure => &mut weak_failing,
                (false, false) => &mut weak,
                (false, true) => continue,
            };
            if list.iter().any(|m| m.address == found.address) || list.len() >= MAX_MENTIONS {
                continue;
            }
            let context = context_after(&lines, idx, &found.address);
            list.push(Mention { address: found.address, context });
        }
    }
    [strong, weak_failing, weak, strong_own].into_iter().find(|list| !list.is_empty()).unwrap_or_default()
}

fn line_offsets(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        out.push((offset, line.trim_end_matches(['\n', '\r'])));
        offset += line.len();
    }
    out
}

/// The line of a mention and those after it up to the next blank line (or the next
/// line that starts with an address), joined: the server's reply.
fn context_after(lines: &[(usize, &str)], idx: usize, address: &str) -> String {
    let mut out = String::new();
    for (i, &(_, line)) in lines.iter().enumerate().skip(idx).take(12) {
        let t = line.trim();
        if i > idx && (t.is_empty() && !out.is_empty() || starts_with_other_address(t, address))
            || out.len() >= MAX_CONTEXT
        {
            break;
        }
        out.push_str(&t[..t.floor_char_boundary(MAX_CONTEXT)]);
        out.push(' ');
    }
    out
}

/// A line that begins with another address (the next recipient of a list).
fn starts_with_other_address(line: &str, address: &str) -> bool {
    let t = line.trim_start_matches(['<', '"', '\'', '*', '-', ' ']);
    let token = t.split([' ', '>', '"', ':', '\'', ',']).next().unwrap_or("");
    token.contains('@') && address::normalize(token).is_some_and(|a| a != address)
}

/// The text right after an address (lower-cased) in the notice (for DSNs whose Diagnostic-Code is
/// missing or says nothing).
pub(super) fn context_of(notice: &str, address: &str) -> Option<String> {
    let lines = line_offsets(notice);
    let idx = lines.iter().position(|(_, l)| l.contains(address) || l.to_ascii_lowercase().contains(address))?;
    Some(context_after(&lines, idx, address))
}
