//! Retention (GDPR Art. 5(1)(e), storage limitation; DESIGN §12, issue 14.5): which
//! contacts Herald should no longer keep, and their erasure.
//!
//! Two kinds of candidate:
//! - **inactive**: no sign of life within the retention period of the contact's legal
//!   basis (`[retention] inactive_after`, or `[retention.by_legal_basis]`), measured on
//!   the app clock. A sign of life is a send (any source but `test`), an open or a click,
//!   a consent renewal (a `consent_date`, a purpose granted, a confirmation confirmed)
//!   or the record's creation: a contact imported last week is not inactive, whatever
//!   its consent date says.
//! - **expired sign-up**: a contact created by the web sign-up form whose double opt-in
//!   confirmation expired unconfirmed (DESIGN §10). The daemon already deletes the bare
//!   ones a minute after expiry (`contacts::confirm::expire`); retention catches the rest
//!   (no daemon running, `herald serve` alone).
//!
//! Erased contacts are never candidates, nor restricted ones: a restriction (Art. 18)
//! is often asked precisely so that the data is kept, not erased.
//!
//! [`apply`] erases each candidate through [`erase::erase_contact`], the one erasure
//! path, with the actor `system:retention`. [`run_if_due`] is the daemon's daily run; the
//! time of the last run is kept in the `meta` table, so a restart does not run it twice.

use super::erase;
use crate::app::App;
use crate::config::show_duration;
use crate::consent::Actor;
use crate::domain::{ContactId, LegalBasis};
use crate::error::{Error, Result};
use crate::store::retention::{Bases, InactiveQuery, RetentionRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The `meta` key holding the time of the daemon's last retention run.
pub const LAST_RUN_KEY: &str = "retention_last_run";
/// How often the daemon runs retention.
pub const RUN_EVERY: chrono::Duration = chrono::Duration::hours(24);
/// Contact ids per query: each page reads one range of ids.
const WINDOW: i64 = 10_000;

/// Why a contact is a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    Inactive,
    ExpiredSignup,
}

/// A contact retention would erase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub contact_id: ContactId,
    /// Shown to the operator; never logged.
    pub email: String,
    pub legal_basis: Option<LegalBasis>,
    pub reason: Why,
    /// The retention period that applied (`inactive` only), as the config writes it.
    pub period: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Candidate {
    /// The reason recorded with the erasure: no personal data.
    pub fn erasure_reason(&self) -> String {
        match (self.reason, &self.period) {
            (Why::Inactive, Some(period)) => format!("retention: inactive for {period}"),
            (Why::Inactive, None) => "retention: inactive".to_owned(),
            (Why::ExpiredSignup, _) => "retention: sign-up never confirmed".to_owned(),
        }
    }
}

/// The candidates at one time.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub now: DateTime<Utc>,
    /// The retention period by legal basis (`default`: every other basis, and none).
    pub periods: BTreeMap<String, String>,
    pub inactive: u64,
    pub expired_signups: u64,
    /// In contact id order.
    pub contacts: Vec<Candidate>,
}

/// One erasure that did not happen.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub contact_id: ContactId,
    pub error: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub now: DateTime<Utc>,
    pub inactive: u64,
    pub expired_signups: u64,
    pub erased: u64,
    pub failed: Vec<Failure>,
}

/// One selection of candidates: the expired sign-ups, or the contacts of some legal
/// bases past their period.
enum Group {
    Signups,
    Inactive { query: InactiveQuery, period: String },
}

fn groups(app: &App, now: DateTime<Utc>) -> Result<Vec<Group>> {
    let config = &app.config.retention;
    let cutoff = |d: std::time::Duration| -> Result<DateTime<Utc>> {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| Error::Invalid(format!("[retention]: the period {} is too long", show_duration(d))))
    };
    let mut out = vec![Group::Signups];
    for (basis, period) in &config.by_legal_basis {
        let query = InactiveQuery { bases: Bases::Only(*basis), cutoff: cutoff(*period)? };
        out.push(Group::Inactive { query, period: show_duration(*period) });
    }
    let others = Bases::Except(config.by_legal_basis.keys().copied().collect());
    let query = InactiveQuery { bases: others, cutoff: cutoff(config.inactive_after)? };
    out.push(Group::Inactive { query, period: show_duration(config.inactive_after) });
    Ok(out)
}

impl Group {
    /// The candidates with ids in (`after`, `upto`].
    async fn page(&self, app: &App, now: DateTime<Utc>, after: ContactId, upto: ContactId) -> Result<Vec<Candidate>> {
        let (rows, reason, period) = match self {
            Group::Signups => (app.store.retention_expired_signups(now, after, upto).await?, Why::ExpiredSignup, None),
            Group::Inactive { query, period } => {
                (app.store.retention_inactive(query, after, upto).await?, Why::Inactive, Some(period.clone()))
            }
        };
        Ok(rows
            .into_iter()
            .map(|r: RetentionRow| Candidate {
                contact_id: r.contact_id,
                email: r.email,
                legal_basis: r.legal_basis,
                reason,
                period: period.clone(),
                created_at: r.created_at,
            })
            .collect())
    }
}

fn periods(app: &App) -> BTreeMap<String, String> {
    let config = &app.config.retention;
    let mut out: BTreeMap<String, String> =
        config.by_legal_basis.iter().map(|(b, d)| (b.to_string(), show_duration(*d))).collect();
    out.insert("default".into(), show_duration(config.inactive_after));
    out
}

/// The walk over every candidate: each group (the expired sign-ups first, then one
/// inactive group per legal basis), one range of [`WINDOW`] ids at a time, each contact
/// once (an old sign-up may be inactive too).
struct Walk {
    groups: std::vec::IntoIter<Group>,
    group: Option<Group>,
    after: ContactId,
    last: ContactId,
    signups: HashSet<ContactId>,
}

impl Walk {
    async fn new(app: &App, now: DateTime<Utc>) -> Result<Self> {
        let mut groups = groups(app, now)?.into_iter();
        let group = groups.next();
        let last = app.store.max_contact_id().await?;
        Ok(Walk { groups, group, after: ContactId::default(), last, signups: HashSet::new() })
    }

    /// The next range's candidates (possibly none), or `None` at the end.
    async fn next(&mut self, app: &App, now: DateTime<Utc>) -> Result<Option<Vec<Candidate>>> {
        while self.after >= self.last {
            self.group = self.groups.next();
            self.after = ContactId::default();
            if self.group.is_none() {
                return Ok(None);
            }
        }
        let Some(group) = &self.group else { return Ok(None) };
        let upto = ContactId::new(self.after.get().saturating_add(WINDOW));
        let page = group.page(app, now, self.after, upto).await?;
        self.after = upto;
        Ok(Some(page.into_iter().filter(|c| is_new(&mut self.signups, c)).collect()))
    }
}

/// Every candidate now, nothing changed.
pub async fn candidates(app: &App) -> Result<Report> {
    let now = app.clock.now();
    let mut report = Report { now, periods: periods(app), inactive: 0, expired_signups: 0, contacts: Vec::new() };
    let mut walk = Walk::new(app, now).await?;
    while let Some(page) = walk.next(app, now).await? {
        for c in page {
            match c.reason {
                Why::Inactive => report.inactive += 1,
                Why::ExpiredSignup => report.expired_signups += 1,
            }
            report.contacts.push(c);
        }
    }
    report.contacts.sort_by_key(|c| c.contact_id);
    Ok(report)
}

/// The expired sign-ups come first; an old one may be inactive too, and is counted once.
/// (The inactive groups are disjoint: one legal basis each.)
fn is_new(signups: &mut HashSet<ContactId>, c: &Candidate) -> bool {
    match c.reason {
        Why::ExpiredSignup => signups.insert(c.contact_id),
        Why::Inactive => !signups.contains(&c.contact_id),
    }
}

/// Erases every candidate, one range of ids at a time (so a contact that showed a sign
/// of life while the run went on is not erased), each through the one erasure path. An
/// erasure that fails is reported and the rest go on.
pub async fn apply(app: &App) -> Result<Applied> {
    let now = app.clock.now();
    let mut done = Applied { now, inactive: 0, expired_signups: 0, erased: 0, failed: Vec::new() };
    let mut walk = Walk::new(app, now).await?;
    while let Some(page) = walk.next(app, now).await? {
        for c in page {
            match c.reason {
                Why::Inactive => done.inactive += 1,
                Why::ExpiredSignup => done.expired_signups += 1,
            }
            let reason = c.erasure_reason();
            match erase::erase_contact(app, c.contact_id, Some(&reason), Actor::System("retention".into())).await {
                Ok(_) => {
                    done.erased += 1;
                    tracing::info!(contact_id = c.contact_id.get(), reason = %reason, "retention: contact erased");
                }
                Err(e) => {
                    tracing::warn!(contact_id = c.contact_id.get(), "retention: the erasure failed");
                    done.failed.push(Failure { contact_id: c.contact_id, error: e.to_string() });
                }
            }
        }
    }
    Ok(done)
}

/// The daemon's daily run: [`apply`] when the last run is [`RUN_EVERY`] old or more (or
/// there was none), `None` otherwise. The run is claimed in the database before it
/// starts, so a restart, or another daemon on the same database, does not run it again
/// the same day, even if this run fails.
pub async fn run_if_due(app: &App) -> Result<Option<Applied>> {
    let now = app.clock.now();
    if !app.store.claim_periodic_run(LAST_RUN_KEY, now, now - RUN_EVERY).await? {
        return Ok(None);
    }
    apply(app).await.map(Some)
}
