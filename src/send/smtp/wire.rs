//! What goes on the wire to a relay besides the commands lettre writes: the envelope
//! checked, the MAIL parameters the content needs, and protocol text written in one go
//! (pipelined commands, the dot-stuffed message with its final dot).

use std::fmt;

use lettre::Address;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};

use super::send_error::{Cause, SendError, Stage};

/// Protocol text already in wire form (pipelined commands, or a dot-stuffed message with its final
/// "."), written in one go through lettre's `command`.
pub(super) struct Raw<'a>(pub(super) &'a str);

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The message as DATA carries it: a "." at the start of a line doubled (RFC 5321 4.5.2), then
/// CRLF "." CRLF — the bytes lettre's `message` writes. `None` when the message is not UTF-8 text
/// (lettre's `command` writes strings); such a message goes through `message` instead.
pub(super) fn dot_stuffed(message: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(message).ok()?;
    let mut out = String::with_capacity(text.len() + 16);
    if text.starts_with('.') {
        out.push('.');
    }
    out.push_str(&text.replace("\r\n.", "\r\n.."));
    out.push_str("\r\n.\r\n");
    Some(out)
}

/// Parses the envelope; a bad address is a permanent, local error at the stage that would have carried it.
pub(crate) fn parse_envelope(envelope_from: &str, rcpt: &str) -> Result<(Option<Address>, Address), SendError> {
    let bad = |stage, what: &str, value: &str| {
        SendError::new(stage, Cause::Local, None, format!("invalid {what} address {value:?}"), false)
    };
    let from = match envelope_from.trim() {
        "" => None,
        value => Some(value.parse::<Address>().map_err(|_| bad(Stage::Mail, "sender", value))?),
    };
    let to = rcpt.trim().parse::<Address>().map_err(|_| bad(Stage::Rcpt, "recipient", rcpt))?;
    Ok((from, to))
}

/// MAIL parameters the content and addresses need, or a local error when the relay lacks the extension.
pub(super) fn mail_parameters(
    smtp: &AsyncSmtpConnection,
    from: Option<&Address>,
    to: &Address,
    eight_bit: bool,
) -> Result<Vec<MailParameter>, SendError> {
    let info = smtp.server_info();
    let mut params = Vec::new();
    let non_ascii = |a: &Address| !AsRef::<str>::as_ref(a).is_ascii();
    if from.is_some_and(non_ascii) || non_ascii(to) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            let text = "address is not ASCII and the relay does not offer SMTPUTF8";
            if non_ascii(to) {
                return Err(SendError::new(Stage::Rcpt, Cause::NeedsSmtpUtf8, None, text, false));
            }
            return Err(SendError::new(Stage::Mail, Cause::Local, None, text, false));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if eight_bit {
        if !info.supports_feature(Extension::EightBitMime) {
            let text = "message is not 7-bit and the relay does not offer 8BITMIME";
            return Err(SendError::new(Stage::Data, Cause::Local, None, text, false));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::dot_stuffed;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_with_the_final_dot() {
        let out = dot_stuffed(b".first\r\nmid.dle\r\n.\r\n..two\r\nend").unwrap();
        assert_eq!(out, "..first\r\nmid.dle\r\n..\r\n...two\r\nend\r\n.\r\n");
        // A bare LF does not start a line on the wire (lettre's codec agrees).
        assert_eq!(dot_stuffed(b"a\n.b").unwrap(), "a\n.b\r\n.\r\n");
        assert_eq!(dot_stuffed(&[0xff, b'x']), None, "not UTF-8: lettre's `message` sends it");
    }
}
