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
    // Opens: the partial index `sends_engaged` holds exactly the sends with an open or a
    // click. Clicks: every link followed (`clicks`, index `clicks_at`), with its URL.
    let (mut qb, time) = if clicks {
        (
            QueryBuilder::<Db>::new(
                "SELECT s.id, s.contact_id, c.name, k.at AS at, k.url FROM clicks k \
                 JOIN sends s ON s.id = k.send_id JOIN campaigns c ON c.id = s.campaign_id \
                 WHERE s.source = 'campaign' AND c.name",
            ),
            "k.at",
        )
    } else {
        (
            QueryBuilder::<Db>::new(
                "SELECT s.id, s.contact_id, c.name, s.opened_at AS at, NULL AS url FROM sends s \
                 JOIN campaigns c ON c.id = s.campaign_id WHERE s.source = 'campaign' AND c.name",
            ),
            "s.opened_at",
        )
    };
    push_in(&mut qb, campaigns.iter().map(String::as_str));
    if !clicks {
        qb.push(" AND (s.opened_at IS NOT NULL OR s.clicked_at IS NOT NULL)");
    }
    let send = if clicks { "k.send_id" } else { "s.id" };
    // Clicks of one send at the very same instant share a position: the URL orders them
    // within a page, and a page never ends between them unless it is full of them.
    qb.push(format!(" AND ({time}, {send}) > ("));
    qb.push_bind(after.at);
    qb.push(", ");
    qb.push_bind(after.send_id);
    qb.push(format!(") AND {time} <= "));
    qb.push_bind(upto);
    qb.push(format!(" ORDER BY {time}, {send}"));
    if clicks {
        qb.push(", k.url");
    }
    qb.push(" LIMIT ");
    qb.push_bind(limit);
    let rows = qb.build().fetch_all(pool).await?;
    let mut out: Vec<EngagementRow> = rows
        .iter()
        .map(|r| {
            Ok(EngagementRow {
                send_id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                campaign: r.try_get("name")?,
                at: r.try_get("at")?,
                link: r.try_get("url")?,
            })
        })
        .collect::<Result<_>>()?;
    // A full page whose last rows share a position would leave their siblings behind the
    // cursor: drop them, to be read whole next time (unless the page is nothing else).
    if out.len() as i64 >= limit
        && let Some(last) = out.last().map(EngagementRow::position)
    {
        let keep = out.iter().take_while(|r| r.position() != last).count();
        if keep > 0 {
            out.truncate(keep);
        }
    }
    Ok(out)
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
