//! A flow step taken set-based (see `store/flows.rs`, [`PlainStep`]): the sends, their
//! step rows and the enrolments' moves of a batch written by the database itself, without
//! reading each enrolment out and writing it back.

use super::DIALECT;
use super::Db;
use super::support::{Pool, begin_write, push_in};
use crate::error::Result;
use crate::store::flows::{Advanced, Next, PlainStep};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

pub(in crate::store) async fn advance_step(
    pool: &Pool,
    step: &PlainStep<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Advanced> {
    let (state, index, name, due) = match step.next {
        Next::Step { index, name, due_at } => ("active", Some(*index), Some(name.as_str()), Some(*due_at)),
        Next::Completed => ("completed", None, None, None),
        // Never asked: a plain step moves on or completes.
        Next::Exited { .. } => return Err(corrupt("plain flow step", "an exit")),
    };
    // The enrolments on the step under the file as it is, due, not yet through the step,
    // and whose last message was not skipped for a reason that ends the enrolment.
    let due_on_step = |qb: &mut QueryBuilder<Db>| {
        qb.push(" FROM flow_enrolments e WHERE e.flow = ").push_bind(step.flow.to_owned());
        qb.push(" AND e.state = 'active' AND e.due_at <= ").push_bind(now);
        qb.push(" AND e.flow_hash = ").push_bind(step.flow_hash.to_owned());
        qb.push(" AND e.step_index = ").push_bind(step.step_index);
        qb.push(" AND e.step_name = ").push_bind(step.step_name.to_owned());
        qb.push(" AND NOT EXISTS (SELECT 1 FROM flow_steps f WHERE f.enrolment_id = e.id AND f.step_name = ");
        qb.push_bind(step.step_name.to_owned());
        qb.push(
            ") AND (e.last_send_id IS NULL OR NOT EXISTS (SELECT 1 FROM sends p WHERE p.id = e.last_send_id \
                 AND p.state = 'skipped' AND p.reason",
        );
        push_in(qb, step.exit_reasons.iter().map(|r| (*r).to_owned()));
        qb.push(")) ORDER BY e.due_at, e.id LIMIT ").push_bind(limit);
    };
    let set_move = |qb: &mut QueryBuilder<Db>| {
        qb.push("UPDATE flow_enrolments SET state = ").push_bind(state);
        qb.push(", step_index = COALESCE(").push_bind(index).push(", flow_enrolments.step_index)");
        qb.push(", step_name = COALESCE(").push_bind(name.map(str::to_owned)).push(", flow_enrolments.step_name)");
        qb.push(", due_at = ").push_bind(due).push(", exit_reason = NULL, flow_hash = ");
        qb.push_bind(step.flow_hash.to_owned()).push(", updated_at = ").push_bind(now);
    };
    let mut tx = begin_write(pool).await?;
    let queued = match DIALECT {
        // One writer at a time (the transaction holds the write lock): the sends inserted
        // here are exactly those with an id above the largest before, and each names its
        // enrolment in its context.
        Dialect::Sqlite => {
            let before: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM sends").fetch_one(&mut *tx).await?;
            let before = before.unwrap_or(0);
            // The context is the step's, with the enrolment's id and event data put in by
            // concatenation: both are JSON already (an integer; the properties as `enrol`
            // wrote them), and parsing and re-writing the context for every row cost more
            // than the rest of the statement (`benches/flows.rs`).
            let tail = context_tail(step.context);
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO sends (source, contact_id, context, state, created_at, updated_at) SELECT 'flow', \
                 e.contact_id, ",
            );
            qb.push("'{\"enrolment\":' || e.id || ',\"event\":' || e.properties || ").push_bind(tail);
            qb.push(", 'queued', ").push_bind(now).push(", ").push_bind(now);
            due_on_step(&mut qb);
            let queued = qb.build().execute(&mut *tx).await?.rows_affected();
            // Each new send to its enrolment by contact: a contact has one active enrolment
            // per flow (a unique index), as on PostgreSQL below.
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO flow_steps (enrolment_id, step_name, step_index, send_id, outcome, reason, marketing, at) \
                 SELECT (SELECT e.id FROM flow_enrolments e WHERE e.flow = ",
            );
            qb.push_bind(step.flow.to_owned()).push(" AND e.contact_id = s.contact_id AND e.state = 'active'), ");
            qb.push_bind(step.step_name.to_owned()).push(", ").push_bind(step.step_index);
            qb.push(", s.id, 'queued', NULL, ").push_bind(step.marketing).push(", ").push_bind(now);
            qb.push(" FROM sends s WHERE s.id > ").push_bind(before);
            qb.build().execute(&mut *tx).await?;
            let mut qb = QueryBuilder::<Db>::new("");
            set_move(&mut qb);
            qb.push(", last_send_id = f.send_id FROM flow_steps f WHERE f.send_id > ").push_bind(before);
            qb.push(" AND f.enrolment_id = flow_enrolments.id AND flow_enrolments.state = 'active'");
            qb.build().execute(&mut *tx).await?;
            queued
        }
        // One statement: the batch locked (rows another daemon holds are skipped), its
        // sends, their steps and the moves; a contact has one active enrolment per flow,
        // so the contact pairs each send with its enrolment.
        Dialect::Postgres => {
            let mut qb = QueryBuilder::<Db>::new("WITH batch AS (SELECT e.id, e.contact_id, e.properties");
            due_on_step(&mut qb);
            qb.push(
                " FOR UPDATE OF e SKIP LOCKED), ins AS (INSERT INTO sends (source, contact_id, context, state, \
                 created_at, updated_at) SELECT 'flow', b.contact_id, (CAST(",
            );
            qb.push_bind(step.context.to_string()).push(
                " AS jsonb) || jsonb_build_object('enrolment', b.id, 'event', CAST(b.properties AS jsonb)))::text, \
                 'queued', ",
            );
            qb.push_bind(now).push(", ").push_bind(now);
            qb.push(
                " FROM batch b RETURNING id, contact_id), st AS (INSERT INTO flow_steps (enrolment_id, step_name, \
                 step_index, send_id, outcome, reason, marketing, at) SELECT b.id, ",
            );
            qb.push_bind(step.step_name.to_owned()).push(", ").push_bind(step.step_index);
            qb.push(", ins.id, 'queued', NULL, ").push_bind(step.marketing).push(", ").push_bind(now);
            qb.push(" FROM batch b JOIN ins ON ins.contact_id = b.contact_id RETURNING enrolment_id, send_id) ");
            set_move(&mut qb);
            qb.push(", last_send_id = st.send_id FROM st WHERE flow_enrolments.id = st.enrolment_id");
            qb.build().execute(&mut *tx).await?.rows_affected()
        }
    };
    tx.commit().await?;
    Ok(Advanced {
        claimed: queued,
        queued,
        completed: if state == "completed" { queued } else { 0 },
        ..Default::default()
    })
}

/// The step's context (a JSON object) without its `enrolment` and `event`, as the text
/// that follows them: `,<the step's other keys>}`, so that
/// `'{"enrolment":' || id || ',"event":' || properties || tail` is the object with both set.
fn context_tail(context: &serde_json::Value) -> String {
    let mut rest = context.as_object().cloned().unwrap_or_default();
    rest.remove("enrolment");
    rest.remove("event");
    let rest = serde_json::Value::Object(rest).to_string();
    let inner = &rest[1..rest.len() - 1];
    if inner.is_empty() { "}".to_owned() } else { format!(",{inner}}}") }
}

#[cfg(test)]
mod tests {
    use super::context_tail;

    #[test]
    fn the_context_around_an_enrolment_is_the_step_context_with_its_id_and_event() {
        let step =
            serde_json::json!({"enrolment": 0, "flow": "welcome", "step": "hello", "event": null, "kind": "marketing"});
        let tail = context_tail(&step);
        let built = format!("{{\"enrolment\":42,\"event\":{}{tail}", r#"{"items":["a","b"]}"#);
        let built: serde_json::Value = serde_json::from_str(&built).unwrap();
        assert_eq!(
            built,
            serde_json::json!({"enrolment": 42, "flow": "welcome", "step": "hello", "kind": "marketing", "event": {"items": ["a", "b"]}})
        );
        let tail = context_tail(&serde_json::json!({}));
        let built: serde_json::Value =
            serde_json::from_str(&format!("{{\"enrolment\":7,\"event\":{{}}{tail}")).unwrap();
        assert_eq!(built, serde_json::json!({"enrolment": 7, "event": {}}));
    }
}
