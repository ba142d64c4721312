//! `herald privacy export`: what Herald holds about a person, for access and
//! portability requests (GDPR art. 15 and 20).
//!
//! One contact is one JSON document; a list or every contact is JSON Lines (one contact
//! per line) or CSV (one row per contact, nested data as JSON-encoded cells). A bulk
//! export walks the contacts a page at a time (keyset by id) and reads each page's
//! ledger, sends and bounces in one statement each, writing as it goes: memory holds a
//! page, never the selection. Every CSV cell that a spreadsheet would run as a formula
//! is neutralised (`contacts::cells`). A file is written through `FILE.partial` and
//! renamed when complete, so an export that fails (an unknown address included) leaves
//! no file behind.

use crate::app::App;
use crate::consent::ledger::Entry;
use crate::contacts::cells::neutralise;
use crate::domain::{Contact, ContactId, EmailAddress, ListName};
use crate::error::{Error, Result};
use crate::store::{ContactBounce, ContactFilter, SendRecord};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const PAGE: i64 = 400;

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

/// The profile fields of a contact (its custom attributes are exported apart).
#[derive(Debug, Serialize)]
pub struct Profile<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub company: Option<&'a str>,
    pub title: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub website: Option<&'a str>,
    pub country: Option<&'a str>,
    pub crm_id: Option<&'a str>,
}

/// The compliance card: on what grounds Herald mails this person.
#[derive(Debug, Serialize)]
pub struct Card<'a> {
    pub opt_in_status: String,
    pub legal_basis: Option<String>,
    pub legal_basis_note: Option<&'a str>,
    pub consent_date: Option<DateTime<Utc>>,
    pub source_type: String,
    pub source_note: Option<&'a str>,
    pub processing: &'a crate::domain::Processing,
    pub bounce: &'a crate::domain::Bounce,
}

/// One ledger event: the event as recorded (with the evidence it carries) and its link
/// in the hash chain.
#[derive(Debug, Serialize)]
pub struct LedgerEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub event: serde_json::Value,
    pub hash: String,
}

/// Everything exported about one contact.
#[derive(Debug, Serialize)]
pub struct ContactExport<'a> {
    pub exported_at: DateTime<Utc>,
    pub contact_id: Option<ContactId>,
    pub email: &'a str,
    pub profile: Profile<'a>,
    pub attributes: &'a BTreeMap<String, String>,
    pub compliance: Card<'a>,
    pub subscriptions: &'a BTreeMap<ListName, crate::domain::SubscriptionStatus>,
    pub purposes: &'a BTreeMap<crate::domain::Purpose, crate::domain::PurposeConsent>,
    pub ledger: Vec<LedgerEvent>,
    pub sends: &'a [SendRecord],
    pub bounces: &'a [ContactBounce],
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The CSV header: the card's columns, then JSON-encoded nested data.
pub const CSV_COLUMNS: &[&str] = &[
    "contact_id",
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
    "source_type",
    "source_note",
    "processing",
    "bounce",
    "created_at",
    "updated_at",
    "attributes",
    "subscriptions",
    "purposes",
    "ledger",
    "sends",
    "bounces",
    "exported_at",
];

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
    let mut target = Target::open(out)?;
    let written = write_all(app, scope, one, format, exported_at, &mut target.writer).await;
    let contacts = target.finish(written)?;
    Ok(ExportReport { file: out.map(Path::to_owned), contacts, exported_at })
}

async fn write_all(
    app: &App,
    scope: &Scope,
    one: Option<Contact>,
    format: Format,
    exported_at: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut sink = Sink::new(format, one.is_some(), out)?;
    if let Some(contact) = one {
        write_page(app, std::slice::from_ref(&contact), exported_at, &mut sink).await?;
        sink.finish()?;
        return Ok(1);
    }
    let filter = match scope {
        Scope::List(list) => ContactFilter { list: Some(list.clone()), ..ContactFilter::default() },
        _ => ContactFilter::default(),
    };
    let mut after = ContactId::default();
    let mut seen = 0u64;
    loop {
        let page = app.store.contacts_page(&filter, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.unwrap_or(ContactId::new(i64::MAX));
        write_page(app, &page, exported_at, &mut sink).await?;
        seen += page.len() as u64;
    }
    sink.finish()?;
    Ok(seen)
}

/// Reads the page's ledger, sends and bounces (one statement each) and writes each
/// contact of the page.
async fn write_page(app: &App, page: &[Contact], exported_at: DateTime<Utc>, sink: &mut Sink<'_>) -> Result<()> {
    let ids: Vec<ContactId> = page.iter().filter_map(|c| c.id).collect();
    let mut ledgers = group(app.store.ledgers_of(&ids).await?, |e: &Entry| e.contact_id);
    let mut sends = group(app.store.sends_of(&ids).await?, |s: &SendRecord| s.contact_id);
    let mut bounces = group(app.store.bounces_of(&ids).await?, |b: &ContactBounce| b.contact_id);
    for contact in page {
        let id = contact.id.unwrap_or_default();
        let ledger = ledgers.remove(&id).unwrap_or_default();
        let sends = sends.remove(&id).unwrap_or_default();
        let bounces = bounces.remove(&id).unwrap_or_default();
        let doc = document(contact, ledger, &sends, &bounces, exported_at)?;
        sink.write(&doc)?;
    }
    Ok(())
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> ContactId) -> BTreeMap<ContactId, Vec<T>> {
    let mut out: BTreeMap<ContactId, Vec<T>> = BTreeMap::new();
    for row in rows {
        out.entry(key(&row)).or_default().push(row);
    }
    out
}

fn document<'a>(
    c: &'a Contact,
    ledger: Vec<Entry>,
    sends: &'a [SendRecord],
    bounces: &'a [ContactBounce],
    exported_at: DateTime<Utc>,
) -> Result<ContactExport<'a>> {
    let id = &c.identity;
    let ledger = ledger
        .into_iter()
        .map(|e| {
            let event =
                e.event().and_then(|b| serde_json::to_value(b).map_err(|err| err.to_string())).map_err(|err| {
                    Error::Internal(anyhow::anyhow!("unreadable ledger of contact #{}: {err}", e.contact_id))
                })?;
            Ok(LedgerEvent { seq: e.seq, at: e.at, event, hash: e.hash })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ContactExport {
        exported_at,
        contact_id: c.id,
        email: c.email.as_str(),
        profile: Profile {
            first_name: id.first_name.as_deref(),
            last_name: id.last_name.as_deref(),
            company: id.company.as_deref(),
            title: id.title.as_deref(),
            phone: id.phone.as_deref(),
            website: id.website.as_deref(),
            country: id.country.as_deref(),
            crm_id: id.crm_id.as_deref(),
        },
        attributes: &id.attributes,
        compliance: Card {
            opt_in_status: c.opt_in.to_string(),
            legal_basis: c.legal_basis.map(|b| b.to_string()),
            legal_basis_note: c.legal_basis_note.as_deref(),
            consent_date: c.consent_date,
            source_type: c.source_type.to_string(),
            source_note: c.source_note.as_deref(),
            processing: &c.processing,
            bounce: &c.bounce,
        },
        subscriptions: &c.lists,
        purposes: &c.purposes,
        ledger,
        sends,
        bounces,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// One CSV row in the order of [`CSV_COLUMNS`], every cell neutralised.
fn csv_row(d: &ContactExport<'_>) -> Result<Vec<String>> {
    let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
    let time = |v: Option<DateTime<Utc>>| v.map(|t| t.to_rfc3339()).unwrap_or_default();
    let p = &d.profile;
    let card = &d.compliance;
    let cells = vec![
        d.contact_id.map(|i| i.to_string()).unwrap_or_default(),
        d.email.to_owned(),
        text(p.first_name),
        text(p.last_name),
        text(p.company),
        text(p.title),
        text(p.phone),
        text(p.website),
        text(p.country),
        text(p.crm_id),
        card.opt_in_status.clone(),
        card.legal_basis.clone().unwrap_or_default(),
        text(card.legal_basis_note),
        time(card.consent_date),
        card.source_type.clone(),
        text(card.source_note),
        json(card.processing)?,
        json(card.bounce)?,
        d.created_at.to_rfc3339(),
        d.updated_at.to_rfc3339(),
        json(d.attributes)?,
        json(d.subscriptions)?,
        json(d.purposes)?,
        json(&d.ledger)?,
        json(&d.sends)?,
        json(&d.bounces)?,
        d.exported_at.to_rfc3339(),
    ];
    Ok(cells.into_iter().map(|c| neutralise(&c).into_owned()).collect())
}

/// A nested value JSON-encoded for one CSV cell.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.into()))
}

/// Where the documents go, in the chosen shape.
enum Sink<'w> {
    /// One pretty-printed document.
    Document(&'w mut dyn Write),
    Lines(&'w mut dyn Write),
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
}

impl<'w> Sink<'w> {
    fn new(format: Format, single: bool, out: &'w mut dyn Write) -> Result<Self> {
        Ok(match (format, single) {
            (Format::Json, true) => Sink::Document(out),
            (Format::Json, false) => Sink::Lines(out),
            (Format::Csv, _) => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_COLUMNS).map_err(write_failed)?;
                Sink::Csv(Box::new(w))
            }
        })
    }

    fn write(&mut self, doc: &ContactExport<'_>) -> Result<()> {
        match self {
            Sink::Document(out) => {
                serde_json::to_writer_pretty(&mut **out, doc).map_err(write_failed)?;
                out.write_all(b"\n").map_err(write_failed)
            }
            Sink::Lines(out) => {
                serde_json::to_writer(&mut **out, doc).map_err(write_failed)?;
                out.write_all(b"\n").map_err(write_failed)
            }
            Sink::Csv(w) => w.write_record(csv_row(doc)?).map_err(write_failed),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Document(out) | Sink::Lines(out) => out.flush().map_err(write_failed),
            Sink::Csv(mut w) => w.flush().map_err(write_failed),
        }
    }
}

fn write_failed(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("cannot write the export: {e}"))
}

/// Standard output, or a file written through `FILE.partial` and renamed when complete.
struct Target {
    writer: Box<dyn Write>,
    file: Option<(PathBuf, PathBuf)>,
}

impl Target {
    fn open(out: Option<&Path>) -> Result<Self> {
        let Some(out) = out else {
            return Ok(Target { writer: Box::new(std::io::BufWriter::new(std::io::stdout().lock())), file: None });
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
