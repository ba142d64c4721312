//! The engine's campaigns as its attempts need them ([`CampaignCtx`]): parsed and given a
//! renderer once per revision, not once per batch; and the context of a message of another
//! source (a test send), built from the send's own context.

use super::shared::CampaignCtx;
use crate::app::App;
use crate::campaign;
use crate::domain::{EmailAddress, Source};
use crate::error::{Error, Result};
use crate::flows::message::{StepBase, StepKey, step_base, step_group, step_key};
use crate::render::Renderer;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The contexts built so far, by campaign; and the flow steps, by (flow, step, file hash),
/// with the lists' settings read when the step was.
pub(super) struct Contexts {
    built: tokio::sync::Mutex<HashMap<crate::domain::CampaignId, Arc<CampaignCtx>>>,
    steps: tokio::sync::Mutex<HashMap<StepKey, Arc<(StepBase, Lists)>>>,
}

type Lists = std::collections::BTreeMap<crate::domain::ListName, bool>;

impl Contexts {
    pub(super) fn new() -> Contexts {
        Contexts { built: Default::default(), steps: Default::default() }
    }

    /// The context of `campaign_id`, rebuilt when its stored content changed.
    pub(super) async fn get(&self, app: &App, campaign_id: crate::domain::CampaignId) -> Result<Arc<CampaignCtx>> {
        let mut built = self.built.lock().await;
        let record = app
            .store
            .campaign_by_id(campaign_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign #{campaign_id}")))?;
        // A campaign revised while this engine runs (`campaign send --new-revision`) is
        // rendered from its new content from the next batch on.
        if let Some(ctx) = built.get(&campaign_id)
            && ctx.record.as_ref().is_some_and(|r| r.content_hash == record.content_hash)
        {
            return Ok(ctx.clone());
        }
        let campaign = campaign::parse(Path::new(&record.file_path), &record.content, &app.config.policy)?;
        let dkim = app.secrets.dkim_key(&app.config)?;
        let renderer = Renderer::new(&app.config, &app.secrets.link_key, &campaign, dkim)?;
        let lists = app.store.list_settings().await?;
        let ctx = Arc::new(CampaignCtx { record: Some(record), campaign, renderer, lists });
        built.insert(campaign_id, ctx.clone());
        Ok(ctx)
    }

    /// The context of one message of another source, from its stored context: for a test
    /// send, the campaign file it was given (`file`, `content`), rendered for its address;
    /// for a confirmation, the confirmation message ([`crate::contacts::confirm::message`]);
    /// for a flow step, the flow's step ([`crate::flows::message::prepare`]).
    pub(super) async fn message(&self, app: &App, send_id: crate::domain::SendId) -> Result<Arc<CampaignCtx>> {
        let m = app.store.message_send(send_id).await?.ok_or_else(|| Error::NotFound(format!("send #{send_id}")))?;
        if m.source == Source::Confirmation {
            let (campaign, renderer) = crate::contacts::confirm::message(app, send_id, &m.context).await?;
            let lists = app.store.list_settings().await?;
            return Ok(Arc::new(CampaignCtx { record: None, campaign, renderer, lists }));
        }
        if m.source == Source::Flow {
            return self.flow_message(app, send_id, &m.context).await;
        }
        if m.source != Source::Test {
            return Err(Error::Invalid(format!("no sender for {} messages yet", m.source)));
        }
        let field = |key: &str| {
            m.context.get(key).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("send #{send_id}: the test send's context has no {key}"))
            })
        };
        let (file, content) = (field("file")?, field("content")?);
        let to = m.to_address.as_deref().ok_or_else(|| Error::Invalid(format!("send #{send_id}: no address")))?;
        let to = EmailAddress::parse(to).map_err(|e| Error::Invalid(e.to_string()))?;
        let campaign = campaign::parse(Path::new(&file), &content, &app.config.policy)?;
        let dkim = app.secrets.dkim_key(&app.config)?;
        let renderer = Renderer::new(&app.config, &app.secrets.link_key, &campaign, dkim)?.for_test_send(to);
        let lists = app.store.list_settings().await?;
        Ok(Arc::new(CampaignCtx { record: None, campaign, renderer, lists }))
    }

    /// A flow send's context: its step built once per (flow, step, file hash) and kept,
    /// the send's event data added. A send queued under a version of the file this engine
    /// has not read is rendered from the file as it is now (the step of the same name).
    async fn flow_message(
        &self,
        app: &App,
        send_id: crate::domain::SendId,
        context: &serde_json::Value,
    ) -> Result<Arc<CampaignCtx>> {
        let key = step_key(send_id, context)?;
        let mut steps = self.steps.lock().await;
        let base = match steps.get(&key) {
            Some(base) => base.clone(),
            None => {
                let base = step_base(app, &key.0, &key.1)?;
                let hash = base.content_hash.clone();
                let built = Arc::new((base, app.store.list_settings().await?));
                if hash == key.2 {
                    steps.insert(key, built.clone());
                }
                built
            }
        };
        drop(steps);
        let (campaign, renderer) = base.0.for_send(context);
        Ok(Arc::new(CampaignCtx { record: None, campaign, renderer, lists: base.1.clone() }))
    }

    /// For the flow sends among `claims`: the send whose context each one can be rendered
    /// from (the first of those naming the same flow, step, file version and event data),
    /// so that a step sent to many contacts with the same event shares one context and is
    /// prepared in batches, like a campaign. Read from the contexts the claim returned
    /// (taken out of the claims: nothing else needs them).
    pub(super) fn flow_groups(
        claims: &mut [crate::store::Claim],
    ) -> HashMap<crate::domain::SendId, crate::domain::SendId> {
        let mut first: HashMap<(StepKey, String), crate::domain::SendId> = HashMap::new();
        let mut out = HashMap::new();
        for c in claims.iter_mut() {
            let Some(context) = c.context.take() else { continue };
            if c.source != Source::Flow {
                continue;
            }
            // A context that does not name its step is the send's own: preparing it fails
            // with the reason (`Contexts::message`).
            let Ok(group) = step_group(c.send_id, &context) else { continue };
            out.insert(c.send_id, *first.entry(group).or_insert(c.send_id));
        }
        out
    }
}
