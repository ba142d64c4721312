//! The privacy export's reads (DESIGN §12): the ledger, sends and bounces of a page of
//! contacts, in one statement each per chunk of ids, so a bulk export costs a few
//! queries per page rather than per contact.

use super::Db;
use super::ledger::{ENTRY_COLUMNS, FROM_LEDGER, entry_from_row};
use super::support::{CHUNK, Pool, push_in};
use crate::consent::ledger::Entry;
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::privacy::{ContactBounce, SendRecord};
use sqlx::{QueryBuilder, Row};

pub(in crate::store) async fn ledgers(pool: &Pool, ids: &[ContactId]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {ENTRY_COLUMNS} FROM {FROM_LEDGER} WHERE l.contact_id"));
        push_in(&mut qb, chunk.iter().copied());
        qb.push(" ORDER BY l.contact_id, l.seq");
        for r in qb.build().fetch_all(pool).await? {
            out.push(entry_from_row(&r)?);
        }
    }
    Ok(out)
}

pub(in crate::store) async fn sends(pool: &Pool, ids: &[ContactId]) -> Result<Vec<SendRecord>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT s.id, s.contact_id, s.source, c.name AS campaign, s.state, s.reason, s.created_at, s.sent_at, \
             s.opened_at, s.clicked_at, s.smtp_code, s.updated_at \
             FROM sends s LEFT JOIN campaigns c ON c.id = s.campaign_id WHERE s.contact_id",
        );
        push_in(&mut qb, chunk.iter().copied());
        qb.push(" ORDER BY s.contact_id, s.id");
        for r in qb.build().fetch_all(pool).await? {
            out.push(SendRecord {
                send_id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                source: r.try_get("source")?,
                campaign: r.try_get("campaign")?,
                state: r.try_get("state")?,
                reason: r.try_get("reason")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
                opened_at: r.try_get("opened_at")?,
                clicked_at: r.try_get("clicked_at")?,
                smtp_code: r.try_get::<Option<i32>, _>("smtp_code")?,
                updated_at: r.try_get("updated_at")?,
            });
        }
    }
    Ok(out)
}

pub(in crate::store) async fn bounces(pool: &Pool, ids: &[ContactId]) -> Result<Vec<ContactBounce>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT b.id, b.contact_id, b.received_at, b.kind, c.name AS campaign, b.send_id, b.status, b.reason, \
             b.source FROM bounces b LEFT JOIN campaigns c ON c.id = b.campaign_id WHERE b.contact_id",
        );
        push_in(&mut qb, chunk.iter().copied());
        qb.push(" ORDER BY b.contact_id, b.received_at, b.id");
        for r in qb.build().fetch_all(pool).await? {
            out.push(ContactBounce {
                id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                received_at: r.try_get("received_at")?,
                kind: r.try_get("kind")?,
                campaign: r.try_get("campaign")?,
                send_id: r.try_get("send_id")?,
                status: r.try_get("status")?,
                reason: r.try_get("reason")?,
                source: r.try_get("source")?,
            });
        }
    }
    Ok(out)
}
