// The SQL of the sending queue, compiled once per backend inside its module (see
// mod.rs), beside `sql.rs`, whose helpers it uses.

use super::super::queue::{
    BounceRecord, CampaignCounts, CampaignRecord, Claim, FailedSend, History, Mark, NewCampaign, Outcome, Recovered,
};
use super::{DIALECT, Db, push_in};
use crate::domain::{BounceKind, CampaignState, Contact, ListName, Purpose, PurposeConsent, SendState};
use crate::error::{Error, Result};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

type Pool = sqlx::Pool<Db>;
type DbRow = <Db as sqlx::Database>::Row;
type Conn = <Db as sqlx::Database>::Connection;

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
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(pool).await?.as_ref().map(campaign_from_row).transpose()
}

pub(in crate::store) async fn campaign_by_id(pool: &Pool, id: i64) -> Result<Option<CampaignRecord>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?.as_ref().map(campaign_from_row).transpose()
}

pub(in crate::store) async fn campaigns(pool: &Pool) -> Result<Vec<CampaignRecord>> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?.iter().map(campaign_from_row).collect()
}

/// Scheduled campaigns whose time has come, and running ones (which a daemon resumes).
pub(in crate::store) async fn active_campaigns(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<CampaignRecord>> {
    let sql = format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE state = 'running' \
         OR (state = 'scheduled' AND (send_at IS NULL OR send_at <= $1)) ORDER BY id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(pool).await?.iter().map(campaign_from_row).collect()
}

pub(in crate::store) async fn create_campaign(pool: &Pool, c: &NewCampaign, now: DateTime<Utc>) -> Result<CampaignRecord> {
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
    id: i64,
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
    campaign_id: i64,
    contact_ids: &[i64],
    upto: i64,
    done: bool,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for chunk in contact_ids.chunks(super::CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO sends (campaign_id, contact_id, state, updated_at) ");
        qb.push_values(chunk, |mut b, id| {
            b.push_bind(campaign_id).push_bind(*id).push_bind("queued").push_bind(now);
        });
        qb.push(" ON CONFLICT (campaign_id, contact_id) DO NOTHING");
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
        attempts: r.try_get("attempts")?,
        first_attempt_at: r.try_get("first_attempt_at")?,
    })
}

/// Claims up to `limit` queued sends of `campaign` (if it is running), and up to `limit`
/// of its deferred sends whose retry time has passed, under `owner`'s lease. Each half
/// walks an index in order and stops at `limit` (never the whole campaign). PostgreSQL
/// skips rows another daemon holds locked; SQLite serialises writers, so one
/// UPDATE … RETURNING is atomic there.
pub(in crate::store) async fn claim(
    conn: &mut Conn,
    owner: &str,
    campaign: i64,
    limit: i64,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Claim>> {
    // On PostgreSQL the rows are re-checked once locked. On SQLite the statement is atomic,
    // and a state test out here would make SQLite walk the state index (every open send
    // of the campaign) instead of looking up the ids.
    let (lock, recheck) = match DIALECT {
        Dialect::Postgres => (" FOR UPDATE SKIP LOCKED", "AND state IN ('queued', 'deferred') "),
        Dialect::Sqlite => ("", ""),
    };
    let sql = format!(
        "UPDATE sends SET state = 'claimed', lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id IN (\
           SELECT id FROM (SELECT id FROM sends WHERE state = 'queued' AND campaign_id = $4 \
             ORDER BY id LIMIT $5{lock}) q \
           UNION ALL \
           SELECT id FROM (SELECT id FROM sends WHERE state = 'deferred' AND campaign_id = $4 AND due_at <= $3 \
             ORDER BY due_at LIMIT $5{lock}) d) \
         {recheck}AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $4 AND c.state = 'running') \
         RETURNING id, campaign_id, contact_id, attempts, first_attempt_at"
    );
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

/// Extends the leases `owner` holds (claimed and transmitting rows).
pub(in crate::store) async fn renew_leases(pool: &Pool, owner: &str, until: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sends SET lease_until = $1 WHERE lease_owner = $2 AND state IN ('claimed', 'transmitting')",
    )
    .bind(until)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// One group commit: the marks (each granted or not, in order) and the outcomes. Marks
/// and outcomes go together in one statement per chunk, so the usual batch (a few of
/// each) is one statement that SQLite commits by itself; a larger one runs in a
/// transaction. (On SQLite, BEGIN and COMMIT are each a round trip to the connection's
/// thread that waits for an acknowledgement: they would double the cost of a commit.)
/// A batch with bounces also runs in a transaction: a bounce is recorded only for an
/// outcome that was written.
pub(in crate::store) async fn write_batch(
    conn: &mut Conn,
    owner: &str,
    marks: &[Mark],
    transmit_lease: DateTime<Utc>,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let bounces = outcomes.iter().any(|o| o.bounce.is_some());
    let writes: Vec<Write> =
        marks.iter().map(Write::Mark).chain(outcomes.iter().filter(|o| o.bounce.is_none()).map(Write::Outcome)).collect();
    if writes.len() <= WRITE_CHUNK && !bounces {
        let granted = write_rows(conn, owner, &writes, transmit_lease, now).await?.granted;
        return Ok(marks.iter().map(|m| granted.contains(&m.send_id)).collect());
    }
    let mut tx = match DIALECT {
        // Take the write lock up front, as every other SQLite writer here does.
        Dialect::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?,
        Dialect::Postgres => sqlx::Connection::begin(&mut *conn).await?,
    };
    let mut granted = std::collections::HashSet::new();
    for chunk in writes.chunks(WRITE_CHUNK) {
        granted.extend(write_rows(&mut tx, owner, chunk, transmit_lease, now).await?.granted);
    }
    // A bounce is recorded only for an outcome that was written (its lease still held):
    // one statement each (bounces are rare), to know which.
    for o in outcomes {
        if let Some(b) = &o.bounce
            && write_rows(&mut tx, owner, &[Write::Outcome(o)], transmit_lease, now).await?.rows == 1
        {
            insert_bounce(&mut tx, o.send_id, b, now).await?;
        }
    }
    tx.commit().await?;
    Ok(marks.iter().map(|m| granted.contains(&m.send_id)).collect())
}

/// One row of a group commit.
enum Write<'a> {
    Mark(&'a Mark),
    Outcome(&'a Outcome),
}

/// Marks and outcomes per statement (twelve bind parameters each).
const WRITE_CHUNK: usize = super::CHUNK / 4;

/// What one statement of a group commit wrote.
struct Written {
    rows: u64,
    /// The marks granted.
    granted: std::collections::HashSet<i64>,
}

/// Marks and outcomes in one statement.
///
/// A mark turns a `claimed` row this owner holds into `transmitting`, only while its
/// campaign runs and its contact's record is the one the re-check saw; an outcome ends
/// the row's lease with its result. (No row is both: an outcome comes after its mark's
/// commit.)
async fn write_rows(
    conn: &mut Conn,
    owner: &str,
    rows: &[Write<'_>],
    transmit_lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Written> {
    let mut granted = std::collections::HashSet::new();
    if rows.is_empty() {
        return Ok(Written { rows: 0, granted });
    }
    let mut qb = QueryBuilder::<Db>::new(
        "WITH w(id, mark, seq, state, reason, attempts, due_at, relay, smtp_code, smtp_text, first_attempt_at, \
         sent_at) AS (",
    );
    qb.push_values(rows, |mut b, row| match row {
        Write::Mark(m) => {
            b.push_bind(m.send_id)
                .push_bind(true)
                .push_bind(m.ledger_seq)
                .push_bind(SendState::Transmitting.as_str())
                .push_bind(None::<String>)
                .push_bind(0i32)
                .push_bind(None::<DateTime<Utc>>)
                .push_bind(None::<String>)
                .push_bind(None::<i32>)
                .push_bind(None::<String>)
                .push_bind(None::<DateTime<Utc>>)
                .push_bind(None::<DateTime<Utc>>);
        }
        Write::Outcome(o) => {
            b.push_bind(o.send_id)
                .push_bind(false)
                .push_bind(0i64)
                .push_bind(o.state.as_str())
                .push_bind(o.reason.clone())
                .push_bind(o.attempts)
                .push_bind(o.due_at)
                .push_bind(o.relay.clone())
                .push_bind(o.smtp_code)
                .push_bind(o.smtp_text.clone())
                .push_bind(o.first_attempt_at)
                .push_bind((o.state == SendState::Sent).then_some(now));
        }
    });
    qb.push(
        ") UPDATE sends SET state = w.state, \
         reason = CASE WHEN w.mark THEN sends.reason ELSE w.reason END, \
         attempts = CASE WHEN w.mark THEN sends.attempts ELSE w.attempts END, \
         due_at = CASE WHEN w.mark THEN sends.due_at ELSE w.due_at END, \
         relay = COALESCE(w.relay, sends.relay), \
         smtp_code = CASE WHEN w.mark THEN sends.smtp_code ELSE w.smtp_code END, \
         smtp_text = CASE WHEN w.mark THEN sends.smtp_text ELSE w.smtp_text END, \
         first_attempt_at = COALESCE(sends.first_attempt_at, w.first_attempt_at), \
         sent_at = COALESCE(w.sent_at, sends.sent_at), \
         lease_owner = CASE WHEN w.mark THEN sends.lease_owner END, \
         lease_until = CASE WHEN w.mark THEN ",
    );
    qb.push_bind(transmit_lease).push(" END, updated_at = ").push_bind(now);
    qb.push(" FROM w WHERE sends.id = w.id AND sends.lease_owner = ").push_bind(owner);
    qb.push(
        " AND (NOT w.mark OR (sends.state = 'claimed' \
           AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = sends.campaign_id AND c.state = 'running') \
           AND EXISTS (SELECT 1 FROM contacts k WHERE k.id = sends.contact_id AND k.ledger_seq = w.seq)))",
    );
    // No RETURNING: rows come back one message each from SQLite's thread. Nearly always
    // every row is written; only when some were not, ask which marks were granted (a row
    // this owner holds as `transmitting` can only have been granted just now).
    let done = qb.build().execute(&mut *conn).await?.rows_affected();
    let marks = rows.iter().filter_map(|r| match r {
        Write::Mark(m) => Some(m.send_id),
        Write::Outcome(_) => None,
    });
    if done == rows.len() as u64 {
        granted.extend(marks);
    } else if marks.clone().next().is_some() {
        let mut q = QueryBuilder::<Db>::new("SELECT id FROM sends WHERE state = 'transmitting' AND lease_owner = ");
        q.push_bind(owner).push(" AND id");
        push_in(&mut q, marks);
        for row in q.build().fetch_all(&mut *conn).await? {
            granted.insert(row.try_get::<i64, _>(0)?);
        }
    }
    Ok(Written { rows: done, granted })
}

async fn insert_bounce(conn: &mut Conn, send_id: i64, b: &BounceRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO bounces (send_id, campaign_id, contact_id, kind, status, reason, diagnostic, source, received_at) \
         SELECT id, campaign_id, contact_id, $1, $2, $3, $4, $5, $6 FROM sends WHERE id = $7",
    )
    .bind(b.kind.as_str())
    .bind(&b.status)
    .bind(&b.reason)
    .bind(&b.diagnostic)
    .bind(&b.source)
    .bind(now)
    .bind(send_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
pub(in crate::store) async fn cancel_open_sends(pool: &Pool, campaign_id: i64, now: DateTime<Utc>) -> Result<u64> {
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
