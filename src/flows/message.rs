//! What a send of source `flow` is rendered from (DESIGN §10, §13): its context names the
//! flow and the step (by name), and carries the triggering event's properties; the flow
//! is read from `[flows] dir` as it is now, the step made a one-message campaign
//! ([`Flow::step_campaign`]), and the properties given to the templates as `event`
//! (`{{event.items}}`), beside `flow` and `step`.

use super::Flow;
use crate::app::App;
use crate::campaign::Campaign;
use crate::domain::SendId;
use crate::error::{Error, Result};
use crate::render::Renderer;

/// The campaign and renderer of the flow send `send_id`, from its stored `context`.
pub fn prepare(app: &App, send_id: SendId, context: &serde_json::Value) -> Result<(Campaign, Renderer)> {
    let field =
        |key: &str| {
            context.get(key).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("send #{send_id}: the flow send's context has no {key}"))
            })
        };
    let (flow_name, step_name) = (field("flow")?, field("step")?);
    let flow: Flow = super::enrolment::valid_flows(app)?
        .0
        .into_iter()
        .find(|f| f.name == flow_name)
        .ok_or_else(|| Error::NotFound(format!("flow '{flow_name}': its file is missing or invalid")))?;
    let index = flow
        .steps
        .iter()
        .position(|s| s.name == step_name)
        .ok_or_else(|| Error::NotFound(format!("flow '{flow_name}' has no step '{step_name}' any more")))?;
    let campaign = flow
        .step_campaign(index, &app.config.policy)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("flow step {index} out of range")))?;
    let dkim = app.secrets.dkim_key(&app.config)?;
    let mut data = serde_json::Map::new();
    data.insert("event".into(), context.get("event").cloned().unwrap_or_else(|| serde_json::json!({})));
    data.insert("flow".into(), serde_json::Value::String(flow_name));
    data.insert("step".into(), serde_json::Value::String(step_name));
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, &campaign, dkim)?.with_data(data);
    Ok((campaign, renderer))
}
