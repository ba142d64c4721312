//! Confirmations (DESIGN §10): recorded with their message in one transaction, claimed
//! once, expired by the daemon.

use super::support::{DbRow, Pool, begin_write};
use crate::domain::{ConfirmKind, ContactId, SendId};
use crate::error::Result;
use crate::store::confirmations::{Claimed, ConfirmationRow, NewConfirmation};
use crate::store::corrupt;
use chrono::{DateTime, Utc};
use sqlx::Row;

const COLUMNS: &str = "id, contact_id, kind, request, evidence, created_at, expires_at, confirmed_at, send_id";

fn from_row(r: &DbRow) -> Result<ConfirmationRow> {
    let kind: String = r.try_get("kind")?;
    let json = |col: &str| -> Result<serde_json::Value> {
        let text: String = r.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| corrupt("confirmation", e))
    };
    Ok(ConfirmationRow {
        id: r.try_get("id")?,
        contact_id: r.try_get("contact_id")?,
        kind: kind.parse().map_err(|e| corrupt("confirmation kind", e))?,
        request: json("request")?,
        evidence: json("evidence")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        confirmed_at: r.try_get("confirmed_at")?,
        send_id: r.try_get("send_id")?,
    })
}

pub(in crate::store) async fn queue(pool: &Pool, c: &NewConfirmation, now: DateTime<Utc>) -> Result<(i64, SendId)> {
    let mut tx = begin_write(pool).await?;
    let row = sqlx::query(
        "INSERT INTO confirmations (contact_id, kind, request, evidence, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(c.contact_id)
    .bind(c.kind.as_str())
    .bind(c.request.to_string())
    .bind(c.evidence.to_string())
    .bind(now)
    .bind(c.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    let id: i64 = row.try_get("id")?;
    let context = serde_json::json!({ "confirmation_id": id });
    let row = sqlx::query(
        "INSERT INTO sends (source, contact_id, context, state, created_at, updated_at) \
         VALUES ('confirmation', $1, $2, 'queued', $3, $3) RETURNING id",
    )
    .bind(c.contact_id)
    .bind(context.to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let send_id: SendId = row.try_get("id")?;
    sqlx::query("UPDATE confirmations SET send_id = $1 WHERE id = $2").bind(send_id).bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok((id, send_id))
}

pub(in crate::store) async fn by_id(pool: &Pool, id: i64) -> Result<Option<ConfirmationRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM confirmations WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub(in crate::store) async fn claim(pool: &Pool, id: i64, now: DateTime<Utc>) -> Result<Claimed> {
    let done = sqlx::query(
        "UPDATE confirmations SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Claimed::Now);
    }
    Ok(match by_id(pool, id).await? {
        None => Claimed::Missing,
        Some(row) if row.confirmed_at.is_some() => Claimed::Already,
        Some(_) => Claimed::Expired,
    })
}

pub(in crate::store) async fn unclaim(pool: &Pool, id: i64) -> Result<()> {
    sqlx::query("UPDATE confirmations SET confirmed_at = NULL WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

pub(in crate::store) async fn record_confirmed(pool: &Pool, c: &NewConfirmation, now: DateTime<Utc>) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let request = c.request.to_string();
    let seen = sqlx::query(
        "SELECT id FROM confirmations WHERE contact_id = $1 AND kind = $2 AND request = $3 \
         AND confirmed_at IS NOT NULL",
    )
    .bind(c.contact_id)
    .bind(c.kind.as_str())
    .bind(&request)
    .fetch_optional(&mut *tx)
    .await?;
    if seen.is_some() {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO confirmations (contact_id, kind, request, evidence, created_at, expires_at, confirmed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $5)",
    )
    .bind(c.contact_id)
    .bind(c.kind.as_str())
    .bind(&request)
    .bind(c.evidence.to_string())
    .bind(now)
    .bind(c.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(in crate::store) async fn count_confirmed(
    pool: &Pool,
    kind: ConfirmKind,
    request: &serde_json::Value,
) -> Result<u64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM confirmations WHERE kind = $1 AND request = $2 AND confirmed_at IS NOT NULL",
    )
    .bind(kind.as_str())
    .bind(request.to_string())
    .fetch_one(pool)
    .await?;
    let n: i64 = row.try_get("n")?;
    Ok(n.max(0) as u64)
}

pub(in crate::store) async fn expired(pool: &Pool, now: DateTime<Utc>, limit: i64) -> Result<Vec<ConfirmationRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM confirmations WHERE confirmed_at IS NULL AND expires_at <= $1 ORDER BY id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Whether the contact is nothing but an unconfirmed sign-up: see `Store::expire_confirmation`.
async fn only_a_signup(conn: &mut super::support::Conn, contact_id: ContactId, row_id: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM contacts WHERE id = $1 AND opt_in_status = 'single_opt_in_webform' \
              AND processing = 'active') AS signup, \
           (SELECT COUNT(*) FROM subscriptions WHERE contact_id = $1 AND status <> 'unconfirmed') AS lists, \
           (SELECT COUNT(*) FROM sends WHERE contact_id = $1 AND source <> 'confirmation') AS sends, \
           (SELECT COUNT(*) FROM confirmations WHERE contact_id = $1 AND id <> $2) AS others, \
           (SELECT COUNT(*) FROM ledger WHERE contact_id = $1 \
              AND body NOT LIKE '%\"actor\":\"contact\",\"action\"%') AS foreign_events",
    )
    .bind(contact_id)
    .bind(row_id)
    .fetch_one(&mut *conn)
    .await?;
    let n = |col: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(col)?) };
    Ok(n("signup")? == 1 && n("lists")? == 0 && n("sends")? == 0 && n("others")? == 0 && n("foreign_events")? == 0)
}

pub(in crate::store) async fn expire(pool: &Pool, row: &ConfirmationRow, drop_contact: bool) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let drop_contact = drop_contact && only_a_signup(&mut tx, row.contact_id, row.id).await?;
    sqlx::query("DELETE FROM confirmations WHERE id = $1 AND confirmed_at IS NULL")
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
    if drop_contact {
        let id = row.contact_id;
        for sql in [
            "DELETE FROM bounces WHERE contact_id = $1 OR send_id IN (SELECT id FROM sends WHERE contact_id = $1)",
            "DELETE FROM mailto_unsubscribes WHERE contact_id = $1",
            "DELETE FROM flow_steps WHERE enrolment_id IN (SELECT id FROM flow_enrolments WHERE contact_id = $1)",
            "DELETE FROM flow_enrolments WHERE contact_id = $1",
            "DELETE FROM clicks WHERE send_id IN (SELECT id FROM sends WHERE contact_id = $1)",
            "DELETE FROM sends WHERE contact_id = $1",
            "DELETE FROM subscriptions WHERE contact_id = $1",
            "DELETE FROM consents WHERE contact_id = $1",
            "DELETE FROM evidence WHERE contact_id = $1",
            "DELETE FROM ledger WHERE contact_id = $1",
            "DELETE FROM contacts WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(drop_contact)
}

pub(in crate::store) async fn not_reconfirmed(
    pool: &Pool,
    campaign_id: crate::domain::CampaignId,
    request: &serde_json::Value,
    sent_before: DateTime<Utc>,
) -> Result<Vec<crate::store::CleanCandidate>> {
    let rows = sqlx::query(
        "SELECT k.id, k.email, k.email_mac FROM sends s JOIN contacts k ON k.id = s.contact_id \
         WHERE s.campaign_id = $1 AND s.state = 'sent' AND s.sent_at <= $2 AND k.processing = 'active' \
           AND NOT EXISTS (SELECT 1 FROM confirmations f WHERE f.contact_id = s.contact_id \
                 AND f.kind = 'reconfirm' AND f.request = $3 AND f.confirmed_at IS NOT NULL) \
         ORDER BY k.id",
    )
    .bind(campaign_id)
    .bind(sent_before)
    .bind(request.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::store::CleanCandidate {
                contact_id: r.try_get("id")?,
                email: r.try_get("email")?,
                email_mac: r.try_get("email_mac")?,
                count: 1,
            })
        })
        .collect()
}
