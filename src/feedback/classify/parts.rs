//! Takes a report apart with mail-parser: the top-level headers, the human-readable
//! notice, the machine-readable report parts (delivery-status, feedback-report), and the
//! headers of the returned original message — attached (`message/rfc822`,
//! `text/rfc822-headers`) or pasted below the notice, as older MTAs do.

use super::fields::{self, Field};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// Caps on what is kept of one report, so hostile input costs bounded work.
const MAX_NOTICE: usize = 64 * 1024;
const MAX_REPORT_TEXT: usize = 64 * 1024;
const MAX_PARTS: usize = 256;

/// What a report is made of.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// Top-level header fields, names lower-cased, values as text (addresses as
    /// `Name <addr>, ...`).
    pub headers: Vec<Field>,
    /// `report-type` of a top-level or nested `multipart/report`, lower-cased.
    pub report_type: Option<String>,
    /// The human-readable text of the report (not the returned message), lines kept.
    pub notice: String,
    /// Bodies of `message/delivery-status` parts, or of text parts that carry DSN fields.
    pub dsn_texts: Vec<String>,
    /// Body of a `message/feedback-report` part.
    pub feedback: Option<String>,
    /// Headers of the returned original message, when the report includes them.
    pub original: Option<Vec<Field>>,
    /// The report is a `multipart/*` message (its notice is not mixed with the original).
    pub is_multipart: bool,
}

impl Parsed {
    /// First value of a top-level header.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        fields::get(&self.headers, name)
    }

    /// A header of the returned original.
    pub(super) fn original_header(&self, name: &str) -> Option<&str> {
        self.original.as_deref().and_then(|h| fields::get(h, name))
    }
}

/// Reads a raw message into its parts; text mail-parser cannot parse is all notice.
pub(super) fn parse(raw: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let Some(message) = MessageParser::default().parse(raw) else {
        out.notice = cap(String::from_utf8_lossy(raw).into_owned(), MAX_NOTICE);
        split_inline_original(&mut out);
        return out;
    };
    let Some(root) = message.parts.first() else { return out };
    out.headers = header_fields(root);
    out.is_multipart = matches!(root.body, PartType::Multipart(_));
    let mut walker = Walker { out, visited: 0 };
    walker.walk(&message, 0, 0);
    let mut out = walker.out;
    split_inline_original(&mut out);
    out
}

struct Walker {
    out: Parsed,
    visited: usize,
}

impl Walker {
    fn walk(&mut self, message: &Message<'_>, id: usize, depth: usize) {
        self.visited += 1;
        if self.visited > MAX_PARTS || depth > 32 {
            return;
        }
        let Some(part) = message.parts.get(id) else { return };
        let (ctype, subtype) = content_type(part);
        match &part.body {
            PartType::Multipart(children) => {
                if ctype == "multipart"
                    && subtype == "report"
                    && self.out.report_type.is_none()
                    && let Some(rt) = part.content_type().and_then(|c| c.attribute("report-type"))
                {
                    self.out.report_type = Some(rt.trim().to_ascii_lowercase());
                }
                for &child in children {
                    if child as usize != id {
                        self.walk(message, child as usize, depth + 1);
                    }
                }
            }
            PartType::Message(nested) => {
                let Some(root) = nested.parts.first() else { return };
                // A report forwarded as an attachment (a gateway's cover note around the
                // real DSN): read the attached report instead of taking it as the original.
                let (nested_type, nested_subtype) = content_type(root);
                if nested_type == "multipart" && nested_subtype == "report" && self.out.dsn_texts.is_empty() {
                    self.walk(nested, 0, depth + 1);
                } else if self.out.original.is_none() {
                    self.out.original = Some(header_fields(root));
                }
            }
            PartType::Text(text) | PartType::Html(text) => {
                let is_html = matches!(part.body, PartType::Html(_));
                self.text_part(&ctype, &subtype, text, is_html);
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                // A multipart whose boundary was lost comes back as one opaque body.
                if matches!(ctype.as_str(), "message" | "text" | "multipart") {
                    let text = String::from_utf8_lossy(bytes);
                    self.text_part(&ctype, &subtype, &text, false);
                }
            }
        }
    }

    fn text_part(&mut self, ctype: &str, subtype: &str, text: &str, is_html: bool) {
        match (ctype, subtype) {
            ("message", "delivery-status" | "global-delivery-status") => {
                self.out.dsn_texts.push(cap(text.to_string(), MAX_REPORT_TEXT));
            }
            ("message", "feedback-report") => {
                self.out.feedback.get_or_insert_with(|| cap(text.to_string(), MAX_REPORT_TEXT));
            }
            ("text" | "message", "rfc822-headers" | "global-headers") | ("message", "rfc822" | "global") => {
                let original = self.out.original.take();
                self.out.original = original.or_else(|| fields::blocks(text).into_iter().next());
            }
            ("message" | "text" | "multipart", _) | ("", _) => {
                if self.out.notice.len() >= MAX_NOTICE {
                    return;
                }
                let text = if is_html { html_to_text(text) } else { text.to_string() };
                if has_dsn_fields(&text) {
                    self.out.dsn_texts.push(cap(text.clone(), MAX_REPORT_TEXT));
                }
                if !self.out.notice.is_empty() {
                    self.out.notice.push('\n');
                }
                self.out.notice.push_str(&text);
                let capped = cap(std::mem::take(&mut self.out.notice), MAX_NOTICE);
                self.out.notice = capped;
            }
            _ => {}
        }
    }
}

fn content_type(part: &MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or("").to_ascii_lowercase()),
        None => (String::new(), String::new()),
    }
}

/// Text parts that hold RFC 3464 per-recipient fields though not labelled as such.
fn has_dsn_fields(text: &str) -> bool {
    let lower = text.get(..text.len().min(MAX_REPORT_TEXT)).unwrap_or(text).to_ascii_lowercase();
    lower.lines().any(|l| {
        let l = l.trim_start_matches(['>', ' ']);
        l.starts_with("final-recipient:") || l.starts_with("original-recipient:")
    })
}

fn header_fields(part: &MessagePart<'_>) -> Vec<Field> {
    part.headers
        .iter()
        .take(512)
        .map(|h| Field { name: h.name().to_ascii_lowercase(), value: value_text(h.value()) })
        .collect()
}

fn value_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        HeaderValue::Address(address) => address_text(address),
        HeaderValue::ContentType(ct) => {
            let mut s = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
            for attr in ct.attributes().unwrap_or_default() {
                s.push_str(&format!("; {}={}", attr.name, attr.value));
            }
            s
        }
        _ => String::new(),
    }
}

fn address_text(address: &Address<'_>) -> String {
    let mut parts = Vec::new();
    for addr in address.iter() {
        let name = addr.name.as_deref().unwrap_or("");
        match addr.address.as_deref() {
            Some(a) if name.is_empty() => parts.push(format!("<{a}>")),
            Some(a) => parts.push(format!("{name} <{a}>")),
            None => parts.push(name.to_string()),
        }
    }
    parts.join(", ")
}

/// Lines that start the returned message in single-part reports.
const ORIGINAL_MARKERS: &[&str] = &[
    "copy of the message",
    "copy of your message",
    "copy of the original message",
    "original message follows",
    "original message as received",
    "returned message",
    "returned mail follows",
    "message header follows",
    "message headers follow",
    "unsent message follows",
    "undelivered message follows",
    "headers of the original message",
    "original message headers",
    "original message header",
    "--- original message",
    "original message ---",
    "the original message headers",
    "below is a copy of",
    "below the next line is a copy",
    "message text follows",
];

/// In a single-part report, the returned message follows the notice: cut the notice
/// there and read the original's headers from what follows.
fn split_inline_original(out: &mut Parsed) {
    let lower = out.notice.to_ascii_lowercase();
    let mut offset = 0;
    let mut cut: Option<(usize, usize)> = None; // (start of marker line, start of original)
    let mut seen_text = false;
    for line in lower.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start_matches(['>', ' ', '\t']);
        let is_marker = ORIGINAL_MARKERS.iter().any(|m| trimmed.contains(m)) && looks_like_separator(trimmed);
        let is_header_start = seen_text && (trimmed.starts_with("received: ") || trimmed.starts_with("return-path:"));
        if is_marker {
            cut = Some((start, offset));
            break;
        }
        if is_header_start {
            cut = Some((start, start));
            break;
        }
        if !trimmed.trim().is_empty() {
            seen_text = true;
        }
    }
    let Some((notice_end, original_start)) = cut else { return };
    let rest = out.notice.get(original_start..).unwrap_or("");
    if out.original.is_none() {
        out.original = fields::blocks(rest.trim_start_matches(['\r', '\n'])).into_iter().next();
    }
    out.notice.truncate(notice_end);
}

/// A marker phrase counts on a line of its own that looks like a separator, not inside a
/// sentence ("delete your own text from the attached returned message").
fn looks_like_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() < 120
        && (t.contains("--") || t.contains("==") || t.contains("**") || t.contains("follows") || t.contains("below"))
}

fn cap(mut s: String, max: usize) -> String {
    s.truncate(s.floor_char_boundary(max));
    s
}

/// Enough of HTML to read an NDR: tags dropped, block ends as line breaks, a few entities.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = after.find('>').map_or(after.len(), |c| c + 1);
        let tag = after[..close].to_ascii_lowercase();
        if ["<br", "</p", "<p", "</div", "</tr", "<tr", "</li", "</h", "</table", "</td"]
            .iter()
            .any(|t| tag.starts_with(t))
        {
            out.push('\n');
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#64;", "@")
        .replace("&amp;", "&")
}
