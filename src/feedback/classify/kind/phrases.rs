//! The wordings the kind rules look for that make a failure **soft**, lower-cased
//! substrings ("quota" also finds "over quota"). The hard wordings are in
//! `hard_phrases`. Every entry is a general wording (see the team rule in `kind`'s
//! docs): an RFC's reply text, an MTA's documented message, a provider's published
//! reply, or the reason names of sisimai's `Sisimai::Reason::*` tables — never one
//! report's text.

use crate::feedback::reason::Reason;

/// Soft causes, checked in this order; the first match names the reason. A full
/// mailbox and a failing delivery agent come first: both say the mailbox exists.
pub(super) const SOFT: &[(Reason, &[&str])] = &[
    (Reason::MailboxFull, MAILBOX_FULL),
    (Reason::MailerError, MAILER_ERROR),
    (Reason::Suspended, SUSPENDED),
    (Reason::TooLarge, TOO_LARGE),
    (Reason::Blocked, BLOCKED),
    (Reason::SpamBlocked, SPAM_BLOCKED),
    (Reason::Policy, POLICY),
    (Reason::RateLimited, RATE_LIMITED),
    (Reason::Expired, EXPIRED),
    (Reason::NetworkError, NETWORK_ERROR),
    (Reason::SystemError, SYSTEM_ERROR),
    (Reason::Filtered, FILTERED),
];

/// The delivering agent's own failure (sisimai `MailerError`; Postfix local(8)'s
/// "cannot update mailbox ... for user", "cannot open file"; Sendmail's "unknown mailer
/// error", "mail.local"; procmail; an exit status of a pipe command). A local agent may
/// label these `5.1.1` or `5.2.0`: the mailbox exists, the agent failed.
pub(super) const MAILER_ERROR: &[&str] = &[
    "mailer error",
    "mail.local",
    "procmail",
    "command died",
    "command failed",
    "exit code",
    "exit status",
    "cannot update mailbox",
    "cannot open file",
    "cannot create",
    "can't create",
    "could not create",
    "couldn't create",
    "unable to create",
    "cannot write",
    "can't write",
    "could not write",
    "unable to write",
    "error writing",
    "write error",
    "cannot append",
    "unable to append",
];

pub(super) const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox was full",
    "mail box full",
    "mailbox has exceeded",
    "mailbox size limit",
    "mailbox exceeds",
    "mailbox would exceed",
    "quota",
    "mailbox is over",
    "account is over",
    "user is over",
    "exceeded storage",
    "exceeded its storage",
    "out of storage",
    "insufficient disk",
    "not enough disk",
    "not enough storage",
    "not enough space",
    "disk full",
    "disk space",
    "full mailbox",
    "inbox is full",
    "box is full",
    "account is full",
    "storage space",
    "exceeds the storage",
    "storage limit",
    "mailbox limit",
];

pub(super) const SUSPENDED: &[&str] = &[
    "suspended",
    "disabled",
    "is frozen",
    "account locked",
    "account is locked",
    "temporary locked",
    "temporarily locked",
    "is blocked",
    "account blocked",
    "account has expired",
    "account expired",
    "discontinued",
    "on hold",
];

pub(super) const TOO_LARGE: &[&str] = &[
    "too large",
    "too big",
    "size limit",
    "exceeds size",
    "exceeds the size",
    "message size",
    "maximum size",
    "max message size",
    "sizelimit",
    "message length exceeds",
    "size exceeds",
];

pub(super) const SPAM_BLOCKED: &[&str] = &[
    "spam",
    "unsolicited",
    "bulk mail",
    "bulk email",
    "virus",
    "malware",
    "infected",
    "phish",
    "junk mail",
    "content filter",
    "content rejected",
    "message content",
];

pub(super) const POLICY: &[&str] = &[
    "policy",
    "dmarc",
    "spf",
    "dkim",
    "authenticat",
    "unauthenticated",
    "reverse dns",
    "ptr record",
    "rdns",
    "dns ptr",
    "name lookup failed",
    "client host rejected",
    "relay",
    "access denied",
    "not permitted",
    "not allowed",
    "not accepted",
    "sender rejected",
    "sender address rejected",
    "sender address",
    "sender's domain",
    "envelope sender",
    "mail from domain",
    "domain of sender",
    "sender verify",
    "sender domain",
    "protocol violation",
    "rfc 5322",
    "rfc5322",
    "rfc 2822",
    "not rfc",
    "multiple addresses",
    "headers too large",
    "not a member",
    "not member",
    "moderator",
    "members-only",
    "tls",
    "starttls",
    "encryption",
    "after mail from",
    "mail from command",
    "helo",
    "ehlo",
    "command parameter",
    "syntax error",
    "not implemented",
    "administrative prohibition",
    "prohibited",
    "forbidden",
    "denied",
    "refused",
    "rejected for",
    "not authorized",
    "not authorised",
    "may not exist",
    "permission to post",
    "may not have permission",
];

pub(super) const RATE_LIMITED: &[&str] = &[
    "rate limit",
    "too many",
    "frequency limited",
    "rate of",
    "throttl",
    "try again later",
    "try later",
    "please try again",
    "greylist",
    "graylist",
    "unexpected volume",
    "exceeded the",
    "limit exceeded",
    "service refuse",
    "not available, closing",
    "service unavailable",
    "service currently unavailable",
    "temporarily",
];

pub(super) const EXPIRED: &[&str] = &["expired", "timed out", "timeout", "time out", "retry time", "retry timeout"];

pub(super) const FILTERED: &[&str] = &["filtered", "filtering"];

/// The sending IP or host is on a block list or has a bad reputation (sisimai `Blocked`,
/// `BadReputation`; Spamhaus/DNSBL wordings, Microsoft's "banned sending IP").
pub(super) const BLOCKED: &[&str] = &[
    "blacklist",
    "black list",
    "blocklist",
    "block list",
    "blocked",
    "banned",
    "dnsbl",
    "rbl",
    "reputation",
    "listed at",
    "listed on",
];

/// The network between the servers failed (sisimai `NetworkError`; RFC 5321 §6.3 loops;
/// RFC 3463 X.4.x).
pub(super) const NETWORK_ERROR: &[&str] = &[
    "connection refused",
    "no route to host",
    "could not connect",
    "couldn't connect",
    "unable to connect",
    "connect to",
    "lost connection",
    "network error",
    "network is unreachable",
    "hop count",
    "too many hops",
    "routing loop",
    "mail loop",
    "loop detected",
    "forwarding loop",
    "dns query failed",
];

/// The receiving system's own failure (sisimai `SystemError`; RFC 5321's 554
/// "Transaction failed"; RFC 3463 X.3.x).
pub(super) const SYSTEM_ERROR: &[&str] =
    &["transaction failed", "mail system problem", "system error", "temporary failure", "local error in processing"];
