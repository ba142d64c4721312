//! `herald flows status [NAME]`, `flows pause NAME`, `flows resume NAME` and
//! `flows enroll NAME --email ADDR`: the enrolled contacts of the flows (DESIGN §13).
//! Nothing here prints a contact's address: counts, step names and states only.

use super::{Context, output};
use crate::domain::EmailAddress;
use crate::error::{Error, Result};
use crate::flows::Flow;
use crate::flows::enrolment::{self, valid_flows};
use crate::flows::requests::EnrolRequest;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One flow in `flows status --json`.
#[derive(Debug, Serialize)]
struct FlowStatus {
    name: String,
    /// `ok`, `missing` (enrolments but no valid file of that name) or `invalid` files are
    /// listed apart.
    file: &'static str,
    paused: bool,
    /// Enrolments by state (`active`, `completed`, `exited`).
    states: BTreeMap<String, i64>,
    /// Active enrolments by the step they wait for.
    steps: BTreeMap<String, i64>,
    /// Active enrolments whose step is due now (the daemon sends them within a second).
    due: i64,
    /// Active enrolments set under another version of the file: they are kept on their
    /// step by its name when it comes due.
    on_changed_file: i64,
    last_change: Option<chrono::DateTime<chrono::Utc>>,
}

fn flow_named<'a>(flows: &'a [Flow], name: &str) -> Result<&'a Flow> {
    flows.iter().find(|f| f.name == name).ok_or_else(|| {
        let known: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
        Error::NotFound(format!("no valid flow named '{name}' (flows: {})", known.join(", ")))
    })
}

pub(super) async fn status(ctx: &Context, name: Option<&str>) -> Result<i32> {
    let app = ctx.open().await?;
    let (valid, invalid) = valid_flows(&app)?;
    if let Some(n) = name {
        let has_rows = app.store.enrolment_groups(app.clock.now()).await?.iter().any(|g| g.flow == n);
        if !has_rows {
            flow_named(&valid, n)?;
        }
    }
    let paused = app.store.paused_flows().await?;
    let groups = app.store.enrolment_groups(app.clock.now()).await?;
    let mut names: BTreeSet<String> = valid.iter().map(|f| f.name.clone()).collect();
    names.extend(groups.iter().map(|g| g.flow.clone()));
    let mut out = Vec::new();
    for n in names.into_iter().filter(|n| name.is_none_or(|w| w == n)) {
        let file = valid.iter().find(|f| f.name == n);
        let mut s = FlowStatus {
            name: n.clone(),
            file: if file.is_some() { "ok" } else { "missing" },
            paused: paused.contains(&n),
            states: BTreeMap::new(),
            steps: BTreeMap::new(),
            due: 0,
            on_changed_file: 0,
            last_change: None,
        };
        for g in groups.iter().filter(|g| g.flow == n) {
            *s.states.entry(g.state.clone()).or_default() += g.count;
            if g.state == "active" {
                *s.steps.entry(g.step_name.clone()).or_default() += g.count;
                s.due += g.due;
                if file.is_some_and(|f| f.content_hash != g.flow_hash) {
                    s.on_changed_file += g.count;
                }
            }
            s.last_change = s.last_change.max(g.last_change);
        }
        out.push(s);
    }
    let messages = app.store.flow_send_states().await?;
    if ctx.json {
        output::json(&serde_json::json!({ "flows": out, "invalid_files": invalid, "messages": messages }));
        return Ok(0);
    }
    if out.is_empty() {
        println!("no flows");
    }
    for s in &out {
        let state = |k: &str| s.states.get(k).copied().unwrap_or(0);
        println!(
            "{}: file {}{}; active {}, completed {}, exited {}; due now {}",
            s.name,
            s.file,
            if s.paused { ", PAUSED" } else { "" },
            state("active"),
            state("completed"),
            state("exited"),
            s.due
        );
        for (step, n) in &s.steps {
            println!("  waiting for {step}: {n}");
        }
        if s.on_changed_file > 0 {
            println!(
                "  the flow file changed: {} enrolments are kept on their step by name (a step gone: the next one)",
                s.on_changed_file
            );
        }
        if s.file == "missing" {
            println!("  the flow file is missing: its steps are not sent until it is back");
        }
        if let Some(at) = s.last_change {
            println!("  last change {}", at.format("%Y-%m-%d %H:%M UTC"));
        }
    }
    for line in &invalid {
        println!("invalid flow file (not sent): {line}");
    }
    if !messages.is_empty() {
        let by_state: Vec<String> = messages.iter().map(|(state, n)| format!("{state} {n}")).collect();
        println!("flow messages (every flow): {}", by_state.join(", "));
    }
    Ok(0)
}

pub(super) async fn pause(ctx: &Context, name: &str, paused: bool) -> Result<i32> {
    let app = ctx.open().await?;
    let (valid, _) = valid_flows(&app)?;
    flow_named(&valid, name)?;
    app.store.set_flow_paused(name, paused, app.clock.now()).await?;
    let what = if paused { "paused: no step goes out until `flows resume`" } else { "resumed" };
    if ctx.json {
        output::json(&serde_json::json!({ "flow": name, "paused": paused }));
    } else {
        println!("flow {name} {what}");
    }
    Ok(0)
}

pub(super) async fn enroll(ctx: &Context, name: &str, email: &str) -> Result<i32> {
    let app = ctx.open().await?;
    let (valid, _) = valid_flows(&app)?;
    let flow = flow_named(&valid, name)?;
    let address = EmailAddress::parse(email).map_err(|e| Error::Invalid(e.to_string()))?;
    let contact = app
        .store
        .contact(address.normalized())
        .await?
        .and_then(|c| c.id)
        .ok_or_else(|| Error::NotFound("no contact has that address".into()))?;
    let now = app.clock.now();
    let req = EnrolRequest {
        flow: flow.name.clone(),
        contact_id: contact,
        trigger_key: format!("manual:{}", now.timestamp()),
        properties: serde_json::json!({}),
        at: now,
    };
    let done = enrolment::enrol(&app, std::slice::from_ref(flow), &[req]).await?;
    if done.not_processable > 0 {
        return Err(Error::Refused("the contact is erased or its processing is restricted".into()));
    }
    if ctx.json {
        output::json(&serde_json::json!({ "flow": name, "contact_id": contact, "enrolled": done.enrolled == 1 }));
    } else if done.enrolled == 1 {
        println!("contact #{contact} enrolled in {name}: its first step is due in {}", show(flow));
    } else {
        println!("contact #{contact} is already enrolled in {name} (or went through it, and it does not re-enter)");
    }
    Ok(0)
}

fn show(flow: &Flow) -> String {
    let after = flow.steps[0].after;
    if after.is_zero() { "0m (now)".into() } else { crate::config::show_duration(after) }
}
