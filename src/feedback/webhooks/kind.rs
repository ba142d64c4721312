//! What a remote server's reply says about an address (DESIGN §5), shared by the
//! providers: a bounce is `hard` only when the status or the words say the address or
//! its domain does not exist; full mailboxes, disabled accounts, spam and policy blocks
//! are about the message or the sender, so they are `soft` even under a 5.1.1.
//!
//! Also the small normalisations every provider needs: recipients, diagnostics, Message-IDs.

use crate::domain::BounceKind;

/// The longest diagnostic kept, in characters.
pub const DIAGNOSTIC_MAX_CHARS: usize = 1000;

/// What a reply's status and words tell about the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The address or its domain does not exist: `user_unknown` or `host_unknown`.
    AddressGone(&'static str),
    /// A cause that is not the address: mailbox full, suspended, spam, policy, ...
    NotTheAddress(&'static str),
    /// Nothing either way.
    Unclear,
}

/// Words that say the failure is not about the address existing; they win over a 5.1.x
/// status, since servers put 5.1.1 on full or disabled mailboxes too.
const NOT_THE_ADDRESS: &[(&str, &str)] = &[
    ("mailbox full", "mailbox_full"),
    ("mailbox is full", "mailbox_full"),
    ("over quota", "mailbox_full"),
    ("quota exceeded", "mailbox_full"),
    ("exceeded storage", "mailbox_full"),
    ("insufficient storage", "mailbox_full"),
    ("out of storage", "mailbox_full"),
    ("suspended", "suspended"),
    ("disabled", "suspended"),
    ("deactivated", "suspended"),
    ("inactive", "suspended"),
    ("spam", "spam_blocked"),
    ("blacklist", "spam_blocked"),
    ("blocklist", "spam_blocked"),
    ("block list", "spam_blocked"),
    ("blocked", "spam_blocked"),
    ("reputation", "spam_blocked"),
    ("spamhaus", "spam_blocked"),
    ("rbl", "spam_blocked"),
    ("dnsbl", "spam_blocked"),
    ("policy", "policy"),
    ("dmarc", "policy"),
    ("not authorized", "policy"),
    ("unauthenticated", "policy"),
    ("virus", "filtered"),
    ("content rejected", "filtered"),
    ("filtered", "filtered"),
    ("message too large", "policy"),
    ("message size exceeds", "policy"),
    ("rate limit", "rate_limited"),
    ("too many", "rate_limited"),
    ("throttl", "rate_limited"),
    ("try again later", "rate_limited"),
    ("greylist", "rate_limited"),
    ("graylist", "rate_limited"),
];

/// Words that say the domain does not exist. Checked before [`USER_GONE`], whose
/// "does not exist" would otherwise claim "domain does not exist".
const HOST_GONE: &[&str] = &[
    "host not found",
    "host unknown",
    "unknown host",
    "nxdomain",
    "domain not found",
    "domain name not found",
    "domain does not exist",
    "no such domain",
    "null mx",
    "name or service not known",
    "unrouteable domain",
];

/// Words that say the mailbox does not exist.
const USER_GONE: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "mailbox not found",
    "mailbox unavailable",
    "mailbox does not exist",
    "does not exist",
    "doesn't exist",
    "unknown recipient",
    "recipient unknown",
    "recipient not found",
    "invalid recipient",
    "invalid mailbox",
    "not a valid mailbox",
    "address rejected",
    "address unknown",
    "unknown address",
    "user not found",
    "bad destination mailbox",
];

/// Reads a reply: `status` is the enhanced status code if the provider gives one apart
/// (else one is looked for in `text`), `text` the server's words.
pub fn evidence(status: Option<&str>, text: &str) -> Evidence {
    let lower = text.to_ascii_lowercase();
    if let Some((_, reason)) = NOT_THE_ADDRESS.iter().find(|(w, _)| lower.contains(w)) {
        return Evidence::NotTheAddress(reason);
    }
    let status = status.and_then(enhanced_status).or_else(|| find_enhanced_status(text));
    if let Some(code) = status.as_deref() {
        match code {
            // RFC 3463: 5.1.1 bad mailbox, 5.1.3 bad address syntax, 5.1.6 moved;
            // 5.1.2 bad destination system; RFC 7505: 5.1.10 null MX.
            "5.1.1" | "5.1.3" | "5.1.6" => return Evidence::AddressGone("user_unknown"),
            "5.1.2" | "5.1.10" => return Evidence::AddressGone("host_unknown"),
            "5.2.2" | "4.2.2" => return Evidence::NotTheAddress("mailbox_full"),
            "5.2.1" | "4.2.1" => return Evidence::NotTheAddress("suspended"),
            "5.4.7" | "4.4.7" => return Evidence::NotTheAddress("expired"),
            _ if code.starts_with("5.7.") => return Evidence::NotTheAddress("policy"),
            _ => {}
        }
    }
    if HOST_GONE.iter().any(|w| lower.contains(w)) {
        return Evidence::AddressGone("host_unknown");
    }
    if USER_GONE.iter().any(|w| lower.contains(w)) {
        return Evidence::AddressGone("user_unknown");
    }
    Evidence::Unclear
}

/// The kind and reason label of a failed delivery. `permanent` is the provider's word that
/// it will not retry; a 4.x.x status is temporary whatever the provider says.
pub fn kind_from_reply(status: Option<&str>, text: &str, permanent: bool) -> (BounceKind, &'static str) {
    let code = status.and_then(enhanced_status).or_else(|| find_enhanced_status(text));
    let temporary = !permanent || code.as_deref().is_some_and(|c| c.starts_with('4'));
    match evidence(code.as_deref(), text) {
        Evidence::AddressGone(reason) if !temporary => (BounceKind::Hard, reason),
        Evidence::AddressGone(_) | Evidence::Unclear => (BounceKind::Soft, "other"),
        Evidence::NotTheAddress(reason) => (BounceKind::Soft, reason),
    }
}

/// `x.y.z` with a class of 2, 4 or 5 (RFC 3463), from a field that should be exactly one.
pub fn enhanced_status(raw: &str) -> Option<String> {
    let raw = raw.trim();
    is_enhanced_status(raw).then(|| raw.to_string())
}

/// The first `x.y.z` status code standing as a word in free text ("550 5.1.1 <a@b>: ...").
pub fn find_enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| is_enhanced_status(w))
        .map(str::to_string)
}

fn is_enhanced_status(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(class), Some(subject), Some(detail), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |p: &str, max: usize| !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit());
    matches!(class, "2" | "4" | "5") && digits(subject, 3) && digits(detail, 3)
}

/// A recipient as the rules key it: trimmed, lower-cased, without angle brackets.
pub fn normalize_recipient(raw: &str) -> String {
    raw.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase()
}

/// A remote server's words on one line (control characters and runs of whitespace become
/// one space), at most [`DIAGNOSTIC_MAX_CHARS`] characters; `None` when empty.
pub fn one_line(raw: &str) -> Option<String> {
    let joined = raw.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty());
    let mut out = String::new();
    for word in joined {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > DIAGNOSTIC_MAX_CHARS {
            break;
        }
    }
    let out: String = out.chars().take(DIAGNOSTIC_MAX_CHARS).collect();
    (!out.is_empty()).then_some(out)
}

/// A Message-ID without its angle brackets; `None` when empty.
pub fn bare_message_id(raw: &str) -> Option<String> {
    let id = raw.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_with_5_1_1_is_hard() {
        assert_eq!(kind_from_reply(Some("5.1.1"), "550 5.1.1 user unknown", true), (BounceKind::Hard, "user_unknown"));
    }

    #[test]
    fn status_found_in_the_text_when_not_given_apart() {
        assert_eq!(
            kind_from_reply(None, "550 5.1.1 <a@b.example>: rejected", true),
            (BounceKind::Hard, "user_unknown")
        );
    }

    #[test]
    fn words_alone_can_say_the_address_is_gone() {
        assert_eq!(kind_from_reply(None, "550 No such user here", true), (BounceKind::Hard, "user_unknown"));
        assert_eq!(kind_from_reply(None, "Host or domain name not found. NXDOMAIN", true).0, BounceKind::Hard);
        assert_eq!(kind_from_reply(None, "domain does not exist", true), (BounceKind::Hard, "host_unknown"));
    }

    #[test]
    fn null_mx_and_bad_destination_system_are_host_unknown() {
        assert_eq!(kind_from_reply(Some("5.1.10"), "", true), (BounceKind::Hard, "host_unknown"));
        assert_eq!(kind_from_reply(Some("5.1.2"), "", true), (BounceKind::Hard, "host_unknown"));
    }

    #[test]
    fn full_or_disabled_mailbox_is_soft_even_under_5_1_1() {
        assert_eq!(kind_from_reply(Some("5.1.1"), "mailbox full", true), (BounceKind::Soft, "mailbox_full"));
        assert_eq!(
            kind_from_reply(Some("5.1.1"), "The account has been disabled", true),
            (BounceKind::Soft, "suspended")
        );
    }

    #[test]
    fn spam_or_policy_words_are_soft_even_under_5_1_1() {
        assert_eq!(kind_from_reply(Some("5.1.1"), "blocked by Spamhaus", true), (BounceKind::Soft, "spam_blocked"));
        assert_eq!(kind_from_reply(Some("5.1.1"), "rejected by local policy", true), (BounceKind::Soft, "policy"));
    }

    #[test]
    fn mailbox_full_status_is_soft() {
        assert_eq!(kind_from_reply(Some("5.2.2"), "", true), (BounceKind::Soft, "mailbox_full"));
    }

    #[test]
    fn security_status_is_soft_policy() {
        assert_eq!(kind_from_reply(Some("5.7.1"), "Service unavailable", true), (BounceKind::Soft, "policy"));
        assert_eq!(
            kind_from_reply(Some("5.7.1"), "Message rejected as spam", true),
            (BounceKind::Soft, "spam_blocked")
        );
    }

    #[test]
    fn temporary_status_is_soft_even_with_user_unknown_words() {
        assert_eq!(kind_from_reply(Some("4.1.1"), "user unknown", true).0, BounceKind::Soft);
        assert_eq!(kind_from_reply(Some("5.1.1"), "user unknown", false).0, BounceKind::Soft);
    }

    #[test]
    fn permanent_without_evidence_is_soft_other() {
        assert_eq!(kind_from_reply(Some("5.0.0"), "550 rejected", true), (BounceKind::Soft, "other"));
        assert_eq!(kind_from_reply(None, "", true), (BounceKind::Soft, "other"));
    }

    #[test]
    fn enhanced_status_needs_three_numeric_parts_of_a_known_class() {
        assert_eq!(enhanced_status(" 5.1.1 ").as_deref(), Some("5.1.1"));
        assert_eq!(enhanced_status("5.1.10").as_deref(), Some("5.1.10"));
        assert_eq!(enhanced_status("550"), None);
        assert_eq!(enhanced_status("3.1.1"), None);
        assert_eq!(enhanced_status("5.1"), None);
        assert_eq!(find_enhanced_status("smtp; 550 5.1.1. bad").as_deref(), Some("5.1.1"));
        assert_eq!(find_enhanced_status("version 1.2.3.4"), None);
    }

    #[test]
    fn diagnostics_are_one_capped_line() {
        assert_eq!(one_line(" 550\r\n  user\tunknown \n").as_deref(), Some("550 user unknown"));
        assert_eq!(one_line(" \n "), None);
        let long = "é".repeat(3000);
        assert_eq!(one_line(&long).map(|s| s.chars().count()), Some(DIAGNOSTIC_MAX_CHARS));
    }

    #[test]
    fn recipients_and_message_ids_are_normalised() {
        assert_eq!(normalize_recipient("  <Bob@Example.COM> "), "bob@example.com");
        assert_eq!(bare_message_id(" <abc@herald.example> ").as_deref(), Some("abc@herald.example"));
        assert_eq!(bare_message_id("<>"), None);
    }
}
