//! Campaign revisions, and re-queuing the sends that failed through Herald's or the
//! relay's fault.

use super::Db;
use super::support::{Pool, begin_write};
use crate::domain::CampaignId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

pub(in crate::store) async fn insert_first_revision(
    pool: &Pool,
    campaign_id: CampaignId,
    content_hash: &str,
    content: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO campaign_revisions (campaign_id, revision, content_hash, content, recorded_at) \
         VALUES ($1, 1, $2, $3, $4) ON CONFLICT (campaign_id, revision) DO NOTHING",
    )
    .bind(campaign_id)
    .bind(content_hash)
    .bind(content)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The latest revision number of a campaign (0 for none recorded).
pub(in crate::store) async fn revision(pool: &Pool, campaign_id: CampaignId) -> Result<i64> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT CAST(MAX(revision) AS BIGINT) FROM campaign_revisions WHERE campaign_id = $1")
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
    Ok(n.unwrap_or(0))
}

/// Records `r` as the campaign's next revision and runs the campaign from it: the sends
/// still queued (never attempted) are dropped and the audience is judged again from the
/// first contact, so the new lists, segment and policy decide who is still to get it;
/// a contact with a send of any other state keeps it (the unique send per campaign and
/// contact means nobody is sent to twice).
pub(in crate::store) async fn revise_campaign(
    pool: &Pool,
    campaign_id: CampaignId,
    r: &super::super::revisions::Revision,
    now: DateTime<Utc>,
) -> Result<i64> {
    // It reads the last revision before it writes: on SQLite a deferred transaction would
    // fail at once ("database is locked", no busy wait) if another writer committed between.
    let mut tx = begin_write(pool).await?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT CAST(MAX(revision) AS BIGINT) FROM campaign_revisions WHERE campaign_id = $1")
            .bind(campaign_id)
            .fetch_one(&mut *tx)
            .await?;
    let next = last.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO campaign_revisions (campaign_id, revision, content_hash, content, recorded_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(campaign_id)
    .bind(next as i32)
    .bind(&r.content_hash)
    .bind(&r.content)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE campaigns SET content = $1, content_hash = $2, file_path = $3, kind = $4, send_at = $5, \
         materialised = FALSE, materialised_upto = 0, updated_at = $6 WHERE id = $7",
    )
    .bind(&r.content)
    .bind(&r.content_hash)
    .bind(&r.file_path)
    .bind(&r.kind)
    .bind(r.send_at)
    .bind(now)
    .bind(campaign_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sends WHERE campaign_id = $1 AND state = 'queued'")
        .bind(campaign_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(next)
}

/// The sends that failed, or wait for a retry, because of Herald or the relay (their
/// reason starts with a fault prefix) go back to the queue as if never attempted. A
/// recipient's refusal (no such prefix) and anything sent stay as they are.
pub(in crate::store) async fn requeue_faults(pool: &Pool, campaign_id: CampaignId, now: DateTime<Utc>) -> Result<u64> {
    let mut qb = QueryBuilder::<Db>::new(
        "UPDATE sends SET state = 'queued', reason = NULL, due_at = NULL, attempts = 0, first_attempt_at = NULL, \
         smtp_code = NULL, smtp_text = NULL, updated_at = ",
    );
    qb.push_bind(now).push(" WHERE campaign_id = ").push_bind(campaign_id);
    qb.push(" AND state IN ('failed', 'deferred') AND (");
    for (i, fault) in crate::domain::Fault::ALL.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("reason LIKE ").push_bind(format!("{}%", fault.prefix()));
    }
    qb.push(")");
    Ok(qb.build().execute(pool).await?.rows_affected())
}

/// The purposes recorded in the database (the config's, and any a contact was given).
pub(in crate::store) async fn purpose_names(pool: &Pool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM purposes ORDER BY name").fetch_all(pool).await?)
}
