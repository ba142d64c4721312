//! Classification of SMTP replies for the sending engine: accepted, retry later, slow down,
//! or bounce, with the RFC 3463 enhanced status code pulled out of the text when present.
//!
//! Design: only "this address or domain does not exist" is a hard bounce (it suppresses the
//! address for good); every other permanent failure (mailbox full, disabled, policy or spam
//! blocks, content rejects) is a soft bounce, because those say something about this message
//! or this moment, not about whether the address exists.

/// What the sending engine should do with a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 2xx/3xx: the server took it (or wants more, as with 354).
    Accepted,
    /// Other 4xx: retry later. Also any code outside 200–599, which is not a valid reply.
    Transient,
    /// 421, or a 4xx that says we are sending too fast: retry later *and* slow down.
    Throttled,
    /// 5xx saying the address or domain does not exist: enhanced code 5.1.1, 5.1.2, 5.1.3,
    /// 5.1.6, 5.1.10 or 5.4.4, or a 550/551/553/554 without a meaningful enhanced code whose
    /// text says so ("user unknown", "no such user", ...) and mentions no policy block.
    HardBounce,
    /// Every other 5xx.
    SoftBounce,
}

/// A classified reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// What to do.
    pub class: ReplyClass,
    /// The enhanced status code (`"5.1.1"`), normalised, if the text carried one of the
    /// reply's class.
    pub enhanced: Option<String>,
}

/// Enhanced codes meaning the address or domain does not exist: bad mailbox (5.1.1), bad
/// system (5.1.2), bad address syntax (5.1.3), mailbox moved (5.1.6), null MX (5.1.10),
/// unable to route (5.4.4).
const HARD_CODES: [(u16, u16); 6] = [(1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (4, 4)];

/// Texts of a bare 550/551/553/554 that mean "no such address".
const NO_SUCH_USER: [&str; 21] = [
    "no such user",
    "user unknown",
    "unknown user",
    "no such recipient",
    "unknown recipient",
    "recipient unknown",
    "no such mailbox",
    "mailbox not found",
    "mailbox unavailable",
    "mailbox does not exist",
    "does not exist",
    "doesn't exist",
    "invalid recipient",
    "invalid mailbox",
    "address rejected",
    "user not found",
    "recipient not found",
    "unrouteable address",
    "no such domain",
    "not a valid mailbox",
    "user doesn't have a", // Yahoo: "554 delivery error: dd This user doesn't have a yahoo.com account"
];

/// Words that turn a "no such user"-looking bare 5xx into a policy block: some servers answer
/// "550 mailbox unavailable" to mail they refuse on reputation grounds.
const POLICY_WORDS: [&str; 9] =
    ["spam", "blocked", "blacklist", "blocklist", "denylist", "policy", "reputation", "spamhaus", "dnsbl"];

/// Texts of a 4xx that mean "you are sending too fast".
const THROTTLE_WORDS: [&str; 20] = [
    "too many connections",
    "too many concurrent",
    "too many messages",
    "too much mail",
    "rate limit",
    "ratelimit",
    "rate-limit",
    "rate overlimit",
    "over rate",
    "unusual rate",
    "sending rate",
    "connection rate",
    "message rate",
    "throttl",
    "too fast",
    "slow down",
    "try again later",
    "server busy",
    "sending limit",
    "unexpected volume",
];

/// Parses `c.s.d` (class 2, 4 or 5; subject and detail of 1–3 digits) as in RFC 3463.
fn parse_enhanced(token: &str) -> Option<(u16, u16, u16)> {
    let mut parts = token.split('.');
    let mut next = || -> Option<u16> {
        let p = parts.next()?;
        (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let (class, subject, detail) = (next()?, next()?, next()?);
    if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
        return None;
    }
    Some((class, subject, detail))
}

/// Finds the first enhanced status code of the given class anywhere in a (possibly
/// multi-line) reply text. Codes of another class are ignored, as RFC 3463 requires the
/// class to match the basic reply code; an IP address never matches (four parts).
pub fn find_enhanced(class: u16, text: &str) -> Option<(u16, u16, u16)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|t| t.trim_matches('.'))
        .filter_map(parse_enhanced)
        .find(|code| code.0 == class)
}

/// Removes the `NNN-` / `NNN ` prefixes of a multi-line reply's lines, so "550-5.1.1" reads
/// as "5.1.1" and the basic code is not mistaken for part of the text.
fn strip_line_codes(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.trim_start();
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b'-' | b' ') {
                &line[4..]
            } else if b.len() == 3 && b.iter().all(u8::is_ascii_digit) {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn mentions(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// Classifies a reply `code` with its `text` (everything after the code; multi-line replies
/// may be passed whole, with or without their per-line codes).
pub fn classify(code: u16, text: &str) -> Classified {
    let text = strip_line_codes(text);
    let lower = text.to_lowercase();
    let basic_class = code / 100;
    let enhanced = find_enhanced(basic_class, &text);
    let class = match basic_class {
        2 | 3 => ReplyClass::Accepted,
        4 => {
            let throttle_shaped = matches!(enhanced, Some((4, 7, _))) || matches!(code, 450 | 451);
            let greylisted = lower.contains("greylist") || lower.contains("graylist");
            if code == 421 || (throttle_shaped && !greylisted && mentions(&lower, &THROTTLE_WORDS)) {
                ReplyClass::Throttled
            } else {
                ReplyClass::Transient
            }
        }
        5 => match enhanced {
            Some((5, s, d)) if HARD_CODES.contains(&(s, d)) => ReplyClass::HardBounce,
            // No code, or one that says nothing (5.0.0, 5.1.0): fall back to the text.
            None | Some((5, 0, 0)) | Some((5, 1, 0))
                if matches!(code, 550 | 551 | 553 | 554)
                    && mentions(&lower, &NO_SUCH_USER)
                    && !mentions(&lower, &POLICY_WORDS) =>
            {
                ReplyClass::HardBounce
            }
            _ => ReplyClass::SoftBounce,
        },
        _ => ReplyClass::Transient,
    };
    Classified { class, enhanced: enhanced.map(|(c, s, d)| format!("{c}.{s}.{d}")) }
}

#[cfg(test)]
mod tests {
    use super::ReplyClass::*;
    use super::*;

    /// (code, text, expected class, expected enhanced code)
    const CASES: &[(u16, &str, ReplyClass, Option<&str>)] = &[
        // Accepted
        (250, "2.0.0 OK  1714561234 a1-20020a05600c.123 - gsmtp", Accepted, Some("2.0.0")),
        (250, "2.6.0 <id@example.com> [InternalId=1234] Queued mail for delivery", Accepted, Some("2.6.0")),
        (250, "ok dirdel", Accepted, None),
        (354, "Go ahead a1si123 - gsmtp", Accepted, None),
        // Gmail
        (
            550,
            "5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser a1si - gsmtp",
            HardBounce,
            Some("5.1.1"),
        ),
        (
            552,
            "5.2.2 The email account that you tried to reach is over quota. https://support.google.com/mail/?p=OverQuotaPerm",
            SoftBounce,
            Some("5.2.2"),
        ),
        (
            550,
            "5.7.1 [203.0.113.9] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
            SoftBounce,
            Some("5.7.1"),
        ),
        (
            421,
            "4.7.28 [203.0.113.9] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp",
            Throttled,
            Some("4.7.28"),
        ),
        (421, "4.3.0 Temporary System Problem.  Try again later (10). a1si - gsmtp", Throttled, Some("4.3.0")),
        (
            450,
            "4.2.1 The user you are trying to contact is receiving mail at a rate that\n450-4.2.1 prevents additional messages from being delivered. Please resend your\n450 4.2.1 message at a later time.",
            Transient,
            Some("4.2.1"),
        ),
        (550, "5.7.26 This mail has been blocked because the sender is unauthenticated.", SoftBounce, Some("5.7.26")),
        (550, "5.2.1 The email account that you tried to reach is disabled.", SoftBounce, Some("5.2.1")),
        // Outlook / Microsoft 365
        (
            550,
            "5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF000]",
            SoftBounce,
            Some("5.5.0"),
        ),
        (550, "5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT]", SoftBounce, Some("5.4.1")),
        (
            550,
            "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            HardBounce,
            Some("5.1.10"),
        ),
        (
            451,
            "4.7.500 Server busy. Please try again later from [203.0.113.9]. (S77714) [BN8NAM12FT]",
            Throttled,
            Some("4.7.500"),
        ),
        (
            550,
            "5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus.",
            SoftBounce,
            Some("5.7.1"),
        ),
        (554, "5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", HardBounce, Some("5.4.4")),
        (
            452,
            "4.3.1 Insufficient system resources (UsedDiskSpace[C:\\Program Files\\Exchange])",
            Transient,
            Some("4.3.1"),
        ),
        // Yahoo / AOL
        (
            421,
            "4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1",
            Throttled,
            Some("4.7.0"),
        ),
        (
            554,
            "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1.mail.yahoo.com",
            HardBounce,
            None,
        ),
        (554, "delivery error: dd Requested mail action aborted - mta1.mail.yahoo.com", SoftBounce, None),
        (
            553,
            "5.7.1 [BL21] Connections will not be accepted from 203.0.113.9, because the ip is in Spamhaus's list",
            SoftBounce,
            Some("5.7.1"),
        ),
        (552, "Requested mail action aborted, mailbox not found", SoftBounce, None),
        (451, "Message temporarily deferred - [160]", Transient, None),
        // Postfix
        (
            550,
            "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table",
            HardBounce,
            Some("5.1.1"),
        ),
        (
            450,
            "4.7.1 <x@example.org>: Recipient address rejected: Greylisted, try again later",
            Transient,
            Some("4.7.1"),
        ),
        (
            450,
            "4.2.0 <x@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html",
            Transient,
            Some("4.2.0"),
        ),
        (421, "4.7.0 mx.example.org Error: too many connections from 203.0.113.9", Throttled, Some("4.7.0")),
        (450, "4.7.1 Error: too much mail from 203.0.113.9", Throttled, Some("4.7.1")),
        (554, "5.7.1 <x@example.org>: Relay access denied", SoftBounce, Some("5.7.1")),
        (550, "5.1.2 <x@nowhere.invalid>: Recipient address rejected: Domain not found", HardBounce, Some("5.1.2")),
        (552, "5.3.4 Message size exceeds fixed limit", SoftBounce, Some("5.3.4")),
        (451, "4.3.0 Error: queue file write error", Transient, Some("4.3.0")),
        // Exim
        (550, "Unrouteable address", HardBounce, None),
        (550, "No Such User Here", HardBounce, None),
        (451, "Temporary local problem - please try later", Transient, None),
        (451, "4.7.1 Sender rate overlimit - 120.0 / 1h / per_rcpt", Throttled, Some("4.7.1")),
        (550, "Administrative prohibition", SoftBounce, None),
        (550, "rejected because 203.0.113.9 is in a black list at zen.spamhaus.org", SoftBounce, None),
        (550, "Requested action not taken: mailbox unavailable (blocked by spam policy)", SoftBounce, None),
        (550, "Requested action not taken: mailbox unavailable", HardBounce, None),
        (551, "User not local; please try <forward@example.net>", SoftBounce, None),
        (553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", SoftBounce, Some("5.7.1")),
        // Odd shapes
        (550, "5.0.0 <x@example.org>... User unknown", HardBounce, Some("5.0.0")),
        (554, "Transaction failed: rejected (code in the middle 5.7.1), see policy", SoftBounce, Some("5.7.1")),
        (550, "Message rejected. Reference: 5.1.1.", HardBounce, Some("5.1.1")),
        (550, "4.1.1 mismatched class is ignored; address does not exist", HardBounce, None),
        (550, "host 192.168.10.1 said: user unknown", HardBounce, None),
        (599, "", SoftBounce, None),
        (600, "what", Transient, None),
        (0, "", Transient, None),
    ];

    #[test]
    fn realistic_replies() {
        for (code, text, class, enhanced) in CASES {
            let got = classify(*code, text);
            assert_eq!(got.class, *class, "{code} {text}");
            assert_eq!(got.enhanced.as_deref(), *enhanced, "{code} {text}");
        }
    }

    #[test]
    fn multi_line_with_first_line_code_too() {
        let text = "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check.";
        let c = classify(550, text);
        assert_eq!((c.class, c.enhanced.as_deref()), (HardBounce, Some("5.1.1")));
    }

    #[test]
    fn enhanced_parsing() {
        assert_eq!(parse_enhanced("5.1.1"), Some((5, 1, 1)));
        assert_eq!(parse_enhanced("4.7.500"), Some((4, 7, 500)));
        assert_eq!(parse_enhanced("5.01.001"), Some((5, 1, 1)));
        assert_eq!(parse_enhanced("3.1.1"), None);
        assert_eq!(parse_enhanced("5.1"), None);
        assert_eq!(parse_enhanced("5.1.1.1"), None);
        assert_eq!(parse_enhanced("5.1234.1"), None);
        assert_eq!(parse_enhanced("5..1"), None);
        assert_eq!(find_enhanced(5, "(#5.7.1)"), Some((5, 7, 1)));
        assert_eq!(find_enhanced(5, "10.0.0.1 then 5.2.2"), Some((5, 2, 2)));
        assert_eq!(find_enhanced(4, "4.16.55.1"), None);
    }
}
