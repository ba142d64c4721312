//! The campaign file (DESIGN §7): TOML, unknown keys refused, every error naming the
//! file, the line and column, and what was expected.

use crate::config::PolicyDefaults;
use crate::consent::policy::{AcceptLevel, CampaignKind, CampaignPolicy, FrequencyCap};
use crate::domain::{ListName, Purpose};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    name: Spanned<String>,
    subject: Spanned<String>,
    template: Spanned<String>,
    lists: Spanned<Vec<ListName>>,
    purpose: Option<Purpose>,
    #[serde(default)]
    segment: BTreeMap<Spanned<String>, Spanned<SegmentValue>>,
    #[serde(default)]
    kind: CampaignKind,
    from: Option<String>,
    reply_to: Option<String>,
    send_at: Option<Spanned<SendAt>>,
    #[serde(default)]
    policy: RawPolicy,
    /// Sensitive fields (`[privacy] sensitive_fields`) this campaign's templates may read.
    sensitive_fields: Option<Spanned<Vec<String>>>,
}

/// `send_at = 2026-12-01T09:00:00Z` (a TOML date-time) or `send_at = "2026-12-01T09:00:00Z"`
/// (an RFC 3339 string, as most people quote dates).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SendAt {
    Toml(toml::value::Datetime),
    Text(String),
}

impl SendAt {
    fn text(&self) -> String {
        match self {
            SendAt::Toml(d) => d.to_string(),
            SendAt::Text(s) => s.trim().to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SegmentValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    accept: Option<AcceptLevel>,
    legitimate_interest_purposes: Option<Vec<Purpose>>,
    frequency_cap: Option<Spanned<FrequencyCap>>,
    exclude_unengaged: Option<u32>,
    tracking: Option<bool>,
}

/// A contact field a segment can filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentField {
    /// A column of the contact record.
    Column(&'static str),
    /// A custom attribute (`attributes.NAME`).
    Attribute(String),
}

/// `field = value` or `field = [values]`: the contact matches when the field equals one
/// of the values (exact, case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRule {
    pub field: SegmentField,
    pub values: Vec<String>,
}

const SEGMENT_COLUMNS: &[&str] = &["country", "company", "title", "first_name", "last_name", "crm_id", "source_type"];

/// A validated campaign.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub subject: String,
    pub template: String,
    pub lists: Vec<ListName>,
    pub purpose: Option<Purpose>,
    pub segment: Vec<SegmentRule>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    pub policy: CampaignPolicy,
    pub tracking: bool,
    /// The sensitive fields whose values (not their masks) the templates see, by name;
    /// every other sensitive field renders masked (DESIGN §12).
    pub sensitive_fields: Vec<String>,
    /// The file it came from; templates are looked up beside it first.
    pub path: PathBuf,
    /// SHA-256 of the file, to notice a changed file under a started campaign's name.
    pub content_hash: String,
}

impl Campaign {
    pub fn kind(&self) -> CampaignKind {
        self.policy.kind
    }
}

/// Reads and validates a campaign file; `defaults` is the app config's `[policy]`.
pub fn load(path: &Path, defaults: &PolicyDefaults) -> Result<Campaign> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read campaign file {}: {e}", path.display())))?;
    parse(path, &text, defaults)
}

/// Validates campaign-file text; `path` names it in errors and anchors template look-up.
pub fn parse(path: &Path, text: &str, defaults: &PolicyDefaults) -> Result<Campaign> {
    let at = |span: std::ops::Range<usize>, message: &str| crate::error::at_offset(path, text, span.start, message);
    let raw: RawCampaign = toml::from_str(text).map_err(|e| crate::error::toml_error(path, text, &e))?;

    let name = raw.name.get_ref().trim();
    if !is_name(name) {
        return Err(at(
            raw.name.span(),
            "name must be 1 to 64 letters, digits, '.', '_' or '-' (it names the campaign in headers and reports)",
        ));
    }
    if raw.subject.get_ref().trim().is_empty() {
        return Err(at(raw.subject.span(), "subject is empty"));
    }
    let template = raw.template.get_ref().trim();
    if !is_template_name(template) {
        return Err(at(raw.template.span(), TEMPLATE_NAME_RULE));
    }
    if raw.lists.get_ref().is_empty() {
        return Err(at(raw.lists.span(), "lists is empty: name at least one list"));
    }
    let mut segment = Vec::new();
    for (key, value) in &raw.segment {
        let field = segment_field(key.get_ref()).map_err(|why| at(key.span(), &why))?;
        let values = match value.get_ref() {
            SegmentValue::One(v) => vec![v.clone()],
            SegmentValue::Many(vs) if vs.is_empty() => return Err(at(value.span(), "an empty list matches nobody")),
            SegmentValue::Many(vs) => vs.clone(),
        };
        segment.push(SegmentRule { field, values });
    }
    if let Some(fields) = &raw.sensitive_fields
        && let Some(bad) = fields.get_ref().iter().find(|f| f.trim().is_empty() || f.trim() != f.as_str())
    {
        return Err(at(fields.span(), &format!("sensitive_fields: '{}' is not a field name", bad.escape_debug())));
    }
    let send_at = raw
        .send_at
        .map(|s| {
            DateTime::parse_from_rfc3339(&s.get_ref().text())
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| at(s.span(), "send_at needs a date, a time and an offset, e.g. 2026-12-01T09:00:00Z"))
        })
        .transpose()?;
    let frequency_cap = match raw.policy.frequency_cap {
        Some(cap) if cap.get_ref().max == 0 || cap.get_ref().days == 0 => {
            return Err(at(cap.span(), "frequency_cap needs max and days of at least 1"));
        }
        Some(cap) => Some(cap.into_inner()),
        None => defaults.frequency_cap,
    };
    let policy = CampaignPolicy {
        kind: raw.kind,
        accept: raw.policy.accept.unwrap_or(defaults.accept),
        purpose: raw.purpose.clone(),
        legitimate_interest_purposes: raw
            .policy
            .legitimate_interest_purposes
            .unwrap_or_else(|| defaults.legitimate_interest_purposes.clone()),
        frequency_cap,
        exclude_unengaged: raw.policy.exclude_unengaged.or(defaults.exclude_unengaged),
    };
    Ok(Campaign {
        name: name.to_owned(),
        subject: raw.subject.into_inner(),
        template: template.to_owned(),
        lists: raw.lists.into_inner(),
        purpose: raw.purpose,
        segment,
        from: raw.from,
        reply_to: raw.reply_to,
        send_at,
        policy,
        tracking: raw.policy.tracking.unwrap_or(defaults.tracking),
        sensitive_fields: raw.sensitive_fields.map(Spanned::into_inner).unwrap_or_default(),
        path: path.to_path_buf(),
        content_hash: hex::encode(Sha256::digest(text.as_bytes())),
    })
}

fn segment_field(key: &str) -> std::result::Result<SegmentField, String> {
    if let Some(attr) = key.strip_prefix("attributes.") {
        if attr.is_empty() || attr.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            return Err(format!("segment key '{}' names no usable attribute", key.escape_debug()));
        }
        return Ok(SegmentField::Attribute(attr.to_owned()));
    }
    SEGMENT_COLUMNS.iter().find(|c| **c == key).map(|c| SegmentField::Column(c)).ok_or_else(|| {
        format!(
            "unknown segment field '{}' (expected one of: {}, or attributes.NAME)",
            key.escape_debug(),
            SEGMENT_COLUMNS.join(", ")
        )
    })
}

/// A name that can stand in headers, reports and file names: 1 to 64 letters, digits,
/// '.', '_' or '-' (campaigns, flows, their steps and events).
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// What [`is_template_name`] refuses, as the error says it.
pub(crate) const TEMPLATE_NAME_RULE: &str =
    "template must be a template name (e.g. \"spring\" for spring.html.hbs), not a path";

/// A template is named, never given as a path: it is looked up beside the file, then in
/// the templates folder.
pub(crate) fn is_template_name(template: &str) -> bool {
    !template.is_empty() && !template.contains(['/', '\\']) && !template.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Campaign> {
        parse(Path::new("campaigns/spring.toml"), text, &PolicyDefaults::default())
    }

    const OK: &str =
        "name = \"spring-launch\"\nsubject = \"Hi {{first_name}}\"\ntemplate = \"spring\"\nlists = [\"newsletter\"]\n";

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let c = parse_str(OK).unwrap();
        assert_eq!(c.name, "spring-launch");
        assert_eq!(c.kind(), CampaignKind::Marketing);
        assert_eq!(c.policy.accept, AcceptLevel::DoubleOnly);
        assert!(!c.tracking);
        assert_eq!(c.content_hash.len(), 64);
    }

    #[test]
    fn the_full_shape_parses() {
        let text = format!(
            "{OK}purpose = \"newsletter\"\nkind = \"transactional\"\nsend_at = 2026-12-01T09:00:00Z\n\
             segment = {{ country = [\"DE\", \"FR\"], \"attributes.plan\" = \"pro\" }}\n\
             [policy]\naccept = \"double_and_user\"\nlegitimate_interest_purposes = [\"product_updates\"]\n\
             frequency_cap = {{ max = 4, days = 30 }}\nexclude_unengaged = 5\ntracking = true\n"
        );
        let c = parse_str(&text).unwrap();
        assert_eq!(c.kind(), CampaignKind::Transactional);
        assert_eq!(c.segment.len(), 2);
        assert_eq!(c.segment[0].field, SegmentField::Attribute("plan".into()));
        assert_eq!(c.segment[1].values, vec!["DE", "FR"]);
        assert_eq!(c.policy.frequency_cap, Some(FrequencyCap { max: 4, days: 30 }));
        assert_eq!(c.send_at.unwrap().to_rfc3339(), "2026-12-01T09:00:00+00:00");
    }

    #[test]
    fn send_at_takes_a_toml_date_time_or_an_rfc_3339_string() {
        for value in ["2026-12-01T10:00:00+01:00", "\"2026-12-01T10:00:00+01:00\"", "\"2026-12-01T09:00:00Z\""] {
            let c = parse_str(&format!("{OK}send_at = {value}\n")).unwrap();
            assert_eq!(c.send_at.unwrap().to_rfc3339(), "2026-12-01T09:00:00+00:00", "{value}");
        }
        let err = parse_str(&format!("{OK}send_at = \"next tuesday\"\n")).unwrap_err().to_string();
        assert!(err.starts_with("campaigns/spring.toml:5:11") && err.contains("offset"), "{err}");
    }

    #[test]
    fn errors_name_the_file_line_column_and_what_was_expected() {
        let cases = [
            (format!("{OK}polcy = 1\n"), "campaigns/spring.toml:5:1", "unknown field `polcy`"),
            (format!("{OK}kind = \"newsletter\"\n"), "campaigns/spring.toml:5:8", "marketing"),
            (format!("{OK}[policy]\naccept = \"everyone\"\n"), "campaigns/spring.toml:6:10", "double_only"),
            (
                format!("{OK}segment = {{ shoe_size = \"42\" }}\n"),
                "campaigns/spring.toml:5:13",
                "unknown segment field 'shoe_size'",
            ),
            (OK.replace("[\"newsletter\"]", "[]"), "campaigns/spring.toml:4:9", "lists is empty"),
            (OK.replace("\"newsletter\"", "\"news letter\""), "campaigns/spring.toml:4:9", "invalid list name"),
            (OK.replace("spring-launch", "spring launch"), "campaigns/spring.toml:1:8", "name must be"),
            (OK.replace("\"spring\"", "\"../etc/spring\""), "campaigns/spring.toml:3:12", "not a path"),
            (format!("{OK}send_at = 2026-12-01T09:00:00\n"), "campaigns/spring.toml:5:11", "offset"),
            (
                format!("{OK}[policy]\nfrequency_cap = {{ max = 0, days = 7 }}\n"),
                "campaigns/spring.toml:6:17",
                "at least 1",
            ),
            (OK.replace("template = \"spring\"\n", ""), "campaigns/spring.toml:1:1", "missing field `template`"),
        ];
        for (text, place, says) in cases {
            let err = parse_str(&text).unwrap_err().to_string();
            assert!(err.starts_with(place) && err.contains(says), "want {place} … {says}, got: {err}");
        }
    }
}
