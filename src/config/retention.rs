//! `[retention]`: how long Herald keeps a contact who shows no sign of life (issue 14,
//! point 5; GDPR Art. 5(1)(e), storage limitation), whether the daemon applies it daily,
//! and the age after which the compliance report counts a consent as old.
//!
//! ```toml
//! [retention]
//! enabled = false              # the daemon erases the candidates once a day
//! inactive_after = "365d"      # no engagement, send or consent renewal for this long
//! consent_max_age = "730d"     # `report compliance`: consents older than this
//! [retention.by_legal_basis]
//! consent = "730d"             # a longer or shorter period for one legal basis
//! ```

use super::web::parse_duration;
use crate::domain::LegalBasis;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// The daemon runs `privacy retention --apply` once a day.
    pub enabled: bool,
    /// A contact with no open, click, send or consent renewal for this long is a
    /// candidate for erasure; contacts without a legal basis use it too.
    #[serde(deserialize_with = "duration")]
    pub inactive_after: Duration,
    /// The period for contacts of one legal basis, instead of `inactive_after`.
    #[serde(deserialize_with = "durations")]
    pub by_legal_basis: BTreeMap<LegalBasis, Duration>,
    /// The compliance report counts the consents given (`consent_date`) longer ago than this.
    #[serde(deserialize_with = "duration")]
    pub consent_max_age: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: false,
            inactive_after: Duration::from_secs(365 * 86_400),
            by_legal_basis: BTreeMap::new(),
            consent_max_age: Duration::from_secs(730 * 86_400),
        }
    }
}

impl RetentionConfig {
    /// The retention period of contacts with this legal basis (`None`: no basis recorded).
    pub fn period_for(&self, basis: Option<LegalBasis>) -> Duration {
        basis.and_then(|b| self.by_legal_basis.get(&b).copied()).unwrap_or(self.inactive_after)
    }
}

/// A duration as the config writes it: the largest unit that divides it ("365d", "36h").
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<LegalBasis, Duration>, D::Error> {
    let raw = BTreeMap::<LegalBasis, String>::deserialize(d)?;
    raw.into_iter()
        .map(|(basis, text)| {
            parse_duration(&text).map(|d| (basis, d)).map_err(|e| serde::de::Error::custom(format!("{basis}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionConfig, String> {
        toml::from_str::<RetentionConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn periods_default_and_override_per_legal_basis() {
        let c = parse("").unwrap();
        assert!(!c.enabled);
        assert_eq!(show_duration(c.period_for(Some(LegalBasis::Consent))), "365d");
        assert_eq!(show_duration(c.consent_max_age), "730d");
        let c = parse("enabled = true\ninactive_after = \"90d\"\n[by_legal_basis]\nconsent = \"36h\"\n").unwrap();
        assert!(c.enabled);
        assert_eq!(show_duration(c.period_for(Some(LegalBasis::Consent))), "36h");
        assert_eq!(show_duration(c.period_for(Some(LegalBasis::Contract))), "90d");
        assert_eq!(show_duration(c.period_for(None)), "90d");
    }

    #[test]
    fn a_bad_duration_names_the_key_and_the_value() {
        let err = parse("inactive_after = \"a year\"").unwrap_err();
        assert!(err.contains("inactive_after") && err.contains("a year"), "{err}");
        let err = parse("[by_legal_basis]\nconsent = \"0d\"").unwrap_err();
        assert!(err.contains("consent") && err.contains("0d"), "{err}");
        let err = parse("[by_legal_basis]\nfriendship = \"30d\"").unwrap_err();
        assert!(err.contains("friendship"), "{err}");
        let err = parse("consent_max_age = \"2y\"").unwrap_err();
        assert!(err.contains("consent_max_age") && err.contains("2y"), "{err}");
    }
}
