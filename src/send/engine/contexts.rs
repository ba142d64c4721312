//! The engine's campaigns as its attempts need them ([`CampaignCtx`]): parsed and given a
//! renderer once per revision, not once per batch.

use super::shared::CampaignCtx;
use crate::app::App;
use crate::campaign;
use crate::error::{Error, Result};
use crate::render::Renderer;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The contexts built so far, by campaign.
pub(super) struct Contexts {
    built: tokio::sync::Mutex<HashMap<crate::domain::CampaignId, Arc<CampaignCtx>>>,
}

impl Contexts {
    pub(super) fn new() -> Contexts {
        Contexts { built: Default::default() }
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
            && ctx.record.content_hash == record.content_hash
        {
            return Ok(ctx.clone());
        }
        let campaign = campaign::parse(Path::new(&record.file_path), &record.content, &app.config.policy)?;
        let dkim = app.secrets.dkim_key(&app.config)?;
        let renderer = Renderer::new(&app.config, &app.secrets.link_key, &campaign, dkim)?;
        let lists = app.store.list_settings().await?;
        let ctx = Arc::new(CampaignCtx { record, campaign, renderer, lists });
        built.insert(campaign_id, ctx.clone());
        Ok(ctx)
    }
}
