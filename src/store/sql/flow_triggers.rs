//! The flow trigger watchers' reads (see `store/flow_triggers.rs`): keyset pages of the
//! ledger and of opens and clicks, a range of contacts' activity, and the cursors'
//! compare-and-set in `meta`.

use super::Db;
use super::support::{Pool, push_in};
use crate::domain::{ContactId, ListName};
use crate::error::Result;
use crate::store::flow_triggers::{Activity, EngagementPosition, EngagementRow, LedgerPosition, LedgerRow};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

pub(in crate::store) async fn ledger_after(
    pool: &Pool,
    after: &LedgerPosition,
    upto: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<LedgerRow>> {
    let rows = sqlx::query(
        "SELECT contact_id, seq, at, body FROM ledger \
         WHERE (at, contact_id, seq) > ($1, $2, $3) AND at <= $4 \
         ORDER BY at, contact_id, seq LIMIT $5",
    )
    .bind(after.at)
    .bind(after.contact_id)
    .bind(after.seq)
    .bind(upto)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LedgerRow {
                contact_id: r.try_get("contact_id")?,
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                body: r.try_get("body")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn engagement_after(
    pool: &Pool,
    campaigns: &[String],
    clicks: bool,
    after: &EngagementPosition,
    upto: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<EngagementRow>> {
    if campaigns.is_empty() {
        return Ok(Vec::new());
    }
    let column = if clicks { "s.clicked_at" } else { "s.opened_at" };
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT s.id, s.contact_id, c.name, {column} AS at FROM sends s JOIN campaigns c ON c.id = s.campaign_id \
         WHERE s.source = 'campaign' AND c.name"
    ));
    push_in(&mut qb, campaigns.iter().map(String::as_str));
    // The partial index `sends_engaged` holds exactly the sends with an open or a click.
    qb.push(" AND (s.opened_at IS NOT NULL OR s.clicked_at IS NOT NULL)");
    qb.push(format!(" AND ({column}, s.id) > ("));
    qb.push_bind(after.at);
    qb.push(", ");
    qb.push_bind(after.send_id);
    qb.push(format!(") AND {column} <= "));
    qb.push_bind(upto);
    qb.push(format!(" ORDER BY {column}, s.id LIMIT "));
    qb.push_bind(limit);
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(EngagementRow {
                send_id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                campaign: r.try_get("name")?,
                at: r.try_get("at")?,
                link: None,
            })
        })
        .collect()
}

pub(in crate::store) async fn activity(
    pool: &Pool,
    lists: &[ListName],
    after: ContactId,
    upto: ContactId,
) -> Result<Vec<Activity>> {
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT c.id, MIN(CASE WHEN s.state = 'sent' THEN s.sent_at END) AS first_sent, \
         MAX(s.opened_at) AS last_open, MAX(s.clicked_at) AS last_click \
         FROM contacts c JOIN sends s ON s.contact_id = c.id WHERE c.id > ",
    );
    qb.push_bind(after);
    qb.push(" AND c.id <= ");
    qb.push_bind(upto);
    qb.push(
        " AND c.processing = 'active' AND EXISTS (SELECT 1 FROM subscriptions b WHERE b.contact_id = c.id \
         AND b.status <> 'unsubscribed' AND b.list",
    );
    push_in(&mut qb, lists.iter().map(ListName::as_str));
    qb.push(") GROUP BY c.id ORDER BY c.id");
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(Activity {
                contact_id: r.try_get("id")?,
                first_sent: r.try_get("first_sent")?,
                last_open: r.try_get("last_open")?,
                last_click: r.try_get("last_click")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn meta_swap(pool: &Pool, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
    let done = match old {
        None => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(new)
                .execute(pool)
                .await?
        }
        Some(old) => {
            sqlx::query("UPDATE meta SET value = $3 WHERE key = $1 AND value = $2")
                .bind(key)
                .bind(old)
                .bind(new)
                .execute(pool)
                .await?
        }
    };
    Ok(done.rows_affected() == 1)
}
