//! Reading contacts (by address, by id, by selection), and [`Store::modify`]'s
//! read-modify-write transaction around the writes of `contact_write.rs`.
//!
//! [`Store::modify`]: crate::store::Store::modify

use super::contact_write::write_contacts;
use super::support::{CHUNK, Conn, DbRow, KEEP_IN_LISTS_PREPARED, Pool, READ_CHUNK, begin_write, push_in};
use super::suppression::load_suppressed;
use super::{DIALECT, Db};
use crate::consent::ledger::Head;
use crate::domain::ContactId;
use crate::domain::{Bounce, Contact, EmailAddress, Identity, ListName, OptInStatus, Purpose, PurposeConsent};
use crate::error::{Error, Result};
use crate::store::{ContactWrite, Count, Dialect, Loaded, OutboxSpec, SelectedContact, Selection, corrupt};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap};

/// Attempts of a read-modify-write that lost a race with a concurrent writer.
const MAX_ATTEMPTS: u32 = 5;

pub(super) const CONTACT_COLUMNS: &str = "id, email, email_norm, first_name, last_name, company, title, phone, website, country, crm_id, \
     attributes, opt_in_status, legal_basis, legal_basis_note, consent_date, source_type, source_note, processing, \
     bounce_status, consecutive_hard_bounces, created_at, updated_at, ledger_seq, ledger_hash";

fn lost_race(e: &Error) -> bool {
    let Error::Internal(e) = e else { return false };
    e.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => {
            db.is_unique_violation() || matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
        }
        _ => false,
    })
}

pub(in crate::store) async fn modify<T, F>(
    pool: &Pool,
    outbox: &OutboxSpec,
    norms: &[String],
    macs: &[String],
    now: DateTime<Utc>,
    mut plan: F,
) -> Result<(Vec<ContactId>, T)>
where
    F: FnMut(&Loaded) -> Result<(Vec<ContactWrite>, T)>,
{
    let mut attempt = 1;
    loop {
        match modify_once(pool, outbox, norms, macs, now, &mut plan).await {
            Err(e) if attempt < MAX_ATTEMPTS && lost_race(&e) => attempt += 1,
            other => return other,
        }
    }
}

async fn modify_once<T, F>(
    pool: &Pool,
    outbox: &OutboxSpec,
    norms: &[String],
    macs: &[String],
    now: DateTime<Utc>,
    plan: &mut F,
) -> Result<(Vec<ContactId>, T)>
where
    F: FnMut(&Loaded) -> Result<(Vec<ContactWrite>, T)>,
{
    let mut tx = begin_write(pool).await?;
    let (contacts, heads) = load_contacts(&mut tx, norms, true).await?;
    let loaded = Loaded { contacts, suppressed: load_suppressed(&mut tx, macs).await? };
    let (writes, out) = plan(&loaded)?;
    let ids = write_contacts(&mut tx, outbox, &writes, &heads, now).await?;
    tx.commit().await?;
    Ok((ids, out))
}

/// The records of `norms`, and their ledger heads by contact id.
pub(super) async fn load_contacts(
    conn: &mut Conn,
    norms: &[String],
    lock: bool,
) -> Result<(HashMap<String, Contact>, HashMap<ContactId, Head>)> {
    let mut contacts = HashMap::with_capacity(norms.len());
    let mut heads = HashMap::with_capacity(norms.len());
    for chunk in norms.chunks(READ_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE email_norm"));
        push_in(&mut qb, chunk.iter().map(String::as_str));
        if lock && DIALECT == Dialect::Postgres {
            qb.push(" FOR UPDATE");
        }
        for row in qb.build().persistent(KEEP_IN_LISTS_PREPARED).fetch_all(&mut *conn).await? {
            let c = contact_from_row(&row)?;
            heads.insert(
                row.try_get("id")?,
                Head { seq: row.try_get("ledger_seq")?, hash: row.try_get("ledger_hash")? },
            );
            contacts.insert(c.email.normalized().to_owned(), c);
        }
    }
    let ids: Vec<ContactId> = contacts.values().filter_map(|c| c.id).collect();
    let by_id: HashMap<ContactId, String> =
        contacts.values().filter_map(|c| Some((c.id?, c.email.normalized().to_owned()))).collect();
    for chunk in ids.chunks(READ_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT contact_id, list, status FROM subscriptions WHERE contact_id");
        push_in(&mut qb, chunk.iter().copied());
        for row in qb.build().persistent(KEEP_IN_LISTS_PREPARED).fetch_all(&mut *conn).await? {
            let id: ContactId = row.try_get("contact_id")?;
            let list = ListName::parse(row.try_get("list")?).map_err(|e| corrupt("list name", e))?;
            let status = row.try_get::<&str, _>("status")?.parse().map_err(|e| corrupt("subscription", e))?;
            if let Some(c) = by_id.get(&id).and_then(|n| contacts.get_mut(n)) {
                c.lists.insert(list, status);
            }
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT contact_id, purpose, state, at FROM consents WHERE contact_id");
        push_in(&mut qb, chunk.iter().copied());
        for row in qb.build().persistent(KEEP_IN_LISTS_PREPARED).fetch_all(&mut *conn).await? {
            let id: ContactId = row.try_get("contact_id")?;
            let purpose = Purpose::parse(row.try_get("purpose")?).map_err(|e| corrupt("purpose", e))?;
            let state = row.try_get::<&str, _>("state")?.parse().map_err(|e| corrupt("consent", e))?;
            let at = row.try_get("at")?;
            if let Some(c) = by_id.get(&id).and_then(|n| contacts.get_mut(n)) {
                c.purposes.insert(purpose, PurposeConsent { state, at });
            }
        }
    }
    Ok((contacts, heads))
}

pub(super) fn contact_from_row(row: &DbRow) -> Result<Contact> {
    fn parsed<T: std::str::FromStr<Err = crate::domain::ParseError>>(row: &DbRow, col: &str) -> Result<T> {
        row.try_get::<&str, _>(col)?.parse().map_err(|e| corrupt(col, e))
    }
    let legal_basis: Option<&str> = row.try_get("legal_basis")?;
    let Json(attributes): Json<BTreeMap<String, String>> = row.try_get("attributes")?;
    Ok(Contact {
        id: Some(row.try_get("id")?),
        email: EmailAddress::parse(row.try_get("email")?).map_err(|e| corrupt("email", e))?,
        identity: Identity {
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            company: row.try_get("company")?,
            title: row.try_get("title")?,
            phone: row.try_get("phone")?,
            website: row.try_get("website")?,
            country: row.try_get("country")?,
            crm_id: row.try_get("crm_id")?,
            attributes,
        },
        opt_in: parsed(row, "opt_in_status")?,
        legal_basis: legal_basis.map(str::parse).transpose().map_err(|e| corrupt("legal_basis", e))?,
        legal_basis_note: row.try_get("legal_basis_note")?,
        consent_date: row.try_get("consent_date")?,
        source_type: parsed(row, "source_type")?,
        source_note: row.try_get("source_note")?,
        purposes: BTreeMap::new(),
        lists: BTreeMap::new(),
        processing: parsed(row, "processing")?,
        bounce: Bounce {
            status: parsed(row, "bounce_status")?,
            consecutive_hard: row.try_get::<i32, _>("consecutive_hard_bounces")?.max(0) as u32,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(in crate::store) async fn load_one(pool: &Pool, norm: &str) -> Result<Option<Contact>> {
    let mut conn = pool.acquire().await?;
    let (mut found, _) = load_contacts(&mut conn, &[norm.to_owned()], false).await?;
    Ok(found.remove(norm))
}

pub(in crate::store) async fn contacts_by_id(pool: &Pool, ids: &[ContactId]) -> Result<Vec<Contact>> {
    let mut conn = pool.acquire().await?;
    let mut norms = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT email_norm FROM contacts WHERE id");
        push_in(&mut qb, chunk.iter().copied());
        for row in qb.build().fetch_all(&mut *conn).await? {
            norms.push(row.try_get::<String, _>("email_norm")?);
        }
    }
    let (found, _) = load_contacts(&mut conn, &norms, false).await?;
    let mut contacts: Vec<Contact> = found.into_values().collect();
    contacts.sort_by_key(|c| c.id);
    Ok(contacts)
}

pub(in crate::store) async fn select(
    pool: &Pool,
    selection: &Selection,
    after_id: ContactId,
    limit: i64,
) -> Result<Vec<SelectedContact>> {
    let query = match selection {
        Selection::List(list) => sqlx::query(
            "SELECT c.id, c.email_norm FROM contacts c JOIN subscriptions s ON s.contact_id = c.id \
             WHERE s.list = $1 AND c.id > $2 ORDER BY c.id LIMIT $3",
        )
        .bind(list.as_str()),
        Selection::Source(source) => {
            sqlx::query("SELECT id, email_norm FROM contacts WHERE source_type = $1 AND id > $2 ORDER BY id LIMIT $3")
                .bind(source.as_str())
        }
    };
    let rows = query.bind(after_id).bind(limit).fetch_all(pool).await?;
    rows.iter().map(|r| Ok(SelectedContact { id: r.try_get(0)?, email_norm: r.try_get(1)? })).collect()
}

pub(in crate::store) async fn count_contacts(pool: &Pool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM contacts").fetch_one(pool).await?)
}

pub(in crate::store) async fn count_by_opt_in(pool: &Pool) -> Result<Vec<Count<OptInStatus>>> {
    let rows =
        sqlx::query("SELECT opt_in_status, COUNT(*) AS n FROM contacts GROUP BY opt_in_status ORDER BY opt_in_status")
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(Count {
                key: r.try_get::<&str, _>("opt_in_status")?.parse().map_err(|e| corrupt("opt_in_status", e))?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}
