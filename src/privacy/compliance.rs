//! The compliance report (GDPR Art. 5(2), accountability; DESIGN §12, issue 14.8): what
//! an auditor asks first, from aggregate queries only (`store::compliance`), and the last
//! `audit verify` result, which [`remember_verify`] keeps in the `meta` table.
//!
//! The JSON shape (`herald report compliance --json`) is stable; every key below is
//! always present, every count an integer:
//!
//! ```json
//! {
//!   "generated_at": "2027-01-10T09:00:00Z",
//!   "contacts": {"total": 0, "active": 0, "restricted": 0, "erasure_requested": 0, "erased": 0},
//!   "by_legal_basis": {"consent": 0, "legitimate_interest": 0, "contract": 0, "legal_obligation": 0,
//!                      "vital_interests": 0, "public_interest": 0, "other": 0, "none": 0},
//!   "by_opt_in_status": {"none": 0, "single_opt_in_user": 0, ...every status},
//!   "by_source_type": {"crm_sync": 0, "import": 0, ...every source type},
//!   "consents": {"total": 0, "without_date": 0, "without_evidence": 0,
//!                "older_than_max_age": 0, "max_age": "730d"},
//!   "requests": {"open": 0, "overdue": 0,
//!                "by_kind": {"access": {"open": 0, "overdue": 0}, "erasure": {...},
//!                            "restriction": {...}, "objection": {...}}},
//!   "suppression": {"total": 0, "by_reason": {"REASON": 0}},
//!   "last_audit_verify": null
//!     | {"at": "...", "ok": true, "contacts": 0, "events": 0, "broken": 0, "diverged": 0}
//! }
//! ```
//!
//! The breakdowns by legal basis, opt-in status and source type count the contacts that
//! are not erased (an erased record holds no personal data); `contacts` counts them all.
//! `consents`: contacts (not erased) whose legal basis is consent; `max_age` is
//! `[retention] consent_max_age`.

use crate::app::App;
use crate::config::show_duration;
use crate::contacts::audit::VerifyReport;
use crate::domain::{LegalBasis, OptInStatus, Processing, RequestKind, SourceType};
use crate::error::{Error, Result};
use crate::store::compliance::ConsentCounts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `meta` key holding the last `audit verify` result (JSON of [`LastVerify`]).
pub const LAST_VERIFY_KEY: &str = "audit_verify_last";

/// The outcome of the last `audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerify {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub contacts: u64,
    pub events: u64,
    /// Contacts whose chain is broken.
    pub broken: u64,
    /// Contacts whose record does not follow from their chain.
    pub diverged: u64,
}

/// Records the outcome of an `audit verify` that just ran.
pub async fn remember_verify(app: &App, report: &VerifyReport) -> Result<()> {
    let last = LastVerify {
        at: app.clock.now(),
        ok: report.intact(),
        contacts: report.contacts,
        events: report.events,
        broken: report.broken.len() as u64,
        diverged: report.diverged.len() as u64,
    };
    let text = serde_json::to_string(&last).map_err(|e| Error::Internal(e.into()))?;
    app.store.meta_set(LAST_VERIFY_KEY, &text).await
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContactTotals {
    pub total: i64,
    pub active: i64,
    pub restricted: i64,
    pub erasure_requested: i64,
    pub erased: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consents {
    #[serde(flatten)]
    pub counts: ConsentCounts,
    pub max_age: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub open: i64,
    pub overdue: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub open: i64,
    pub overdue: i64,
    pub by_kind: BTreeMap<String, RequestCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionCounts {
    pub total: i64,
    pub by_reason: BTreeMap<String, i64>,
}

/// The report; see the module's docs for its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceReport {
    pub generated_at: DateTime<Utc>,
    pub contacts: ContactTotals,
    pub by_legal_basis: BTreeMap<String, i64>,
    pub by_opt_in_status: BTreeMap<String, i64>,
    pub by_source_type: BTreeMap<String, i64>,
    pub consents: Consents,
    pub requests: Requests,
    pub suppression: SuppressionCounts,
    pub last_audit_verify: Option<LastVerify>,
}

/// Every key of a vocabulary at zero, so the JSON always has them all.
fn zeros<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    names.into_iter().map(|n| (n.to_owned(), 0)).collect()
}

/// The report now.
pub async fn report(app: &App) -> Result<ComplianceReport> {
    let now = app.clock.now();
    let max_age = app.config.retention.consent_max_age;
    let older_than = chrono::Duration::from_std(max_age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| Error::Invalid(format!("[retention] consent_max_age {} is too long", show_duration(max_age))))?;

    let mut contacts = ContactTotals::default();
    let mut by_legal_basis = zeros(LegalBasis::ALL.iter().map(|b| b.as_str()).chain(["none"]));
    let mut by_opt_in_status = zeros(OptInStatus::ALL.iter().map(|s| s.as_str()));
    let mut by_source_type = zeros(SourceType::ALL.iter().map(|s| s.as_str()));
    for row in app.store.count_by_card().await? {
        contacts.total += row.count;
        let processing: Processing = row.processing.parse().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let slot = match processing {
            Processing::Active => &mut contacts.active,
            Processing::Restricted => &mut contacts.restricted,
            Processing::ErasureRequested => &mut contacts.erasure_requested,
            Processing::Erased => &mut contacts.erased,
        };
        *slot += row.count;
        if processing == Processing::Erased {
            continue;
        }
        *by_legal_basis.entry(row.legal_basis.unwrap_or_else(|| "none".into())).or_default() += row.count;
        *by_opt_in_status.entry(row.opt_in_status).or_default() += row.count;
        *by_source_type.entry(row.source_type).or_default() += row.count;
    }

    let mut requests = Requests {
        open: 0,
        overdue: 0,
        by_kind: RequestKind::ALL.iter().map(|k| (k.as_str().to_owned(), RequestCounts::default())).collect(),
    };
    for r in app.store.count_open_requests(now).await? {
        requests.open += r.open;
        requests.overdue += r.overdue;
        requests.by_kind.insert(r.kind, RequestCounts { open: r.open, overdue: r.overdue });
    }

    let by_reason: BTreeMap<String, i64> =
        app.store.count_suppression_by_reason().await?.into_iter().map(|c| (c.key, c.count)).collect();
    let suppression = SuppressionCounts { total: by_reason.values().sum(), by_reason };

    let last_audit_verify = match app.store.meta_get(LAST_VERIFY_KEY).await? {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| Error::Internal(anyhow::anyhow!("unreadable {LAST_VERIFY_KEY} in the meta table: {e}")))?,
        ),
        None => None,
    };

    Ok(ComplianceReport {
        generated_at: now,
        contacts,
        by_legal_basis,
        by_opt_in_status,
        by_source_type,
        consents: Consents { counts: app.store.count_consents(older_than).await?, max_age: show_duration(max_age) },
        requests,
        suppression,
        last_audit_verify,
    })
}
