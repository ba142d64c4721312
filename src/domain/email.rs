//! Email addresses as Herald accepts them for campaign mail.

use super::ParseError;
use std::fmt;

/// A syntactically valid, trimmed mailbox address (`local@domain`).
///
/// Herald is stricter than RFC 5322 allows: quoted local parts, comments, IP-literal
/// domains and dotless domains are refused, because no campaign should be sent to them
/// and their presence in a list almost always means a data-entry error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    address: String,
    normalized: String,
}

/// RFC 5321 §4.5.3.1: the longest forward-path is 256 octets including the angle
/// brackets, which leaves 254 for the address itself.
const MAX_ADDRESS: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let address = raw.trim();
        let fail = |why: &str| ParseError(format!("invalid email address '{}': {why}", printable(address)));
        if address.is_empty() {
            return Err(fail("it is empty"));
        }
        if address.len() > MAX_ADDRESS {
            return Err(fail("longer than 254 characters"));
        }
        if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("contains a space or control character"));
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(fail("no '@'"));
        };
        if local.is_empty() {
            return Err(fail("nothing before the '@'"));
        }
        if local.len() > MAX_LOCAL {
            return Err(fail("the part before the '@' is longer than 64 characters"));
        }
        if local.contains('@') {
            return Err(fail("more than one '@'"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(fail("misplaced '.' before the '@'"));
        }
        if let Some(c) = local.chars().find(|c| !is_atext(*c) && *c != '.') {
            return Err(fail(&format!("character '{c}' is not allowed before the '@'")));
        }
        check_domain(domain).map_err(|why| fail(&why))?;
        Ok(Self { address: address.to_owned(), normalized: address.to_lowercase() })
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// Lower-cased: the form Herald compares, deduplicates and suppresses by.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    pub fn domain(&self) -> &str {
        self.normalized.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// The part before the '@' is not ASCII: the address can only travel through a relay
    /// that offers SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        !self.local_part().is_ascii()
    }

    /// The address as SMTP and the To header carry it: an internationalised domain in its
    /// IDNA (punycode) form, which every relay and DNS server understands; the part before
    /// the '@' as given (a non-ASCII one needs SMTPUTF8, see [`Self::needs_smtputf8`]).
    pub fn for_smtp(&self) -> String {
        format!("{}@{}", self.local_part(), self.ascii_domain())
    }

    /// The domain (lower-cased) in its IDNA (punycode) form: `müller.de` → `xn--mller-kva.de`.
    pub fn ascii_domain(&self) -> String {
        let domain = self.domain();
        if domain.is_ascii() {
            return domain.to_owned();
        }
        // `parse` accepted the domain's characters; a label IDNA refuses (say, one mixing
        // scripts in a forbidden way) is sent as given and the relay decides.
        idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned())
    }

    fn local_part(&self) -> &str {
        self.address.rsplit_once('@').map(|(l, _)| l).unwrap_or_default()
    }
}

impl serde::Serialize for EmailAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.address)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

/// RFC 5322 §3.2.3 `atext`, extended to non-ASCII letters (RFC 6531 SMTPUTF8).
fn is_atext(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("nothing after the '@'".into());
    }
    if domain.ends_with('.') {
        return Err("the domain ends with a '.'".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain has no '.'".into());
    }
    for label in &labels {
        if label.is_empty() {
            return Err("the domain has an empty label ('..' or a leading '.')".into());
        }
        if label.len() > MAX_LABEL {
            return Err("a domain label is longer than 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with '-'".into());
        }
        if let Some(c) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(format!("character '{c}' is not allowed in the domain"));
        }
    }
    if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return Err("the domain ends in a number (IP addresses are not accepted)".into());
    }
    Ok(())
}

/// Error messages echo the value back; control characters are shown escaped so a
/// message can never break the terminal or a log line.
fn printable(s: &str) -> String {
    let shown: String = s.chars().take(80).collect();
    let mut out = shown.escape_debug().to_string();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_international_addresses() {
        for ok in
            ["a@b.co", "first.last+tag@example.com", "  padded@example.org ", "jürgen@müller.de", "o'brien@example.ie"]
        {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses_with_a_reason() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b.".repeat(130));
        for bad in [
            "",
            "no-at-sign.example.com",
            "two words@example.com",
            "user@example.com.",
            "user@",
            "@example.com",
            "user@localhost",
            "a..b@example.com",
            ".a@example.com",
            "a@b@example.com",
            "user@-bad.com",
            "user@1.2.3.4",
            "tab\t@example.com",
            long_local.as_str(),
            long_total.as_str(),
            "user@exa_mple.com",
        ] {
            let err = EmailAddress::parse(bad).expect_err(bad);
            assert!(err.0.starts_with("invalid email address"), "{err}");
        }
    }

    #[test]
    fn normalises_case_but_keeps_the_given_form() {
        let a = EmailAddress::parse(" Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Alice@Example.COM");
        assert_eq!(a.normalized(), "alice@example.com");
        assert_eq!(a.domain(), "example.com");
    }

    #[test]
    fn internationalised_domains_travel_in_punycode_and_the_local_part_as_given() {
        let a = EmailAddress::parse("Jürgen@Müller.DE").unwrap();
        assert_eq!(a.for_smtp(), "Jürgen@xn--mller-kva.de");
        assert_eq!(a.ascii_domain(), "xn--mller-kva.de");
        assert!(a.needs_smtputf8());
        let b = EmailAddress::parse("info@bücher.example").unwrap();
        assert_eq!(b.for_smtp(), "info@xn--bcher-kva.example");
        assert!(!b.needs_smtputf8());
        let plain = EmailAddress::parse("Ann@Example.com").unwrap();
        assert_eq!(plain.for_smtp(), "Ann@example.com");
        assert!(!plain.needs_smtputf8());
    }

    #[test]
    fn error_messages_escape_control_characters() {
        let err = EmailAddress::parse("a\r\nb@example.com").unwrap_err();
        assert!(err.0.contains("\\r\\n"), "{err}");
    }
}
