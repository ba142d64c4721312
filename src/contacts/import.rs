//! `herald contacts import`: a CSV file (DESIGN §8) streamed in batches, each batch one
//! read-modify-write transaction. Memory holds one batch, whatever the file's size.
//! Rejected rows go to `<file>.rejects.csv` with their reason; nothing valid is lost
//! because a neighbouring row is bad.

use super::csv_row::{Columns, RowRequest, parse_row};
use crate::app::App;
use crate::consent::ledger::EventDraft;
use crate::consent::{Actor, Authority, OutcomeKind, Refusal, apply};
use crate::domain::{Contact, ListName, SourceType};
use crate::error::{Error, Result};
use crate::store::ContactWrite;
use chrono::{DateTime, Utc};
use csv::ByteRecord;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// Counts of DESIGN §7; each row is counted exactly once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub suppressed: u64,
    pub protected: u64,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `source_type` of contacts the file creates, where a row does not say.
    pub source: SourceType,
    /// Subscribe every row to this list too.
    pub list: Option<ListName>,
    /// Decide and count, write nothing to the database (the rejects file is still written).
    pub dry_run: bool,
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { source: SourceType::Import, list: None, dry_run: false, batch_size: 1000 }
    }
}

#[derive(Debug)]
pub struct ImportOutcome {
    pub report: ImportReport,
    /// Where the rejected rows were written, if any were.
    pub rejects_file: Option<PathBuf>,
}

/// `contacts.csv` → `contacts.rejects.csv`.
pub fn rejects_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    path.with_file_name(format!("{stem}.rejects.csv"))
}

/// Imports `path`. `progress(rows, bytes_read)` is called after each batch.
pub async fn import(
    app: &App,
    path: &Path,
    opts: &ImportOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<ImportOutcome> {
    let shown = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Error::Invalid(format!("cannot open {shown}: {e}")))?;
    sniff(&mut file, &shown)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let mut header = ByteRecord::new();
    if !reader.read_byte_record(&mut header).map_err(|e| Error::Invalid(format!("{shown}: {e}")))? {
        return Err(Error::Invalid(format!("{shown} is empty: expected a header row with an 'email' column")));
    }
    let names = header_names(&header).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let cols = Columns::from_header(&names).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;

    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| shown.clone());
    let ctx = BatchContext { app, cols: &cols, opts, actor: Actor::Import(file_name) };
    let mut rejects = Rejects::new(rejects_path(path), cols.names());
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(opts.batch_size);
    loop {
        let mut record = ByteRecord::new();
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| Error::Internal(anyhow::anyhow!("reading {shown}: {e}")))?;
        if more {
            let line = record.position().map_or(0, |p| p.line());
            batch.push((line, record));
        }
        if batch.len() >= opts.batch_size || (!more && !batch.is_empty()) {
            let counted = ctx.run(&batch, &mut rejects).await?;
            report = add(report, counted);
            batch.clear();
            progress(report.rows, reader.position().byte());
        }
        if !more {
            break;
        }
    }
    let rejects_file = rejects.finish()?;
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        rejected = report.rejected,
        suppressed = report.suppressed,
        protected = report.protected,
        dry_run = opts.dry_run,
        "import finished"
    );
    Ok(ImportOutcome { report, rejects_file })
}

/// Refuses, before anything is written, files that are not CSV text at all.
fn sniff(file: &mut File, shown: &str) -> Result<()> {
    let mut head = Vec::with_capacity(8192);
    file.by_ref().take(8192).read_to_end(&mut head).map_err(|e| Error::Invalid(format!("cannot read {shown}: {e}")))?;
    file.rewind().map_err(|e| Error::Internal(anyhow::anyhow!("cannot read {shown}: {e}")))?;
    if head.is_empty() {
        return Err(Error::Invalid(format!("{shown} is empty: expected a header row with an 'email' column")));
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(Error::Invalid(format!("{shown} is UTF-16 text: save it as UTF-8 CSV and try again")));
    }
    if head.contains(&0) {
        return Err(Error::Invalid(format!("{shown} is not a CSV file: it contains binary data")));
    }
    if let Err(e) = std::str::from_utf8(&head)
        && e.error_len().is_some()
    {
        return Err(Error::Invalid(format!(
            "{shown} is not UTF-8 text (byte {} is not valid UTF-8): convert it to UTF-8 and try again",
            e.valid_up_to()
        )));
    }
    Ok(())
}

pub(super) fn header_names(header: &ByteRecord) -> std::result::Result<Vec<String>, String> {
    header
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let field = if i == 0 { field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field) } else { field };
            String::from_utf8(field.to_vec()).map_err(|_| format!("header column {} is not valid UTF-8", i + 1))
        })
        .collect()
}

fn add(a: ImportReport, b: ImportReport) -> ImportReport {
    ImportReport {
        rows: a.rows + b.rows,
        created: a.created + b.created,
        updated: a.updated + b.updated,
        unchanged: a.unchanged + b.unchanged,
        rejected: a.rejected + b.rejected,
        suppressed: a.suppressed + b.suppressed,
        protected: a.protected + b.protected,
    }
}

struct BatchContext<'a> {
    app: &'a App,
    cols: &'a Columns,
    opts: &'a ImportOptions,
    actor: Actor,
}

/// One contact's state while a batch is decided: a file may name it more than once.
struct Slot {
    before: Option<Contact>,
    current: Option<Contact>,
    mac: String,
    events: Vec<EventDraft>,
}

impl BatchContext<'_> {
    async fn run(&self, batch: &[(u64, ByteRecord)], rejects: &mut Rejects) -> Result<ImportReport> {
        let now = self.app.clock.now();
        let mut valid: Vec<(usize, RowRequest)> = Vec::with_capacity(batch.len());
        let mut report = ImportReport { rows: batch.len() as u64, ..Default::default() };
        let mut rejected = Vec::new();
        for (i, (_, record)) in batch.iter().enumerate() {
            match parse_row(self.cols, record, now) {
                Ok(row) => valid.push((i, row)),
                Err(reason) => {
                    report.rejected += 1;
                    rejected.push((i, reason));
                }
            }
        }
        let mut norms: Vec<String> = valid.iter().map(|(_, r)| r.email.normalized().to_owned()).collect();
        norms.sort_unstable();
        norms.dedup();
        let macs: HashMap<&str, String> =
            valid.iter().map(|(_, r)| (r.email.normalized(), self.app.mac(&r.email))).collect();
        let mac_list: Vec<String> = macs.values().cloned().collect();
        let (_, (decided, late)) = self
            .app
            .store
            .modify(&norms, &mac_list, now, |loaded| self.decide(loaded, &valid, &macs, batch, now))
            .await?;
        // The rejects file keeps the input's order.
        rejected.extend(late);
        rejected.sort_by_key(|(i, _)| *i);
        for (i, reason) in rejected {
            let (line, record) = &batch[i];
            rejects.write(record, &format!("line {line}: {reason}"))?;
        }
        Ok(add(report, decided))
    }

    /// Decides every valid row of the batch, in file order, against the loaded records.
    #[allow(clippy::type_complexity)]
    fn decide(
        &self,
        loaded: &crate::store::Loaded,
        valid: &[(usize, RowRequest)],
        macs: &HashMap<&str, String>,
        batch: &[(u64, ByteRecord)],
        now: DateTime<Utc>,
    ) -> Result<(Vec<ContactWrite>, (ImportReport, Vec<(usize, String)>))> {
        let mut report = ImportReport::default();
        let mut late_rejects = Vec::new();
        let mut order: Vec<String> = Vec::new();
        let mut slots: HashMap<String, Slot> = HashMap::new();
        for (i, row) in valid {
            let norm = row.email.normalized();
            let slot = slots.entry(norm.to_owned()).or_insert_with(|| {
                order.push(norm.to_owned());
                let existing = loaded.contacts.get(norm).cloned();
                Slot { before: existing.clone(), current: existing, mac: macs[norm].clone(), events: Vec::new() }
            });
            let mut patch = row.patch.clone();
            if let Some(list) = &self.opts.list {
                patch.subscribe.push((list.clone(), None));
            }
            if slot.current.is_none() && patch.source_type.is_none() {
                patch.source_type = Some(self.opts.source);
            }
            let mut authority = Authority::new(self.actor.clone());
            authority.evidence.insert("line".into(), batch[*i].0.to_string());
            let suppressed = loaded.suppressed.contains(&slot.mac);
            match apply(slot.current.as_ref(), &row.email, suppressed, &patch, &authority, now) {
                Err(Refusal::Suppressed) => report.suppressed += 1,
                Err(Refusal::Locked(_)) => report.protected += 1,
                Err(Refusal::Invalid(reason)) => {
                    report.rejected += 1;
                    late_rejects.push((*i, reason));
                }
                Ok(outcome) => {
                    match (outcome.protected.is_empty(), outcome.kind) {
                        (false, _) => report.protected += 1,
                        (true, OutcomeKind::Created) => report.created += 1,
                        (true, OutcomeKind::Updated) => report.updated += 1,
                        (true, OutcomeKind::Unchanged) => report.unchanged += 1,
                    }
                    slot.events.extend(outcome.event);
                    slot.current = Some(outcome.contact);
                }
            }
        }
        let writes = if self.opts.dry_run {
            Vec::new()
        } else {
            order
                .into_iter()
                .filter_map(|norm| slots.remove(&norm))
                .filter_map(|s| {
                    let after = s.current?;
                    (s.before.as_ref() != Some(&after) || !s.events.is_empty()).then_some(ContactWrite {
                        before: s.before,
                        after,
                        email_mac: s.mac,
                        events: s.events,
                    })
                })
                .collect()
        };
        Ok((writes, (report, late_rejects)))
    }
}

/// The rejects file: the original columns plus `reason`. Created on the first rejected
/// row; a stale one from an earlier run of the same file is removed.
struct Rejects {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<File>>,
}

impl Rejects {
    fn new(path: PathBuf, header: &[String]) -> Self {
        Rejects { path, header: header.to_vec(), writer: None }
    }

    fn write(&mut self, record: &ByteRecord, reason: &str) -> Result<()> {
        let io = |e: csv::Error| Error::Internal(anyhow::anyhow!("writing the rejects file: {e}"));
        if self.writer.is_none() {
            let mut w = csv::Writer::from_path(&self.path).map_err(io)?;
            let mut header = self.header.clone();
            header.push("reason".into());
            w.write_record(&header).map_err(io)?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("writer was just created");
        let mut out = ByteRecord::new();
        for field in record.iter() {
            out.push_field(field);
        }
        while out.len() < self.header.len() {
            out.push_field(b"");
        }
        out.push_field(reason.as_bytes());
        w.write_byte_record(&out).map_err(io)
    }

    fn finish(self) -> Result<Option<PathBuf>> {
        match self.writer {
            Some(mut w) => {
                w.flush().map_err(|e| Error::Internal(anyhow::anyhow!("writing the rejects file: {e}")))?;
                Ok(Some(self.path))
            }
            None => {
                if self.path.exists() {
                    std::fs::remove_file(&self.path).map_err(|e| {
                        Error::Internal(anyhow::anyhow!("removing the stale {}: {e}", self.path.display()))
                    })?;
                }
                Ok(None)
            }
        }
    }
}
