//! What a send of source `flow` is rendered from (DESIGN §10, §13): its context names the
//! flow and the step (by name), and carries the triggering event's properties; the flow
//! is read from `[flows] dir`, the step made a one-message campaign
//! ([`Flow::step_campaign`]), and the properties given to the templates as `event`
//! (`{{event.items}}`), beside `flow` and `step`.
//!
//! A step's campaign and compiled renderer ([`StepBase`]) are the same for every contact;
//! the engine keeps them by (flow, step, file hash) and gives each message its own
//! event data ([`StepBase::for_send`]), so 100 000 sends of one step compile it once.

use super::Flow;
use crate::app::App;
use crate::campaign::Campaign;
use crate::domain::SendId;
use crate::error::{Error, Result};
use crate::render::Renderer;

/// What names a flow send's step: (flow, step, the file's hash when it was queued).
pub type StepKey = (String, String, String);

/// A flow step as every one of its messages is rendered.
pub struct StepBase {
    pub campaign: Campaign,
    pub renderer: Renderer,
    /// The hash of the flow file it was built from.
    pub content_hash: String,
}

/// The step a flow send's `context` names.
pub fn step_key(send_id: SendId, context: &serde_json::Value) -> Result<StepKey> {
    Ok(step_group(send_id, &context.to_string())?.0)
}

/// The step a flow send's stored `context` (JSON text) names, and its event data as
/// written: what the engine groups a batch's flow sends by, read from the text without
/// building the whole context as a value.
pub fn step_group(send_id: SendId, context: &str) -> Result<(StepKey, String)> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        flow: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        step: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        flow_hash: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        event: Option<&'a serde_json::value::RawValue>,
    }
    let named: Named<'_> = serde_json::from_str(context)
        .map_err(|e| Error::Internal(anyhow::anyhow!("send #{send_id}: the flow send's context: {e}")))?;
    let missing = |key: &str| Error::Internal(anyhow::anyhow!("send #{send_id}: the flow send's context has no {key}"));
    let flow = named.flow.ok_or_else(|| missing("flow"))?.into_owned();
    let step = named.step.ok_or_else(|| missing("step"))?.into_owned();
    let hash = named.flow_hash.map(|h| h.into_owned()).unwrap_or_default();
    Ok(((flow, step, hash), named.event.map(|e| e.get().to_owned()).unwrap_or_default()))
}

/// The step of the flow as its file is now (the step with that name).
pub fn step_base(app: &App, flow_name: &str, step_name: &str) -> Result<StepBase> {
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
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, &campaign, dkim)?;
    Ok(StepBase { campaign, renderer, content_hash: flow.content_hash })
}

impl StepBase {
    /// The campaign and renderer of one send of this step: its `context`'s event
    /// properties as `event`, and `flow` and `step`, in the templates' data.
    pub fn for_send(&self, context: &serde_json::Value) -> (Campaign, Renderer) {
        let mut data = serde_json::Map::new();
        data.insert("event".into(), context.get("event").cloned().unwrap_or_else(|| serde_json::json!({})));
        for key in ["flow", "step"] {
            data.insert(key.into(), context.get(key).cloned().unwrap_or(serde_json::Value::Null));
        }
        (self.campaign.clone(), self.renderer.clone().with_data(data))
    }
}
