//! Whose fault a failed attempt was, when it was not the recipient's (issue 19): Herald's
//! own (the message did not render) or the relay's (no connection, TLS, a timeout).
//! Such failures say nothing about the person: the campaign guard pauses on them, and
//! `campaign retry` puts them back in the queue once the cause is fixed.
//!
//! A send's `reason` starts with the fault's prefix; a refusal by the recipient's
//! server never does.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The message did not render (a template error, a missing variable).
    Render,
    /// The relay could not be reached or did not answer (refused, TLS, timeout).
    Relay,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[Fault::Render, Fault::Relay];

    /// The start of a send's `reason` for this fault.
    pub fn prefix(self) -> &'static str {
        match self {
            Fault::Render => "render: ",
            Fault::Relay => "relay: ",
        }
    }

    /// The fault a recorded `reason` names, if any.
    pub fn of_reason(reason: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| reason.starts_with(f.prefix()))
    }

    /// The reason to record: the prefix and what happened.
    pub fn reason(self, what: &str) -> String {
        format!("{}{what}", self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_its_fault_and_a_recipient_refusal_names_none() {
        assert_eq!(Fault::of_reason(&Fault::Relay.reason("connection refused")), Some(Fault::Relay));
        assert_eq!(Fault::of_reason("render: missing variable"), Some(Fault::Render));
        assert_eq!(Fault::of_reason("the recipient's domain does not exist"), None);
    }
}
