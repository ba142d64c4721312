//! Staff edits: `contacts add` (one new contact), `contacts set` (one existing contact,
//! all or nothing) and `contacts bulk-set` (many existing contacts, each decided on its
//! own). Only `add` creates: a mistyped address in `set` is an error, not a new contact.

use super::change::{Mode, Selector, change};
use crate::app::App;
use crate::consent::{Authority, ContactPatch, OutcomeKind, Refusal, Target};
use crate::domain::{Contact, EmailAddress, ListName};
use crate::error::{Error, Result};
use crate::store::Selection;
use serde::Serialize;
use std::path::PathBuf;

/// Changes one existing contact. Anything the rules protect refuses the whole command: a
/// staff member asking for it should know, and nothing half-done is written.
pub async fn set(
    app: &App,
    email: &EmailAddress,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<(Contact, OutcomeKind)> {
    let patch = ContactPatch { target: Target::Existing, ..patch.clone() };
    write_one(app, email, &patch, authority).await
}

/// Creates one contact by hand (source `manual` unless the patch says otherwise), with the
/// validation and protections of an import: a suppressed address is refused, and so is an
/// existing one (that is `contacts set`).
pub async fn add(app: &App, email: &EmailAddress, patch: &ContactPatch, authority: &Authority) -> Result<Contact> {
    let patch = ContactPatch { target: Target::New, ..patch.clone() };
    let (contact, _) = write_one(app, email, &patch, authority).await?;
    Ok(contact)
}

async fn write_one(
    app: &App,
    email: &EmailAddress,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<(Contact, OutcomeKind)> {
    let report = change(app, &Selector::Email(email.clone()), patch, authority, Mode::AllOrNothing).await?;
    let only = report.changes.into_iter().next().ok_or_else(|| Error::Internal(anyhow::anyhow!("no outcome")))?;
    match only.result {
        Err(Refusal::NotFound) => Err(Error::NotFound(format!(
            "no contact {email}: `contacts set` changes existing contacts only; create one with `herald contacts add {email} ...`"
        ))),
        Err(Refusal::Exists) => Err(Error::Refused(format!(
            "{email} is already a contact: use `herald contacts set {email} ...` to change it"
        ))),
        Err(other) => Err(other.into()),
        Ok(decided) if !decided.protected.is_empty() => Err(Error::Refused(decided.protected.join("; "))),
        Ok(decided) => {
            let contact = decided.contact.ok_or_else(|| Error::Internal(anyhow::anyhow!("no record")))?;
            Ok((contact, decided.kind))
        }
    }
}

/// Which contacts `bulk-set` changes.
#[derive(Debug, Clone)]
pub enum BulkSelection {
    Store(Selection),
    /// One address a line (blank lines and `#` comments skipped).
    EmailFile(PathBuf),
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BulkReport {
    pub matched: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Contacts whose record kept a protected choice (the rest of the change applied).
    pub protected: u64,
    /// Contacts the change would have made inconsistent (left unchanged).
    pub rejected: u64,
    /// Addresses of `--email-file` with no contact. Always 0 since bulk-set refuses such a
    /// file before changing anything (kept for the JSON shape).
    pub not_found: u64,
    /// The first few reasons for rejections and protections.
    pub notes: Vec<String>,
}

const MAX_NOTES: usize = 10;

pub async fn bulk_set(
    app: &App,
    selection: &BulkSelection,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<BulkReport> {
    bulk_apply(app, selection, patch, authority, false).await
}

/// [`bulk_set`], or with `dry_run` its report without writing anything.
pub async fn bulk_apply(
    app: &App,
    selection: &BulkSelection,
    patch: &ContactPatch,
    authority: &Authority,
    dry_run: bool,
) -> Result<BulkReport> {
    let selector = match selection {
        BulkSelection::Store(Selection::List(list)) => {
            Selector::List(ListName::parse(list).map_err(|e| Error::Invalid(format!("--list {list}: {e}")))?)
        }
        BulkSelection::Store(Selection::Source(source)) => Selector::Source(*source),
        BulkSelection::EmailFile(path) => Selector::EmailFile(path.clone()),
    };
    let mode = if dry_run { Mode::DryRun } else { Mode::EachOnItsOwn };
    let done = change(app, &selector, patch, authority, mode).await?;
    let mut report = BulkReport::default();
    for c in &done.changes {
        match &c.result {
            Err(Refusal::NotFound) => report.not_found += 1,
            Err(Refusal::Locked(_)) => report.protected += 1,
            Err(_) => report.rejected += 1,
            Ok(d) if !d.protected.is_empty() => report.protected += 1,
            Ok(d) if d.kind == OutcomeKind::Unchanged => report.unchanged += 1,
            Ok(_) => report.updated += 1,
        }
        if !matches!(c.result, Err(Refusal::NotFound)) {
            report.matched += 1;
        }
    }
    report.notes = done.notes().take(MAX_NOTES).collect();
    Ok(report)
}
