//! The compliance report's aggregates (DESIGN §12): `GROUP BY` and `SUM(CASE ...)`
//! queries only.

use super::support::Pool;
use crate::error::Result;
use crate::store::Count;
use crate::store::compliance::{CardCount, ConsentCounts, OpenRequests};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A ledger event that carries evidence: a non-empty inline evidence map in its canonical
/// body (`consent::ledger::EventBody`), or the digest of evidence kept apart
/// (`evidence_digest`, issue 14.1), whichever way the event was written.
const CARRIES_EVIDENCE: &str = "(l.body NOT LIKE '%\"evidence\":{}%' OR l.body LIKE '%\"evidence_digest\":\"%')";

pub(in crate::store) async fn by_card(pool: &Pool) -> Result<Vec<CardCount>> {
    let rows = sqlx::query(
        "SELECT legal_basis, opt_in_status, source_type, processing, COUNT(*) AS n FROM contacts \
         GROUP BY legal_basis, opt_in_status, source_type, processing",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CardCount {
                legal_basis: r.try_get("legal_basis")?,
                opt_in_status: r.try_get("opt_in_status")?,
                source_type: r.try_get("source_type")?,
                processing: r.try_get("processing")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn consents(pool: &Pool, older_than: DateTime<Utc>) -> Result<ConsentCounts> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS total, \
           COALESCE(SUM(CASE WHEN k.consent_date IS NULL THEN 1 ELSE 0 END), 0) AS without_date, \
           COALESCE(SUM(CASE WHEN k.consent_date < $1 THEN 1 ELSE 0 END), 0) AS old, \
           COALESCE(SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM ledger l WHERE l.contact_id = k.id AND {CARRIES_EVIDENCE}) \
                        THEN 1 ELSE 0 END), 0) AS without_evidence \
         FROM contacts k WHERE k.legal_basis = 'consent' AND k.processing <> 'erased'"
    )))
    .bind(older_than)
    .fetch_one(pool)
    .await?;
    Ok(ConsentCounts {
        total: row.try_get("total")?,
        without_date: row.try_get("without_date")?,
        without_evidence: row.try_get("without_evidence")?,
        older_than_max_age: row.try_get("old")?,
    })
}

pub(in crate::store) async fn open_requests(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<OpenRequests>> {
    let rows = sqlx::query(
        "SELECT kind, COUNT(*) AS open, COALESCE(SUM(CASE WHEN due_at < $1 THEN 1 ELSE 0 END), 0) AS overdue \
         FROM privacy_requests WHERE closed_at IS NULL GROUP BY kind ORDER BY kind",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OpenRequests { kind: r.try_get("kind")?, open: r.try_get("open")?, overdue: r.try_get("overdue")? })
        })
        .collect()
}

pub(in crate::store) async fn suppression_by_reason(pool: &Pool) -> Result<Vec<Count<String>>> {
    let rows = sqlx::query("SELECT reason, COUNT(*) AS n FROM suppression GROUP BY reason ORDER BY reason")
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| Ok(Count { key: r.try_get("reason")?, count: r.try_get("n")? })).collect()
}
