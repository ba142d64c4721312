//! Writing contacts: the rows of a `modify` plan (contacts, subscriptions, consents and
//! ledger entries), inside the caller's transaction.

use super::support::{CHUNK, Conn, push_in};
use super::{DIALECT, Db};
use crate::consent::evidence;
use crate::consent::ledger::{self, Entry, Head};
use crate::domain::ContactId;
use crate::domain::PurposeConsent;
use crate::error::{Error, Result};
use crate::store::{ContactWrite, Dialect, OutboxSpec};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::{HashMap, HashSet};

/// Pushes one contact row in `WRITE_COLUMNS` order.
fn push_contact(
    b: &mut sqlx::query_builder::Separated<'_, Db, &'static str>,
    id: ContactId,
    w: &ContactWrite,
    head: &Head,
) {
    let c = &w.after;
    let ident = &c.identity;
    b.push_bind(id)
        .push_bind(c.email.as_str().to_owned())
        .push_bind(c.email.normalized().to_owned())
        .push_bind(w.email_mac.clone())
        .push_bind(ident.first_name.clone())
        .push_bind(ident.last_name.clone())
        .push_bind(ident.company.clone())
        .push_bind(ident.title.clone())
        .push_bind(ident.phone.clone())
        .push_bind(ident.website.clone())
        .push_bind(ident.country.clone())
        .push_bind(ident.crm_id.clone())
        .push_bind(Json(ident.attributes.clone()))
        .push_bind(c.opt_in.as_str())
        .push_bind(c.legal_basis.map(|b| b.as_str()))
        .push_bind(c.legal_basis_note.clone())
        .push_bind(c.consent_date)
        .push_bind(c.source_type.as_str())
        .push_bind(c.source_note.clone())
        .push_bind(c.processing.as_str())
        .push_bind(c.bounce.status.as_str())
        .push_bind(c.bounce.consecutive_hard as i32)
        .push_bind(c.created_at)
        .push_bind(c.updated_at)
        .push_bind(head.seq)
        .push_bind(head.hash.clone());
}

const WRITE_COLUMNS: &str = "id, email, email_norm, email_mac, first_name, last_name, company, title, phone, website, country, \
     crm_id, attributes, opt_in_status, legal_basis, legal_basis_note, consent_date, source_type, source_note, processing, \
     bounce_status, consecutive_hard_bounces, created_at, updated_at, ledger_seq, ledger_hash";

/// Ids for `n` new contacts, allocated inside the write transaction so that ledger
/// events can be sealed (they name their contact) before the rows are written.
async fn allocate_ids(conn: &mut Conn, n: usize) -> Result<Vec<ContactId>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(match DIALECT {
        // The transaction holds SQLite's write lock: nobody else can take these ids.
        Dialect::Sqlite => {
            let max: i64 =
                sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM contacts").fetch_one(&mut *conn).await?;
            (max + 1..=max + n as i64).map(ContactId::new).collect()
        }
        Dialect::Postgres => {
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, $1)")
                .bind(n as i64)
                .fetch_all(&mut *conn)
                .await?
        }
    })
}

pub(super) async fn write_contacts(
    conn: &mut Conn,
    outbox: &OutboxSpec,
    writes: &[ContactWrite],
    heads: &HashMap<ContactId, Head>,
    now: DateTime<Utc>,
) -> Result<Vec<ContactId>> {
    let mut fresh = allocate_ids(conn, writes.iter().filter(|w| w.after.id.is_none()).count()).await?.into_iter();
    let ids: Vec<ContactId> =
        writes.iter().map(|w| w.after.id.or_else(|| fresh.next())).collect::<Option<_>>().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("fewer contact ids were allocated than contacts to create"))
        })?;
    let mut entries = Vec::new();
    let mut new_heads = Vec::with_capacity(writes.len());
    for (w, id) in writes.iter().zip(&ids) {
        let mut head = heads.get(id).cloned().unwrap_or_else(Head::genesis);
        for draft in &w.events {
            let (entry, next) = ledger::seal(draft, *id, &head, now);
            entries.push(entry);
            head = next;
        }
        new_heads.push(head);
    }
    let rows: Vec<(ContactId, &ContactWrite, &Head)> = writes
        .iter()
        .zip(&ids)
        .zip(&new_heads)
        .filter(|((w, _), _)| w.before.as_ref() != Some(&w.after) || !w.events.is_empty())
        .map(|((w, id), h)| (*id, w, h))
        .collect();
    let updates: Vec<String> = WRITE_COLUMNS.split(", ").skip(1).map(|c| format!("{c} = excluded.{c}")).collect();
    for chunk in rows.chunks(CHUNK / 2) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO contacts ({WRITE_COLUMNS}) "));
        qb.push_values(chunk, |mut b, (id, w, head)| push_contact(&mut b, *id, w, head));
        qb.push(" ON CONFLICT (id) DO UPDATE SET ");
        qb.push(updates.join(", "));
        qb.build().execute(&mut *conn).await?;
    }
    write_subscriptions(conn, writes, &ids, now).await?;
    write_consents(conn, writes, &ids).await?;
    insert_entries(conn, outbox, &entries).await?;
    let sensitive: Vec<_> = ids.iter().copied().zip(writes.iter().map(|w| &w.sensitive)).collect();
    super::sensitive::write(conn, &sensitive, now).await?;
    Ok(ids)
}

async fn ensure_names(conn: &mut Conn, table: &str, names: HashSet<&str>, now: DateTime<Utc>) -> Result<()> {
    let names: Vec<&str> = names.into_iter().collect();
    for chunk in names.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO {table} (name, created_at) "));
        qb.push_values(chunk, |mut b, name| {
            b.push_bind(*name).push_bind(now);
        });
        qb.push(" ON CONFLICT (name) DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_subscriptions(
    conn: &mut Conn,
    writes: &[ContactWrite],
    ids: &[ContactId],
    now: DateTime<Utc>,
) -> Result<()> {
    let rows: Vec<(ContactId, &str, &str)> = writes
        .iter()
        .zip(ids)
        .flat_map(|(w, id)| {
            w.after
                .lists
                .iter()
                .filter(move |(l, s)| w.before.as_ref().and_then(|b| b.lists.get(*l)) != Some(*s))
                .map(move |(l, s)| (*id, l.as_str(), s.as_str()))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Lists not declared in the config are created on first use (DESIGN §7).
    let lists: HashSet<&str> = rows.iter().map(|r| r.1).collect();
    let mut qb = QueryBuilder::<Db>::new("SELECT name FROM lists WHERE name");
    push_in(&mut qb, lists.iter().copied());
    let known: HashSet<String> =
        qb.build().fetch_all(&mut *conn).await?.iter().map(|r| r.try_get("name")).collect::<Result<_, _>>()?;
    ensure_names(conn, "lists", lists.into_iter().filter(|l| !known.contains(*l)).collect(), now).await?;
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO subscriptions (contact_id, list, status, updated_at) ");
        qb.push_values(chunk, |mut b, (id, list, status)| {
            b.push_bind(*id).push_bind(*list).push_bind(*status).push_bind(now);
        });
        qb.push(
            " ON CONFLICT (contact_id, list) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_consents(conn: &mut Conn, writes: &[ContactWrite], ids: &[ContactId]) -> Result<()> {
    let rows: Vec<(ContactId, &str, PurposeConsent)> = writes
        .iter()
        .zip(ids)
        .flat_map(|(w, id)| {
            w.after
                .purposes
                .iter()
                .filter(move |(p, s)| w.before.as_ref().and_then(|b| b.purposes.get(*p)) != Some(*s))
                .map(move |(p, s)| (*id, p.as_str(), *s))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let now = rows[0].2.at;
    ensure_names(conn, "purposes", rows.iter().map(|r| r.1).collect(), now).await?;
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO consents (contact_id, purpose, state, at) ");
        qb.push_values(chunk, |mut b, (id, purpose, consent)| {
            b.push_bind(*id).push_bind(*purpose).push_bind(consent.state.as_str()).push_bind(consent.at);
        });
        qb.push(" ON CONFLICT (contact_id, purpose) DO UPDATE SET state = excluded.state, at = excluded.at");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes ledger entries and, beside each that has evidence, its evidence row (the
/// body holds only the digest; see `consent::evidence`), and the webhook outbox rows
/// `outbox` asks for (`store/outbound.rs`): all in the caller's transaction.
pub(super) async fn insert_entries(conn: &mut Conn, outbox: &OutboxSpec, entries: &[Entry]) -> Result<()> {
    for chunk in entries.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO ledger (contact_id, seq, at, body, hash) ");
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.contact_id)
                .push_bind(e.seq)
                .push_bind(e.at)
                .push_bind(e.body.as_str())
                .push_bind(e.hash.as_str());
        });
        qb.build().execute(&mut *conn).await?;
    }
    super::outbound::record(conn, outbox, entries).await?;
    let with_evidence: Vec<(&Entry, &str)> = entries.iter().filter_map(|e| Some((e, e.evidence.as_deref()?))).collect();
    for chunk in with_evidence.chunks(CHUNK / 2) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO evidence (contact_id, seq, data, digest, created_at) ");
        qb.push_values(chunk, |mut b, (e, data)| {
            b.push_bind(e.contact_id)
                .push_bind(e.seq)
                .push_bind(*data)
                .push_bind(evidence::digest(data))
                .push_bind(e.at);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}
