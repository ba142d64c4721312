//! Bounce feedback (see `store/feedback.rs`): the sends a bounce is about, bounce
//! records and streaks, mailto unsubscribes, and the candidates of `contacts clean`.

use super::support::{DbRow, Pool};
use crate::domain::BounceKind;
use crate::domain::{CampaignId, ContactId, SendId};
use crate::error::Result;
use crate::store::corrupt;
use crate::store::feedback::{BounceInsert, BounceRow, CleanCandidate, MailtoUnsubscribe, SendTarget, Streak};
use sqlx::Row;

/// The sends feedback can be held against: campaign sends (the join leaves out the other
/// sources, which have no campaign; a test send's report is never about its contact).
const TARGET: &str = "SELECT s.id AS send_id, s.campaign_id, c.name AS campaign, s.contact_id \
     FROM sends s JOIN campaigns c ON c.id = s.campaign_id";

fn target(r: &DbRow) -> Result<SendTarget> {
    Ok(SendTarget {
        send_id: r.try_get("send_id")?,
        campaign_id: r.try_get("campaign_id")?,
        campaign: r.try_get("campaign")?,
        contact_id: r.try_get("contact_id")?,
    })
}

pub(in crate::store) async fn send_target(pool: &Pool, send_id: SendId) -> Result<Option<SendTarget>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{TARGET} WHERE s.id = $1")))
        .bind(send_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(target).transpose()
}

pub(in crate::store) async fn sends_of_contact(
    pool: &Pool,
    contact_id: ContactId,
    limit: i64,
) -> Result<Vec<SendTarget>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TARGET} WHERE s.contact_id = $1 ORDER BY COALESCE(s.sent_at, s.updated_at) DESC, s.id DESC LIMIT $2"
    )))
    .bind(contact_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(target).collect()
}

pub(in crate::store) async fn insert_bounce(pool: &Pool, b: &BounceInsert) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO bounces (send_id, campaign_id, contact_id, kind, status, reason, diagnostic, source, fingerprint, received_at, unmatched) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(b.send_id)
    .bind(b.campaign_id)
    .bind(b.contact_id)
    .bind(b.kind.as_str())
    .bind(&b.status)
    .bind(&b.reason)
    .bind(&b.diagnostic)
    .bind(&b.source)
    .bind(&b.fingerprint)
    .bind(b.received_at)
    .bind(b.unmatched)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The last delivery: a `sent` send of the contact with no bounce against it.
const LAST_DELIVERY: &str = "(SELECT MAX(s.sent_at) FROM sends s WHERE s.contact_id = b.contact_id AND s.state = 'sent' AND s.source <> 'test' \
     AND NOT EXISTS (SELECT 1 FROM bounces x WHERE x.send_id = s.id AND (x.kind = 'hard' OR x.kind = 'soft')))";

pub(in crate::store) async fn bounce_streak(pool: &Pool, contact_id: ContactId) -> Result<Streak> {
    let sql = format!(
        "SELECT \
           COUNT(DISTINCT CASE WHEN b.kind = 'hard' THEN COALESCE(b.send_id, -b.id) END) AS hard, \
           COUNT(DISTINCT CASE WHEN b.kind = 'soft' THEN COALESCE(b.campaign_id, -b.id) END) AS soft, \
           COUNT(CASE WHEN b.kind = 'hard' OR b.kind = 'soft' THEN 1 END) AS any_bounce \
         FROM bounces b WHERE b.contact_id = $1 AND NOT b.unmatched \
           AND (b.received_at > {LAST_DELIVERY} OR {LAST_DELIVERY} IS NULL)"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(contact_id).fetch_one(pool).await?;
    Ok(Streak {
        hard: row.try_get("hard")?,
        soft_campaigns: row.try_get("soft")?,
        any: row.try_get::<i64, _>("any_bounce")? > 0,
    })
}

pub(in crate::store) async fn bounces(
    pool: &Pool,
    campaign_id: Option<CampaignId>,
    unmatched_only: bool,
    limit: i64,
) -> Result<Vec<BounceRow>> {
    let rows = sqlx::query(
        "SELECT b.id, b.received_at, b.kind, k.email, c.name AS campaign, b.send_id, b.status, b.reason, b.source, \
           b.unmatched \
         FROM bounces b LEFT JOIN contacts k ON k.id = b.contact_id LEFT JOIN campaigns c ON c.id = b.campaign_id \
         WHERE (CAST($1 AS BIGINT) IS NULL OR b.campaign_id = $1) AND (b.unmatched OR NOT $2) \
         ORDER BY b.received_at DESC, b.id DESC LIMIT $3",
    )
    .bind(campaign_id)
    .bind(unmatched_only)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(BounceRow {
                id: r.try_get("id")?,
                received_at: r.try_get("received_at")?,
                kind: kind.parse::<BounceKind>().map_err(|e| corrupt("bounce kind", e))?,
                email: r.try_get("email")?,
                campaign: r.try_get("campaign")?,
                send_id: r.try_get("send_id")?,
                status: r.try_get("status")?,
                reason: r.try_get("reason")?,
                source: r.try_get("source")?,
                unmatched: r.try_get("unmatched")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn record_mailto_unsubscribe(pool: &Pool, m: &MailtoUnsubscribe) -> Result<()> {
    sqlx::query(
        "INSERT INTO mailto_unsubscribes (received_at, via, outcome, contact_id, campaign) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(m.received_at)
    .bind(&m.via)
    .bind(&m.outcome)
    .bind(m.contact_id)
    .bind(&m.campaign)
    .execute(pool)
    .await?;
    Ok(())
}

pub(in crate::store) async fn mailto_unsubscribes(pool: &Pool, limit: i64) -> Result<Vec<MailtoUnsubscribe>> {
    let rows = sqlx::query(
        "SELECT received_at, via, outcome, contact_id, campaign FROM mailto_unsubscribes \
         ORDER BY received_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MailtoUnsubscribe {
                received_at: r.try_get("received_at")?,
                via: r.try_get("via")?,
                outcome: r.try_get("outcome")?,
                contact_id: r.try_get("contact_id")?,
                campaign: r.try_get("campaign")?,
            })
        })
        .collect()
}

fn candidates(rows: &[DbRow]) -> Result<Vec<CleanCandidate>> {
    rows.iter()
        .map(|r| {
            Ok(CleanCandidate {
                contact_id: r.try_get("id")?,
                email: r.try_get("email")?,
                email_mac: r.try_get("email_mac")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn confirmed_unsuppressed(pool: &Pool) -> Result<Vec<CleanCandidate>> {
    let rows = sqlx::query(
        "SELECT k.id, k.email, k.email_mac, CAST(k.consecutive_hard_bounces AS BIGINT) AS n FROM contacts k \
         WHERE k.bounce_status = 'confirmed' AND k.processing <> 'erased' \
           AND NOT EXISTS (SELECT 1 FROM suppression p WHERE p.mac = k.email_mac) ORDER BY k.id",
    )
    .fetch_all(pool)
    .await?;
    candidates(&rows)
}

pub(in crate::store) async fn repeated_soft(pool: &Pool, min_campaigns: i64) -> Result<Vec<CleanCandidate>> {
    let sql = format!(
        "SELECT k.id, k.email, k.email_mac, COUNT(DISTINCT COALESCE(b.campaign_id, -b.id)) AS n \
         FROM bounces b JOIN contacts k ON k.id = b.contact_id \
         WHERE b.kind = 'soft' AND NOT b.unmatched AND k.bounce_status <> 'confirmed' AND k.processing <> 'erased' \
           AND (b.received_at > {LAST_DELIVERY} OR {LAST_DELIVERY} IS NULL) \
         GROUP BY k.id, k.email, k.email_mac HAVING COUNT(DISTINCT COALESCE(b.campaign_id, -b.id)) >= $1 ORDER BY k.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(min_campaigns).fetch_all(pool).await?;
    candidates(&rows)
}

pub(in crate::store) async fn unengaged(pool: &Pool, n: i64) -> Result<Vec<CleanCandidate>> {
    let rows = sqlx::query(
        "SELECT k.id, k.email, k.email_mac, CAST($1 AS BIGINT) AS n FROM contacts k \
         WHERE k.processing = 'active' \
           AND EXISTS (SELECT 1 FROM consents t WHERE t.contact_id = k.id AND t.purpose = 'tracking' AND t.state = 'granted') \
           AND EXISTS (SELECT 1 FROM subscriptions u WHERE u.contact_id = k.id AND u.status <> 'unsubscribed') \
           AND (SELECT COUNT(*) FROM sends s WHERE s.contact_id = k.id AND s.state = 'sent' AND s.source <> 'test') >= $1 \
           AND NOT EXISTS (SELECT 1 FROM (SELECT s.opened_at, s.clicked_at FROM sends s \
                 WHERE s.contact_id = k.id AND s.state = 'sent' AND s.source <> 'test' ORDER BY s.sent_at DESC LIMIT $1) last \
               WHERE last.opened_at IS NOT NULL OR last.clicked_at IS NOT NULL) \
         ORDER BY k.id",
    )
    .bind(n)
    .fetch_all(pool)
    .await?;
    candidates(&rows)
}
