//! Staff edits: `contacts add` (one new contact), `contacts set` (one existing contact,
//! all or nothing) and `contacts bulk-set` (many existing contacts, each decided on its
//! own). Only `add` creates: a mistyped address in `set` is an error, not a new contact.

use crate::app::App;
use crate::consent::{Authority, ContactPatch, OutcomeKind, Refusal, Target, apply};
use crate::domain::{Contact, EmailAddress};
use crate::error::{Error, Result};
use crate::store::{ContactWrite, Selection};
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
    let now = app.clock.now();
    let norm = email.normalized().to_owned();
    let mac = app.mac(email);
    let (ids, (mut contact, kind)) = app
        .store
        .modify(std::slice::from_ref(&norm), std::slice::from_ref(&mac), now, |loaded| {
            let current = loaded.contacts.get(&norm);
            let suppressed = loaded.suppressed.contains(&mac);
            let outcome = apply(current, email, suppressed, patch, authority, now).map_err(|r| match r {
                Refusal::NotFound => Error::NotFound(format!(
                    "no contact {email}: `contacts set` changes existing contacts only; create one with `herald contacts add {email} ...`"
                )),
                Refusal::Exists => Error::Refused(format!(
                    "{email} is already a contact: use `herald contacts set {email} ...` to change it"
                )),
                other => other.into(),
            })?;
            if !outcome.protected.is_empty() {
                return Err(Error::Refused(outcome.protected.join("; ")));
            }
            let write = ContactWrite {
                before: current.cloned(),
                after: outcome.contact.clone(),
                email_mac: mac.clone(),
                events: outcome.event.into_iter().collect(),
            };
            let writes = if outcome.kind == OutcomeKind::Unchanged { Vec::new() } else { vec![write] };
            Ok((writes, (outcome.contact, outcome.kind)))
        })
        .await?;
    if contact.id.is_none() {
        contact.id = ids.first().copied();
    }
    Ok((contact, kind))
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

const BATCH: usize = 500;
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
    let mut report = BulkReport::default();
    match selection {
        BulkSelection::Store(sel) => {
            let mut after = crate::domain::ContactId::default();
            loop {
                let page = app.store.select(sel, after, BATCH as i64).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                let norms: Vec<String> = page.into_iter().map(|c| c.email_norm).collect();
                apply_batch(app, &norms, patch, authority, dry_run, &mut report).await?;
            }
        }
        BulkSelection::EmailFile(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
            let mut norms = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let email = EmailAddress::parse(line)
                    .map_err(|e| Error::Invalid(format!("{} line {}: {e}", path.display(), i + 1)))?;
                norms.push((email.normalized().to_owned(), i + 1));
            }
            refuse_unknown(app, path, &norms).await?;
            let mut norms: Vec<String> = norms.into_iter().map(|(norm, _)| norm).collect();
            norms.sort_unstable();
            norms.dedup();
            for chunk in norms.chunks(BATCH) {
                apply_batch(app, chunk, patch, authority, dry_run, &mut report).await?;
            }
        }
    }
    Ok(report)
}

/// `bulk-set` changes existing contacts only: a file naming an address that is not a
/// contact (a typo, most likely) is refused before anything is written, naming the first
/// few such addresses and their lines.
async fn refuse_unknown(app: &App, path: &std::path::Path, named: &[(String, usize)]) -> Result<()> {
    let mut unknown = Vec::new();
    for chunk in named.chunks(BATCH) {
        let norms: Vec<String> = chunk.iter().map(|(norm, _)| norm.clone()).collect();
        let (_, missing) = app
            .store
            .modify(&norms, &[], app.clock.now(), |loaded| {
                let missing: Vec<(String, usize)> =
                    chunk.iter().filter(|(norm, _)| !loaded.contacts.contains_key(norm)).cloned().collect();
                Ok((Vec::new(), missing))
            })
            .await?;
        unknown.extend(missing);
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> =
        unknown.iter().take(MAX_NOTES).map(|(norm, line)| format!("line {line}: {norm}")).collect();
    let more = unknown.len().saturating_sub(MAX_NOTES);
    Err(Error::NotFound(format!(
        "{} names {} address(es) that are not contacts ({}{}); bulk-set changes existing contacts only, so nothing was changed: fix the file or create them with `herald contacts add`",
        path.display(),
        unknown.len(),
        shown.join(", "),
        if more > 0 { format!(", and {more} more") } else { String::new() }
    )))
}

async fn apply_batch(
    app: &App,
    norms: &[String],
    patch: &ContactPatch,
    authority: &Authority,
    dry_run: bool,
    report: &mut BulkReport,
) -> Result<()> {
    let now = app.clock.now();
    let (_, counted) = app
        .store
        .modify(norms, &[], now, |loaded| {
            let mut r = BulkReport::default();
            let mut writes = Vec::new();
            for norm in norms {
                let Some(current) = loaded.contacts.get(norm) else {
                    r.not_found += 1;
                    continue;
                };
                r.matched += 1;
                let id = current.id.unwrap_or_default();
                match apply(Some(current), &current.email, false, patch, authority, now) {
                    Err(refusal) => {
                        let locked = matches!(refusal, Refusal::Locked(_));
                        if locked {
                            r.protected += 1
                        } else {
                            r.rejected += 1
                        }
                        r.notes.push(format!("contact {id}: {refusal}"));
                    }
                    Ok(outcome) => {
                        match (outcome.protected.is_empty(), outcome.kind) {
                            (false, _) => {
                                r.protected += 1;
                                r.notes.push(format!("contact {id}: {}", outcome.protected.join("; ")));
                            }
                            (true, OutcomeKind::Unchanged) => r.unchanged += 1,
                            (true, _) => r.updated += 1,
                        }
                        // A dry run decides and counts exactly as a real one, and writes nothing.
                        if outcome.kind != OutcomeKind::Unchanged && !dry_run {
                            writes.push(ContactWrite {
                                before: Some(current.clone()),
                                after: outcome.contact,
                                email_mac: app.mac(&current.email),
                                events: outcome.event.into_iter().collect(),
                            });
                        }
                    }
                }
            }
            Ok((writes, r))
        })
        .await?;
    report.matched += counted.matched;
    report.updated += counted.updated;
    report.unchanged += counted.unchanged;
    report.protected += counted.protected;
    report.rejected += counted.rejected;
    report.not_found += counted.not_found;
    for note in counted.notes {
        if report.notes.len() < MAX_NOTES {
            report.notes.push(note);
        }
    }
    Ok(())
}
