//! The privacy export's reads (DESIGN §12): a batch of contacts in id order, each with
//! its subscriptions, consents, ledger (with evidence), sends and bounces.
//!
//! One statement per batch, one row per contact: the contact's columns, then each of
//! its related tables aggregated in SQL into a JSON array of arrays (SQLite's
//! `json_group_array`, PostgreSQL's `json_agg`, both ordered inside the aggregate) by a
//! correlated subquery over that table's `contact_id` index. The database driver's cost
//! is per row, so a contact costs one row however much it holds; each array is parsed
//! here into the same records the rest of the export writes.

use super::contacts::{CONTACT_COLUMNS, contact_from_row};
use super::support::{Conn, DbRow};
use super::{DIALECT, Db};
use crate::consent::ledger::Entry;
use crate::domain::{ContactId, ListName, Purpose, PurposeConsent, SendId};
use crate::error::Result;
use crate::store::privacy::{ContactBounce, ExportBatch, SendRecord};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::{QueryBuilder, Row};

pub(in crate::store) async fn export_batch(
    conn: &mut Conn,
    list: Option<&ListName>,
    after: ContactId,
    limit: i64,
) -> Result<ExportBatch> {
    // One snapshot for the batch (one statement, but the cursor's batches stay apart).
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    if DIALECT == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    }
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {CONTACT_COLUMNS}, {subscriptions} AS subscriptions_agg, {consents} AS consents_agg, \
         {ledger} AS ledger_agg, {sends} AS sends_agg, {bounces} AS bounces_agg FROM contacts x WHERE x.id > ",
        subscriptions = aggregate("s.list, s.status", "subscriptions s WHERE s.contact_id = x.id", None),
        consents = aggregate("s.purpose, s.state, s.at", "consents s WHERE s.contact_id = x.id", None),
        ledger = aggregate(
            "l.seq, l.at, l.body, l.hash, v.data",
            "ledger l LEFT JOIN evidence v ON v.contact_id = l.contact_id AND v.seq = l.seq \
             WHERE l.contact_id = x.id",
            Some("l.seq"),
        ),
        sends = aggregate(
            "s.id, s.source, c.name, s.state, s.reason, s.created_at, s.sent_at, s.opened_at, s.clicked_at, \
             s.smtp_code, s.updated_at",
            "sends s LEFT JOIN campaigns c ON c.id = s.campaign_id WHERE s.contact_id = x.id",
            Some("s.id"),
        ),
        bounces = aggregate(
            "b.id, b.received_at, b.kind, c.name, b.send_id, b.status, b.reason, b.source",
            "bounces b LEFT JOIN campaigns c ON c.id = b.campaign_id WHERE b.contact_id = x.id",
            Some("b.received_at, b.id"),
        ),
    ));
    qb.push_bind(after);
    if let Some(list) = list {
        qb.push(" AND EXISTS (SELECT 1 FROM subscriptions l WHERE l.contact_id = x.id AND l.list = ");
        qb.push_bind(list.as_str().to_owned());
        qb.push(")");
    }
    qb.push(" ORDER BY x.id LIMIT ");
    qb.push_bind(limit);
    let rows = qb.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let mut batch = ExportBatch::default();
    for row in &rows {
        add_contact(row, &mut batch)?;
    }
    Ok(batch)
}

/// `(SELECT <the rows of FROM_WHERE as a JSON array of [COLUMNS] arrays, in ORDER>)`:
/// `[]` when there are none.
fn aggregate(columns: &str, from_where: &str, order: Option<&str>) -> String {
    let order = order.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
    match DIALECT {
        Dialect::Sqlite => format!("(SELECT json_group_array(json_array({columns}){order}) FROM {from_where})"),
        Dialect::Postgres => {
            format!("(SELECT COALESCE(json_agg(json_build_array({columns}){order}), '[]')::text FROM {from_where})")
        }
    }
}

/// Adds the contact of `row` to `batch`, with its share of the batch's records.
fn add_contact(row: &DbRow, batch: &mut ExportBatch) -> Result<()> {
    let mut contact = contact_from_row(row)?;
    let contact_id: ContactId = row.try_get("id")?;
    for (list, status) in parsed::<(String, String)>(row, "subscriptions_agg")? {
        let list = ListName::parse(&list).map_err(|e| corrupt("list name", e))?;
        contact.lists.insert(list, status.parse().map_err(|e| corrupt("subscription", e))?);
    }
    for (purpose, state, at) in parsed::<(String, String, DateTime<Utc>)>(row, "consents_agg")? {
        let purpose = Purpose::parse(&purpose).map_err(|e| corrupt("purpose", e))?;
        let state = state.parse().map_err(|e| corrupt("consent", e))?;
        contact.purposes.insert(purpose, PurposeConsent { state, at });
    }
    batch.contacts.push(contact);
    type LedgerRow = (i64, DateTime<Utc>, String, String, Option<String>);
    for (seq, at, body, hash, evidence) in parsed::<LedgerRow>(row, "ledger_agg")? {
        batch.ledger.push(Entry { contact_id, seq, at, body, hash, evidence });
    }
    type SendRow = (
        SendId,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<i32>,
        DateTime<Utc>,
    );
    for s in parsed::<SendRow>(row, "sends_agg")? {
        batch.sends.push(SendRecord {
            send_id: s.0,
            contact_id,
            source: s.1,
            campaign: s.2,
            state: s.3,
            reason: s.4,
            created_at: s.5,
            sent_at: s.6,
            opened_at: s.7,
            clicked_at: s.8,
            smtp_code: s.9,
            updated_at: s.10,
        });
    }
    type BounceRow =
        (i64, DateTime<Utc>, String, Option<String>, Option<SendId>, Option<String>, Option<String>, String);
    for b in parsed::<BounceRow>(row, "bounces_agg")? {
        batch.bounces.push(ContactBounce {
            id: b.0,
            contact_id,
            received_at: b.1,
            kind: b.2,
            campaign: b.3,
            send_id: b.4,
            status: b.5,
            reason: b.6,
            source: b.7,
        });
    }
    Ok(())
}

/// The aggregated rows in `column` (a JSON array of arrays), each as a `T`.
fn parsed<T: DeserializeOwned>(row: &DbRow, column: &str) -> Result<Vec<T>> {
    match row.try_get::<Option<&str>, _>(column)? {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| corrupt(column, e)),
    }
}
