//! `herald contacts list` and `contacts export`: the contacts a filter selects, read a
//! page at a time (keyset by id), so memory stays flat whatever the number of contacts.
//! Export writes the columns `contacts import` reads (see `csv_row.rs`), formula-like
//! cells neutralised (`cells.rs`), so exporting and importing again loses nothing.

use super::cells::neutralise;
use super::csv_row::is_import_column;
use crate::app::App;
use crate::domain::{ConsentState, Contact};
use crate::error::{Error, Result};
use crate::store::ContactFilter;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PAGE: i64 = 500;

/// The columns export writes before the custom attributes, all read by import.
pub const COLUMNS: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "website",
    "country",
    "crm_id",
    "opt_in_status",
    "legal_basis",
    "legal_basis_note",
    "consent_date",
    "consent_purposes",
    "withdrawn_purposes",
    "source_type",
    "source_note",
    "lists",
];

/// Calls `each` with every contact `filter` selects, in id order, at most `limit`.
pub async fn for_each(
    app: &App,
    filter: &ContactFilter,
    limit: Option<u64>,
    mut each: impl FnMut(&Contact) -> Result<()>,
) -> Result<u64> {
    let mut after = crate::domain::ContactId::default();
    let mut seen = 0u64;
    loop {
        let want = limit.map_or(PAGE, |l| PAGE.min(l.saturating_sub(seen) as i64));
        if want == 0 {
            return Ok(seen);
        }
        let page = app.store.contacts_page(filter, after, want).await?;
        let Some(last) = page.last() else { return Ok(seen) };
        after = last.id.unwrap_or(crate::domain::ContactId::new(i64::MAX));
        for contact in &page {
            each(contact)?;
        }
        seen += page.len() as u64;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub file: PathBuf,
    pub contacts: u64,
    /// Custom attribute columns written after the import columns.
    pub attributes: Vec<String>,
    /// What the file could not carry (an attribute named like an import column).
    pub warnings: Vec<String>,
}

/// Writes the selected contacts to `out` (through `out.partial`, renamed when complete,
/// so a failed export leaves no half file). The custom attribute columns are learnt in a
/// first pass over the selection; the second pass writes.
pub async fn export(app: &App, filter: &ContactFilter, limit: Option<u64>, out: &Path) -> Result<ExportReport> {
    let shown = out.display().to_string();
    let mut keys = BTreeSet::new();
    for_each(app, filter, limit, |c| {
        keys.extend(c.identity.attributes.keys().cloned());
        Ok(())
    })
    .await?;
    let (attributes, clashing): (Vec<String>, Vec<String>) = keys.into_iter().partition(|k| !is_import_column(k));
    let warnings = clashing
        .iter()
        .map(|k| format!("custom attribute '{k}' is not exported: import would read a column of that name as its own"))
        .collect();

    let partial = out.with_file_name(format!(
        "{}.partial",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export.csv".into())
    ));
    let failed = |e: &dyn std::fmt::Display| Error::Invalid(format!("cannot write {shown}: {e}"));
    let file = crate::private_files::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)
        .map_err(|e| failed(&e))?;
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, file));
    let header = COLUMNS.iter().map(|c| c.to_string()).chain(attributes.iter().map(|a| neutralise(a).into_owned()));
    writer.write_record(header).map_err(|e| failed(&e))?;
    let written = for_each(app, filter, limit, |c| {
        for key in c.identity.attributes.keys() {
            if !is_import_column(key) && attributes.binary_search(key).is_err() {
                return Err(Error::Unavailable(format!(
                    "contact #{} gained the attribute '{key}' during the export: run it again",
                    c.id.unwrap_or_default()
                )));
            }
        }
        writer.write_record(row(c, &attributes)).map_err(|e| failed(&e))
    })
    .await;
    let finished = written.and_then(|n| {
        let inner = writer.into_inner().map_err(|e| failed(&e.error().to_string()))?;
        let file = inner.into_inner().map_err(|e| failed(&e.error().to_string()))?;
        file.sync_all().map_err(|e| failed(&e))?;
        Ok(n)
    });
    let contacts = match finished {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| failed(&e))?;
    Ok(ExportReport { file: out.to_owned(), contacts, attributes, warnings })
}

/// One contact in the order of [`COLUMNS`], then `attributes`.
fn row(c: &Contact, attributes: &[String]) -> Vec<String> {
    let id = &c.identity;
    let text = |v: &Option<String>| v.as_deref().map(|t| neutralise(t).into_owned()).unwrap_or_default();
    let purposes = |state: ConsentState| {
        c.purposes.iter().filter(|(_, p)| p.state == state).map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";")
    };
    let lists = c.lists.iter().map(|(l, s)| format!("{l}:{s}")).collect::<Vec<_>>().join(";");
    let mut out = vec![
        neutralise(c.email.as_str()).into_owned(),
        text(&id.first_name),
        text(&id.last_name),
        text(&id.company),
        text(&id.title),
        text(&id.phone),
        text(&id.website),
        text(&id.country),
        text(&id.crm_id),
        c.opt_in.to_string(),
        c.legal_basis.map(|b| b.to_string()).unwrap_or_default(),
        text(&c.legal_basis_note),
        c.consent_date.map(|d| d.to_rfc3339()).unwrap_or_default(),
        purposes(ConsentState::Granted),
        purposes(ConsentState::Withdrawn),
        c.source_type.to_string(),
        text(&c.source_note),
        lists,
    ];
    out.extend(attributes.iter().map(|k| id.attributes.get(k).map(|v| neutralise(v).into_owned()).unwrap_or_default()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exported_column_is_one_import_reads() {
        for column in COLUMNS {
            assert!(is_import_column(column), "{column}");
        }
    }
}
