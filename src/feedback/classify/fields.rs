//! Header-style field blocks (`Name: value`, folded continuation lines, blocks separated
//! by blank lines): the body of `message/delivery-status` (RFC 3464 §2.1),
//! `message/feedback-report` (RFC 5965 §3) and `text/rfc822-headers`. mail-parser does not
//! split these parts into fields, so they are read here.

/// At most this many fields are read from one text: reports have tens, not thousands.
const MAX_FIELDS: usize = 4_000;

/// One field; `name` lower-cased, continuation lines joined with a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field {
    pub name: String,
    pub value: String,
}

/// The field name at the start of a line (`Final-Recipient: ...`), if it is one.
fn field_name(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        && name.as_bytes().first().is_some_and(|c| c.is_ascii_alphabetic());
    ok.then_some((name, value))
}

/// Removes e-mail quoting (`> `) from a line of a forwarded report.
fn unquote(line: &str) -> &str {
    let mut s = line;
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.strip_prefix(' ').unwrap_or(rest);
    }
    s
}

/// Splits text into blocks of fields. Lines that are neither fields nor continuations
/// end the current field and are skipped, so prose around a report does no harm.
pub(super) fn blocks(text: &str) -> Vec<Vec<Field>> {
    let mut out: Vec<Vec<Field>> = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    let mut open = false; // the last line was a field or its continuation
    let mut count = 0;
    for raw_line in text.lines() {
        let line = unquote(raw_line.trim_end_matches('\r'));
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            open = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if open
                && let Some(last) = current.last_mut()
                && last.value.len() < 4_096
            {
                last.value.push(' ');
                last.value.push_str(line.trim());
            }
            continue;
        }
        match field_name(line) {
            Some((name, value)) if count < MAX_FIELDS => {
                count += 1;
                current.push(Field { name: name.to_ascii_lowercase(), value: value.trim().to_string() });
                open = true;
            }
            _ => open = false,
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The first value of a field in a block.
pub(super) fn get<'a>(block: &'a [Field], name: &str) -> Option<&'a str> {
    block.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_split_on_blank_lines_and_join_continuations() {
        let text = "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; a@example.net\r\n\
                    Diagnostic-Code: smtp; 550 5.1.1 no such\r\n  user here\r\n";
        let b = blocks(text);
        assert_eq!(b.len(), 2);
        assert_eq!(get(&b[1], "diagnostic-code"), Some("smtp; 550 5.1.1 no such user here"));
    }

    #[test]
    fn quoted_report_lines_are_read() {
        let b = blocks("> Final-Recipient: rfc822; a@example.net\n> Action: failed\n");
        assert_eq!(get(&b[0], "action"), Some("failed"));
    }
}
