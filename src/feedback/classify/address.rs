//! E-mail addresses as bounce reports write them: `rfc822; <User@Example.COM>.`,
//! `"quoted local"@host`, addresses buried in prose or SMTP transcripts.

/// Characters RFC 5322 allows in an unquoted local part (dot-atom text).
fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b".!#$%&'*+-/=?^_`{|}~".contains(&c)
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_'
}

/// One address from a report field or a header value: strips an address-type prefix
/// (`rfc822;`), a display name, angle brackets, quotes around the whole address and
/// trailing dots; lower-cases. `None` when what is left is not `local@domain`.
pub(super) fn normalize(raw: &str) -> Option<String> {
    let mut s = raw.trim();
    if let Some((kind, rest)) = s.split_once(';')
        && !kind.contains('@')
        && kind.len() < 16
    {
        s = rest.trim();
    }
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>'))
        && open < close
    {
        s = &s[open + 1..close];
    }
    let s = s.trim().trim_start_matches(['<', '\'']).trim_end_matches(['>', '\'', '.', ',', ';', ':']).trim();
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    let at = s.rfind('@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.contains(char::is_whitespace) && !local.starts_with('"') {
        return None;
    }
    if !valid_domain(domain) {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

fn valid_domain(domain: &str) -> bool {
    let bytes = domain.as_bytes();
    if let Some(inner) = domain.strip_prefix('[') {
        return inner.ends_with(']') && inner.len() > 2;
    }
    !domain.is_empty()
        && domain.len() <= 255
        && domain.contains('.')
        && bytes.iter().all(|&c| is_domain_char(c))
        && !domain.starts_with(['.', '-'])
        && !domain.contains("..")
        && domain.rsplit('.').next().is_some_and(|tld| !tld.is_empty() && !tld.bytes().all(|c| c.is_ascii_digit()))
}

/// At most this many addresses are taken from one text: reports name a few.
const MAX_ADDRESSES: usize = 256;

/// Every address in free text (up to [`MAX_ADDRESSES`]), in order of appearance,
/// normalised, without duplicates.
pub(super) fn find_all(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for found in scan(text) {
        if !out.contains(&found.address) {
            out.push(found.address);
            if out.len() == MAX_ADDRESSES {
                break;
            }
        }
    }
    out
}

/// An address found in text and where it ends (byte offset), to look at what follows.
pub(super) struct Found {
    pub address: String,
    pub start: usize,
    pub end: usize,
}

/// Scans text for `local@domain` tokens. Bounded by the text's length: each `@` is looked
/// at once and the local-part walk stops at 256 bytes.
pub(super) fn scan(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while out.len() < 4 * MAX_ADDRESSES
        && let Some(pos) = bytes.get(from..).and_then(|rest| rest.iter().position(|&c| c == b'@'))
    {
        let at = from + pos;
        from = at + 1;
        let mut start = at;
        if at > 0 && bytes[at - 1] == b'"' {
            // "quoted local part"@domain
            if let Some(open) = bytes[..at - 1].iter().rposition(|&c| c == b'"')
                && at - 1 - open < 128
                && !bytes[open..at].contains(&b'\n')
            {
                start = open;
            }
        } else {
            while start > 0 && at - start < 256 && is_local_char(bytes[start - 1]) {
                start -= 1;
            }
        }
        let mut end = at + 1;
        if bytes.get(end) == Some(&b'[') {
            while end < bytes.len() && bytes[end] != b']' && end - at < 64 {
                end += 1;
            }
            end = (end + 1).min(bytes.len());
        } else {
            while end < bytes.len() && is_domain_char(bytes[end]) && end - at < 256 {
                end += 1;
            }
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        let Some(candidate) = text.get(start..end) else { continue };
        if let Some(address) = normalize(candidate) {
            out.push(Found { address, start, end });
            from = end.max(from);
        }
    }
    out
}

/// The domain part of a normalised address.
pub(super) fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Mailboxes of mail systems rather than of people: a report's own sender, never a
/// bounced recipient.
pub(super) fn is_system_mailbox(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("");
    let local = local.trim_matches('"');
    ["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "noreply", "no-reply", "abuse"]
        .iter()
        .any(|s| local.eq_ignore_ascii_case(s))
}

/// Same site: equal domains or one a subdomain of the other.
pub(super) fn same_site(a: &str, b: &str) -> bool {
    let (da, db) = (domain(a), domain(b));
    da == db || da.ends_with(&format!(".{db}")) || db.ends_with(&format!(".{da}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_type_brackets_and_case() {
        assert_eq!(normalize("rfc822; <Jane.Doe@Example.ORG>.").as_deref(), Some("jane.doe@example.org"));
        assert_eq!(normalize("Jane <jane@example.org>").as_deref(), Some("jane@example.org"));
        assert_eq!(normalize("x400; /c=us/").as_deref(), None);
        assert_eq!(normalize("jane@localhost").as_deref(), None);
    }

    #[test]
    fn scan_finds_addresses_in_prose() {
        let text = "Delivery to <bob@mail.example.net>: failed; also \"a b\"@example.com, and x@[192.0.2.1].";
        assert_eq!(find_all(text), vec!["bob@mail.example.net", "\"a b\"@example.com", "x@[192.0.2.1]"]);
    }

    #[test]
    fn scan_survives_edges() {
        for text in ["@", "@@", "a@", "@b.c", "\"@", "é@é.é", "a@[", "..@.."] {
            let _ = find_all(text);
        }
    }
}
