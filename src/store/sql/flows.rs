//! Flow enrolments (see `store/flows.rs`): multi-row enrolment, exits, the scheduler's
//! claim-and-advance transaction, pauses and the status counts.

use super::DIALECT;
use super::support::{CHUNK, DbRow, Pool, begin_write, push_in};
use crate::domain::{ContactId, SendId};
use crate::error::Result;
use crate::store::flows::{
    Advance, Advanced, DueEnrolment, EnrolmentGroup, NewEnrolment, Next, PreviousSend, StepOutcome,
};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::Db;

pub(in crate::store) async fn enrol(pool: &Pool, rows: &[NewEnrolment], now: DateTime<Utc>) -> Result<u64> {
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO flow_enrolments (flow, contact_id, trigger_key, entry_key, properties, step_index, \
             step_name, flow_hash, due_at, state, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.flow.as_str())
                .push_bind(r.contact_id)
                .push_bind(r.trigger_key.as_str())
                .push_bind(r.entry_key.as_str())
                .push_bind(r.properties.to_string())
                .push_bind(r.step_index)
                .push_bind(r.step_name.as_str())
                .push_bind(r.flow_hash.as_str())
                .push_bind(r.due_at)
                .push("'active'")
                .push_bind(now)
                .push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        inserted += qb.build().execute(pool).await?.rows_affected();
    }
    Ok(inserted)
}

pub(in crate::store) async fn processable_contacts(pool: &Pool, ids: &[ContactId]) -> Result<HashSet<ContactId>> {
    let mut out = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT id FROM contacts WHERE processing = 'active' AND id");
        push_in(&mut qb, chunk.iter().copied());
        for r in qb.build().fetch_all(pool).await? {
            out.insert(r.try_get("id")?);
        }
    }
    Ok(out)
}

pub(in crate::store) async fn exit(
    pool: &Pool,
    contact_id: ContactId,
    flow: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE flow_enrolments SET state = 'exited', exit_reason = $1, due_at = NULL, updated_at = $2 \
         WHERE contact_id = $3 AND state = 'active' AND ($4 IS NULL OR flow = $4)",
    )
    .bind(reason)
    .bind(now)
    .bind(contact_id)
    .bind(flow)
    .execute(pool)
    .await?
    .rows_affected())
}

pub(in crate::store) async fn exit_skipped(pool: &Pool, reasons: &[&str], now: DateTime<Utc>) -> Result<u64> {
    let mut qb = QueryBuilder::<Db>::new(
        "UPDATE flow_enrolments SET state = 'exited', \
         exit_reason = (SELECT s.reason FROM sends s WHERE s.id = flow_enrolments.last_send_id), \
         due_at = NULL, updated_at = ",
    );
    qb.push_bind(now).push(
        " WHERE state = 'active' AND last_send_id IN (SELECT id FROM sends WHERE campaign_id IS NULL \
         AND source = 'flow' AND state = 'skipped' AND reason",
    );
    push_in(&mut qb, reasons.iter().copied());
    qb.push(")");
    Ok(qb.build().execute(pool).await?.rows_affected())
}

fn due_from_row(r: &DbRow) -> Result<DueEnrolment> {
    let properties: String = r.try_get("properties")?;
    let Json(attributes): Json<BTreeMap<String, String>> = r.try_get("attributes")?;
    let prev_id: Option<SendId> = r.try_get("prev_id")?;
    let previous = match prev_id {
        Some(id) => Some(PreviousSend {
            id,
            state: r.try_get("prev_state")?,
            reason: r.try_get("prev_reason")?,
            opened: r.try_get("prev_opened")?,
            clicked: r.try_get("prev_clicked")?,
        }),
        None => None,
    };
    Ok(DueEnrolment {
        id: r.try_get("id")?,
        flow: r.try_get("flow")?,
        contact_id: r.try_get("contact_id")?,
        step_index: r.try_get("step_index")?,
        step_name: r.try_get("step_name")?,
        flow_hash: r.try_get("flow_hash")?,
        properties: serde_json::from_str(&properties).map_err(|e| corrupt("enrolment properties", e))?,
        due_at: r.try_get("due_at")?,
        attributes,
        previous,
        done_steps: r
            .try_get::<Option<String>, _>("done_steps")?
            .map(|s| s.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

pub(in crate::store) async fn advance<F>(
    pool: &Pool,
    flow: &str,
    now: DateTime<Utc>,
    limit: i64,
    plan: F,
) -> Result<Advanced>
where
    F: FnOnce(Vec<DueEnrolment>) -> Vec<Advance>,
{
    let mut tx = begin_write(pool).await?;
    let done_steps = match DIALECT {
        Dialect::Sqlite => "(SELECT group_concat(f.step_name, ',') FROM flow_steps f WHERE f.enrolment_id = e.id)",
        Dialect::Postgres => "(SELECT string_agg(f.step_name, ',') FROM flow_steps f WHERE f.enrolment_id = e.id)",
    };
    // The send an open or a click trigger names in its key (`open:SEND`, `click:SEND`,
    // written by the watcher, never by a caller): the "previous message" of a step with
    // no flow message before it, for `unless = "clicked"|"opened"`.
    let trigger_send = match DIALECT {
        Dialect::Sqlite => {
            "CASE WHEN e.trigger_key LIKE 'open:%' OR e.trigger_key LIKE 'click:%' \
             THEN CAST(substr(e.trigger_key, instr(e.trigger_key, ':') + 1) AS INTEGER) END"
        }
        Dialect::Postgres => {
            "CASE WHEN e.trigger_key ~ '^(open|click):[0-9]{1,18}$' \
             THEN CAST(split_part(e.trigger_key, ':', 2) AS BIGINT) END"
        }
    };
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT e.id, e.flow, e.contact_id, e.step_index, e.step_name, e.flow_hash, e.properties, e.due_at, \
         {done_steps} AS done_steps, k.attributes, s.id AS prev_id, s.state AS prev_state, s.reason AS prev_reason, \
         (s.opened_at IS NOT NULL) AS prev_opened, (s.clicked_at IS NOT NULL) AS prev_clicked \
         FROM flow_enrolments e JOIN contacts k ON k.id = e.contact_id \
         LEFT JOIN sends s ON s.id = COALESCE(e.last_send_id, {trigger_send}) AND s.contact_id = e.contact_id \
         WHERE e.state = 'active' AND e.due_at <= "
    ));
    // One flow: its due enrolments come in order from the index on (flow, due_at).
    qb.push_bind(now).push(" AND e.flow = ").push_bind(flow);
    qb.push(" ORDER BY e.due_at, e.id LIMIT ").push_bind(limit);
    if DIALECT == Dialect::Postgres {
        qb.push(" FOR UPDATE OF e SKIP LOCKED");
    }
    let rows = qb.build().fetch_all(&mut *tx).await?;
    let due: Vec<DueEnrolment> = rows.iter().map(due_from_row).collect::<Result<_>>()?;
    let mut done = Advanced { claimed: due.len() as u64, ..Default::default() };
    if due.is_empty() {
        return Ok(done);
    }
    let advances = plan(due);

    // The messages, multi-row; each names its enrolment in its context. A contact has at
    // most one active enrolment in a flow, so the contact names the enrolment its send is for.
    let queued: Vec<(&Advance, &serde_json::Value)> = advances
        .iter()
        .flat_map(|a| {
            a.done.iter().filter_map(move |d| match &d.outcome {
                StepOutcome::Queued { context } => Some((a, context)),
                StepOutcome::Skipped { .. } => None,
            })
        })
        .collect();
    let enrolment_of: HashMap<ContactId, i64> = advances.iter().map(|a| (a.contact_id, a.enrolment_id)).collect();
    let mut send_of: HashMap<i64, SendId> = HashMap::with_capacity(queued.len());
    for chunk in queued.chunks(CHUNK) {
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO sends (source, contact_id, context, state, created_at, updated_at) ");
        qb.push_values(chunk, |mut b, (a, context)| {
            b.push("'flow'").push_bind(a.contact_id).push_bind(context.to_string()).push("'queued'");
            b.push_bind(now).push_bind(now);
        });
        qb.push(" RETURNING id, contact_id");
        for r in qb.build().fetch_all(&mut *tx).await? {
            let contact: ContactId = r.try_get("contact_id")?;
            let enrolment =
                enrolment_of.get(&contact).ok_or_else(|| corrupt("flow send", "a contact with no enrolment"))?;
            send_of.insert(*enrolment, r.try_get("id")?);
        }
    }

    let steps: Vec<(&Advance, &crate::store::flows::StepDone)> =
        advances.iter().flat_map(|a| a.done.iter().map(move |d| (a, d))).collect();
    for chunk in steps.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO flow_steps (enrolment_id, step_name, step_index, send_id, outcome, reason, marketing, at) ",
        );
        qb.push_values(chunk, |mut b, (a, d)| {
            let (send, outcome, reason) = match &d.outcome {
                StepOutcome::Queued { .. } => (send_of.get(&a.enrolment_id).copied(), "queued", None),
                StepOutcome::Skipped { reason } => (None, "skipped", Some(reason.as_str())),
            };
            b.push_bind(a.enrolment_id)
                .push_bind(d.step_name.as_str())
                .push_bind(d.step_index)
                .push_bind(send)
                .push_bind(outcome)
                .push_bind(reason)
                .push_bind(d.marketing)
                .push_bind(now);
        });
        qb.build().execute(&mut *tx).await?;
    }

    for a in &advances {
        for d in &a.done {
            match d.outcome {
                StepOutcome::Queued { .. } => done.queued += 1,
                StepOutcome::Skipped { .. } => done.skipped += 1,
            }
        }
        match &a.next {
            Next::Completed => done.completed += 1,
            Next::Exited { .. } => done.exited += 1,
            Next::Step { .. } => {}
        }
    }
    // The enrolments' moves: one UPDATE per group of enrolments moving alike (typically
    // the whole batch), naming each enrolment by id; the send just queued for it (if any)
    // is read back from its step's row, written above in this transaction.
    let mut moves: BTreeMap<(MoveTo<'_>, &str, Option<&str>), Vec<i64>> = BTreeMap::new();
    for a in &advances {
        let to = match &a.next {
            Next::Step { index, name, due_at } => MoveTo::Step(*index, name.as_str(), *due_at),
            Next::Completed => MoveTo::Completed,
            Next::Exited { reason } => MoveTo::Exited(reason.as_str()),
        };
        let queued_step = a.done.iter().find_map(|d| match d.outcome {
            StepOutcome::Queued { .. } => Some(d.step_name.as_str()),
            StepOutcome::Skipped { .. } => None,
        });
        moves.entry((to, a.flow_hash.as_str(), queued_step)).or_default().push(a.enrolment_id);
    }
    for ((to, hash, queued_step), ids) in &moves {
        let (state, index, name, due, reason) = match to {
            MoveTo::Step(index, name, due) => ("active", Some(*index), Some(*name), Some(*due), None),
            MoveTo::Completed => ("completed", None, None, None, None),
            MoveTo::Exited(reason) => ("exited", None, None, None, Some(*reason)),
        };
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("UPDATE flow_enrolments SET state = ");
            qb.push_bind(state).push(", step_index = COALESCE(").push_bind(index).push(", step_index)");
            qb.push(", step_name = COALESCE(").push_bind(name).push(", step_name), due_at = ").push_bind(due);
            qb.push(", exit_reason = ").push_bind(reason).push(", flow_hash = ").push_bind(*hash);
            if let Some(step) = queued_step {
                qb.push(
                    ", last_send_id = COALESCE((SELECT f.send_id FROM flow_steps f \
                     WHERE f.enrolment_id = flow_enrolments.id AND f.step_name = ",
                )
                .push_bind(*step)
                .push("), last_send_id)");
            }
            qb.push(", updated_at = ").push_bind(now).push(" WHERE state = 'active' AND id");
            push_in(&mut qb, chunk.iter().copied());
            qb.build().execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Where a group of enrolments moves (the key of one UPDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MoveTo<'a> {
    Step(i32, &'a str, DateTime<Utc>),
    Completed,
    Exited(&'a str),
}

pub(in crate::store) async fn set_paused(pool: &Pool, flow: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO flow_states (flow, paused, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (flow) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at",
    )
    .bind(flow)
    .bind(paused)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub(in crate::store) async fn paused(pool: &Pool) -> Result<HashSet<String>> {
    let rows = sqlx::query("SELECT flow FROM flow_states WHERE paused").fetch_all(pool).await?;
    rows.iter().map(|r| Ok(r.try_get("flow")?)).collect()
}

pub(in crate::store) async fn groups(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<EnrolmentGroup>> {
    let rows = sqlx::query(
        "SELECT flow, state, step_name, flow_hash, COUNT(*) AS n, \
         SUM(CASE WHEN state = 'active' AND due_at <= $1 THEN 1 ELSE 0 END) AS due, MAX(updated_at) AS last_change \
         FROM flow_enrolments GROUP BY flow, state, step_name, flow_hash ORDER BY flow, state, step_name, flow_hash",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EnrolmentGroup {
                flow: r.try_get("flow")?,
                state: r.try_get("state")?,
                step_name: r.try_get("step_name")?,
                flow_hash: r.try_get("flow_hash")?,
                count: r.try_get("n")?,
                due: r.try_get::<Option<i64>, _>("due")?.unwrap_or(0),
                last_change: r.try_get("last_change")?,
            })
        })
        .collect()
}

pub(in crate::store) async fn send_states(pool: &Pool) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT state, COUNT(*) AS n FROM sends WHERE campaign_id IS NULL AND source = 'flow' GROUP BY state",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("state")?, r.try_get("n")?))).collect()
}

pub(in crate::store) async fn record_version(
    pool: &Pool,
    flow: &str,
    content_hash: &str,
    lists: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO flow_versions (flow, content_hash, lists, recorded_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (flow, content_hash) DO NOTHING",
    )
    .bind(flow)
    .bind(content_hash)
    .bind(lists)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The recorded lists of the flow version the contact's last message of `step_campaign`
/// (`FLOW.STEP`, as its links name it) was queued under (its context's `flow_hash`).
pub(in crate::store) async fn message_lists(
    pool: &Pool,
    contact_id: ContactId,
    step_campaign: &str,
) -> Result<Option<String>> {
    let hash = match DIALECT {
        Dialect::Sqlite => "json_extract(s.context, '$.flow_hash')",
        Dialect::Postgres => "(s.context::json ->> 'flow_hash')",
    };
    let sql = format!(
        "SELECT v.lists FROM flow_steps f JOIN flow_enrolments e ON e.id = f.enrolment_id \
         JOIN sends s ON s.id = f.send_id JOIN flow_versions v ON v.flow = e.flow AND v.content_hash = {hash} \
         WHERE f.send_id = (SELECT MAX(g.send_id) FROM flow_steps g JOIN flow_enrolments n ON n.id = g.enrolment_id \
                            WHERE n.contact_id = $1 AND n.flow || '.' || g.step_name = $2)"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(contact_id).bind(step_campaign).fetch_optional(pool).await?)
}
