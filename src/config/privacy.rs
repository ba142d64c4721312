//! `[privacy]`: which custom attributes are sensitive (DESIGN §12, issue 14.6). Their
//! values are stored encrypted with `HERALD_FIELD_KEY` and shown masked everywhere; see
//! [`crate::privacy::sensitive`].

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Custom attribute names (as in the import's header) whose values are encrypted.
    #[serde(default, deserialize_with = "field_names")]
    pub sensitive_fields: Vec<String>,
}

impl PrivacyConfig {
    pub fn is_sensitive(&self, field: &str) -> bool {
        self.sensitive_fields.iter().any(|f| f == field)
    }
}

/// Names of custom attributes: not empty, no control characters, not one of the
/// contact's own columns (those are not custom attributes), no duplicates.
fn field_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let names = Vec::<String>::deserialize(d)?;
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            return Err(D::Error::custom(format!(
                "sensitive_fields: '{}' is not a custom attribute name (empty, padded or with control characters)",
                name.escape_debug()
            )));
        }
        if crate::contacts::export::COLUMNS.contains(&name.to_lowercase().as_str()) {
            return Err(D::Error::custom(format!(
                "sensitive_fields: '{name}' is one of the contact's own columns, not a custom attribute"
            )));
        }
        if !seen.insert(name) {
            return Err(D::Error::custom(format!("sensitive_fields: '{name}' is named twice")));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PrivacyConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn sensitive_fields_are_read_and_bad_names_are_named() {
        let c = parse("sensitive_fields = [\"national_id\", \"iban\"]").unwrap();
        assert!(c.is_sensitive("national_id") && !c.is_sensitive("plan"));
        for (text, named) in [
            ("sensitive_fields = [\"email\"]", "email"),
            ("sensitive_fields = [\"\"]", "''"),
            ("sensitive_fields = [\"a\", \"a\"]", "'a'"),
            ("sensitive_field = [\"a\"]", "sensitive_field"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(named), "{err}");
        }
    }
}
