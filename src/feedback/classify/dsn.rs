//! RFC 3464 delivery status notifications: the per-recipient field groups of a
//! `message/delivery-status` (or `message/global-delivery-status`, RFC 6533) part.

use super::address;
use super::fields::{self, Field};

/// What the report says about one recipient (RFC 3464 §2.3).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct DsnRecipient {
    pub recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded` (lower-cased), or empty.
    pub action: String,
    pub status: Option<String>,
    /// What follows the code in the Status field: `5.2.1 (mailbox disabled)`.
    pub status_comment: Option<String>,
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
}

impl DsnRecipient {
    /// The report says delivery failed or is delayed (not delivered, relayed, expanded,
    /// or verified deliverable; not a 2.x.x success).
    pub(super) fn is_failure(&self) -> bool {
        !matches!(self.action.as_str(), "delivered" | "relayed" | "expanded" | "deliverable")
            && !self.status.as_deref().is_some_and(|s| s.starts_with("2."))
    }
}

/// Per-recipient groups from the DSN texts; per-message fields (Reporting-MTA, ...)
/// are only used to fill an Action or Status a recipient group leaves out.
pub(super) fn parse(texts: &[String]) -> Vec<DsnRecipient> {
    let mut out = Vec::new();
    let mut defaults = DsnRecipient::default();
    for text in texts {
        for block in fields::blocks(text) {
            let groups = split_groups(&block);
            if groups.is_empty() {
                absorb(&mut defaults, &block);
                continue;
            }
            for group in groups {
                let mut r = DsnRecipient::default();
                absorb(&mut r, group);
                r.recipient = pick_recipient(group);
                if r.action.is_empty() {
                    r.action.clone_from(&defaults.action);
                }
                if r.status.is_none() {
                    r.status.clone_from(&defaults.status);
                }
                if r.diagnostic.is_none() {
                    r.diagnostic.clone_from(&defaults.diagnostic);
                }
                out.push(r);
                if out.len() >= 1_000 {
                    return out;
                }
            }
        }
    }
    out
}

/// A block may hold several recipients when an MTA forgets the blank lines: a new group
/// starts at each recipient field that repeats one already in the group.
fn split_groups(block: &[Field]) -> Vec<&[Field]> {
    let is_rcpt = |f: &Field| f.name == "final-recipient" || f.name == "original-recipient";
    let mut groups = Vec::new();
    let mut start = None;
    let mut seen_final = false;
    let mut seen_original = false;
    for (i, f) in block.iter().enumerate() {
        if !is_rcpt(f) {
            continue;
        }
        let repeat = (f.name == "final-recipient" && seen_final) || (f.name == "original-recipient" && seen_original);
        match start {
            None => start = Some(i),
            Some(s) if repeat => {
                groups.push(&block[s..i]);
                start = Some(i);
                seen_final = false;
                seen_original = false;
            }
            Some(_) => {}
        }
        if f.name == "final-recipient" {
            seen_final = true;
        } else {
            seen_original = true;
        }
    }
    if let Some(s) = start {
        // Fields before the first recipient field belong to its group.
        let first = if groups.is_empty() { 0 } else { s };
        groups.push(&block[first..]);
    }
    groups
}

fn absorb(r: &mut DsnRecipient, block: &[Field]) {
    for f in block {
        let value = f.value.trim();
        match f.name.as_str() {
            "action" if r.action.is_empty() => {
                r.action = value.split([' ', '(', ';']).next().unwrap_or("").to_ascii_lowercase();
            }
            "status" if r.status.is_none() => {
                r.status = status_code(value);
                let comment = value.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').trim();
                r.status_comment = (!comment.is_empty()).then(|| comment.to_string());
            }
            "diagnostic-code" if r.diagnostic.is_none() && !value.is_empty() => {
                r.diagnostic = Some(value.to_string());
            }
            "remote-mta" if r.remote_mta.is_none() => {
                r.remote_mta = Some(value.split_once(';').map_or(value, |(_, v)| v).trim().to_string());
            }
            _ => {}
        }
    }
}

/// The recipient of a group. Final-Recipient names the mailbox that failed; when the
/// Original-Recipient (the address the sender used) is on the same site, the final one
/// is an internal rewrite of it and the original is the address the sender knows.
fn pick_recipient(group: &[Field]) -> Option<String> {
    let original = fields::get(group, "original-recipient").and_then(address::normalize);
    let final_ = fields::get(group, "final-recipient")
        .and_then(address::normalize)
        .or_else(|| fields::get(group, "x-actual-recipient").and_then(address::normalize));
    match (original, final_) {
        (Some(o), Some(f)) if address::same_site(&o, &f) && local(&o) != local(&f) => Some(o),
        (o, Some(f)) => Some(f).or(o),
        (o, None) => o,
    }
}

fn local(address: &str) -> String {
    address.rsplit_once('@').map_or(address, |(l, _)| l).replace('"', "")
}

/// An RFC 3463 enhanced status code (`5.1.1`) at the start of a Status field.
pub(super) fn status_code(value: &str) -> Option<String> {
    let token = value.trim().split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?;
    is_status_code(token).then(|| token.to_string())
}

/// `class.subject.detail` with class 2, 4 or 5 and 1–3 digit subject and detail.
pub(super) fn is_status_code(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(class), Some(subject), Some(detail), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(class, "2" | "4" | "5")
        && (1..=3).contains(&subject.len())
        && (1..=3).contains(&detail.len())
        && subject.bytes().chain(detail.bytes()).all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_recipient_groups_are_read() {
        let text = "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; A@example.net\nAction: failed\n\
                    Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n\
                    Final-Recipient: rfc822; b@example.net\nAction: delayed\nStatus: 4.4.1 (timeout)\n";
        let r = parse(&[text.to_string()]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].recipient.as_deref(), Some("a@example.net"));
        assert_eq!(r[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(r[1].action, "delayed");
        assert_eq!(r[1].status.as_deref(), Some("4.4.1"));
    }

    #[test]
    fn groups_without_blank_lines_are_split() {
        let text = "Final-Recipient: rfc822; a@example.net\nStatus: 5.1.1\nFinal-Recipient: rfc822; b@example.net\nStatus: 5.2.2\n";
        let r = parse(&[text.to_string()]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].status.as_deref(), Some("5.2.2"));
    }

    #[test]
    fn original_recipient_wins_only_on_the_same_site() {
        let same = "Original-Recipient: rfc822; alias@example.net\nFinal-Recipient: rfc822; box@mail.example.net\n";
        assert_eq!(parse(&[same.to_string()])[0].recipient.as_deref(), Some("alias@example.net"));
        let forwarded = "Original-Recipient: rfc822; me@example.org\nFinal-Recipient: rfc822; me@other.example.com\n";
        assert_eq!(parse(&[forwarded.to_string()])[0].recipient.as_deref(), Some("me@other.example.com"));
    }

    #[test]
    fn status_codes_are_validated() {
        assert_eq!(status_code("5.1.1 (bad mailbox)").as_deref(), Some("5.1.1"));
        assert_eq!(status_code("5.7.509").as_deref(), Some("5.7.509"));
        assert_eq!(status_code("550"), None);
        assert_eq!(status_code("9.1.1"), None);
    }
}
