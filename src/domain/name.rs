//! Names of lists and purposes: short identifiers that appear in config keys, CSV cells,
//! URLs and ledger events.

use super::ParseError;
use std::fmt;

fn parse_identifier(raw: &str, what: &str) -> Result<String, ParseError> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(ParseError(format!(
            "invalid {what} name '{}' (letters, digits, '_' and '-', starting with a letter or digit, at most 64)",
            name.escape_debug()
        )))
    }
}

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                parse_identifier(raw, $what).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(raw: &str) -> Result<Self, ParseError> {
                Self::parse(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.0))
            }
        }
    };
}

identifier!(
    /// A processing purpose a contact can consent to (`newsletter`, `tracking`, ...).
    Purpose, "purpose"
);
identifier!(
    /// A mailing list.
    ListName, "list"
);

impl Purpose {
    /// Consent to open and click tracking is a purpose like any other.
    pub fn tracking() -> Self {
        Purpose("tracking".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_identifiers() {
        assert_eq!(Purpose::parse(" Newsletter ").unwrap().as_str(), "newsletter");
        for bad in ["", "has space", "-leading", "semi;colon", &"x".repeat(65)] {
            assert!(ListName::parse(bad).is_err(), "{bad}");
        }
    }
}
