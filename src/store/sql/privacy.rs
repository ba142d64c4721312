//! The privacy export's reads (DESIGN §12): a batch of contacts in id order with their
//! subscriptions, consents, ledger, sends and bounces. Each table is read once per batch,
//! by a range of contact ids (`after < contact_id <= last`) in contact-id order, over
//! the primary keys and `contact_id` indexes, and merged in by walking the batch: a bulk
//! export costs six statements per batch, whatever its size, and no `IN` lists.

use super::contacts::{CONTACT_COLUMNS, contact_from_row};
use super::ledger::{ENTRY_COLUMNS, entry_from_row};
use super::support::Conn;
use super::{DIALECT, Db};
use crate::consent::ledger::Entry;
use crate::domain::{Contact, ContactId, ListName, Purpose, PurposeConsent};
use crate::error::Result;
use crate::store::privacy::{ContactBounce, ExportBatch, SendRecord};
use crate::store::{Dialect, corrupt};
use sqlx::{QueryBuilder, Row};

pub(in crate::store) async fn export_batch(
    conn: &mut Conn,
    list: Option<&ListName>,
    after: ContactId,
    limit: i64,
) -> Result<ExportBatch> {
    // One snapshot for the batch's statements: a concurrent change shows whole or not at all.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    if DIALECT == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    }
    let conn: &mut Conn = &mut tx;
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {CONTACT_COLUMNS} FROM contacts x WHERE x.id > "));
    qb.push_bind(after);
    in_list(&mut qb, "x.id", list);
    qb.push(" ORDER BY x.id LIMIT ");
    qb.push_bind(limit);
    let mut contacts = Vec::new();
    for row in qb.build().fetch_all(&mut *conn).await? {
        contacts.push(contact_from_row(&row)?);
    }
    let Some(last) = contacts.last().and_then(|c| c.id) else { return Ok(ExportBatch::default()) };
    let range = Range { after, last, list };
    subscriptions(conn, &range, &mut contacts).await?;
    consents(conn, &range, &mut contacts).await?;
    let batch = ExportBatch {
        ledger: ledger(conn, &range).await?,
        sends: sends(conn, &range).await?,
        bounces: bounces(conn, &range).await?,
        contacts,
    };
    tx.commit().await?;
    Ok(batch)
}

/// The contact ids of a batch: `after < id <= last`, subscribed to `list` if any.
struct Range<'a> {
    after: ContactId,
    last: ContactId,
    list: Option<&'a ListName>,
}

impl Range<'_> {
    /// ` WHERE x.contact_id > $after AND x.contact_id <= $last [AND in list]`.
    fn push_where(&self, qb: &mut QueryBuilder<Db>) {
        qb.push(" WHERE x.contact_id > ");
        qb.push_bind(self.after);
        qb.push(" AND x.contact_id <= ");
        qb.push_bind(self.last);
        in_list(qb, "x.contact_id", self.list);
    }
}

fn in_list(qb: &mut QueryBuilder<Db>, column: &str, list: Option<&ListName>) {
    if let Some(list) = list {
        qb.push(format!(" AND EXISTS (SELECT 1 FROM subscriptions l WHERE l.contact_id = {column} AND l.list = "));
        qb.push_bind(list.as_str().to_owned());
        qb.push(")");
    }
}

/// The contact of `id` in `contacts` (sorted by id), searched from `from` on: rows come
/// in contact-id order, so the walk is linear over a batch.
fn walk<'c>(contacts: &'c mut [Contact], from: &mut usize, id: ContactId) -> Option<&'c mut Contact> {
    while *from < contacts.len() && contacts[*from].id.is_some_and(|c| c < id) {
        *from += 1;
    }
    contacts.get_mut(*from).filter(|c| c.id == Some(id))
}

async fn subscriptions(conn: &mut Conn, range: &Range<'_>, contacts: &mut [Contact]) -> Result<()> {
    let mut qb = QueryBuilder::<Db>::new("SELECT x.contact_id, x.list, x.status FROM subscriptions x");
    range.push_where(&mut qb);
    qb.push(" ORDER BY x.contact_id");
    let mut at = 0;
    for row in qb.build().fetch_all(&mut *conn).await? {
        let Some(c) = walk(contacts, &mut at, row.try_get(0)?) else { continue };
        let list = ListName::parse(row.try_get(1)?).map_err(|e| corrupt("list name", e))?;
        let status = row.try_get::<&str, _>(2)?.parse().map_err(|e| corrupt("subscription", e))?;
        c.lists.insert(list, status);
    }
    Ok(())
}

async fn consents(conn: &mut Conn, range: &Range<'_>, contacts: &mut [Contact]) -> Result<()> {
    let mut qb = QueryBuilder::<Db>::new("SELECT x.contact_id, x.purpose, x.state, x.at FROM consents x");
    range.push_where(&mut qb);
    qb.push(" ORDER BY x.contact_id");
    let mut at = 0;
    for row in qb.build().fetch_all(&mut *conn).await? {
        let Some(c) = walk(contacts, &mut at, row.try_get(0)?) else { continue };
        let purpose = Purpose::parse(row.try_get(1)?).map_err(|e| corrupt("purpose", e))?;
        let state = row.try_get::<&str, _>(2)?.parse().map_err(|e| corrupt("consent", e))?;
        c.purposes.insert(purpose, PurposeConsent { state, at: row.try_get(3)? });
    }
    Ok(())
}

async fn ledger(conn: &mut Conn, range: &Range<'_>) -> Result<Vec<Entry>> {
    // The ledger as `l` with its evidence as `v` (as `ledger::FROM_LEDGER`), the batch
    // filtered first as `x`.
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {ENTRY_COLUMNS} FROM (SELECT * FROM ledger x"));
    range.push_where(&mut qb);
    qb.push(") l LEFT JOIN evidence v ON v.contact_id = l.contact_id AND v.seq = l.seq ORDER BY l.contact_id, l.seq");
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter().map(entry_from_row).collect()
}

async fn sends(conn: &mut Conn, range: &Range<'_>) -> Result<Vec<SendRecord>> {
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT x.id, x.contact_id, x.source, c.name, x.state, x.reason, x.created_at, x.sent_at, \
         x.opened_at, x.clicked_at, x.smtp_code, x.updated_at \
         FROM sends x LEFT JOIN campaigns c ON c.id = x.campaign_id",
    );
    range.push_where(&mut qb);
    qb.push(" ORDER BY x.contact_id, x.id");
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(SendRecord {
                send_id: r.try_get(0)?,
                contact_id: r.try_get(1)?,
                source: r.try_get(2)?,
                campaign: r.try_get(3)?,
                state: r.try_get(4)?,
                reason: r.try_get(5)?,
                created_at: r.try_get(6)?,
                sent_at: r.try_get(7)?,
                opened_at: r.try_get(8)?,
                clicked_at: r.try_get(9)?,
                smtp_code: r.try_get::<Option<i32>, _>(10)?,
                updated_at: r.try_get(11)?,
            })
        })
        .collect()
}

async fn bounces(conn: &mut Conn, range: &Range<'_>) -> Result<Vec<ContactBounce>> {
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT x.id, x.contact_id, x.received_at, x.kind, c.name, x.send_id, x.status, x.reason, x.source \
         FROM bounces x LEFT JOIN campaigns c ON c.id = x.campaign_id",
    );
    range.push_where(&mut qb);
    qb.push(" ORDER BY x.contact_id, x.received_at, x.id");
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(ContactBounce {
                id: r.try_get(0)?,
                contact_id: r.try_get(1)?,
                received_at: r.try_get(2)?,
                kind: r.try_get(3)?,
                campaign: r.try_get(4)?,
                send_id: r.try_get(5)?,
                status: r.try_get(6)?,
                reason: r.try_get(7)?,
                source: r.try_get(8)?,
            })
        })
        .collect()
}
