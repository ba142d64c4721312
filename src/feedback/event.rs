//! What the classifier and the webhooks hand to the rules: one event per recipient.

use crate::domain::BounceKind;
use serde::Serialize;

/// One recipient's bounce, complaint or notice, as a report or a provider tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceEvent {
    /// The recipient the report is about, lower-cased.
    pub recipient: String,
    /// DESIGN §5: `hard` only when the address or its domain does not exist.
    pub kind: BounceKind,
    /// The enhanced status code ("5.1.1") when the report gives or implies one.
    pub status: Option<String>,
    /// The cause, a label of the fixed vocabulary of [`crate::feedback::reason::Reason`]
    /// (`user_unknown`, `host_unknown`, `moved`, `not_accepting`, `account_closed` are
    /// the hard ones; `mailbox_full`, `suspended`, `blocked`, `policy`, `mailer_error`,
    /// ... soft; `complaint`, `unsubscribe`, `auto_reply`).
    pub reason: Option<String>,
    /// The remote server's own words (Diagnostic-Code, SMTP reply), one line, capped.
    pub diagnostic: Option<String>,
}

/// What one inbound message says, with what is needed to map it back to a send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// A delivery failure or delay report (DSN or non-standard bounce). Complaints and
    /// auto-replies are not bounces.
    pub is_bounce: bool,
    /// The message's overall kind; `None` is "unknown" (a bounce whose kind cannot be
    /// told, or a message that is none of the known kinds).
    pub kind: Option<BounceKind>,
    /// One event per recipient named by the report, in the report's order.
    pub events: Vec<BounceEvent>,
    /// `Message-ID` of the returned original message, without angle brackets.
    pub original_message_id: Option<String>,
    /// Addresses where Herald's VERP envelope sender may appear: the report's
    /// `To` / `Delivered-To` / `X-Original-To` / `Envelope-To` and the returned
    /// original's `Return-Path`. Mapping checks their MAC; the classifier does not.
    pub envelope_hints: Vec<String>,
}

impl Classification {
    /// The recipients named, in order, without duplicates.
    pub fn recipients(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.events {
            if !out.contains(&e.recipient.as_str()) {
                out.push(&e.recipient);
            }
        }
        out
    }
}
