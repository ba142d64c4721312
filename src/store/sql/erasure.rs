//! Erasure's transaction (see `store/erasure.rs`): the record emptied and its erasure
//! event appended (through `contact_write`), redacted bodies swapped in with their hashes
//! kept, evidence rows deleted, the address's suppression entry kept with reason
//! `erased`, the contact's waiting sends skipped, and the personal text other tables hold
//! about it (a send's recipient and render context, a bounce's diagnostic, pending
//! confirmations, the address on its webhook outbox rows, the links it followed)
//! removed. Campaign figures are counted from send states and outcomes, which stay.

use super::DIALECT;
use super::contact_write::write_contacts;
use super::support::{Pool, begin_write};
use crate::consent::ledger::Head;
use crate::error::Result;
use crate::store::erasure::{ERASED_REASON, ErasureCounts, ErasureWrite};
use crate::store::{Dialect, OutboxSpec};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

pub(in crate::store) async fn erase(
    pool: &Pool,
    outbox: &OutboxSpec,
    e: &ErasureWrite,
    now: DateTime<Utc>,
) -> Result<Option<ErasureCounts>> {
    let mut tx = begin_write(pool).await?;
    let lock = if DIALECT == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT ledger_seq, ledger_hash FROM contacts WHERE id = $1{lock}");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(e.contact_id).fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    let head = Head { seq: row.try_get("ledger_seq")?, hash: row.try_get("ledger_hash")? };
    if head.seq != e.seen_seq {
        return Ok(None);
    }
    for (seq, body) in &e.redactions {
        sqlx::query("UPDATE ledger SET body = $1 WHERE contact_id = $2 AND seq = $3")
            .bind(body.as_str())
            .bind(e.contact_id)
            .bind(*seq)
            .execute(&mut *tx)
            .await?;
    }
    let evidence_rows_deleted = sqlx::query("DELETE FROM evidence WHERE contact_id = $1")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let heads = HashMap::from([(e.contact_id, head)]);
    write_contacts(&mut tx, outbox, std::slice::from_ref(&e.write), &heads, now).await?;
    sqlx::query(
        "INSERT INTO suppression (mac, reason, actor, created_at) VALUES ($1, $4, $2, $3) \
         ON CONFLICT (mac) DO UPDATE SET reason = excluded.reason",
    )
    .bind(e.suppression_mac.as_str())
    .bind(e.actor.as_str())
    .bind(now)
    .bind(ERASED_REASON)
    .execute(&mut *tx)
    .await?;
    // Waiting sends only: a claimed one is re-checked by its worker, whose mark fails on
    // the contact's new ledger sequence number (`mark_guard!`).
    let sends_skipped = sqlx::query(
        "UPDATE sends SET state = 'skipped', reason = 'erased', due_at = NULL, updated_at = $2 \
         WHERE contact_id = $1 AND state IN ('queued', 'deferred')",
    )
    .bind(e.contact_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE sends SET to_address = NULL, context = NULL, smtp_text = NULL WHERE contact_id = $1")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE bounces SET diagnostic = NULL WHERE contact_id = $1")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?;
    // Webhook signals still to go (and those delivered, kept a few days) lose the
    // address; the CRM matches them, and the `erased` signal, by contact id.
    sqlx::query("UPDATE webhook_outbox SET email = NULL WHERE contact_id = $1")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM confirmations WHERE contact_id = $1").bind(e.contact_id).execute(&mut *tx).await?;
    // The encrypted sensitive values go with the record (the access log keeps who revealed
    // what and when, by contact id: the accountability the GDPR asks for).
    sqlx::query("DELETE FROM sensitive_values WHERE contact_id = $1").bind(e.contact_id).execute(&mut *tx).await?;
    // The events API's events name the contact and carry what the shop sent about them.
    sqlx::query("DELETE FROM events WHERE contact_id = $1").bind(e.contact_id).execute(&mut *tx).await?;
    // The contact's places in flows, with the event properties they hold (DESIGN §13).
    sqlx::query("DELETE FROM flow_steps WHERE enrolment_id IN (SELECT id FROM flow_enrolments WHERE contact_id = $1)")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM flow_enrolments WHERE contact_id = $1").bind(e.contact_id).execute(&mut *tx).await?;
    // The links the contact followed (which URL, when).
    sqlx::query("DELETE FROM clicks WHERE send_id IN (SELECT id FROM sends WHERE contact_id = $1)")
        .bind(e.contact_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(ErasureCounts { evidence_rows_deleted, sends_skipped }))
}

pub(in crate::store) async fn suppression_reason(pool: &Pool, mac: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT reason FROM suppression WHERE mac = $1").bind(mac).fetch_optional(pool).await?)
}
