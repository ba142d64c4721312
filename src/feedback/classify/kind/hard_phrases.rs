//! The wordings the kind rules look for that make a failure **hard**, lower-cased
//! substrings. Each is a general wording (see the team rule in `kind`'s docs): the
//! reply texts of Postfix, Exim, Sendmail, qmail, Exchange / Microsoft 365, Gmail,
//! Yahoo and Lotus Domino for a missing mailbox or domain, RFC 7505's null MX, and the
//! phrase tables of sisimai (`Sisimai::Reason::UserUnknown`, `HostUnknown`, `HasMoved`,
//! `NotAccept`) and of flufl.bounce's detectors.

/// The address does not exist at its domain.
pub(super) const USER_UNKNOWN: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such account",
    "no such person",
    "no such address",
    "unknown recipient",
    "recipient unknown",
    "unknown mailbox",
    "mailbox unknown",
    "mailbox not found",
    "mailbox does not exist",
    "no mail box",
    "mailbox unavailable",
    "mailbox is unavailable",
    "mailbox not available",
    "invalid mailbox",
    "invalid recipient",
    "recipient invalid",
    "destinataire invalide",
    "user does not exist",
    "user doesn't exist",
    "user not found",
    "users not found",
    "recipient not found",
    "recipnotfound",
    "recipientnotfound",
    "address not found",
    "address does not exist",
    "address doesn't exist",
    "recipient does not exist",
    "recipient doesn't exist",
    "account does not exist",
    "account doesn't exist",
    "does not exist here",
    "no mailbox",
    "not a valid mailbox",
    "not a valid user",
    "not a valid recipient",
    "is not a known user",
    "unknown address",
    "address unknown",
    "bad destination mailbox",
    "bad recipient",
    "unknown local part",
    "unknown or illegal user",
    "illegal user",
    "not our user",
    "not our customer",
    "not listed in",
    "no account by that name",
    "recipient no longer",
    "no longer on server",
    "non-existent",
    "nonexistent",
    "non existent",
    "not exist",
    "couldn't be found",
    "could not be found",
    "invalid final delivery",
    "unknown account",
    "address invalid",
    "invalid address",
    "not registered",
    "not an active address",
    "is not recognized",
    "not recognised",
    "utilisateur inconnu",
    "destinataire inconnu",
    "unbekannt",
    "no existe",
    "inesistente",
    "sconosciuto",
    "desconocido",
];

/// Wordings specific enough to stand without a confirming status code or RCPT context:
/// a stock "user unknown" is also what some filters answer.
pub(super) const USER_UNKNOWN_SPECIFIC: &[&str] = &[
    "does not exist",
    "doesn't exist",
    "not exist",
    "not listed in",
    "is not recognized",
    "not recognised",
    "user not found",
    "no mail box available",
    "no mailbox available",
    "couldn't be found",
    "could not be found",
    "by that name",
    "not an active address",
    "recipnotfound",
    "recipientnotfound",
    "invalid final delivery",
    "no longer on server",
    "recipient no longer",
];

/// `(first, then)`: the second phrase follows the first within a short span.
pub(super) const USER_UNKNOWN_PAIRS: &[(&str, &str)] =
    &[("user ", "not found"), ("user ", "unknown"), ("mailbox ", "unavailable")];
pub(super) const HOST_UNKNOWN_PAIRS: &[(&str, &str)] = &[("host ", "not found"), ("domain ", "not found")];

/// The domain does not exist or has no mail host.
pub(super) const HOST_UNKNOWN: &[&str] = &[
    "host unknown",
    "unknown host",
    "host not found",
    "no such domain",
    "domain not found",
    "domain does not exist",
    "domain doesn't exist",
    "domain name not found",
    "unknown domain",
    "domain unknown",
    "invalid domain",
    "unrouteable address",
    "unroutable address",
    "name or service not known",
    "nxdomain",
    "host name lookup failure",
    "illegal host/domain",
    "no such host",
    "domain must exist",
    "find a mail exchanger",
    "no mail exchanger",
    "name service error",
];

/// The mailbox has moved (sendmail's 551 "user not local").
pub(super) const MOVED: &[&str] = &["has moved", "user not local", "no longer at this", "address has changed"];

/// The domain says it takes no mail at all (null MX, RFC 7505).
pub(super) const NOT_ACCEPTING: &[&str] = &[
    "does not accept mail",
    "doesn't accept mail",
    "not accepting mail",
    "accepts no mail",
    "null mx",
    "nullmx",
    "doesn't receive email",
    "does not receive email",
    "mail receiving disabled",
    "not accepting network messages",
];

/// The provider reports the account inactive, deactivated or closed (Gmail's published
/// "The email account that you tried to reach is inactive"; sisimai lists these under
/// `Suspend`, Herald calls them hard: an account closed by its owner or left inactive
/// until the provider disabled it does not come back — issue 17). A "temporarily"
/// beside them keeps the failure soft.
pub(super) const ACCOUNT_CLOSED: &[&str] = &[
    "is inactive",
    "inactive account",
    "inactive user",
    "inactive mailbox",
    "account inactive",
    "mailbox inactive",
    "deactivated",
    "account has been closed",
    "account is closed",
    "account was closed",
    "account closed",
    "closed account",
    "mailbox has been closed",
    "mailbox is closed",
    "mailbox closed",
    "not an active address",
];

/// A notice that asks the sender to check the address for typos: providers write this
/// for addresses they do not have (Gmail's 550 5.1.1 "Please try double-checking the
/// recipient's email address for typos", Microsoft 365's "Check the recipient's email
/// address"). Only requests about the recipient's address count: "please verify the
/// addresses" is boilerplate some MTAs put on every failure. A policy code (X.7.x)
/// beside it wins: Microsoft 365 repeats the request in its policy rejections.
pub(super) const ASKS_TO_CHECK: &[&str] = &[
    "double-checking the recipient",
    "double-check the recipient",
    "double check the recipient",
    "check the recipient's email address",
    "check the recipient's address",
    "check the recipient address",
    "for typos",
    "for misspellings",
];

/// Microsoft 365 Directory-Based Edge Blocking: the recipient is not in the tenant's
/// directory, refused at the edge as `550 5.4.1 Recipient address rejected: Access
/// denied` (Microsoft's "Fix NDR error 550 5.4.1 in Exchange Online"; sisimai
/// `UserUnknown` lists the wording). Only with the X.4.1 code: Postfix access maps
/// answer the same words for a policy (`554 5.7.1 ... Access denied`).
pub(super) const DIRECTORY_REJECTED: &str = "recipient address rejected: access denied";
