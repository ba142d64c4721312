//! The queue's reports (campaign counts, totals for /metrics, retries, failures) and what
//! an attempt is decided on (the contacts of a claimed batch, delivery history).

use super::contacts::{CONTACT_COLUMNS, contact_from_row};
use super::support::{CHUNK, Pool, push_in};
use super::{DIALECT, Db};
use crate::domain::{BounceKind, CampaignState, ListName, Purpose, PurposeConsent, SendState};
use crate::domain::{CampaignId, ContactId};
use crate::error::Result;
use crate::store::queue::{CampaignCounts, FailedSend, FailureReason, History};
use crate::store::{Count, Dialect, SendContact, corrupt};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

pub(in crate::store) async fn counts(pool: &Pool, campaign_id: CampaignId) -> Result<CampaignCounts> {
    let mut counts = CampaignCounts::default();
    // Every query here walks `sends_states` (campaign, state, reason) in its own order, so
    // none needs a temporary B-tree: a GROUP BY over an expression of the reason made
    // SQLite sort every send of the campaign in memory each time the guard counted (every
    // few seconds), and a million-send campaign's memory grew with it.
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM sends WHERE campaign_id = $1 GROUP BY state")
        .bind(campaign_id)
        .fetch_all(pool)
        .await?;
    for r in &rows {
        let state: String = r.try_get("state")?;
        let state: SendState = state.parse().map_err(|e| corrupt("send state", e))?;
        *counts.by_state.entry(state).or_default() += r.try_get::<i64, _>("n")?;
    }
    // Skip reasons by name.
    let rows = sqlx::query(
        "SELECT reason, COUNT(*) AS n FROM sends WHERE campaign_id = $1 AND state = 'skipped' GROUP BY reason",
    )
    .bind(campaign_id)
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let reason: Option<String> = r.try_get("reason")?;
        *counts.skipped.entry(reason.unwrap_or_else(|| "unknown".into())).or_default() += r.try_get::<i64, _>("n")?;
    }
    // The other reasons only as "a fault" or not (a failure's reason names the contact, and
    // grouping by it would make a group per send).
    let faulty = crate::domain::Fault::ALL
        .iter()
        .map(|f| format!("reason LIKE '{}%'", f.prefix()))
        .collect::<Vec<_>>()
        .join(" OR ");
    for state in [SendState::Failed, SendState::Deferred] {
        let sql = format!("SELECT COUNT(*) AS n FROM sends WHERE campaign_id = $1 AND state = $2 AND ({faulty})");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign_id).bind(state.as_str()).fetch_one(pool).await?;
        counts.faults += row.try_get::<i64, _>("n")?;
    }
    // One per send: the same bounce reported through two channels (a DSN and a webhook)
    // is one bounced message.
    let rows = sqlx::query(
        "SELECT kind, COUNT(DISTINCT COALESCE(send_id, -id)) AS n FROM bounces WHERE campaign_id = $1 GROUP BY kind",
    )
    .bind(campaign_id)
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let kind: BounceKind = kind.parse().map_err(|e| corrupt("bounce kind", e))?;
        counts.bounces.insert(kind, r.try_get("n")?);
    }
    let row = sqlx::query(
        "SELECT COUNT(opened_at) AS opened, COUNT(clicked_at) AS clicked FROM sends \
         WHERE campaign_id = $1 AND (opened_at IS NOT NULL OR clicked_at IS NOT NULL)",
    )
    .bind(campaign_id)
    .fetch_one(pool)
    .await?;
    counts.opened = row.try_get("opened")?;
    counts.clicked = row.try_get("clicked")?;
    Ok(counts)
}

/// Counts by send state over every campaign (for `/metrics`).
pub(in crate::store) async fn state_totals(pool: &Pool) -> Result<Vec<Count<SendState>>> {
    // Grouped by campaign first, so the counts stream out of `sends_states` in order
    // (grouping by state alone would sort every send); summed here.
    let per_campaign: Vec<Count<SendState>> =
        totals(pool, "SELECT state AS k, COUNT(*) AS n FROM sends GROUP BY campaign_id, state", "send state").await?;
    let mut sums: Vec<Count<SendState>> = Vec::new();
    for Count { key, count } in per_campaign {
        match sums.iter_mut().find(|s| s.key == key) {
            Some(total) => total.count += count,
            None => sums.push(Count { key, count }),
        }
    }
    Ok(sums)
}

pub(in crate::store) async fn campaign_state_totals(pool: &Pool) -> Result<Vec<Count<CampaignState>>> {
    totals(pool, "SELECT state AS k, COUNT(*) AS n FROM campaigns GROUP BY state", "campaign state").await
}

pub(in crate::store) async fn bounce_totals(pool: &Pool) -> Result<Vec<Count<BounceKind>>> {
    // Bounced sends, as `campaign status` counts them (one per send and kind); reports
    // tied to no send are counted apart (`unmatched_bounces`).
    totals(pool, "SELECT kind AS k, COUNT(*) AS n FROM bounces WHERE send_id IS NOT NULL GROUP BY kind", "bounce kind")
        .await
}

/// Runs a `SELECT k, n ... GROUP BY` and parses each `k` as a vocabulary value.
async fn totals<K>(pool: &Pool, sql: &'static str, what: &str) -> Result<Vec<Count<K>>>
where
    K: std::str::FromStr<Err = crate::domain::ParseError>,
{
    let rows = sqlx::query(sql).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let k: String = r.try_get("k")?;
            Ok(Count { key: k.parse().map_err(|e| corrupt(what, e))?, count: r.try_get("n")? })
        })
        .collect()
}

/// The earliest retry time of the campaign's deferred sends.
pub(in crate::store) async fn next_retry(pool: &Pool, campaign_id: CampaignId) -> Result<Option<DateTime<Utc>>> {
    let row = sqlx::query("SELECT MIN(due_at) AS due FROM sends WHERE campaign_id = $1 AND state = 'deferred'")
        .bind(campaign_id)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("due")?)
}

pub(in crate::store) async fn failure_reasons(pool: &Pool, campaign_id: CampaignId) -> Result<Vec<FailureReason>> {
    // Whose fault and which SMTP code, not the texts (they name the recipient and the
    // contact): one line per cause however many sends failed of it.
    let rows = sqlx::query(
        "SELECT CASE WHEN reason LIKE 'render: %' THEN 'render' WHEN reason LIKE 'relay: %' THEN 'relay' \
         WHEN smtp_code IS NOT NULL THEN 'smtp' ELSE COALESCE(reason, 'unknown') END AS cause, smtp_code, \
         COUNT(*) AS n, MIN(COALESCE(reason, smtp_text, '')) AS example FROM sends \
         WHERE campaign_id = $1 AND state = 'failed' GROUP BY 1, 2 ORDER BY 3 DESC, 1",
    )
    .bind(campaign_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FailureReason {
                cause: r.try_get("cause")?,
                smtp_code: r.try_get("smtp_code")?,
                count: r.try_get("n")?,
                example: r.try_get("example")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn failures(pool: &Pool, campaign_id: CampaignId, limit: i64) -> Result<Vec<FailedSend>> {
    let rows = sqlx::query(
        "SELECT id, contact_id, state, attempts, smtp_code, smtp_text, reason FROM sends \
         WHERE campaign_id = $1 AND state IN ('failed', 'deferred', 'in_doubt') ORDER BY id LIMIT $2",
    )
    .bind(campaign_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get("state")?;
            Ok(FailedSend {
                send_id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                state: state.parse().map_err(|e| corrupt("send state", e))?,
                attempts: r.try_get("attempts")?,
                smtp_code: r.try_get("smtp_code")?,
                smtp_text: r.try_get("smtp_text")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// Delivery history of `contact_ids` for the frequency cap (marketing messages sent since
/// `since`: a marketing campaign's or a marketing flow's) and the engagement rule (the last `last_n` delivered messages).
pub(in crate::store) async fn history(
    pool: &Pool,
    contact_ids: &[ContactId],
    since: Option<DateTime<Utc>>,
    last_n: Option<u32>,
) -> Result<HashMap<ContactId, History>> {
    let mut out: HashMap<ContactId, History> = HashMap::new();
    for chunk in contact_ids.chunks(CHUNK) {
        if let Some(since) = since {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT s.contact_id, COUNT(*) AS n FROM sends s LEFT JOIN campaigns c ON c.id = s.campaign_id \
                 WHERE s.state = 'sent' AND (c.kind = 'marketing' OR (s.source = 'flow' AND EXISTS \
                 (SELECT 1 FROM flow_steps f WHERE f.send_id = s.id AND f.marketing))) AND s.sent_at >= ",
            );
            qb.push_bind(since).push(" AND s.contact_id");
            push_in(&mut qb, chunk.iter().copied());
            qb.push(" GROUP BY s.contact_id");
            for r in qb.build().fetch_all(pool).await? {
                let n: i64 = r.try_get("n")?;
                out.entry(r.try_get("contact_id")?).or_default().recent_marketing = n as u32;
            }
        }
        if let Some(n) = last_n.filter(|n| *n > 0) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT contact_id, COUNT(*) AS n, \
                 SUM(CASE WHEN opened_at IS NOT NULL OR clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS engaged \
                 FROM (SELECT contact_id, opened_at, clicked_at, \
                 ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY sent_at DESC, id DESC) AS k \
                 FROM sends WHERE state = 'sent' AND source <> 'test' AND contact_id",
            );
            push_in(&mut qb, chunk.iter().copied());
            qb.push(") h WHERE k <= ").push_bind(n as i64).push(" GROUP BY contact_id");
            for r in qb.build().fetch_all(pool).await? {
                let delivered: i64 = r.try_get("n")?;
                let engaged: i64 = r.try_get("engaged")?;
                let h = out.entry(r.try_get("contact_id")?).or_default();
                h.recent_delivered = delivered as u32;
                h.recent_engaged = engaged > 0;
            }
        }
    }
    Ok(out)
}

/// For the send-time re-check: the contacts with `ids`, each with its ledger sequence
/// number (the version a "transmitting" mark is conditional on) and whether its address
/// is suppressed, in id order; missing contacts are left out. One statement, one row per
/// contact (lists and consents as JSON arrays): on SQLite every statement and every row
/// is a hand-off to the connection's thread, and this runs for every claimed batch.
pub(in crate::store) async fn contacts_for_send(pool: &Pool, ids: &[ContactId]) -> Result<Vec<SendContact>> {
    let (lists, purposes) = match DIALECT {
        Dialect::Sqlite => (
            "SELECT json_group_array(json_array(s.list, s.status)) FROM subscriptions s WHERE s.contact_id = k.id",
            "SELECT json_group_array(json_array(p.purpose, p.state, p.at)) FROM consents p WHERE p.contact_id = k.id",
        ),
        Dialect::Postgres => (
            "SELECT COALESCE(json_agg(json_build_array(s.list, s.status)), '[]') FROM subscriptions s \
             WHERE s.contact_id = k.id",
            "SELECT COALESCE(json_agg(json_build_array(p.purpose, p.state, p.at)), '[]') FROM consents p \
             WHERE p.contact_id = k.id",
        ),
    };
    let columns = CONTACT_COLUMNS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {columns}, ({lists}) AS lists_json, ({purposes}) AS purposes_json, \
             EXISTS (SELECT 1 FROM suppression x WHERE x.mac = k.email_mac) AS suppressed \
             FROM contacts k WHERE k.id"
        ));
        push_in(&mut qb, chunk.iter().copied());
        for row in qb.build().fetch_all(pool).await? {
            let mut contact = contact_from_row(&row)?;
            let Json(lists): Json<Vec<(String, String)>> = row.try_get("lists_json")?;
            for (list, status) in lists {
                let list = ListName::parse(&list).map_err(|e| corrupt("list name", e))?;
                contact.lists.insert(list, status.parse().map_err(|e| corrupt("subscription", e))?);
            }
            let Json(purposes): Json<Vec<(String, String, DateTime<Utc>)>> = row.try_get("purposes_json")?;
            for (purpose, state, at) in purposes {
                let purpose = Purpose::parse(&purpose).map_err(|e| corrupt("purpose", e))?;
                let state = state.parse().map_err(|e| corrupt("consent", e))?;
                contact.purposes.insert(purpose, PurposeConsent { state, at });
            }
            out.push(SendContact {
                contact,
                ledger_seq: row.try_get("ledger_seq")?,
                suppressed: row.try_get("suppressed")?,
            });
        }
    }
    out.sort_by_key(|c| c.contact.id);
    Ok(out)
}
