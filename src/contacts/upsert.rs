//! The contacts API's upsert (`POST /api/contacts`, issue 15 point 5): each JSON contact
//! object is read as one import row — its keys are the CSV header's column names
//! (DESIGN §8: `email`, the known columns, any other key a custom attribute), its
//! values the cells — and goes through import's own row parser ([`super::csv_row`]),
//! the `[import]` caps, and import's path through the contact-change service
//! ([`super::import::decide`]). So the API validates, protects and counts exactly as
//! `herald contacts import` does; only the actor differs (`api:KEYID`), and new contacts
//! get `source_type = api` unless the object says otherwise.

use super::change::{Mode, Request};
use super::csv_row::{Columns, parse_row};
use super::import::{ImportReport, add, decide};
use crate::app::App;
use crate::consent::{Actor, Authority, Target};
use crate::domain::SourceType;
use crate::error::Result;
use csv::ByteRecord;
use serde::Serialize;
use serde_json::{Map, Value};

/// Most contacts one request may carry.
pub const MAX_CONTACTS: usize = 1_000;

/// A contact the API did not apply: its place in the request and why (the reason
/// import would write to its rejects file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// Import's report (DESIGN §7), plus the rejected contacts (an API has no rejects file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpsertReport {
    #[serde(flatten)]
    pub report: ImportReport,
    pub rejects: Vec<Rejected>,
}

/// One JSON value as a CSV cell: text as it is, numbers and booleans as written, a list
/// of texts joined with `;` (as `lists` and `consent_purposes` are in a CSV), null empty.
fn cell(key: &str, value: &Value) -> std::result::Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.contains(';') => Ok(s.clone()),
                _ => Err(format!("'{key}' must be a list of texts without ';'")),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(|items| items.join(";")),
        Value::Object(_) => Err(format!("'{key}' must be a text, a number, a boolean or a list of texts")),
    }
}

/// An object as a header and a row, held to the `[import]` caps.
fn as_row(app: &App, object: &Map<String, Value>) -> std::result::Result<(Columns, ByteRecord), String> {
    let caps = &app.config.import;
    if object.len() > caps.max_columns {
        return Err(format!("the contact has {} fields; at most {} are allowed", object.len(), caps.max_columns));
    }
    let mut names = Vec::with_capacity(object.len());
    let mut cells = Vec::with_capacity(object.len());
    for (key, value) in object {
        let text = cell(key, value)?;
        if text.len() > caps.max_cell_bytes || key.len() > caps.max_cell_bytes {
            return Err(format!("'{key}' is longer than {} bytes", caps.max_cell_bytes));
        }
        names.push(key.clone());
        cells.push(text);
    }
    let columns = Columns::from_header(&names)?;
    Ok((columns, ByteRecord::from(cells)))
}

/// Upserts `contacts` as the API key `key_id`. Each is applied or refused on its own,
/// as an import's rows are.
pub async fn upsert(app: &App, contacts: &[Map<String, Value>], key_id: &str) -> Result<UpsertReport> {
    let now = app.clock.now();
    let mut report = ImportReport { rows: contacts.len() as u64, ..Default::default() };
    let mut rejects = Vec::new();
    let mut requests = Vec::with_capacity(contacts.len());
    let mut places = Vec::with_capacity(contacts.len());
    for (index, object) in contacts.iter().enumerate() {
        match as_row(app, object).and_then(|(columns, record)| parse_row(&columns, &record, now)) {
            Ok(row) => {
                let mut patch = row.patch;
                patch.target = Target::Any;
                patch.new_source = Some(SourceType::Api);
                let authority = Authority::new(Actor::Api(key_id.to_owned())).with_evidence("index", index.to_string());
                requests.push(Request { email: row.email, patch, authority });
                places.push(index);
            }
            Err(reason) => {
                report.rejected += 1;
                rejects.push(Rejected { index, reason });
            }
        }
    }
    let (decided, late) = decide(app, &requests, Mode::EachOnItsOwn).await?;
    rejects.extend(late.into_iter().map(|(k, reason)| Rejected { index: places[k], reason }));
    rejects.sort_by_key(|r| r.index);
    let report = add(report, decided);
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        rejected = report.rejected,
        suppressed = report.suppressed,
        protected = report.protected,
        key = key_id,
        "contacts API upsert"
    );
    Ok(UpsertReport { report, rejects })
}
