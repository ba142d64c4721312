//! The outcome of one send, shared by `SmtpRelay` (`relay.rs`) and `FileOutbox` (`outbox.rs`).
//!
//! A campaign sender must decide, for every failure, whether to give up on the recipient, try again later,
//! or stop and look at the relay; and after a broken connection it must know whether the relay may already
//! have the message (so that a retry could deliver it twice). [`SendError`] carries what is needed for each
//! decision: the [`Stage`] reached, the reply code and text, and whether message content had started.

use std::fmt;

/// The relay (or outbox) took responsibility for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The text of the final reply, without the code (typically `2.0.0 Ok: queued as 4Xk9...`); for
    /// `FileOutbox`, the path of the written file.
    pub reply: String,
}

/// How far a send got when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Opening the session: TCP, TLS, greeting, EHLO, STARTTLS, AUTH.
    Connect,
    /// MAIL FROM (also: a sender address that could not be used).
    Mail,
    /// RCPT TO (also: a recipient address that could not be used).
    Rcpt,
    /// DATA, the message content, or the reply to it.
    Data,
    /// The caller's `before_data` hook said no; nothing was transmitted.
    Aborted,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Mail => "MAIL",
            Stage::Rcpt => "RCPT",
            Stage::Data => "DATA",
            Stage::Aborted => "aborted",
        })
    }
}

/// What made the send fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The server answered with a negative reply; see [`SendError::code`].
    Reply,
    /// No answer within the configured timeout.
    Timeout,
    /// I/O error, TLS failure, or the server closed the connection or sent something unreadable.
    Connection,
    /// Refused before reaching the server: bad address, missing extension, bad file name, unusable config.
    Local,
    /// The caller's `before_data` hook said no.
    Aborted,
    /// Refused before reaching the server: the recipient's address is not ASCII before the
    /// '@' and the relay does not offer SMTPUTF8. Not the recipient's fault, and not the
    /// relay's: the message cannot travel this way.
    NeedsSmtpUtf8,
}

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} failed: {}", describe(.code, .text))]
pub struct SendError {
    /// How far the send got.
    pub stage: Stage,
    /// What went wrong.
    pub cause: Cause,
    /// The three-digit reply code, when the server replied.
    pub code: Option<u16>,
    /// The server's reply text (enhanced status code included, e.g. `5.1.1 User unknown`), or a description.
    pub text: String,
    /// True once message content had started to go out: if `code` is `None` the relay may or may not
    /// have the message (see [`SendError::is_ambiguous`]).
    pub reached_data: bool,
}

fn describe(code: &Option<u16>, text: &str) -> String {
    match code {
        Some(code) => format!("{code} {text}"),
        None => text.to_owned(),
    }
}

impl SendError {
    /// Builds an error; mainly for the transports, and for callers' tests.
    pub fn new(stage: Stage, cause: Cause, code: Option<u16>, text: impl Into<String>, reached_data: bool) -> Self {
        Self { stage, cause, code, text: text.into(), reached_data }
    }

    /// Trying this message again will fail the same way: a 5xx reply, or a local refusal (for example an
    /// address that does not parse). Check [`SendError::is_relay_level`] before blaming the recipient.
    pub fn is_permanent(&self) -> bool {
        matches!(self.code, Some(500..=599)) || matches!(self.cause, Cause::Local | Cause::NeedsSmtpUtf8)
    }

    /// Trying again later may work: a 4xx reply, a timeout, an I/O error or a dropped connection.
    pub fn is_transient(&self) -> bool {
        matches!(self.code, Some(400..=499)) || matches!(self.cause, Cause::Timeout | Cause::Connection)
    }

    /// The failure concerns the relay or the sender, not this recipient (stage Connect or Mail), so it will
    /// most likely hit every message: pause or alert rather than fail recipient after recipient.
    pub fn is_relay_level(&self) -> bool {
        matches!(self.stage, Stage::Connect | Stage::Mail)
    }

    /// Content had started and no reply came back (connection lost or timeout after DATA): the relay may
    /// have queued the message, so sending it again risks a duplicate. A negative reply is never ambiguous.
    pub fn is_ambiguous(&self) -> bool {
        self.reached_data && self.code.is_none() && matches!(self.cause, Cause::Timeout | Cause::Connection)
    }

    /// The RFC 3463 enhanced status code at the start of the reply text (`"5.1.1"`), if there is one.
    pub fn enhanced_code(&self) -> Option<&str> {
        let first = self.text.split_whitespace().next()?;
        let mut parts = first.split('.');
        let class = parts.next()?;
        let rest: Vec<&str> = parts.collect();
        let numeric = |p: &&str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
        (matches!(class, "2" | "4" | "5") && rest.len() == 2 && rest.iter().all(numeric)).then_some(first)
    }

    /// The session that produced this error can carry another transaction: the server replied normally
    /// and did not announce that it is closing (421).
    pub(crate) fn session_usable(&self) -> bool {
        self.cause == Cause::Reply && self.code != Some(421)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> SendError {
        SendError::new(Stage::Rcpt, Cause::Reply, Some(code), text, false)
    }

    #[test]
    fn classification() {
        assert!(reply(550, "5.1.1 nope").is_permanent());
        assert!(!reply(550, "5.1.1 nope").is_transient());
        assert!(reply(451, "4.7.1 later").is_transient());
        assert!(reply(421, "4.7.0 later").is_transient());
        let dropped = SendError::new(Stage::Data, Cause::Connection, None, "gone", true);
        assert!(dropped.is_transient() && dropped.is_ambiguous());
        let refused = SendError::new(Stage::Data, Cause::Reply, Some(554), "5.7.1 spam", true);
        assert!(!refused.is_ambiguous());
        let aborted = SendError::new(Stage::Aborted, Cause::Aborted, None, "", false);
        assert!(!aborted.is_permanent() && !aborted.is_transient());
        assert!(SendError::new(Stage::Connect, Cause::Timeout, None, "", false).is_relay_level());
    }

    #[test]
    fn enhanced_code() {
        assert_eq!(reply(550, "5.1.1 <a@b> User unknown").enhanced_code(), Some("5.1.1"));
        assert_eq!(reply(451, "4.7.1").enhanced_code(), Some("4.7.1"));
        assert_eq!(reply(550, "User unknown").enhanced_code(), None);
        assert_eq!(reply(550, "5.1 short").enhanced_code(), None);
        assert_eq!(reply(550, "").enhanced_code(), None);
    }

    #[test]
    fn display() {
        assert_eq!(reply(550, "5.1.1 nope").to_string(), "RCPT failed: 550 5.1.1 nope");
    }
}
