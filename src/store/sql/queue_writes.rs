//! The send writer's group commit (DESIGN §4): "transmitting" marks and outcomes.

use super::support::{CHUNK, Conn, push_in};
use super::{DIALECT, Db};
use crate::domain::SendId;
use crate::domain::SendState;
use crate::error::Result;
use crate::store::Dialect;
use crate::store::queue::{BounceRecord, Mark, Outcome};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

/// One group commit: the marks (each granted or not, in order) and the outcomes. Marks
/// and outcomes go together in one statement per chunk, so the usual batch (a few of
/// each) is one statement that SQLite commits by itself; a larger one runs in a
/// transaction. (On SQLite, BEGIN and COMMIT are each a round trip to the connection's
/// thread that waits for an acknowledgement: they would double the cost of a commit.)
/// A batch with bounces also runs in a transaction: a bounce is recorded only for an
/// outcome that was written.
pub(in crate::store) async fn write_batch(
    conn: &mut Conn,
    owner: &str,
    marks: &[Mark],
    transmit_lease: DateTime<Utc>,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let bounces = outcomes.iter().any(|o| o.bounce.is_some());
    let writes: Vec<Write> = marks
        .iter()
        .map(Write::Mark)
        .chain(outcomes.iter().filter(|o| o.bounce.is_none()).map(Write::Outcome))
        .collect();
    let per_statement = match DIALECT {
        Dialect::Postgres => usize::MAX,
        Dialect::Sqlite => WRITE_CHUNK,
    };
    if writes.len() <= per_statement && !bounces {
        let granted = write_rows(conn, owner, &writes, transmit_lease, now).await?.granted;
        return Ok(marks.iter().map(|m| granted.contains(&m.send_id)).collect());
    }
    let mut tx = match DIALECT {
        // Take the write lock up front, as every other SQLite writer here does.
        Dialect::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?,
        Dialect::Postgres => sqlx::Connection::begin(&mut *conn).await?,
    };
    let mut granted = std::collections::HashSet::new();
    for chunk in writes.chunks(per_statement) {
        granted.extend(write_rows(&mut tx, owner, chunk, transmit_lease, now).await?.granted);
    }
    // A bounce is recorded only for an outcome that was written (its lease still held):
    // one statement each (bounces are rare), to know which.
    for o in outcomes {
        if let Some(b) = &o.bounce
            && write_rows(&mut tx, owner, &[Write::Outcome(o)], transmit_lease, now).await?.rows == 1
        {
            insert_bounce(&mut tx, o.send_id, b, now).await?;
        }
    }
    tx.commit().await?;
    Ok(marks.iter().map(|m| granted.contains(&m.send_id)).collect())
}

/// One row of a group commit.
enum Write<'a> {
    Mark(&'a Mark),
    Outcome(&'a Outcome),
}

/// Marks and outcomes per statement on SQLite (twelve bind parameters each; PostgreSQL
/// takes them all as one parameter).
const WRITE_CHUNK: usize = CHUNK / 4;

/// What one statement of a group commit wrote.
struct Written {
    rows: u64,
    /// The marks granted.
    granted: std::collections::HashSet<SendId>,
}

/// Marks and outcomes in one statement.
///
/// A mark turns a `claimed` row this owner holds into `transmitting`, only while its lease
/// lasts (recovery may take back a claim whose lease ran out), its campaign runs and its
/// contact's record is the one the re-check saw; an outcome ends
/// the row's lease with its result. (No row is both: an outcome comes after its mark's
/// commit.)
async fn write_rows(
    conn: &mut Conn,
    owner: &str,
    rows: &[Write<'_>],
    transmit_lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Written> {
    let mut granted = std::collections::HashSet::new();
    if rows.is_empty() {
        return Ok(Written { rows: 0, granted });
    }
    let mut qb = match DIALECT {
        // One parameter whatever the number of rows: the statement's text never changes,
        // so the connection prepares it once (a VALUES list of each length is a statement
        // of its own, parsed and planned afresh).
        Dialect::Postgres => {
            let mut qb = QueryBuilder::<Db>::new("WITH w AS (SELECT * FROM json_to_recordset(");
            qb.push_bind(rows_json(rows, now));
            qb.push(
                "::json) AS x(id bigint, mark boolean, seq bigint, state text, reason text, attempts integer, \
                 due_at timestamptz, relay text, smtp_code integer, smtp_text text, first_attempt_at timestamptz, \
                 sent_at timestamptz)",
            );
            // As many rows as there are: without a LIMIT the planner takes the function for
            // 100 rows, and joins them by hashing every row this owner leases (hundreds,
            // read at each statement) instead of looking each one up by its key.
            qb.push(" LIMIT ").push_bind(rows.len() as i64);
            qb
        }
        Dialect::Sqlite => {
            let mut qb = QueryBuilder::<Db>::new(
                "WITH w(id, mark, seq, state, reason, attempts, due_at, relay, smtp_code, smtp_text, \
                 first_attempt_at, sent_at) AS (",
            );
            qb.push_values(rows, |mut b, row| match row {
                Write::Mark(m) => {
                    b.push_bind(m.send_id)
                        .push_bind(true)
                        .push_bind(m.ledger_seq)
                        .push_bind(SendState::Transmitting.as_str())
                        .push_bind(None::<String>)
                        .push_bind(0i32)
                        .push_bind(None::<DateTime<Utc>>)
                        .push_bind(None::<String>)
                        .push_bind(None::<i32>)
                        .push_bind(None::<String>)
                        .push_bind(None::<DateTime<Utc>>)
                        .push_bind(None::<DateTime<Utc>>);
                }
                Write::Outcome(o) => {
                    b.push_bind(o.send_id)
                        .push_bind(false)
                        .push_bind(0i64)
                        .push_bind(o.state.as_str())
                        .push_bind(o.reason.clone())
                        .push_bind(o.attempts)
                        .push_bind(o.due_at)
                        .push_bind(o.relay.clone())
                        .push_bind(o.smtp_code)
                        .push_bind(o.smtp_text.clone())
                        .push_bind(o.first_attempt_at)
                        .push_bind((o.state == SendState::Sent).then_some(now));
                }
            });
            qb
        }
    };
    qb.push(
        ") UPDATE sends SET state = w.state, \
         reason = CASE WHEN w.mark THEN sends.reason ELSE w.reason END, \
         attempts = CASE WHEN w.mark THEN sends.attempts ELSE w.attempts END, \
         due_at = CASE WHEN w.mark THEN sends.due_at ELSE w.due_at END, \
         relay = COALESCE(w.relay, sends.relay), \
         smtp_code = CASE WHEN w.mark THEN sends.smtp_code ELSE w.smtp_code END, \
         smtp_text = CASE WHEN w.mark THEN sends.smtp_text ELSE w.smtp_text END, \
         first_attempt_at = COALESCE(sends.first_attempt_at, w.first_attempt_at), \
         sent_at = COALESCE(w.sent_at, sends.sent_at), \
         lease_owner = CASE WHEN w.mark THEN sends.lease_owner END, \
         lease_until = CASE WHEN w.mark THEN ",
    );
    qb.push_bind(transmit_lease).push(" END, updated_at = ").push_bind(now);
    qb.push(" FROM w WHERE sends.id = w.id AND sends.lease_owner = ").push_bind(owner);
    qb.push(" AND (NOT w.mark OR (sends.state = 'claimed' AND sends.lease_until > ").push_bind(now);
    qb.push(concat!(" AND ", mark_guard!("w.seq"), "))"));
    // No RETURNING: rows come back one message each from SQLite's thread. Nearly always
    // every row is written; only when some were not, ask which marks were granted (a row
    // this owner holds as `transmitting` can only have been granted just now).
    let done = qb.build().execute(&mut *conn).await?.rows_affected();
    let marks = rows.iter().filter_map(|r| match r {
        Write::Mark(m) => Some(m.send_id),
        Write::Outcome(_) => None,
    });
    if done == rows.len() as u64 {
        granted.extend(marks);
    } else if marks.clone().next().is_some() {
        let mut q = QueryBuilder::<Db>::new("SELECT id FROM sends WHERE state = 'transmitting' AND lease_owner = ");
        q.push_bind(owner).push(" AND id");
        push_in(&mut q, marks);
        for row in q.build().fetch_all(&mut *conn).await? {
            granted.insert(row.try_get::<SendId, _>(0)?);
        }
    }
    Ok(Written { rows: done, granted })
}

/// The rows of [`write_rows`] as the JSON array PostgreSQL's `json_to_recordset` reads.
/// Times go as RFC 3339 text cut to microseconds, as sqlx's binary encoding cuts them.
fn rows_json(rows: &[Write<'_>], now: DateTime<Utc>) -> String {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| match row {
            Write::Mark(m) => serde_json::json!({
                "id": m.send_id,
                "mark": true,
                "seq": m.ledger_seq,
                "state": SendState::Transmitting.as_str(),
                "attempts": 0,
            }),
            Write::Outcome(o) => serde_json::json!({
                "id": o.send_id,
                "mark": false,
                "seq": 0,
                "state": o.state.as_str(),
                "reason": o.reason,
                "attempts": o.attempts,
                "due_at": time(o.due_at),
                "relay": o.relay,
                "smtp_code": o.smtp_code,
                "smtp_text": o.smtp_text,
                "first_attempt_at": time(o.first_attempt_at),
                "sent_at": time((o.state == SendState::Sent).then_some(now)),
            }),
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

async fn insert_bounce(conn: &mut Conn, send_id: SendId, b: &BounceRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO bounces (send_id, campaign_id, contact_id, kind, status, reason, diagnostic, source, received_at) \
         SELECT id, campaign_id, contact_id, $1, $2, $3, $4, $5, $6 FROM sends WHERE id = $7 \
         ON CONFLICT DO NOTHING",
    )
    .bind(b.kind.as_str())
    .bind(&b.status)
    .bind(&b.reason)
    .bind(&b.diagnostic)
    .bind(&b.source)
    .bind(now)
    .bind(send_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
