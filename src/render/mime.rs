//! Putting a rendered message together: lettre encodes every header (RFC 2047 words,
//! quoting, folding) and every body (the transfer encoding it chooses, CRLF line ends);
//! the assembly around them is written here.
//!
//! lettre's `MessageBuilder` does the same assembly, but for each message it also parses
//! its own From and To headers back to derive an envelope Herald never uses (Herald's
//! envelope sender is the VERP address), re-encodes the headers that are the same in every
//! message of a campaign, and copies the finished parts twice. That was nearly half the cost
//! of rendering a message. The output is byte for byte what the builder produces (a test
//! below holds the two side by side).

use lettre::message::header::{self, ContentTransferEncoding, HeaderName, HeaderValue, Headers};
use lettre::message::{Body, Mailbox, Mailboxes};
use std::io::Write as _;

/// The headers that are the same in every message of a campaign, encoded once.
#[derive(Clone)]
pub(super) struct FixedHeaders {
    /// `From`, first in every message.
    from: String,
    /// `Reply-To`, when there is one.
    reply_to: String,
    /// From `List-Unsubscribe-Post` to `MIME-Version`.
    tail: String,
}

/// What changes from message to message.
pub(super) struct Varying<'a> {
    pub to: Mailbox,
    pub subject: String,
    pub date: std::time::SystemTime,
    pub message_id: &'a str,
    /// The `List-Unsubscribe` value (marketing mail only).
    pub list_unsubscribe: Option<String>,
    pub boundary: &'a str,
    pub text: String,
    pub html: String,
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

impl FixedHeaders {
    pub(super) fn new(
        from: &Mailbox,
        reply_to: Option<&Mailbox>,
        marketing: bool,
        list_id: String,
        feedback_id: String,
    ) -> Self {
        let mut h = Headers::new();
        h.set(header::From::from(Mailboxes::from(from.clone())));
        let from = h.to_string();
        let mut h = Headers::new();
        if let Some(r) = reply_to {
            h.set(header::ReplyTo::from(Mailboxes::from(r.clone())));
        }
        let reply_to = h.to_string();
        let mut h = Headers::new();
        if marketing {
            h.insert_raw(raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()));
            h.insert_raw(raw("Precedence", "bulk".into()));
        }
        h.insert_raw(raw("List-Id", list_id));
        h.insert_raw(raw("Feedback-ID", feedback_id));
        h.set(header::MIME_VERSION_1_0);
        FixedHeaders { from, reply_to, tail: h.to_string() }
    }

    /// The message, CRLF line ends: headers, then a multipart/alternative body with the text
    /// part first.
    pub(super) fn assemble(&self, m: Varying<'_>) -> Vec<u8> {
        let text = Body::new(m.text);
        let html = Body::new(m.html);
        let mut h = Headers::new();
        h.set(header::To::from(Mailboxes::from(m.to)));
        h.set(header::Subject::from(m.subject));
        h.set(header::Date::new(m.date));
        h.set(header::MessageId::from(m.message_id.to_owned()));
        let varying = h.to_string();
        let mut unsubscribe = String::new();
        if let Some(value) = m.list_unsubscribe {
            let mut h = Headers::new();
            h.insert_raw(raw("List-Unsubscribe", value));
            unsubscribe = h.to_string();
        }
        let mut out = Vec::with_capacity(
            self.from.len()
                + varying.len()
                + self.reply_to.len()
                + unsubscribe.len()
                + self.tail.len()
                + 400
                + text.len()
                + html.len(),
        );
        for part in [&self.from, &varying, &self.reply_to, &unsubscribe, &self.tail] {
            out.extend_from_slice(part.as_bytes());
        }
        let b = m.boundary;
        let _ = write!(out, "Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n");
        for (kind, body) in [("text/plain", &text), ("text/html", &html)] {
            let _ = write!(
                out,
                "--{b}\r\nContent-Type: {kind}; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                encoding_name(body.encoding())
            );
            out.extend_from_slice(body.as_ref());
            out.extend_from_slice(b"\r\n");
        }
        let _ = write!(out, "--{b}--\r\n");
        out
    }
}

fn encoding_name(e: ContentTransferEncoding) -> &'static str {
    match e {
        ContentTransferEncoding::SevenBit => "7bit",
        ContentTransferEncoding::QuotedPrintable => "quoted-printable",
        ContentTransferEncoding::Base64 => "base64",
        ContentTransferEncoding::EightBit => "8bit",
        ContentTransferEncoding::Binary => "binary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::message::{MultiPart, SinglePart};
    use std::time::{Duration, UNIX_EPOCH};

    /// The message as lettre's builder puts it together, the way Herald built it before.
    fn with_builder(
        from: &Mailbox,
        reply_to: Option<&Mailbox>,
        marketing: bool,
        list_id: &str,
        feedback_id: &str,
        m: Varying<'_>,
    ) -> Vec<u8> {
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .to(m.to)
            .subject(m.subject)
            .date(m.date)
            .message_id(Some(m.message_id.to_owned()));
        if let Some(r) = reply_to {
            builder = builder.reply_to(r.clone());
        }
        if let Some(value) = m.list_unsubscribe {
            builder = builder.raw_header(raw("List-Unsubscribe", value));
        }
        if marketing {
            builder = builder
                .raw_header(raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()))
                .raw_header(raw("Precedence", "bulk".into()));
        }
        builder = builder
            .raw_header(raw("List-Id", list_id.to_owned()))
            .raw_header(raw("Feedback-ID", feedback_id.to_owned()));
        let body = MultiPart::alternative()
            .boundary(m.boundary)
            .singlepart(SinglePart::builder().header(header::ContentType::TEXT_PLAIN).body(m.text))
            .singlepart(SinglePart::builder().header(header::ContentType::TEXT_HTML).body(m.html));
        builder.multipart(body).unwrap().formatted()
    }

    #[test]
    fn assembles_what_lettres_builder_assembles() {
        let long = "word ".repeat(40);
        // From, Reply-To, marketing, To, subject, text, HTML.
        type Case<'a> = (&'a str, Option<&'a str>, bool, &'a str, String, String, String);
        let cases: Vec<Case> = vec![
            (
                "Acme News <news@acme.example>",
                Some("hello@acme.example"),
                true,
                "Ann <ann@example.com>",
                "News for Ann".into(),
                "Hi Ann\n\nbye\n".into(),
                "<p>Hi</p>\n".into(),
            ),
            (
                "\"Ünïcode Sender\" <news@acme.example>",
                Some("Zoë Desk <desk@acme.example>"),
                true,
                "Zoë Ünlü <zoe@example.com>",
                "Nouvelles pour Zoë — été".into(),
                format!("Héllo\r\n{long}\n· end"),
                format!("<p style=\"x\">{long}</p>"),
            ),
            (
                "news@acme.example",
                None,
                false,
                "bob@example.com",
                format!("A long subject {long}"),
                "short\n".into(),
                "<b>short</b>".into(),
            ),
            (
                "Acme <news@acme.example>",
                None,
                true,
                "\"O'Brien, Pat\" <pat@example.com>",
                "=?utf-8?q?not-encoded?= trick".into(),
                "a\rb\nc\r\n".into(),
                "tab\there\n.leading dot\n".into(),
            ),
        ];
        for (i, (from, reply_to, marketing, to, subject, text, html)) in cases.into_iter().enumerate() {
            let from: Mailbox = from.parse().unwrap();
            let reply_to: Option<Mailbox> = reply_to.map(|r| r.parse().unwrap());
            let to: Mailbox = to.parse().unwrap();
            let list_id = "newsletter <newsletter.acme.example>";
            let feedback_id = "spring:acme.example";
            let varying = || Varying {
                to: to.clone(),
                subject: subject.clone(),
                date: UNIX_EPOCH + Duration::from_secs(1_790_000_000 + i as u64),
                message_id: "<0123456789abcdef0123456789abcdef@acme.example>",
                list_unsubscribe: marketing.then(|| {
                    "<https://news.acme.example/u/abc.def>, <mailto:unsubscribe+abc.def@bounces.acme.example>".into()
                }),
                boundary: "herald-0123456789abcdef",
                text: text.clone(),
                html: html.clone(),
            };
            let fixed =
                FixedHeaders::new(&from, reply_to.as_ref(), marketing, list_id.to_owned(), feedback_id.to_owned());
            let ours = fixed.assemble(varying());
            let theirs = with_builder(&from, reply_to.as_ref(), marketing, list_id, feedback_id, varying());
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "case {i}");
        }
    }
}
