//! Retention's reads (DESIGN §12): whole-table selections with `NOT EXISTS` probes on the
//! per-contact indexes (`sends_contact`, the primary keys of `consents`,
//! `confirmations_contact`), one range of contact ids at a time (each probe bounded by the same range);
//! nothing is loaded per contact.

use super::Db;
use super::support::{DbRow, Pool, push_in};
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::corrupt;
use crate::store::retention::{Bases, InactiveQuery, RetentionRow};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{QueryBuilder, Row};

const COLUMNS: &str = "k.id, k.email, k.legal_basis, k.created_at";

fn from_row(r: &DbRow) -> Result<RetentionRow> {
    let basis: Option<String> = r.try_get("legal_basis")?;
    Ok(RetentionRow {
        contact_id: r.try_get("id")?,
        email: r.try_get("email")?,
        legal_basis: basis.map(|b| b.parse()).transpose().map_err(|e| corrupt("legal basis", e))?,
        created_at: r.try_get("created_at")?,
    })
}

pub(in crate::store) async fn inactive(
    pool: &Pool,
    q: &InactiveQuery,
    after: ContactId,
    upto: ContactId,
) -> Result<Vec<RetentionRow>> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {COLUMNS} FROM contacts k WHERE k.id > "));
    qb.push_bind(after).push(" AND k.id <= ").push_bind(upto);
    qb.push(" AND k.processing <> 'erased' AND k.processing <> 'restricted' AND ");
    match &q.bases {
        Bases::Only(basis) => {
            qb.push("k.legal_basis = ").push_bind(basis.as_str());
        }
        Bases::Except(bases) if bases.is_empty() => {
            qb.push("TRUE");
        }
        Bases::Except(bases) => {
            qb.push("(k.legal_basis IS NULL OR k.legal_basis NOT");
            push_in(&mut qb, bases.iter().map(|b| b.as_str()));
            qb.push(")");
        }
    }
    qb.push(" AND k.created_at <= ").push_bind(q.cutoff);
    qb.push(" AND (k.consent_date IS NULL OR k.consent_date <= ").push_bind(q.cutoff).push(")");
    // Sends of every source but `test` (rendered as the contact, mailed to someone else).
    // Each probe repeats the id range: PostgreSQL plans these as anti-joins, whose scans
    // of the probed table would otherwise cover every contact on every page.
    qb.push(" AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.contact_id = k.id AND s.contact_id > ")
        .push_bind(after)
        .push(" AND s.contact_id <= ")
        .push_bind(upto)
        .push(" AND s.source <> 'test' AND (s.sent_at > ")
        .push_bind(q.cutoff)
        .push(" OR s.opened_at > ")
        .push_bind(q.cutoff)
        .push(" OR s.clicked_at > ")
        .push_bind(q.cutoff)
        .push("))");
    qb.push(" AND NOT EXISTS (SELECT 1 FROM consents g WHERE g.contact_id = k.id AND g.contact_id > ")
        .push_bind(after)
        .push(" AND g.contact_id <= ")
        .push_bind(upto)
        .push(" AND g.state = 'granted' AND g.at > ")
        .push_bind(q.cutoff)
        .push(")");
    qb.push(" AND NOT EXISTS (SELECT 1 FROM confirmations f WHERE f.contact_id = k.id AND f.contact_id > ")
        .push_bind(after)
        .push(" AND f.contact_id <= ")
        .push_bind(upto)
        .push(" AND f.confirmed_at > ")
        .push_bind(q.cutoff)
        .push(")");
    qb.push(" ORDER BY k.id");
    qb.build().fetch_all(pool).await?.iter().map(from_row).collect()
}

pub(in crate::store) async fn expired_signups(
    pool: &Pool,
    now: DateTime<Utc>,
    after: ContactId,
    upto: ContactId,
) -> Result<Vec<RetentionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contacts k \
         WHERE k.id > $1 AND k.id <= $3 AND k.processing <> 'erased' AND k.processing <> 'restricted' \
           AND k.source_type = 'webform' AND k.opt_in_status = 'single_opt_in_webform' \
           AND EXISTS (SELECT 1 FROM confirmations f WHERE f.contact_id = k.id AND f.kind = 'subscribe' \
                 AND f.confirmed_at IS NULL AND f.expires_at <= $2) \
           AND NOT EXISTS (SELECT 1 FROM confirmations f WHERE f.contact_id = k.id \
                 AND (f.confirmed_at IS NOT NULL OR f.expires_at > $2)) \
           AND NOT EXISTS (SELECT 1 FROM subscriptions b WHERE b.contact_id = k.id AND b.status = 'confirmed') \
         ORDER BY k.id"
    )))
    .bind(after)
    .bind(now)
    .bind(upto)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The fixed-width text the meta table keeps times in, so that comparing the text
/// compares the times.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(in crate::store) async fn claim_run(
    pool: &Pool,
    key: &str,
    now: DateTime<Utc>,
    last_before: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value <= $3",
    )
    .bind(key)
    .bind(stamp(now))
    .bind(stamp(last_before))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
