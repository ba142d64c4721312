//! The one contact-change service (DESIGN §6): every change to a contact — an import
//! row, `contacts add|set|bulk-set`, a bounce or complaint rule, an unsubscribe link or
//! mail — is a [`Selector`] (who), a [`ContactPatch`] (what) and an [`Authority`] (who
//! asks, with what backing). [`crate::consent::apply`] decides, the store writes the
//! records and their ledger events in ONE [`crate::store::Store::modify`] transaction per
//! batch, and the [`ChangeReport`] says per contact what changed and what was refused and
//! why. Nothing else reads-modifies-writes a contact. The suppression list changes
//! beside it ([`super::suppression`]): a rule puts an address on it after the contact's
//! change, and the person's own confirmed opt-in takes it off after theirs. Sensitive
//! attributes are sealed and masked here before the rules see them
//! ([`crate::privacy::sensitive`]).

use super::suppression;
use crate::app::App;
use crate::consent::ledger::EventDraft;
use crate::consent::{Actor, Authority, ContactPatch, OutcomeKind, Refusal, apply, may_lift_suppression};
use crate::domain::{Contact, EmailAddress, ListName, SourceType};
use crate::error::{Error, Result};
use crate::privacy::sensitive;
use crate::store::sensitive::SensitiveWrite;
use crate::store::{ContactWrite, Loaded, Selection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Which contacts a change is for.
#[derive(Debug, Clone)]
pub enum Selector {
    /// One contact by address (the only selector that can create one).
    Email(EmailAddress),
    /// One existing contact by id (links, bounces).
    Id(crate::domain::ContactId),
    /// Every contact subscribed to the list (in any status).
    List(ListName),
    /// Every contact of this source.
    Source(SourceType),
    /// The addresses of a file, one a line (blank lines and `#` comments skipped). A file
    /// naming an address that is not a contact is refused before anything is written.
    EmailFile(PathBuf),
}

/// How refusals affect the rest of the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anything refused or protected writes nothing (`contacts set`/`add`). Holds within
    /// one transaction: a selection larger than one batch is refused as invalid.
    AllOrNothing,
    /// Each contact decided on its own; what is allowed is written (`bulk-set`, import).
    EachOnItsOwn,
    /// Decided and reported as [`Mode::EachOnItsOwn`] would, nothing written.
    DryRun,
}

/// One contact's part of a batch: the address, the change, and who asks.
#[derive(Debug, Clone)]
pub struct Request {
    pub email: EmailAddress,
    pub patch: ContactPatch,
    pub authority: Authority,
}

/// What a request did to its contact.
#[derive(Debug, Clone)]
pub struct Decided {
    pub kind: OutcomeKind,
    /// Parts of the request not carried out because they would have lifted a person's
    /// choice (the rest was, unless the mode is all-or-nothing).
    pub protected: Vec<String>,
    /// The record after the request (with its id once written); `None` in the report of
    /// a many-contact selector, which does not keep every record it changed.
    pub contact: Option<Contact>,
}

/// Per contact: its id (when it has one) and what was decided.
#[derive(Debug, Clone)]
pub struct ContactChange {
    pub id: Option<crate::domain::ContactId>,
    pub result: std::result::Result<Decided, Refusal>,
}

/// What [`change`] did.
#[derive(Debug, Clone, Default)]
pub struct ChangeReport {
    /// One entry per selected contact (per request for [`change_batch`]), in order.
    pub changes: Vec<ContactChange>,
    /// False when nothing was written (a dry run, or an all-or-nothing change refused).
    pub written: bool,
}

impl ChangeReport {
    /// The refusals (but for contacts not found) and protections, as text naming the
    /// contact id.
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        self.changes.iter().filter_map(|c| {
            let id = c.id.unwrap_or_default();
            match &c.result {
                Err(Refusal::NotFound) => None,
                Err(refusal) => Some(format!("contact {id}: {refusal}")),
                Ok(d) if !d.protected.is_empty() => Some(format!("contact {id}: {}", d.protected.join("; "))),
                Ok(_) => None,
            }
        })
    }
}

const BATCH: usize = 500;

/// Applies `patch` to the contacts `selector` names, as `authority` may, in `mode`.
pub async fn change(
    app: &App,
    selector: &Selector,
    patch: &ContactPatch,
    authority: &Authority,
    mode: Mode,
) -> Result<ChangeReport> {
    let request = |email: EmailAddress| Request { email, patch: patch.clone(), authority: authority.clone() };
    match selector {
        Selector::Email(email) => change_batch(app, &[request(email.clone())], mode).await,
        Selector::Id(id) => {
            let Some(contact) = app.store.contacts_by_id(&[*id]).await?.into_iter().next() else {
                return Ok(ChangeReport {
                    changes: vec![ContactChange { id: Some(*id), result: Err(Refusal::NotFound) }],
                    written: false,
                });
            };
            change_batch(app, &[request(contact.email)], mode).await
        }
        Selector::List(list) => by_selection(app, &Selection::List(list.to_string()), mode, &request).await,
        Selector::Source(source) => by_selection(app, &Selection::Source(*source), mode, &request).await,
        Selector::EmailFile(path) => by_file(app, path, mode, &request).await,
    }
}

/// A stored selection, a batch (one transaction) at a time in id order.
async fn by_selection(
    app: &App,
    selection: &Selection,
    mode: Mode,
    request: &(dyn Fn(EmailAddress) -> Request + Sync),
) -> Result<ChangeReport> {
    let mut report = ChangeReport { changes: Vec::new(), written: mode != Mode::DryRun };
    let mut after = crate::domain::ContactId::default();
    // All-or-nothing looks one past a batch: a larger set is refused unwritten.
    let limit = BATCH as i64 + i64::from(mode == Mode::AllOrNothing);
    loop {
        let page = app.store.select(selection, after, limit).await?;
        if page.len() > BATCH {
            return Err(all_or_nothing_too_large());
        }
        let Some(last) = page.last() else { break };
        after = last.id;
        let requests = page.iter().map(|c| parse_norm(&c.email_norm).map(request)).collect::<Result<Vec<_>>>()?;
        absorb(&mut report, change_batch(app, &requests, mode).await?);
    }
    Ok(report)
}

/// The contacts a file of addresses names, every one of which must exist.
async fn by_file(
    app: &App,
    path: &Path,
    mode: Mode,
    request: &(dyn Fn(EmailAddress) -> Request + Sync),
) -> Result<ChangeReport> {
    let named = read_email_file(path)?;
    refuse_unknown(app, path, &named).await?;
    let mut norms: Vec<String> = named.into_iter().map(|(norm, _)| norm).collect();
    norms.sort_unstable();
    norms.dedup();
    if norms.len() > BATCH && mode == Mode::AllOrNothing {
        return Err(all_or_nothing_too_large());
    }
    let mut report = ChangeReport { changes: Vec::new(), written: mode != Mode::DryRun };
    for chunk in norms.chunks(BATCH) {
        let requests = chunk.iter().map(|norm| parse_norm(norm).map(request)).collect::<Result<Vec<_>>>()?;
        absorb(&mut report, change_batch(app, &requests, mode).await?);
    }
    Ok(report)
}

/// [`change`] of one contact for an automatic path (a rule, a link, a mail): true when
/// the record changed. A contact that is gone or locked (restricted, erased) is left as
/// it is; any other refusal is an error.
pub async fn change_contact(
    app: &App,
    selector: &Selector,
    patch: &ContactPatch,
    authority: &Authority,
) -> Result<bool> {
    let report = change(app, selector, patch, authority, Mode::EachOnItsOwn).await?;
    let mut changed = false;
    for c in report.changes {
        match c.result {
            Ok(d) => changed |= d.kind != OutcomeKind::Unchanged,
            Err(Refusal::Locked(_) | Refusal::NotFound) => {}
            Err(e) => return Err(Error::Refused(e.to_string())),
        }
    }
    Ok(changed)
}

fn all_or_nothing_too_large() -> Error {
    Error::Invalid(format!("an all-or-nothing change is limited to {BATCH} contacts (one transaction)"))
}

fn parse_norm(norm: &str) -> Result<EmailAddress> {
    EmailAddress::parse(norm).map_err(|e| Error::Internal(anyhow::anyhow!("a stored address does not parse: {e}")))
}

/// Adds a batch's results to a many-contact report, dropping the records.
fn absorb(report: &mut ChangeReport, batch: ChangeReport) {
    report.written &= batch.written;
    report.changes.extend(batch.changes.into_iter().map(|mut c| {
        if let Ok(d) = &mut c.result {
            d.contact = None;
        }
        c
    }));
}

/// Decides every request of the batch, in order, against the records loaded inside one
/// transaction, and writes what `mode` allows in that same transaction. An address named
/// more than once is decided against the result of the earlier requests (an import file
/// may repeat a row); its ledger events are appended in order.
pub async fn change_batch(app: &App, requests: &[Request], mode: Mode) -> Result<ChangeReport> {
    let now = app.clock.now();
    // Sensitive attributes are sealed, and masked in the patch, before anything is decided.
    let (requests, sealing) = sensitive::seal_requests(&app.config.privacy, &app.secrets.field_keys, requests);
    let requests = &*requests;
    let macs: HashMap<&str, String> = requests.iter().map(|r| (r.email.normalized(), app.mac(&r.email))).collect();
    let mut norms: Vec<String> = macs.keys().map(|n| (*n).to_owned()).collect();
    norms.sort_unstable();
    let mac_list: Vec<String> = norms.iter().map(|n| macs[n.as_str()].clone()).collect();
    let (ids, (mut report, written_norms, lifts)) = app
        .store
        .modify(&norms, &mac_list, now, |loaded| {
            let (writes, changes) = decide(loaded, requests, &sealing, &app.config.privacy, &macs, now);
            // The person's own confirmed opt-in is the one thing that brings a suppressed
            // address back (DESIGN §2): the record changed, so must the list.
            let lifts: Vec<usize> = requests
                .iter()
                .zip(&changes)
                .enumerate()
                .filter(|(_, (r, c))| {
                    c.result.is_ok()
                        && may_lift_suppression(&r.authority).is_ok()
                        && r.authority.actor == Actor::Contact
                        && loaded.suppressed.contains(&macs[r.email.normalized()])
                })
                .map(|(i, _)| i)
                .collect();
            let refused = changes.iter().any(|c| c.result.as_ref().map_or(true, |d| !d.protected.is_empty()));
            let write = match mode {
                Mode::DryRun => false,
                Mode::AllOrNothing => !refused,
                Mode::EachOnItsOwn => true,
            };
            let writes = if write { writes } else { Vec::new() };
            let written_norms: Vec<String> = writes.iter().map(|w| w.after.email.normalized().to_owned()).collect();
            let lifts = if write { lifts } else { Vec::new() };
            Ok((writes, (ChangeReport { changes, written: write }, written_norms, lifts)))
        })
        .await?;
    // A separate transaction after the record's: a crash in between leaves the address
    // suppressed, the safe side, and the person's next confirmation lifts it.
    for i in lifts {
        let request = &requests[i];
        let authority = request.authority.clone().with_evidence("why", "the person's own confirmed double opt-in");
        suppression::lift(app, &request.email, &authority).await?;
    }
    // New contacts get their ids from the write; name them in the report.
    let assigned: HashMap<String, crate::domain::ContactId> = written_norms.into_iter().zip(ids).collect();
    for (change, request) in report.changes.iter_mut().zip(requests) {
        if change.id.is_none() {
            change.id = assigned.get(request.email.normalized()).copied();
        }
        if let Ok(Decided { contact: Some(contact), .. }) = &mut change.result
            && contact.id.is_none()
        {
            contact.id = change.id;
        }
    }
    Ok(report)
}

/// One contact's state while a batch is decided.
struct Slot {
    before: Option<Contact>,
    current: Option<Contact>,
    mac: String,
    events: Vec<EventDraft>,
    sensitive: SensitiveWrite,
}

fn decide(
    loaded: &Loaded,
    requests: &[Request],
    sealing: &sensitive::Sealing,
    privacy: &crate::config::PrivacyConfig,
    macs: &HashMap<&str, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<ContactWrite>, Vec<ContactChange>) {
    let mut order: Vec<&str> = Vec::new();
    let mut slots: HashMap<&str, Slot> = HashMap::new();
    let mut changes = Vec::with_capacity(requests.len());
    for (request, sealed) in requests.iter().zip(sealing) {
        let norm = request.email.normalized();
        let slot = slots.entry(norm).or_insert_with(|| {
            order.push(norm);
            let existing = loaded.contacts.get(norm).cloned();
            Slot {
                before: existing.clone(),
                current: existing,
                mac: macs[norm].clone(),
                events: Vec::new(),
                sensitive: SensitiveWrite::default(),
            }
        });
        let suppressed = loaded.suppressed.contains(&slot.mac);
        let id = slot.current.as_ref().and_then(|c| c.id);
        let result = sealed
            .clone()
            .and_then(|sealed| {
                let mut outcome =
                    apply(slot.current.as_ref(), &request.email, suppressed, &request.patch, &request.authority, now)?;
                let w = sensitive::settle(privacy, slot.current.as_ref(), &mut outcome.contact, sealed)?;
                Ok((outcome, w))
            })
            .map(|(outcome, w)| {
                if w.erase_all {
                    slot.sensitive = w;
                } else {
                    slot.sensitive.put.extend(w.put);
                }
                slot.events.extend(outcome.event);
                slot.current = Some(outcome.contact.clone());
                Decided { kind: outcome.kind, protected: outcome.protected, contact: Some(outcome.contact) }
            });
        changes.push(ContactChange { id, result });
    }
    let writes = order
        .into_iter()
        .filter_map(|norm| slots.remove(norm))
        .filter_map(|s| {
            let after = s.current?;
            (s.before.as_ref() != Some(&after) || !s.events.is_empty() || !s.sensitive.is_empty()).then_some(
                ContactWrite { before: s.before, after, email_mac: s.mac, events: s.events, sensitive: s.sensitive },
            )
        })
        .collect();
    (writes, changes)
}

/// The addresses of an email file with their line numbers.
fn read_email_file(path: &Path) -> Result<Vec<(String, usize)>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut norms = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let email =
            EmailAddress::parse(line).map_err(|e| Error::Invalid(format!("{} line {}: {e}", path.display(), i + 1)))?;
        norms.push((email.normalized().to_owned(), i + 1));
    }
    Ok(norms)
}

const MAX_SHOWN: usize = 10;

/// A file of addresses changes existing contacts only: one naming an address that is not
/// a contact (a typo, most likely) is refused before anything is written, naming the
/// first few such addresses and their lines.
async fn refuse_unknown(app: &App, path: &Path, named: &[(String, usize)]) -> Result<()> {
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
        unknown.iter().take(MAX_SHOWN).map(|(norm, line)| format!("line {line}: {norm}")).collect();
    let more = unknown.len().saturating_sub(MAX_SHOWN);
    Err(Error::NotFound(format!(
        "{} names {} address(es) that are not contacts ({}{}); bulk-set changes existing contacts only, so nothing was changed: fix the file or create them with `herald contacts add`",
        path.display(),
        unknown.len(),
        shown.join(", "),
        if more > 0 { format!(", and {more} more") } else { String::new() }
    )))
}
