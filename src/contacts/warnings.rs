//! Import warnings: rows that import as given but deserve a look — a domain that looks
//! like a typo of a common mailbox provider (`gmial.com` → `gmail.com?`), and an address
//! whose part before the '@' is not ASCII (it needs a relay that offers SMTPUTF8).

use crate::domain::EmailAddress;
use serde::Serialize;
use std::collections::HashMap;

/// At most this many warnings are listed; the rest are only counted.
const MAX_LISTED: usize = 1000;

/// Mailbox providers whose names people mistype most.
const COMMON_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "mail.com",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "t-online.de",
    "orange.fr",
    "free.fr",
    "protonmail.com",
    "proton.me",
    "yandex.ru",
    "mail.ru",
    "comcast.net",
    "verizon.net",
    "btinternet.com",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportWarning {
    /// Line of the file where the row starts.
    pub line: u64,
    pub email: String,
    pub message: String,
}

/// Domains whose [`likely_typo`] answer is remembered by one [`Warnings`]: a file's
/// addresses share few domains, and the answer costs 30 edit distances. Past this many
/// the memory is cleared (a file of all-different domains stays bounded).
const REMEMBERED_DOMAINS: usize = 4096;

/// The warnings of one import, listed up to a cap.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Warnings {
    pub listed: Vec<ImportWarning>,
    /// Warnings beyond the cap, counted only.
    pub omitted: u64,
    /// [`likely_typo`] of the domains seen so far.
    #[serde(skip)]
    typos: HashMap<String, Option<&'static str>>,
}

impl Warnings {
    /// Checks one imported address.
    pub fn check(&mut self, line: u64, email: &EmailAddress) {
        let domain = email.domain();
        let typo = match self.typos.get(domain) {
            Some(known) => *known,
            None => {
                if self.typos.len() >= REMEMBERED_DOMAINS {
                    self.typos.clear();
                }
                let found = likely_typo(domain);
                self.typos.insert(domain.to_owned(), found);
                found
            }
        };
        if let Some(likely) = typo {
            self.push(line, email, format!("the domain '{domain}' may be a typo of '{likely}'?"));
        }
        if email.needs_smtputf8() {
            self.push(
                line,
                email,
                "the part before the '@' is not ASCII: only a relay that offers SMTPUTF8 can carry it \
                 (without one its sends are skipped as address_needs_smtputf8)"
                    .into(),
            );
        }
    }

    /// Every warning, listed or only counted.
    pub fn total(&self) -> u64 {
        self.listed.len() as u64 + self.omitted
    }

    fn push(&mut self, line: u64, email: &EmailAddress, message: String) {
        if self.listed.len() < MAX_LISTED {
            self.listed.push(ImportWarning { line, email: email.as_str().to_owned(), message });
        } else {
            self.omitted += 1;
        }
    }
}

/// The common domain `domain` is probably a mistyping of: one or two edits away (one when
/// the name before the first '.' is short, where two edits reach other real domains:
/// `gmx.at` is not a mistyped `gmx.net`).
pub fn likely_typo(domain: &str) -> Option<&'static str> {
    if COMMON_DOMAINS.contains(&domain) {
        return None;
    }
    let name = domain.split('.').next().unwrap_or_default();
    let allowed = if name.chars().count() >= 5 { 2 } else { 1 };
    COMMON_DOMAINS
        .iter()
        .map(|known| (distance(domain, known), *known))
        .filter(|(d, _)| (1..=allowed).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

/// Edit distance with adjacent transpositions (optimal string alignment): `gmial` is one
/// edit from `gmail`, as a typist sees it.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_common_domains_are_flagged_with_the_likely_one() {
        for (typed, meant) in [
            ("gmial.com", "gmail.com"),
            ("gmal.com", "gmail.com"),
            ("gmail.con", "gmail.com"),
            ("hotmial.com", "hotmail.com"),
            ("yaho.com", "yahoo.com"),
            ("outlok.com", "outlook.com"),
            ("gmx.ed", "gmx.de"),
        ] {
            assert_eq!(likely_typo(typed), Some(meant), "{typed}");
        }
    }

    #[test]
    fn real_and_distant_domains_are_not_flagged() {
        for fine in ["gmail.com", "mail.com", "mac.com", "gmx.at", "example.com", "acme.example", "gmail.company.io"] {
            assert_eq!(likely_typo(fine), None, "{fine}");
        }
    }
}
