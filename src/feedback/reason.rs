//! The fixed vocabulary of bounce reasons (issue 17): one label per recipient, the same
//! for the classifier, the webhooks and `bounces classify --json` (`reason`), and the
//! one place where a reason decides between `hard` and `soft`.
//!
//! The vocabulary follows sisimai's reason table (`Sisimai::Reason::*`, whose
//! `SoftOrHard` table calls only `userunknown`, `hostunknown`, `hasmoved` and
//! `notaccept` hard) with Herald's labels. DESIGN §5: **hard** means the address or its
//! domain does not exist or has moved; every other failure is **soft**, even with a 5xx
//! code, because the person can still receive mail once the cause is gone.
//!
//! | label | kind | meaning |
//! |---|---|---|
//! | `user_unknown` | hard | the mailbox does not exist at its domain (RFC 3463 X.1.1, X.1.3) |
//! | `host_unknown` | hard | the domain does not exist or has no mail host (X.1.2, X.4.4) |
//! | `moved` | hard | the mailbox has moved (X.1.6, Sendmail's 551 "user not local") |
//! | `not_accepting` | hard | the domain takes no mail at all (null MX, RFC 7505; X.1.10, 521, 556) |
//! | `account_closed` | hard | the provider reports the account inactive, deactivated or closed |
//! | `mailbox_full` | soft | over quota (X.2.2, X.3.1) |
//! | `suspended` | soft | the account is suspended, disabled or on hold (X.2.1): it may return |
//! | `too_large` | soft | the message is too big (X.2.3, X.3.4) |
//! | `filtered` | soft | a filter at the recipient refused it (X.2.0, X.7.1 without a cause) |
//! | `spam_blocked` | soft | the content was judged spam or a virus |
//! | `blocked` | soft | the sending IP or host is on a block list or has a bad reputation |
//! | `policy` | soft | about the sender: authentication (SPF/DKIM/DMARC), the sender's domain or address, TLS, rDNS, relaying, list membership, a protocol rule (X.7.x, X.1.7, X.1.8) |
//! | `rate_limited` | soft | too many messages or connections, greylisting |
//! | `expired` | soft | given up after retries (X.4.7) |
//! | `mailer_error` | soft | the delivering agent failed: a local mailer or program exited, a mailbox file could not be created or written |
//! | `network_error` | soft | connection refused or lost, routing loop, hop count (X.4.x) |
//! | `system_error` | soft | the receiving system's own failure (X.3.x) |
//! | `delayed` | soft | still being retried |
//! | `other` | soft | a failure whose words and code give no reason; a message of such failures is of `unknown` kind |
//! | `complaint`, `unsubscribe`, `auto_reply` | — | not failures |

use crate::domain::BounceKind;

/// One recipient's cause, in the fixed vocabulary (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    UserUnknown,
    HostUnknown,
    Moved,
    NotAccepting,
    AccountClosed,
    MailboxFull,
    Suspended,
    TooLarge,
    Filtered,
    SpamBlocked,
    Blocked,
    Policy,
    RateLimited,
    Expired,
    MailerError,
    NetworkError,
    SystemError,
    Delayed,
    Other,
    Complaint,
    Unsubscribe,
    AutoReply,
}

impl Reason {
    /// Every reason, in the order of the module docs' table.
    pub const ALL: [Reason; 22] = [
        Reason::UserUnknown,
        Reason::HostUnknown,
        Reason::Moved,
        Reason::NotAccepting,
        Reason::AccountClosed,
        Reason::MailboxFull,
        Reason::Suspended,
        Reason::TooLarge,
        Reason::Filtered,
        Reason::SpamBlocked,
        Reason::Blocked,
        Reason::Policy,
        Reason::RateLimited,
        Reason::Expired,
        Reason::MailerError,
        Reason::NetworkError,
        Reason::SystemError,
        Reason::Delayed,
        Reason::Other,
        Reason::Complaint,
        Reason::Unsubscribe,
        Reason::AutoReply,
    ];

    /// The label stored and shown (`user_unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UserUnknown => "user_unknown",
            Reason::HostUnknown => "host_unknown",
            Reason::Moved => "moved",
            Reason::NotAccepting => "not_accepting",
            Reason::AccountClosed => "account_closed",
            Reason::MailboxFull => "mailbox_full",
            Reason::Suspended => "suspended",
            Reason::TooLarge => "too_large",
            Reason::Filtered => "filtered",
            Reason::SpamBlocked => "spam_blocked",
            Reason::Blocked => "blocked",
            Reason::Policy => "policy",
            Reason::RateLimited => "rate_limited",
            Reason::Expired => "expired",
            Reason::MailerError => "mailer_error",
            Reason::NetworkError => "network_error",
            Reason::SystemError => "system_error",
            Reason::Delayed => "delayed",
            Reason::Other => "other",
            Reason::Complaint => "complaint",
            Reason::Unsubscribe => "unsubscribe",
            Reason::AutoReply => "auto_reply",
        }
    }

    /// The reason named by a label, if it is one of the vocabulary.
    pub fn from_label(label: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == label)
    }

    /// Whether a permanent failure for this reason makes the address `hard`: only when
    /// the address or its domain is gone. Everything else is `soft`.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            Reason::UserUnknown | Reason::HostUnknown | Reason::Moved | Reason::NotAccepting | Reason::AccountClosed
        )
    }

    /// The kind of a failure for this reason that is final (not still being retried).
    pub fn failure_kind(self) -> BounceKind {
        if self.is_hard() { BounceKind::Hard } else { BounceKind::Soft }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests and callers compare with a label directly.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_unique() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_label(r.as_str()), Some(r));
        }
        let mut labels: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
        assert_eq!(Reason::from_label("nope"), None);
    }

    #[test]
    fn only_a_gone_address_or_domain_is_hard() {
        let hard: Vec<&str> = Reason::ALL.iter().filter(|r| r.is_hard()).map(|r| r.as_str()).collect();
        assert_eq!(hard, ["user_unknown", "host_unknown", "moved", "not_accepting", "account_closed"]);
        assert_eq!(Reason::MailboxFull.failure_kind(), BounceKind::Soft);
        assert_eq!(Reason::Policy.failure_kind(), BounceKind::Soft);
        assert_eq!(Reason::Other.failure_kind(), BounceKind::Soft);
        assert_eq!(Reason::AccountClosed.failure_kind(), BounceKind::Hard);
    }
}
