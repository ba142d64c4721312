//! The shape of one contact's export (DESIGN §12) and how it is written: one JSON
//! document (pretty), a JSON line, or a CSV row whose nested data are JSON-encoded cells,
//! every cell a spreadsheet would run as a formula neutralised (`contacts::cells`).
//!
//! A JSON line is encoded into a buffer kept from one contact to the next and written
//! in one piece.

use crate::consent::ledger::Entry;
use crate::contacts::cells::neutralise;
use crate::domain::{Bounce, Contact, ContactId, ListName, Processing, Purpose, PurposeConsent, SubscriptionStatus};
use crate::error::{Error, Result};
use crate::store::{ContactBounce, ContactEvent, ContactFlow, SendRecord};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

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
    pub opt_in_status: &'static str,
    pub legal_basis: Option<&'static str>,
    pub legal_basis_note: Option<&'a str>,
    pub consent_date: Option<DateTime<Utc>>,
    pub source_type: &'static str,
    pub source_note: Option<&'a str>,
    pub processing: &'a Processing,
    pub bounce: &'a Bounce,
}

/// One ledger event: the event as recorded (with the evidence it carries) and its link
/// in the hash chain.
#[derive(Debug, Serialize)]
pub struct LedgerEvent<'a> {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub event: serde_json::Value,
    pub hash: &'a str,
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
    pub subscriptions: &'a BTreeMap<ListName, SubscriptionStatus>,
    pub purposes: &'a BTreeMap<Purpose, PurposeConsent>,
    pub ledger: Vec<LedgerEvent<'a>>,
    pub sends: &'a [SendRecord],
    pub bounces: &'a [ContactBounce],
    /// The events the events API recorded for the contact (a shop's `cart_abandoned`, say).
    pub events: &'a [ContactEvent],
    /// Each entry into a flow, with its steps.
    pub flows: &'a [ContactFlow],
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
    "events",
    "exported_at",
    "flows",
];

/// A contact's records beside its row, each in its export order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records<'a> {
    pub ledger: &'a [Entry],
    pub sends: &'a [SendRecord],
    pub bounces: &'a [ContactBounce],
    pub events: &'a [ContactEvent],
    pub flows: &'a [ContactFlow],
}

/// What is exported about `c`, given its records.
pub fn document<'a>(c: &'a Contact, records: Records<'a>, exported_at: DateTime<Utc>) -> Result<ContactExport<'a>> {
    let id = &c.identity;
    let ledger = records
        .ledger
        .iter()
        .map(|e| {
            // The event with its evidence put back from the evidence table.
            let event =
                e.event().and_then(|b| serde_json::to_value(b).map_err(|err| err.to_string())).map_err(|err| {
                    Error::Internal(anyhow::anyhow!("unreadable ledger of contact #{}: {err}", e.contact_id))
                })?;
            Ok(LedgerEvent { seq: e.seq, at: e.at, event, hash: &e.hash })
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
            opt_in_status: c.opt_in.as_str(),
            legal_basis: c.legal_basis.map(|b| b.as_str()),
            legal_basis_note: c.legal_basis_note.as_deref(),
            consent_date: c.consent_date,
            source_type: c.source_type.as_str(),
            source_note: c.source_note.as_deref(),
            processing: &c.processing,
            bounce: &c.bounce,
        },
        subscriptions: &c.lists,
        purposes: &c.purposes,
        ledger,
        sends: records.sends,
        bounces: records.bounces,
        events: records.events,
        flows: records.flows,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// Where the documents go, in the chosen shape.
pub enum Sink<'w> {
    /// One pretty-printed document.
    Document(&'w mut (dyn Write + Send)),
    /// JSON Lines, each line encoded into `buf` first.
    Lines {
        out: &'w mut (dyn Write + Send),
        buf: Vec<u8>,
    },
    Csv(Box<csv::Writer<&'w mut (dyn Write + Send)>>),
}

impl<'w> Sink<'w> {
    /// A sink for `format`'s one document (`single`) or its bulk shape; writes the CSV
    /// header at once.
    pub fn new(csv: bool, single: bool, out: &'w mut (dyn Write + Send)) -> Result<Self> {
        Ok(match (csv, single) {
            (false, true) => Sink::Document(out),
            (false, false) => Sink::Lines { out, buf: Vec::with_capacity(4096) },
            (true, _) => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_COLUMNS).map_err(write_failed)?;
                Sink::Csv(Box::new(w))
            }
        })
    }

    pub fn write(&mut self, doc: &ContactExport<'_>) -> Result<()> {
        match self {
            Sink::Document(out) => {
                serde_json::to_writer_pretty(&mut **out, doc).map_err(write_failed)?;
                out.write_all(b"\n").map_err(write_failed)
            }
            Sink::Lines { out, buf } => {
                buf.clear();
                serde_json::to_writer(&mut *buf, doc).map_err(write_failed)?;
                buf.push(b'\n');
                out.write_all(buf).map_err(write_failed)
            }
            Sink::Csv(w) => {
                for cell in csv_row(doc)? {
                    w.write_field(neutralise(&cell).as_bytes()).map_err(write_failed)?;
                }
                w.write_record(None::<&[u8]>).map_err(write_failed)
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Document(out) | Sink::Lines { out, .. } => out.flush().map_err(write_failed),
            Sink::Csv(mut w) => w.flush().map_err(write_failed),
        }
    }
}

/// One CSV row in the order of [`CSV_COLUMNS`], before neutralisation.
fn csv_row<'a>(d: &'a ContactExport<'_>) -> Result<[Cow<'a, str>; 29]> {
    let text = |v: Option<&'a str>| Cow::Borrowed(v.unwrap_or_default());
    let time = |v: Option<DateTime<Utc>>| Cow::Owned(v.map(|t| t.to_rfc3339()).unwrap_or_default());
    let p = &d.profile;
    let card = &d.compliance;
    Ok([
        Cow::Owned(d.contact_id.map(|i| i.to_string()).unwrap_or_default()),
        Cow::Borrowed(d.email),
        text(p.first_name),
        text(p.last_name),
        text(p.company),
        text(p.title),
        text(p.phone),
        text(p.website),
        text(p.country),
        text(p.crm_id),
        Cow::Borrowed(card.opt_in_status),
        text(card.legal_basis),
        text(card.legal_basis_note),
        time(card.consent_date),
        Cow::Borrowed(card.source_type),
        text(card.source_note),
        json(card.processing)?,
        json(card.bounce)?,
        time(Some(d.created_at)),
        time(Some(d.updated_at)),
        json(d.attributes)?,
        json(d.subscriptions)?,
        json(d.purposes)?,
        json(&d.ledger)?,
        json(&d.sends)?,
        json(&d.bounces)?,
        json(&d.events)?,
        time(Some(d.exported_at)),
        json(d.flows)?,
    ])
}

/// A nested value JSON-encoded for one CSV cell.
fn json<T: Serialize + ?Sized>(value: &T) -> Result<Cow<'static, str>> {
    serde_json::to_string(value).map(Cow::Owned).map_err(|e| Error::Internal(e.into()))
}

pub fn write_failed(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("cannot write the export: {e}"))
}
