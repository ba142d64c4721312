//! `campaign preview --decoded`: the message as a person reads it — header values with
//! their encoded words decoded, each part's body with its transfer encoding
//! (quoted-printable, base64) undone — instead of the bytes on the wire.

use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders};

/// The headers, then each part under a line naming its type; binary parts by size only.
/// Control characters other than line breaks and tabs are shown escaped, so the text of a
/// contact record cannot drive the terminal.
pub fn decoded(raw: &[u8]) -> String {
    let Some(message) = MessageParser::default().parse(raw) else {
        return String::from_utf8_lossy(raw).into_owned();
    };
    let mut out = String::new();
    if let Some(root) = message.parts.first() {
        headers(&message, root, &mut out);
        out.push('\n');
        part(&message, 0, &mut out);
    }
    out
}

fn headers(message: &Message<'_>, p: &MessagePart<'_>, out: &mut String) {
    for h in p.headers() {
        let raw = message.raw_message();
        let (start, end) = (h.offset_start as usize, h.offset_end as usize);
        let written = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default());
        let written = written.split_whitespace().collect::<Vec<_>>().join(" ");
        // Only a value with encoded words (`=?utf-8?q?...?=`) reads differently decoded;
        // the rest stay as written (message ids keep their angle brackets).
        let value = match h.value() {
            _ if !written.contains("=?") => written,
            HeaderValue::Text(t) => t.to_string(),
            HeaderValue::TextList(list) => list.join(", "),
            HeaderValue::Address(address) => address
                .iter()
                .map(|a| match (a.name.as_deref(), a.address.as_deref()) {
                    (Some(name), Some(addr)) => format!("{name} <{addr}>"),
                    (None, Some(addr)) => addr.to_owned(),
                    (Some(name), None) => name.to_owned(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => written,
        };
        out.push_str(&format!("{}: {}\n", h.name(), shown(&value)));
    }
}

fn part(message: &Message<'_>, id: u32, out: &mut String) {
    let Some(p) = message.parts.get(id as usize) else { return };
    if let Some(children) = p.sub_parts() {
        for child in children {
            part(message, *child, out);
        }
        return;
    }
    let kind = p
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
        .unwrap_or_else(|| "text/plain".into());
    let encoding = p.content_transfer_encoding().unwrap_or("7bit");
    match p.text_contents() {
        Some(text) if p.is_text() => {
            out.push_str(&format!("--- {kind} ({encoding}, decoded) ---\n"));
            out.push_str(&shown(text));
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        _ => out.push_str(&format!("--- {kind} ({} bytes, not shown) ---\n", p.len())),
    }
}

/// Control characters escaped, line breaks and tabs kept.
fn shown(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { c.escape_debug().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::decoded;

    #[test]
    fn encoded_words_and_transfer_encodings_are_undone() {
        let raw = "From: =?utf-8?q?Caf=C3=A9_News?= <news@acme.example>\r\nSubject: =?utf-8?b?SMOpbGxv?=\r\n\
                   MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
                   Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Gr=C3=BC=C3=9Fe, Ad=\r\na\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nPHA+SMOpbGxvPC9wPg==\r\n--b--\r\n";
        let text = decoded(raw.as_bytes());
        assert!(text.contains("From: Café News <news@acme.example>"), "{text}");
        assert!(text.contains("Subject: Héllo"), "{text}");
        assert!(text.contains("--- text/plain (quoted-printable, decoded) ---\nGrüße, Ada"), "{text}");
        assert!(text.contains("--- text/html (base64, decoded) ---\n<p>Héllo</p>"), "{text}");
    }

    #[test]
    fn control_characters_in_a_body_are_shown_escaped() {
        let text = decoded(b"Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhi =1B[2J there\r\n");
        assert!(!text.contains('\u{1b}') && text.contains("\\u{1b}[2J"), "{text}");
    }
}
