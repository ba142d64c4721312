//! The sending queue (DESIGN §4): campaigns and their states, materialisation, claims
//! under a lease, lease renewal, release and recovery.

use super::support::{CHUNK, Conn, DbRow, Pool, push_in};
use super::{DIALECT, Db};
use crate::domain::CampaignState;
use crate::domain::{CampaignId, ContactId};
use crate::error::{Error, Result};
use crate::store::queue::{CampaignRecord, CampaignStateRecord, Claim, NewCampaign, Recovered};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

const CAMPAIGN_COLUMNS: &str = "id, name, kind, file_path, content, content_hash, state, state_reason, send_at, \
     materialised_upto, materialised, created_at, updated_at, finished_at";

fn campaign_from_row(r: &DbRow) -> Result<CampaignRecord> {
    let state: String = r.try_get("state")?;
    Ok(CampaignRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        file_path: r.try_get("file_path")?,
        content: r.try_get("content")?,
        content_hash: r.try_get("content_hash")?,
        state: state.parse().map_err(|e| corrupt("campaign state", e))?,
        state_reason: r.try_get("state_reason")?,
        send_at: r.try_get("send_at")?,
        materialised_upto: r.try_get("materialised_upto")?,
        materialised: r.try_get("materialised")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

pub(in crate::store) async fn campaign_by_name(pool: &Pool, name: &str) -> Result<Option<CampaignRecord>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE name = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(campaign_from_row)
        .transpose()
}

pub(in crate::store) async fn campaign_content_hash(pool: &Pool, name: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT content_hash FROM campaigns WHERE name = $1").bind(name).fetch_optional(pool).await?)
}

pub(in crate::store) async fn campaign_by_id(pool: &Pool, id: CampaignId) -> Result<Option<CampaignRecord>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(campaign_from_row)
        .transpose()
}

pub(in crate::store) async fn campaigns(pool: &Pool) -> Result<Vec<CampaignRecord>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?.iter().map(campaign_from_row).collect()
}

pub(in crate::store) async fn campaign_states(pool: &Pool) -> Result<Vec<CampaignStateRecord>> {
    let rows = sqlx::query("SELECT id, name, state, state_reason FROM campaigns ORDER BY id").fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get("state")?;
            Ok(CampaignStateRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                state: state.parse().map_err(|e| corrupt("campaign state", e))?,
                state_reason: r.try_get("state_reason")?,
            })
        })
        .collect()
}

/// Scheduled campaigns whose time has come, and running ones (which a daemon resumes).
pub(in crate::store) async fn active_campaigns(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<CampaignRecord>> {
    let sql = format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE state = 'running' \
         OR (state = 'scheduled' AND (send_at IS NULL OR send_at <= $1)) ORDER BY id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(pool).await?.iter().map(campaign_from_row).collect()
}

pub(in crate::store) async fn create_campaign(
    pool: &Pool,
    c: &NewCampaign,
    now: DateTime<Utc>,
) -> Result<CampaignRecord> {
    let inserted = sqlx::query(
        "INSERT INTO campaigns (name, kind, file_path, content, content_hash, state, send_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&c.name)
    .bind(&c.kind)
    .bind(&c.file_path)
    .bind(&c.content)
    .bind(&c.content_hash)
    .bind(c.state.as_str())
    .bind(c.send_at)
    .bind(now)
    .execute(pool)
    .await?;
    let record = campaign_by_name(pool, &c.name).await?.ok_or_else(|| Error::NotFound(c.name.clone()))?;
    if inserted.rows_affected() == 0 {
        return Err(Error::Refused(format!("a campaign named '{}' exists already", c.name)));
    }
    Ok(record)
}

/// Moves a campaign to `to` if it is in one of `from`; false when it was not.
pub(in crate::store) async fn set_campaign_state(
    pool: &Pool,
    id: CampaignId,
    from: &[CampaignState],
    to: CampaignState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let finished = matches!(to, CampaignState::Completed | CampaignState::Cancelled).then_some(now);
    let mut qb = QueryBuilder::<Db>::new("UPDATE campaigns SET state = ");
    qb.push_bind(to.as_str()).push(", state_reason = ").push_bind(reason.map(str::to_owned));
    qb.push(", updated_at = ").push_bind(now).push(", finished_at = ").push_bind(finished);
    qb.push(" WHERE id = ").push_bind(id).push(" AND state");
    push_in(&mut qb, from.iter().map(|s| s.as_str()));
    Ok(qb.build().execute(pool).await?.rows_affected() > 0)
}

/// Queues `contact_ids` (the eligible ones of the audience batch that ended at `upto`)
/// and moves the campaign's materialisation cursor, in one transaction.
pub(in crate::store) async fn materialise(
    pool: &Pool,
    campaign_id: CampaignId,
    contact_ids: &[ContactId],
    upto: ContactId,
    done: bool,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for chunk in contact_ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO sends (campaign_id, contact_id, state, updated_at) ");
        qb.push_values(chunk, |mut b, id| {
            b.push_bind(campaign_id).push_bind(*id).push_bind("queued").push_bind(now);
        });
        qb.push(" ON CONFLICT (campaign_id, contact_id) WHERE source = 'campaign' DO NOTHING");
        inserted += qb.build().execute(&mut *tx).await?.rows_affected();
    }
    // Several daemons may materialise at once: the cursor only moves forward and
    // `materialised` never turns false again.
    sqlx::query(
        "UPDATE campaigns SET materialised_upto = CASE WHEN materialised_upto > $1 THEN materialised_upto ELSE $1 END, \
         materialised = (materialised OR $2), updated_at = $3 WHERE id = $4",
    )
    .bind(upto)
    .bind(done)
    .bind(now)
    .bind(campaign_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

fn claim_from_row(r: &DbRow) -> Result<Claim> {
    Ok(Claim {
        send_id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        contact_id: r.try_get("contact_id")?,
        source: {
            let source: String = r.try_get("source")?;
            source.parse().map_err(|e| corrupt("message source", e))?
        },
        attempts: r.try_get("attempts")?,
        first_attempt_at: r.try_get("first_attempt_at")?,
        context: r.try_get("context")?,
    })
}

/// Claims up to `limit` queued sends of `campaign` (if it is running), and up to `limit`
/// of its deferred sends whose retry time has passed, under `owner`'s lease. Each half
/// walks an index in order and stops at `limit` (never the whole campaign). PostgreSQL
/// skips rows another daemon holds locked; SQLite serialises writers, so one
/// UPDATE … RETURNING is atomic there.
/// The claim statement: `$1` owner, `$2` lease expiry, `$3` now, `$4` campaign, `$5` limit.
/// (Also run by the SQLite send writer through rusqlite, `direct.rs`.)
pub(in crate::store) fn claim_sql() -> String {
    // On PostgreSQL the rows are re-checked once locked. On SQLite the statement is atomic,
    // and a state test out here would make SQLite walk the state index (every open send
    // of the campaign) instead of looking up the ids.
    let (lock, recheck) = match DIALECT {
        Dialect::Postgres => (" FOR UPDATE SKIP LOCKED", "AND state IN ('queued', 'deferred') "),
        Dialect::Sqlite => ("", ""),
    };
    format!(
        "UPDATE sends SET state = 'claimed', lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id IN (\
           SELECT id FROM (SELECT id FROM sends WHERE state = 'queued' AND campaign_id = $4 \
             ORDER BY id LIMIT $5{lock}) q \
           UNION ALL \
           SELECT id FROM (SELECT id FROM sends WHERE state = 'deferred' AND campaign_id = $4 AND due_at <= $3 \
             ORDER BY due_at LIMIT $5{lock}) d) \
         {recheck}AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $4 AND c.state = 'running') \
         RETURNING id, campaign_id, contact_id, attempts, first_attempt_at, source, context"
    )
}

pub(in crate::store) async fn claim(
    conn: &mut Conn,
    owner: &str,
    campaign: CampaignId,
    limit: i64,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>> {
    let sql = claim_sql();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(campaign)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut claims: Vec<Claim> = rows.iter().map(claim_from_row).collect::<Result<_>>()?;
    claims.sort_by_key(|c| c.send_id);
    Ok(claims)
}

/// Whether any message of the other sources is due: `$1` now. A read (two partial
/// indexes, empty or nearly), so that SQLite takes no write lock for nothing.
pub(in crate::store) const MESSAGES_DUE_SQL: &str = "SELECT 1 AS due WHERE EXISTS (SELECT 1 FROM sends WHERE state = 'queued' AND source <> 'campaign') \
     OR EXISTS (SELECT 1 FROM sends WHERE state = 'deferred' AND source <> 'campaign' AND due_at <= $1)";

/// The claim of the other sources' messages: `$1` owner, `$2` lease expiry, `$3` now,
/// `$4` limit. (Also run by the SQLite send writer through rusqlite, `direct.rs`.)
pub(in crate::store) fn claim_messages_sql() -> String {
    let (lock, recheck) = match DIALECT {
        Dialect::Postgres => (" FOR UPDATE SKIP LOCKED", " AND state IN ('queued', 'deferred')"),
        Dialect::Sqlite => ("", ""),
    };
    format!(
        "UPDATE sends SET state = 'claimed', lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id IN (\
           SELECT id FROM (SELECT id FROM sends WHERE state = 'queued' AND source <> 'campaign' \
             ORDER BY id LIMIT $4{lock}) q \
           UNION ALL \
           SELECT id FROM (SELECT id FROM sends WHERE state = 'deferred' AND source <> 'campaign' AND due_at <= $3 \
             ORDER BY due_at LIMIT $4{lock}) d){recheck} \
         RETURNING id, campaign_id, contact_id, attempts, first_attempt_at, source, context"
    )
}

/// Claims up to `limit` queued messages of the other sources (test sends, confirmations,
/// flow steps), and up to `limit` of their deferred ones whose retry time has passed, under
/// `owner`'s lease: as [`claim`] does for a campaign, with no campaign to be running.
pub(in crate::store) async fn claim_messages(
    pool: &Pool,
    owner: &str,
    limit: i64,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>> {
    let mut conn = pool.acquire().await?;
    claim_messages_on(&mut conn, owner, limit, lease_until, now).await
}

/// [`claim_messages`] on a connection the caller holds (the send writer's).
pub(in crate::store) async fn claim_messages_on(
    conn: &mut Conn,
    owner: &str,
    limit: i64,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>> {
    // The daemon asks before every batch, and most of the time nothing is due: a read
    // (two partial indexes, empty or nearly) first, so that SQLite takes no write lock for
    // nothing while the engine's writer commits.
    let due = sqlx::query(MESSAGES_DUE_SQL).bind(now).fetch_optional(&mut *conn).await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(claim_messages_sql()))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut claims: Vec<Claim> = rows.iter().map(claim_from_row).collect::<Result<_>>()?;
    claims.sort_by_key(|c| c.send_id);
    Ok(claims)
}

/// Extends the leases `owner` holds (claimed and transmitting rows).
///
/// On PostgreSQL the rows the send writer is updating at that moment are skipped: both
/// statements lock many of the same rows in no set order, so waiting for them could
/// deadlock (and a deadlock costs the writer's commit a retry). Nothing is lost: the
/// writer's statement gives a marked row its own lease and ends a finished row's, and a
/// row it did not write is renewed by the next beat, well before its lease runs out.
pub(in crate::store) async fn renew_leases(pool: &Pool, owner: &str, until: DateTime<Utc>) -> Result<u64> {
    let sql = match DIALECT {
        Dialect::Postgres => {
            "UPDATE sends SET lease_until = $1 WHERE id IN (SELECT id FROM sends WHERE lease_owner = $2 \
             AND state IN ('claimed', 'transmitting') FOR UPDATE SKIP LOCKED) \
             AND lease_owner = $2 AND state IN ('claimed', 'transmitting')"
        }
        Dialect::Sqlite => {
            "UPDATE sends SET lease_until = $1 WHERE lease_owner = $2 AND state IN ('claimed', 'transmitting')"
        }
    };
    let done = sqlx::query(sql).bind(until).bind(owner).execute(pool).await?;
    Ok(done.rows_affected())
}

/// Gives `owner`'s claimed (not yet transmitting) rows back to the queue.
pub(in crate::store) async fn release(pool: &Pool, owner: &str, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sends SET state = CASE WHEN due_at IS NULL THEN 'queued' ELSE 'deferred' END, \
         lease_owner = NULL, lease_until = NULL, updated_at = $1 WHERE lease_owner = $2 AND state = 'claimed'",
    )
    .bind(now)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Expired leases: `claimed` rows go back to the queue (nothing was sent); `transmitting`
/// rows become `in_doubt`, or are queued again when `resend`.
pub(in crate::store) async fn recover(pool: &Pool, now: DateTime<Utc>, resend: bool) -> Result<Recovered> {
    let mut tx = match DIALECT {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => pool.begin().await?,
    };
    let requeued = sqlx::query(
        "UPDATE sends SET state = CASE WHEN due_at IS NULL THEN 'queued' ELSE 'deferred' END, \
         lease_owner = NULL, lease_until = NULL, updated_at = $1 \
         WHERE lease_owner IS NOT NULL AND state = 'claimed' AND lease_until < $1",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let to = if resend { "queued" } else { "in_doubt" };
    let in_doubt = sqlx::query(
        "UPDATE sends SET state = $1, reason = 'in_doubt', lease_owner = NULL, lease_until = NULL, updated_at = $2 \
         WHERE lease_owner IS NOT NULL AND state = 'transmitting' AND lease_until < $2",
    )
    .bind(to)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Recovered { requeued, in_doubt, resent: if resend { in_doubt } else { 0 } })
}

/// A cancelled campaign's open sends end as `skipped` (`cancelled`); claimed ones lose
/// their lease, so the worker holding them records nothing over this.
pub(in crate::store) async fn cancel_open_sends(
    pool: &Pool,
    campaign_id: CampaignId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sends SET state = 'skipped', reason = 'cancelled', lease_owner = NULL, lease_until = NULL, \
         updated_at = $1 WHERE campaign_id = $2 AND state IN ('queued', 'deferred', 'claimed')",
    )
    .bind(now)
    .bind(campaign_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
