//! The consent ledger's reads: one contact's entries, and chains page by page for
//! `ledger verify`. (Entries are written with their contact, in `contact_write.rs`.)
//! Each entry is read with its evidence row joined (`ENTRY_COLUMNS`, `FROM_LEDGER`).

use super::support::{DbRow, Pool};
use crate::consent::ledger::{Entry, Head};
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::StoredChain;
use sqlx::Row;
use std::collections::BTreeMap;

/// The columns [`entry_from_row`] reads, from [`FROM_LEDGER`].
pub(super) const ENTRY_COLUMNS: &str = "l.contact_id, l.seq, l.at, l.body, l.hash, v.data AS evidence";
/// The ledger (`l`) with each event's evidence row (`v`), if any.
pub(super) const FROM_LEDGER: &str = "ledger l LEFT JOIN evidence v ON v.contact_id = l.contact_id AND v.seq = l.seq";

pub(super) fn entry_from_row(r: &DbRow) -> Result<Entry> {
    Ok(Entry {
        contact_id: r.try_get("contact_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        body: r.try_get("body")?,
        hash: r.try_get("hash")?,
        evidence: r.try_get("evidence")?,
    })
}

pub(in crate::store) async fn ledger(pool: &Pool, contact_id: ContactId) -> Result<Vec<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM {FROM_LEDGER} WHERE l.contact_id = $1 ORDER BY l.seq");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(contact_id).fetch_all(pool).await?;
    rows.iter().map(entry_from_row).collect()
}

pub(in crate::store) async fn chains(pool: &Pool, after_id: ContactId, limit: i64) -> Result<Vec<StoredChain>> {
    let contacts =
        sqlx::query("SELECT id, email, ledger_seq, ledger_hash FROM contacts WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
    let (Some(first), Some(last)) = (contacts.first(), contacts.last()) else {
        return Ok(Vec::new());
    };
    let (first, last): (ContactId, ContactId) = (first.try_get("id")?, last.try_get("id")?);
    let mut chains: BTreeMap<ContactId, StoredChain> = BTreeMap::new();
    for r in &contacts {
        let contact_id = r.try_get("id")?;
        let head = Head { seq: r.try_get("ledger_seq")?, hash: r.try_get("ledger_hash")? };
        chains.insert(contact_id, StoredChain { contact_id, email: r.try_get("email")?, entries: Vec::new(), head });
    }
    // Ordered by the stored sequence number: a reordering shows up as a break.
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM {FROM_LEDGER} WHERE l.contact_id BETWEEN $1 AND $2 ORDER BY l.contact_id, l.seq"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(last).fetch_all(pool).await?;
    for r in &rows {
        let e = entry_from_row(r)?;
        if let Some(c) = chains.get_mut(&e.contact_id) {
            c.entries.push(e);
        }
    }
    Ok(chains.into_values().collect())
}
