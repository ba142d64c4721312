//! Applying [`EnrolRequest`]s and [`ExitRequest`]s (DESIGN §13): a contact enters a flow
//! with its first step due `steps[0].after` after the trigger, once per flow (or once
//! per trigger key with `reenter = true`, never twice at the same time), and leaves it
//! (one flow, or every flow) with a reason.
//!
//! Enrolment is batched (multi-row inserts, duplicates ignored by the database's unique
//! keys), so a trigger that fires for 100 000 contacts enrols them in a few statements.
//! A request for a flow that is not in `[flows] dir` (or whose file is invalid), or for a
//! contact who is erased, restricted or awaiting erasure, is ignored and counted.

use super::Flow;
use super::requests::{EnrolRequest, ExitRequest};
use crate::app::App;
use crate::error::Result;
use crate::store::flows::NewEnrolment;
use std::collections::HashMap;

/// What [`enrol`] did with its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Enrolled {
    /// New enrolments.
    pub enrolled: u64,
    /// Already enrolled (same trigger key, a flow without `reenter`, or still active).
    pub already: u64,
    /// For a flow that is not there (missing or invalid file).
    pub unknown_flow: u64,
    /// For a contact who is gone, erased, restricted or awaiting erasure.
    pub not_processable: u64,
}

/// Enrols the contacts of `reqs` into the flows of `flows` (the valid flow files).
pub async fn enrol(app: &App, flows: &[Flow], reqs: &[EnrolRequest]) -> Result<Enrolled> {
    let by_name: HashMap<&str, &Flow> = flows.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut out = Enrolled::default();
    let ids: Vec<_> = reqs.iter().map(|r| r.contact_id).collect();
    let processable = app.store.processable_contacts(&ids).await?;
    let mut rows = Vec::with_capacity(reqs.len());
    for r in reqs {
        let Some(flow) = by_name.get(r.flow.as_str()) else {
            out.unknown_flow += 1;
            continue;
        };
        if !processable.contains(&r.contact_id) {
            out.not_processable += 1;
            continue;
        }
        rows.push(new_enrolment(flow, r));
    }
    out.enrolled = app.store.enrol(&rows, app.clock.now()).await?;
    out.already = rows.len() as u64 - out.enrolled;
    if out.enrolled > 0 || out.unknown_flow > 0 || out.not_processable > 0 {
        tracing::info!(
            enrolled = out.enrolled,
            already = out.already,
            unknown_flow = out.unknown_flow,
            not_processable = out.not_processable,
            "flow enrolment"
        );
    }
    Ok(out)
}

/// The row for `req` in `flow`: its first step, due `steps[0].after` after the trigger.
fn new_enrolment(flow: &Flow, req: &EnrolRequest) -> NewEnrolment {
    let first = &flow.steps[0];
    let after = chrono::Duration::from_std(first.after).unwrap_or(chrono::Duration::zero());
    NewEnrolment {
        flow: flow.name.clone(),
        contact_id: req.contact_id,
        trigger_key: req.trigger_key.clone(),
        entry_key: if flow.reenter { req.trigger_key.clone() } else { String::new() },
        properties: if req.properties.is_null() { serde_json::json!({}) } else { req.properties.clone() },
        step_index: 0,
        step_name: first.name.clone(),
        flow_hash: flow.content_hash.clone(),
        due_at: req.at + after,
    }
}

/// Takes the contacts of `reqs` out of their flow (or every flow); returns how many
/// enrolments ended.
pub async fn exit(app: &App, reqs: &[ExitRequest]) -> Result<u64> {
    let mut ended = 0;
    for r in reqs {
        ended += app.store.exit_flows(r.contact_id, r.flow.as_deref(), &r.reason, r.at).await?;
    }
    if ended > 0 {
        tracing::info!(ended, "flow exits");
    }
    Ok(ended)
}

/// The valid flows of `[flows] dir`, and a line (file: error) for each invalid file.
pub fn valid_flows(app: &App) -> Result<(Vec<Flow>, Vec<String>)> {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for entry in super::catalog::read_dir(&app.config.flows.dir)? {
        match entry.flow {
            Ok(f) => valid.push(f),
            Err(e) => invalid.push(format!("{}: {e}", entry.file.display())),
        }
    }
    Ok((valid, invalid))
}
