//! Writing contacts: the rows of a `modify` plan (contacts, subscriptions, consents and
//! ledger entries), inside the caller's transaction. Multi-row statements with binds on
//! SQLite; on PostgreSQL new rows go by `COPY` and many changed rows through a staging
//! table (`import_copy.rs`), the same rows either way.

use super::import_copy::{self, CopyRows, STAGE_MIN};
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

/// One contact row in `WRITE_COLUMNS` order, for `COPY` (as [`push_contact`] binds it).
fn copy_contact(rows: &mut CopyRows, id: ContactId, w: &ContactWrite, head: &Head) {
    let c = &w.after;
    let ident = &c.identity;
    let attributes = serde_json::to_string(&ident.attributes).expect("a map of strings always serialises");
    rows.int(id.get())
        .text(c.email.as_str())
        .text(c.email.normalized())
        .text(&w.email_mac)
        .opt(ident.first_name.as_deref())
        .opt(ident.last_name.as_deref())
        .opt(ident.company.as_deref())
        .opt(ident.title.as_deref())
        .opt(ident.phone.as_deref())
        .opt(ident.website.as_deref())
        .opt(ident.country.as_deref())
        .opt(ident.crm_id.as_deref())
        .text(&attributes)
        .text(c.opt_in.as_str())
        .opt(c.legal_basis.map(|b| b.as_str()))
        .opt(c.legal_basis_note.as_deref())
        .opt_ts(c.consent_date)
        .text(c.source_type.as_str())
        .opt(c.source_note.as_deref())
        .text(c.processing.as_str())
        .text(c.bounce.status.as_str())
        .int(i64::from(c.bounce.consecutive_hard as i32))
        .ts(c.created_at)
        .ts(c.updated_at)
        .int(head.seq)
        .text(&head.hash)
        .end();
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
    write_contact_rows(conn, &rows).await?;
    write_subscriptions(conn, writes, &ids, now).await?;
    write_consents(conn, writes, &ids).await?;
    insert_entries(conn, outbox, &entries).await?;
    let sensitive: Vec<_> = ids.iter().copied().zip(writes.iter().map(|w| &w.sensitive)).collect();
    super::sensitive::write(conn, &sensitive, now).await?;
    Ok(ids)
}

/// The contacts' rows: on PostgreSQL, new contacts by `COPY` (their ids were allocated in
/// this transaction, so no row, theirs or their lists' and purposes', can conflict) and
/// changed ones staged when there are many.
async fn write_contact_rows(conn: &mut Conn, rows: &[(ContactId, &ContactWrite, &Head)]) -> Result<()> {
    let upsert = format!(
        "ON CONFLICT (id) DO UPDATE SET {}",
        WRITE_COLUMNS.split(", ").skip(1).map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ")
    );
    let changed: Vec<(ContactId, &ContactWrite, &Head)> = match DIALECT {
        Dialect::Sqlite => rows.to_vec(),
        Dialect::Postgres => {
            let (fresh, changed): (Vec<_>, Vec<_>) = rows.iter().copied().partition(|(_, w, _)| w.after.id.is_none());
            let mut copy = CopyRows::default();
            for (id, w, head) in fresh {
                copy_contact(&mut copy, id, w, head);
            }
            import_copy::copy(conn, &format!("contacts ({WRITE_COLUMNS})"), &copy).await?;
            if changed.len() >= STAGE_MIN {
                let mut staged = CopyRows::default();
                for (id, w, head) in changed {
                    copy_contact(&mut staged, id, w, head);
                }
                return import_copy::merge(conn, "contacts", WRITE_COLUMNS, &staged, &upsert).await;
            }
            changed
        }
    };
    for chunk in changed.chunks(CHUNK / 2) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO contacts ({WRITE_COLUMNS}) "));
        qb.push_values(chunk, |mut b, (id, w, head)| push_contact(&mut b, *id, w, head));
        qb.push(" ");
        qb.push(&upsert);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which of `rows` (each marked whether its contact is new) a table's multi-row upsert still writes,
/// after PostgreSQL's `COPY` of the new ones (`copy_to`: `table (columns)`) and, when
/// there are many others, their merge through a staging table (then none are left).
async fn bulk_first<R: Copy>(
    conn: &mut Conn,
    rows: &[(bool, R)],
    table: &str,
    columns: &str,
    upsert: &str,
    encode: impl Fn(&mut CopyRows, R),
) -> Result<Vec<R>> {
    if DIALECT == Dialect::Sqlite {
        return Ok(rows.iter().map(|(_, r)| *r).collect());
    }
    let mut fresh = CopyRows::default();
    let mut changed = Vec::new();
    for (new, r) in rows {
        if *new {
            encode(&mut fresh, *r);
        } else {
            changed.push(*r);
        }
    }
    import_copy::copy(conn, &format!("{table} ({columns})"), &fresh).await?;
    if changed.len() < STAGE_MIN {
        return Ok(changed);
    }
    let mut staged = CopyRows::default();
    for r in changed {
        encode(&mut staged, r);
    }
    import_copy::merge(conn, table, columns, &staged, upsert).await?;
    Ok(Vec::new())
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
    let rows: Vec<(bool, (ContactId, &str, &str))> = writes
        .iter()
        .zip(ids)
        .flat_map(|(w, id)| {
            w.after
                .lists
                .iter()
                .filter(move |(l, s)| w.before.as_ref().and_then(|b| b.lists.get(*l)) != Some(*s))
                .map(move |(l, s)| (w.after.id.is_none(), (*id, l.as_str(), s.as_str())))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Lists not declared in the config are created on first use (DESIGN §7).
    let lists: HashSet<&str> = rows.iter().map(|(_, r)| r.1).collect();
    let mut qb = QueryBuilder::<Db>::new("SELECT name FROM lists WHERE name");
    push_in(&mut qb, lists.iter().copied());
    let known: HashSet<String> =
        qb.build().fetch_all(&mut *conn).await?.iter().map(|r| r.try_get("name")).collect::<Result<_, _>>()?;
    ensure_names(conn, "lists", lists.into_iter().filter(|l| !known.contains(*l)).collect(), now).await?;
    let upsert =
        "ON CONFLICT (contact_id, list) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at";
    let columns = "contact_id, list, status, updated_at";
    let rest = bulk_first(conn, &rows, "subscriptions", columns, upsert, |c, (id, list, status)| {
        c.int(id.get()).text(list).text(status).ts(now).end();
    })
    .await?;
    for chunk in rest.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO subscriptions ({columns}) "));
        qb.push_values(chunk, |mut b, (id, list, status)| {
            b.push_bind(*id).push_bind(*list).push_bind(*status).push_bind(now);
        });
        qb.push(" ");
        qb.push(upsert);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_consents(conn: &mut Conn, writes: &[ContactWrite], ids: &[ContactId]) -> Result<()> {
    let rows: Vec<(bool, (ContactId, &str, PurposeConsent))> = writes
        .iter()
        .zip(ids)
        .flat_map(|(w, id)| {
            w.after
                .purposes
                .iter()
                .filter(move |(p, s)| w.before.as_ref().and_then(|b| b.purposes.get(*p)) != Some(*s))
                .map(move |(p, s)| (w.after.id.is_none(), (*id, p.as_str(), *s)))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let now = rows[0].1.2.at;
    ensure_names(conn, "purposes", rows.iter().map(|(_, r)| r.1).collect(), now).await?;
    let upsert = "ON CONFLICT (contact_id, purpose) DO UPDATE SET state = excluded.state, at = excluded.at";
    let columns = "contact_id, purpose, state, at";
    let rest = bulk_first(conn, &rows, "consents", columns, upsert, |c, (id, purpose, consent)| {
        c.int(id.get()).text(purpose).text(consent.state.as_str()).ts(consent.at).end();
    })
    .await?;
    for chunk in rest.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO consents ({columns}) "));
        qb.push_values(chunk, |mut b, (id, purpose, consent)| {
            b.push_bind(*id).push_bind(*purpose).push_bind(consent.state.as_str()).push_bind(consent.at);
        });
        qb.push(" ");
        qb.push(upsert);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes ledger entries and, beside each that has evidence, its evidence row (the
/// body holds only the digest; see `consent::evidence`), and the webhook outbox rows
/// `outbox` asks for (`store/outbound.rs`): all in the caller's transaction.
pub(super) async fn insert_entries(conn: &mut Conn, outbox: &OutboxSpec, entries: &[Entry]) -> Result<()> {
    if DIALECT == Dialect::Postgres {
        return copy_entries(conn, outbox, entries).await;
    }
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

/// [`insert_entries`] on PostgreSQL: the entries by `COPY`, in the order they were sealed
/// (each contact's chain in sequence), then the outbox rows, then the evidence by `COPY`.
async fn copy_entries(conn: &mut Conn, outbox: &OutboxSpec, entries: &[Entry]) -> Result<()> {
    let mut ledger = CopyRows::default();
    let mut evidence = CopyRows::default();
    for e in entries {
        ledger.int(e.contact_id.get()).int(e.seq).ts(e.at).text(&e.body).text(&e.hash).end();
        if let Some(data) = e.evidence.as_deref() {
            evidence.int(e.contact_id.get()).int(e.seq).text(data).text(&evidence::digest(data)).ts(e.at).end();
        }
    }
    import_copy::copy(conn, "ledger (contact_id, seq, at, body, hash)", &ledger).await?;
    super::outbound::record(conn, outbox, entries).await?;
    import_copy::copy(conn, "evidence (contact_id, seq, data, digest, created_at)", &evidence).await
}
