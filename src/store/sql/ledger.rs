// The suppression list and the consent ledger's reads, compiled once per backend inside
// the same module as `sql.rs` (see mod.rs), whose imports and helpers they share.

async fn append_to_holders(conn: &mut Conn, mac: &str, event: &EventDraft, now: DateTime<Utc>) -> Result<()> {
    let lock = if DIALECT == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT id, ledger_seq, ledger_hash FROM contacts WHERE email_mac = $1{lock}");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(mac).fetch_all(&mut *conn).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let head = Head { seq: r.try_get("ledger_seq")?, hash: r.try_get("ledger_hash")? };
        let (entry, next) = ledger::seal(event, id, &head, now);
        entries.push(entry);
        sqlx::query("UPDATE contacts SET ledger_seq = $1, ledger_hash = $2 WHERE id = $3")
            .bind(next.seq)
            .bind(next.hash)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    insert_entries(conn, &entries).await
}

pub(super) async fn is_suppressed(pool: &Pool, mac: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM suppression WHERE mac = $1").bind(mac).fetch_one(pool).await? > 0)
}

pub(super) async fn suppress(pool: &Pool, mac: &str, reason: &str, event: &EventDraft, now: DateTime<Utc>) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let added = sqlx::query("INSERT INTO suppression (mac, reason, actor, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (mac) DO NOTHING")
        .bind(mac)
        .bind(reason)
        .bind(&event.actor)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if added {
        append_to_holders(&mut tx, mac, event, now).await?;
    }
    tx.commit().await?;
    Ok(added)
}

pub(super) async fn unsuppress(pool: &Pool, mac: &str, event: &EventDraft, now: DateTime<Utc>) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let removed = sqlx::query("DELETE FROM suppression WHERE mac = $1").bind(mac).execute(&mut *tx).await?.rows_affected() == 1;
    if removed {
        append_to_holders(&mut tx, mac, event, now).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

pub(super) async fn suppression_list(pool: &Pool) -> Result<Vec<Suppression>> {
    let rows = sqlx::query(
        "SELECT s.mac, s.reason, s.actor, s.created_at, \
                (SELECT MIN(c.email) FROM contacts c WHERE c.email_mac = s.mac) AS email \
         FROM suppression s ORDER BY s.created_at, s.mac",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Suppression {
                mac: r.try_get("mac")?,
                reason: r.try_get("reason")?,
                actor: r.try_get("actor")?,
                created_at: r.try_get("created_at")?,
                email: r.try_get("email")?,
            })
        })
        .collect()
}

fn entry_from_row(r: &DbRow) -> Result<Entry> {
    Ok(Entry {
        contact_id: r.try_get("contact_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        body: r.try_get("body")?,
        hash: r.try_get("hash")?,
    })
}

pub(super) async fn ledger(pool: &Pool, contact_id: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query("SELECT contact_id, seq, at, body, hash FROM ledger WHERE contact_id = $1 ORDER BY seq")
        .bind(contact_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

pub(super) async fn chains(pool: &Pool, after_id: i64, limit: i64) -> Result<Vec<StoredChain>> {
    let contacts = sqlx::query("SELECT id, email, ledger_seq, ledger_hash FROM contacts WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let (Some(first), Some(last)) = (contacts.first(), contacts.last()) else {
        return Ok(Vec::new());
    };
    let (first, last): (i64, i64) = (first.try_get("id")?, last.try_get("id")?);
    let mut chains: BTreeMap<i64, StoredChain> = BTreeMap::new();
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
