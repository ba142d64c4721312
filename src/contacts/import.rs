//! `herald contacts import`: a CSV file (DESIGN §8) streamed in batches, each batch one
//! read-modify-write transaction. Memory holds one batch of rows, each bounded by the
//! `[import]` caps ([`super::records`]), whatever the file's size or shape. Rejected rows
//! go to `<file>.rejects.csv` with their reason and raw text; nothing valid is lost
//! because a neighbouring row is bad, and the rejects file is created before anything
//! is imported.

use super::change::{Mode, Request, change_batch};
use super::csv_row::{Columns, RowRequest, parse_record};
use super::records::{Record, Records};
use super::rejects::Rejects;
use super::warnings::Warnings;
use crate::app::App;
use crate::config::ImportConfig;
use crate::consent::{Actor, Authority, OutcomeKind, Refusal, Target};
use crate::domain::{ListName, SourceType};
use crate::error::{Error, Result};
use csv::ByteRecord;
use serde::Serialize;
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
    /// Rows imported as given that deserve a look (a likely domain typo, an address that
    /// needs SMTPUTF8).
    pub warnings: Warnings,
    /// Where the rejected rows were written, if any were.
    pub rejects_file: Option<PathBuf>,
}

/// `contacts.csv` → `contacts.rejects.csv`.
pub fn rejects_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    path.with_file_name(format!("{stem}.rejects.csv"))
}

/// What a batch may hold beyond its row count: the rows' bytes plus a per-cell overhead.
/// Each row is held several times over while its batch is decided (cells, the patch, the
/// record before and after), so a batch of large rows is cut short to stay well inside
/// the import's memory budget.
const BATCH_WEIGHT: usize = 4 << 20;
const CELL_WEIGHT: usize = 64;

/// Imports `path`. `progress(rows, bytes_read)` is called after each batch.
pub async fn import(
    app: &App,
    path: &Path,
    opts: &ImportOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<ImportOutcome> {
    let shown = path.display().to_string();
    let limits = checked(&app.config.import)?;
    let mut file = File::open(path).map_err(|e| Error::Invalid(format!("cannot open {shown}: {e}")))?;
    sniff(&mut file, &shown)?;
    let mut records = Records::new(BufReader::with_capacity(1 << 16, file), limits);
    let header = match records.next_record().map_err(|e| read_error(&shown, e))? {
        None => return Err(Error::Invalid(format!("{shown} is empty: expected a header row with an 'email' column"))),
        Some(Record { fields: Err(why), line, .. }) => {
            return Err(Error::Invalid(format!("{shown} line {line}: the header row cannot be read: {why}")));
        }
        Some(Record { fields: Ok(fields), .. }) => fields,
    };
    let names = header_names(&header).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let cols = Columns::from_header(&names).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;

    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| shown.clone());
    let mut rejects = Rejects::create(rejects_path(path), cols.names())?;
    // The file is read and its rows parsed and checked on a thread of their own, one
    // batch ahead of the batch being decided and written (a channel of one batch).
    let reader =
        Reader { records, cols, opts: opts.clone(), actor: Actor::Import(file_name), clock: app.clock.clone() };
    let (batches, mut parsed) = tokio::sync::mpsc::channel(1);
    let reading = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || reader.run(&shown, &batches))
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start the import's reader thread: {e}")))?;
    let mut report = ImportReport::default();
    while let Some(batch) = parsed.recv().await {
        let batch = batch?;
        let bytes_read = batch.bytes_read;
        let counted = decide_parsed(app, opts, batch, &mut rejects).await?;
        report = add(report, counted);
        progress(report.rows, bytes_read);
    }
    let warnings =
        reading.join().map_err(|_| Error::Internal(anyhow::anyhow!("the import's reader thread panicked")))?;
    let rejects_file = rejects.finish()?;
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        rejected = report.rejected,
        suppressed = report.suppressed,
        protected = report.protected,
        warnings = warnings.total(),
        dry_run = opts.dry_run,
        "import finished"
    );
    Ok(ImportOutcome { report, warnings, rejects_file })
}

/// The caps of `[import]`, refused when one is zero (every row would be rejected).
fn checked(limits: &ImportConfig) -> Result<ImportConfig> {
    for (key, value) in [
        ("max_cell_bytes", limits.max_cell_bytes),
        ("max_row_bytes", limits.max_row_bytes),
        ("max_columns", limits.max_columns),
    ] {
        if value == 0 {
            return Err(Error::Invalid(format!("[import] {key} must be at least 1")));
        }
    }
    Ok(limits.clone())
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

/// A read error of the file shown as `shown` (the header's or a batch's).
fn read_error(shown: &str, e: std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("reading {shown}: {e}"))
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

/// Puts valid rows' requests through the contact-change service and counts each as DESIGN
/// §7 says (`rows` and rows that did not parse are the caller's to count). Also returns
/// the requests the rules refused for a reason of their own, by index, with that reason.
/// Shared by CSV import and the contacts API, so both apply and count alike.
pub(crate) async fn decide(
    app: &App,
    requests: &[Request],
    mode: Mode,
) -> Result<(ImportReport, Vec<(usize, String)>)> {
    let done = change_batch(app, requests, mode).await?;
    let mut decided = ImportReport::default();
    let mut late = Vec::new();
    for (k, change) in done.changes.into_iter().enumerate() {
        match change.result {
            Err(Refusal::Suppressed) => decided.suppressed += 1,
            Err(Refusal::Locked(_)) => decided.protected += 1,
            Err(refusal) => {
                decided.rejected += 1;
                late.push((k, refusal.to_string()));
            }
            Ok(d) => match (d.protected.is_empty(), d.kind) {
                (false, _) => decided.protected += 1,
                (true, OutcomeKind::Created) => decided.created += 1,
                (true, OutcomeKind::Updated) => decided.updated += 1,
                (true, OutcomeKind::Unchanged) => decided.unchanged += 1,
            },
        }
    }
    Ok((decided, late))
}

/// Adds two reports' counts.
pub(crate) fn add(a: ImportReport, b: ImportReport) -> ImportReport {
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

/// One batch as read and parsed: its records, the requests of its valid rows (with the
/// place of each in `records`) and its rows refused by the parser.
struct Parsed {
    records: Vec<Record>,
    places: Vec<usize>,
    requests: Vec<Request>,
    rejected: Vec<(usize, String)>,
    /// Bytes of the file read when the batch was complete.
    bytes_read: u64,
}

/// What the reader thread owns: the file, its columns, and what makes a row's request.
struct Reader {
    records: Records<BufReader<File>>,
    cols: Columns,
    opts: ImportOptions,
    actor: Actor,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl Reader {
    /// Reads, parses and checks the file a batch at a time, sending each batch (or the
    /// read error that ends it) to `out`; stops early when the importer is gone. Returns
    /// the warnings of every row read.
    fn run(mut self, shown: &str, out: &tokio::sync::mpsc::Sender<Result<Parsed>>) -> Warnings {
        let mut warnings = Warnings::default();
        loop {
            let mut batch = Vec::with_capacity(self.opts.batch_size);
            let mut weight = 0;
            let mut more = true;
            while batch.len() < self.opts.batch_size && weight < BATCH_WEIGHT {
                match self.records.next_record() {
                    Ok(Some(record)) => {
                        weight += record.raw.len() + CELL_WEIGHT * record.fields.as_ref().map_or(0, |f| f.len());
                        batch.push(record);
                    }
                    Ok(None) => {
                        more = false;
                        break;
                    }
                    Err(e) => {
                        let _ = out.blocking_send(Err(read_error(shown, e)));
                        return warnings;
                    }
                }
            }
            if !batch.is_empty() {
                let parsed = self.parse(batch, &mut warnings);
                if out.blocking_send(Ok(parsed)).is_err() {
                    return warnings;
                }
            }
            if !more {
                return warnings;
            }
        }
    }

    fn parse(&self, records: Vec<Record>, warnings: &mut Warnings) -> Parsed {
        let now = self.clock.now();
        let mut places = Vec::with_capacity(records.len());
        let mut requests = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match parse_record(&self.cols, record, now) {
                Ok(row) => {
                    warnings.check(record.line, &row.email);
                    requests.push(self.request(record, row));
                    places.push(i);
                }
                Err(reason) => rejected.push((i, reason)),
            }
        }
        Parsed { records, places, requests, rejected, bytes_read: self.records.bytes_read() }
    }

    /// What one valid row asks of the contact-change service.
    fn request(&self, record: &Record, row: RowRequest) -> Request {
        let mut patch = row.patch;
        patch.target = Target::Any;
        // `--list` adds the list to rows that do not name it; a row's own status wins.
        if let Some(list) = &self.opts.list
            && !patch.subscribe.iter().any(|(named, _)| named == list)
        {
            patch.subscribe.push((list.clone(), None));
        }
        patch.new_source = Some(self.opts.source);
        let authority = Authority::new(self.actor.clone()).with_evidence("line", record.line.to_string());
        Request { email: row.email, patch, authority }
    }
}

/// Puts a parsed batch's requests through the contact-change service, writes its
/// rejected rows (the parser's and the rules') to the rejects file in the input's
/// order, and counts the batch.
async fn decide_parsed(app: &App, opts: &ImportOptions, batch: Parsed, rejects: &mut Rejects) -> Result<ImportReport> {
    let report =
        ImportReport { rows: batch.records.len() as u64, rejected: batch.rejected.len() as u64, ..Default::default() };
    let mode = if opts.dry_run { Mode::DryRun } else { Mode::EachOnItsOwn };
    let (decided, late) = decide(app, &batch.requests, mode).await?;
    let mut rejected = batch.rejected;
    rejected.extend(late.into_iter().map(|(k, reason)| (batch.places[k], reason)));
    rejected.sort_by_key(|(i, _)| *i);
    for (i, reason) in rejected {
        let record = &batch.records[i];
        rejects.write(record.fields.as_ref().ok(), &record.raw, &format!("line {}: {reason}", record.line))?;
    }
    rejects.flush()?;
    Ok(add(report, decided))
}
