//! One CSV row of DESIGN §8 → the address and the patch it asks for.

use super::records::Record;
use crate::consent::{ContactPatch, IdentityPatch};
use crate::domain::{EmailAddress, ListName, ParseError, Purpose, SubscriptionStatus, check_text};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use csv::ByteRecord;

/// Column positions, from the header row.
#[derive(Debug)]
pub(super) struct Columns {
    names: Vec<String>,
    email: usize,
    known: Vec<(Known, usize)>,
    attributes: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    FirstName,
    LastName,
    Company,
    Title,
    Phone,
    Website,
    Country,
    CrmId,
    OptInStatus,
    LegalBasis,
    LegalBasisNote,
    ConsentDate,
    ConsentPurposes,
    SourceType,
    SourceNote,
    Lists,
    WithdrawnPurposes,
    TrackingConsent,
}

const KNOWN: &[(&str, Known)] = &[
    ("first_name", Known::FirstName),
    ("last_name", Known::LastName),
    ("company", Known::Company),
    ("title", Known::Title),
    ("phone", Known::Phone),
    ("website", Known::Website),
    ("country", Known::Country),
    ("crm_id", Known::CrmId),
    ("opt_in_status", Known::OptInStatus),
    ("legal_basis", Known::LegalBasis),
    ("legal_basis_note", Known::LegalBasisNote),
    ("consent_date", Known::ConsentDate),
    ("consent_purposes", Known::ConsentPurposes),
    ("source_type", Known::SourceType),
    ("source_note", Known::SourceNote),
    ("lists", Known::Lists),
    ("withdrawn_purposes", Known::WithdrawnPurposes),
    ("tracking_consent", Known::TrackingConsent),
];

/// True for a column name import reads as one of its own (`email` or a known column),
/// not as a custom attribute.
pub(super) fn is_import_column(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    lower == "email" || KNOWN.iter().any(|(n, _)| *n == lower)
}

impl Columns {
    /// Reads the header row. Known names are matched case-insensitively; any other
    /// non-empty name becomes a custom attribute.
    pub(super) fn from_header(header: &[String]) -> Result<Columns, String> {
        let mut email = None;
        let mut known = Vec::new();
        let mut attributes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, raw) in header.iter().enumerate() {
            let name = super::cells::unneutralise(raw.trim());
            if name.is_empty() {
                continue;
            }
            check_text(&format!("header column {}", i + 1), name).map_err(|e| e.0)?;
            let lower = name.to_lowercase();
            if !seen.insert(lower.clone()) {
                return Err(format!("the header names column '{name}' twice"));
            }
            if lower == "email" {
                email = Some(i);
            } else if let Some((_, k)) = KNOWN.iter().find(|(n, _)| *n == lower) {
                known.push((*k, i));
            } else {
                attributes.push((name.to_owned(), i));
            }
        }
        let email = email.ok_or_else(|| {
            let found: Vec<&str> = header.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).take(12).collect();
            format!(
                "the header has no 'email' column (found: {})",
                if found.is_empty() { "nothing".into() } else { found.join(", ") }
            )
        })?;
        Ok(Columns { names: header.to_vec(), email, known, attributes })
    }

    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    pub(super) fn names(&self) -> &[String] {
        &self.names
    }
}

/// What one valid row asks for.
#[derive(Debug, Clone)]
pub(super) struct RowRequest {
    pub email: EmailAddress,
    pub patch: ContactPatch,
}

fn cell(record: &ByteRecord, i: usize) -> Result<&str, String> {
    let bytes = record.get(i).unwrap_or_default();
    std::str::from_utf8(bytes)
        .map(|text| super::cells::unneutralise(text.trim()))
        .map_err(|_| format!("column {} is not valid UTF-8 text", i + 1))
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').map(str::trim).filter(|p| !p.is_empty())
}

fn purposes(s: &str) -> Result<Vec<Purpose>, ParseError> {
    items(s).map(Purpose::parse).collect()
}

fn lists(s: &str) -> Result<Vec<(ListName, Option<SubscriptionStatus>)>, ParseError> {
    items(s)
        .map(|entry| match entry.split_once(':') {
            Some((name, status)) => Ok((ListName::parse(name)?, Some(status.parse()?))),
            None => Ok((ListName::parse(entry)?, None)),
        })
        .collect()
}

fn boolean(s: &str) -> Result<bool, ParseError> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(ParseError(format!("tracking_consent must be true or false (got '{}')", s.escape_debug()))),
    }
}

/// ISO 8601 date (`2024-05-01`, midnight UTC) or date-time (with offset, or UTC when
/// none is given). Dates in the future are refused: consent cannot have been given yet.
pub fn parse_datetime(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ParseError> {
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(|d| d.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
        })
        .ok_or_else(|| {
            ParseError(format!("malformed date '{}' (expected YYYY-MM-DD or an ISO 8601 date-time)", s.escape_debug()))
        })?;
    if parsed > now + chrono::Duration::days(1) {
        return Err(ParseError(format!("date '{s}' is in the future")));
    }
    Ok(crate::consent::ledger::truncate(parsed))
}

/// Parses one record of the bounded reader: a record it could not split into fields is
/// refused with its reason, as a row that does not parse is.
pub(super) fn parse_record(cols: &Columns, record: &Record, now: DateTime<Utc>) -> Result<RowRequest, String> {
    match &record.fields {
        Ok(fields) => parse_row(cols, fields, now),
        Err(why) => Err(why.to_string()),
    }
}

/// Parses one data row. The error is the reason written to the rejects file.
pub(super) fn parse_row(cols: &Columns, record: &ByteRecord, now: DateTime<Utc>) -> Result<RowRequest, String> {
    // A row with fewer fields has lost a separator somewhere: its values would land in
    // the wrong columns. Extra fields are tolerated only when blank (trailing commas).
    let extra_data = record.iter().skip(cols.len()).any(|f| !f.iter().all(u8::is_ascii_whitespace));
    if record.len() < cols.len() || extra_data {
        return Err(format!("the row has {} fields but the header has {}", record.len(), cols.len()));
    }
    let email = EmailAddress::parse(cell(record, cols.email)?).map_err(|e| e.0)?;
    let mut patch = ContactPatch::default();
    let id: &mut IdentityPatch = &mut patch.identity;
    for (known, i) in &cols.known {
        let v = cell(record, *i)?;
        if v.is_empty() {
            continue;
        }
        let bad = |e: ParseError| e.0;
        match known {
            Known::FirstName => id.first_name = opt(v),
            Known::LastName => id.last_name = opt(v),
            Known::Company => id.company = opt(v),
            Known::Title => id.title = opt(v),
            Known::Phone => id.phone = opt(v),
            Known::Website => id.website = opt(v),
            Known::Country => id.country = opt(v),
            Known::CrmId => id.crm_id = opt(v),
            Known::OptInStatus => patch.opt_in = Some(v.parse().map_err(bad)?),
            Known::LegalBasis => patch.legal_basis = Some(v.parse().map_err(bad)?),
            Known::LegalBasisNote => patch.legal_basis_note = opt(v),
            Known::ConsentDate => {
                patch.consent_date = Some(parse_datetime(v, now).map_err(|e| format!("consent_date: {}", e.0))?)
            }
            Known::ConsentPurposes => patch.grant.extend(purposes(v).map_err(bad)?),
            Known::SourceType => patch.source_type = Some(v.parse().map_err(bad)?),
            Known::SourceNote => patch.source_note = opt(v),
            Known::Lists => patch.subscribe.extend(lists(v).map_err(bad)?),
            Known::WithdrawnPurposes => patch.withdraw.extend(purposes(v).map_err(bad)?),
            Known::TrackingConsent => {
                if boolean(v).map_err(bad)? {
                    patch.grant.push(Purpose::tracking());
                } else {
                    patch.withdraw.push(Purpose::tracking());
                }
            }
        }
    }
    for (name, i) in &cols.attributes {
        let v = cell(record, *i)?;
        if !v.is_empty() {
            id.attributes.insert(name.clone(), v.to_owned());
        }
    }
    Ok(RowRequest { email, patch })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    #[test]
    fn dates_in_every_accepted_form() {
        for ok in [
            "2024-05-01",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00+02:00",
            "2024-05-01 10:00:00",
            "2024-05-01T10:00",
        ] {
            assert!(parse_datetime(ok, now()).is_ok(), "{ok}");
        }
        for bad in ["2024-13-45", "01/05/2024", "yesterday", "2024-02-30", "2099-01-01"] {
            assert!(parse_datetime(bad, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_needs_an_email_column_and_unique_names() {
        let h = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Columns::from_header(&h(&["name", "mail"])).unwrap_err().contains("no 'email' column"));
        assert!(Columns::from_header(&h(&["email", "Email"])).unwrap_err().contains("twice"));
        let err = Columns::from_header(&h(&["email", "pl\0an"])).unwrap_err();
        assert!(err.starts_with("header column 2 contains the control character U+0000"), "{err}");
        let cols = Columns::from_header(&h(&[" EMAIL ", "plan", ""])).unwrap();
        assert_eq!(cols.attributes, vec![("plan".to_owned(), 1)]);
    }

    #[test]
    fn a_row_becomes_a_patch() {
        let cols =
            Columns::from_header(&["email", "opt_in_status", "lists", "tracking_consent", "plan"].map(String::from))
                .unwrap();
        let rec = ByteRecord::from(vec![
            "A@Example.com",
            "double_opt_in",
            "news;promo:unsubscribed",
            "no",
            "=cmd|' /C calc'!A0",
        ]);
        let row = parse_row(&cols, &rec, now()).unwrap();
        assert_eq!(row.email.normalized(), "a@example.com");
        assert_eq!(row.patch.subscribe.len(), 2);
        assert_eq!(row.patch.withdraw, vec![Purpose::tracking()]);
        assert_eq!(row.patch.identity.attributes["plan"], "=cmd|' /C calc'!A0");
        let rec = ByteRecord::from(vec!["a@example.com", "maybe", "", "", ""]);
        assert!(parse_row(&cols, &rec, now()).unwrap_err().contains("unknown opt_in_status 'maybe'"));
    }
}
