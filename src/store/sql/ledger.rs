//! The consent ledger's reads: one contact's entries, and chains page by page for
//! `ledger verify`. (Entries are written with their contact, in `contact_write.rs`.)

use super::support::{DbRow, Pool};
use crate::consent::ledger::{Entry, Head};
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::StoredChain;
use sqlx::Row;
use std::collections::BTreeMap;

fn entry_from_row(r: &DbRow) -> Result<Entry> {
    Ok(Entry {
        contact_id: r.try_get("contact_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        body: r.try_get("body")?,
        hash: r.try_get("hash")?,
    })
}

pub(in crate::store) async fn ledger(pool: &Pool, contact_id: ContactId) -> Result<Vec<Entry>> {
    let rows = sqlx::query("SELECT contact_id, seq, at, body, hash FROM ledger WHERE contact_id = $1 ORDER BY seq")
        .bind(contact_id)
        .fetch_all(pool)
        .await?;
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
    let rows = sqlx::query("SELECT contact_id, seq, at, body, hash FROM ledger WHERE contact_id BETWEEN $1 AND $2 ORDER BY contact_id, seq")
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await?;
    for r in &rows {
        let e = entry_from_row(r)?;
        if let Some(c) = chains.get_mut(&e.contact_id) {
            c.entries.push(e);
        }
    }
    Ok(chains.into_values().collect())
}
