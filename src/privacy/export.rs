//! `herald privacy export`: what Herald holds about a person, for access and
//! portability requests (GDPR art. 15 and 20).
//!
//! One contact is one JSON document; a list or every contact is JSON Lines (one contact
//! per line) or CSV (one row per contact, nested data as JSON-encoded cells); the shape
//! of a contact's export is `document`'s. A bulk export walks the contacts a batch at a
//! time (keyset by id): each batch is read in one snapshot by one statement, a row per
//! contact (`store::sql::privacy`), by a task one batch ahead of the writer; each contact
//! takes its run of the batch's sorted ledger, sends, bounces and events (a merge by contact id)
//! and is written as it goes: memory holds a few batches, never the selection. Every CSV cell that a spreadsheet would run as a formula
//! is neutralised (`contacts::cells`). A file is written through `FILE.partial` and
//! renamed when complete, so an export that fails (an unknown address included) leaves
//! no file behind.

use super::document::{Records, Sink, document, write_failed};
use crate::app::App;
use crate::domain::{Contact, ContactId, EmailAddress, ListName};
use crate::error::{Error, Result};
use crate::store::privacy::{ExportBatch, ExportCursor};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use super::document::{CSV_COLUMNS, ContactExport};

/// Contacts per batch: each batch is one statement and held whole in memory (three
/// batches at most: one written, one waiting, one read).
const BATCH: i64 = 2_000;

/// The export's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON document for one contact; JSON Lines (a document per line) in bulk.
    #[default]
    Json,
    /// One row per contact; nested data as JSON-encoded cells.
    Csv,
}

/// Whose data to export.
#[derive(Debug, Clone)]
pub enum Scope {
    One(EmailAddress),
    /// The contacts subscribed to this list (in any status).
    List(ListName),
    All,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The file written; `None` for standard output.
    pub file: Option<PathBuf>,
    pub contacts: u64,
    pub exported_at: DateTime<Utc>,
}

/// Exports `scope` as `format` to `out` (standard output when `None`). An unknown
/// address is [`Error::NotFound`] and writes nothing.
pub async fn export(app: &App, scope: &Scope, format: Format, out: Option<&Path>) -> Result<ExportReport> {
    let exported_at = app.clock.now();
    // One contact is looked up before any file is opened: an unknown address writes nothing.
    let one = match scope {
        Scope::One(email) => Some(
            app.store
                .contact(email.normalized())
                .await?
                .ok_or_else(|| Error::NotFound(format!("no contact {email}")))?,
        ),
        _ => None,
    };
    let list = match scope {
        Scope::List(list) => Some(list),
        _ => None,
    };
    let mut target = Target::open(out)?;
    let written = write_all(app, list, one.as_ref(), format, exported_at, &mut target.writer).await;
    let contacts = target.finish(written)?;
    Ok(ExportReport { file: out.map(Path::to_owned), contacts, exported_at })
}

/// One contact's export as its JSON document, in memory (the preference centre's
/// download).
pub async fn document_of(app: &App, contact: &Contact) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_all(app, None, Some(contact), Format::Json, app.clock.now(), &mut out).await?;
    Ok(out)
}

/// Writes `one` contact, or every contact (of `list`), as `format`.
async fn write_all(
    app: &App,
    list: Option<&ListName>,
    one: Option<&Contact>,
    format: Format,
    exported_at: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<u64> {
    let mut sink = Sink::new(format == Format::Csv, one.is_some(), out)?;
    let seen = match one {
        // The batch of that one contact: the id just below it, one contact.
        Some(contact) => {
            let after = ContactId::new(contact.id.map_or(0, |id| id.get()) - 1);
            let batch = app.store.export_cursor(None, after).await?.next(1).await?;
            write_batch(&batch, exported_at, &mut sink)?
        }
        None => {
            let mut batches = read_ahead(app.store.export_cursor(list, ContactId::default()).await?);
            let mut seen = 0u64;
            while let Some(batch) = batches.recv().await {
                seen += write_batch(&batch?, exported_at, &mut sink)?;
            }
            seen
        }
    };
    sink.finish()?;
    Ok(seen)
}

/// The cursor's batches, read by a task of their own one batch ahead of the writer: the
/// next batch is read (and parsed) while this one is written. The channel ends after the
/// last non-empty batch or the first error; the task stops when the receiver is dropped.
fn read_ahead(mut cursor: ExportCursor) -> tokio::sync::mpsc::Receiver<Result<ExportBatch>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            match cursor.next(BATCH).await {
                Ok(batch) if batch.contacts.is_empty() => break,
                Ok(batch) => {
                    if tx.send(Ok(batch)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    rx
}

/// Writes each contact of `batch` with its share of the batch's records (each sorted by
/// contact id, so each is a run taken in turn).
fn write_batch(batch: &ExportBatch, exported_at: DateTime<Utc>, sink: &mut Sink<'_>) -> Result<u64> {
    let mut rest = Records {
        ledger: &batch.ledger,
        sends: &batch.sends,
        bounces: &batch.bounces,
        events: &batch.events,
        flows: &batch.flows,
    };
    for contact in &batch.contacts {
        let id = contact.id.unwrap_or_default();
        let records = Records {
            ledger: run(&mut rest.ledger, id, |e| e.contact_id),
            sends: run(&mut rest.sends, id, |s| s.contact_id),
            bounces: run(&mut rest.bounces, id, |b| b.contact_id),
            events: run(&mut rest.events, id, |e| e.contact_id),
            flows: run(&mut rest.flows, id, |f| f.contact_id),
        };
        sink.write(&document(contact, records, exported_at)?)?;
    }
    Ok(batch.contacts.len() as u64)
}

/// The leading rows of `rows` that belong to `id` (rows of lower ids, which no contact
/// of the batch claims, are skipped); `rows` moves past them.
fn run<'a, T>(rows: &mut &'a [T], id: ContactId, key: impl Fn(&T) -> ContactId) -> &'a [T] {
    let start = rows.iter().position(|r| key(r) >= id).unwrap_or(rows.len());
    let len = rows[start..].iter().position(|r| key(r) != id).unwrap_or(rows.len() - start);
    let (mine, rest) = rows[start..].split_at(len);
    *rows = rest;
    mine
}

/// Standard output, or a file written through `FILE.partial` and renamed when complete.
struct Target {
    writer: Box<dyn Write + Send>,
    file: Option<(PathBuf, PathBuf)>,
}

impl Target {
    fn open(out: Option<&Path>) -> Result<Self> {
        let Some(out) = out else {
            return Ok(Target { writer: Box::new(std::io::BufWriter::new(std::io::stdout())), file: None });
        };
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
        let partial = out.with_file_name(format!("{name}.partial"));
        let file = crate::private_files::file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", out.display())))?;
        Ok(Target {
            writer: Box::new(std::io::BufWriter::with_capacity(1 << 16, file)),
            file: Some((partial, out.to_owned())),
        })
    }

    /// Flushes and renames the file when `written` succeeded; removes it otherwise.
    fn finish(self, written: Result<u64>) -> Result<u64> {
        let Target { mut writer, file } = self;
        let flushed = written.and_then(|n| writer.flush().map(|()| n).map_err(write_failed));
        drop(writer);
        let Some((partial, out)) = file else { return flushed };
        match flushed {
            Ok(n) => {
                std::fs::rename(&partial, &out).map_err(write_failed)?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}
