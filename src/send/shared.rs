//! What the engine's attempts share: the campaign as they need it, and the engine's effects
//! (mailer, throttle, DNS, writer) with its settings.

use super::dns::Dns;
use super::mailer::Mailer;
use super::metrics::Metrics;
use super::retry::Backoff;
use super::throttle::Throttle;
use super::writer::Writer;
use crate::app::App;
use crate::campaign::Campaign;
use crate::config::SendingConfig;
use crate::domain::ListName;
use crate::error::Result;
use crate::render::Renderer;
use crate::store::CampaignRecord;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A campaign as the workers need it: parsed from the stored copy of its file, with its
/// renderer built once.
pub struct CampaignCtx {
    pub record: CampaignRecord,
    pub campaign: Campaign,
    pub renderer: Renderer,
    pub lists: BTreeMap<ListName, bool>,
}

/// What every attempt shares.
pub struct Shared {
    pub app: Arc<App>,
    pub mailer: Arc<Mailer>,
    pub throttle: Arc<Throttle>,
    pub dns: Arc<Dns>,
    pub writer: Writer,
    pub cfg: SendingConfig,
    pub backoff: Backoff,
    pub metrics: Arc<Metrics>,
    pub owner: String,
    pub(super) pauses: Mutex<Vec<(i64, String)>>,
}

impl Shared {
    pub fn next_retry(&self, attempts: i32, first: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.backoff.next_retry(attempts.max(0) as u32, first, now, &mut rand::rng())
    }

    /// Asks the engine loop to pause a campaign (attempts cannot wait on the store).
    pub fn pause(&self, campaign_id: i64, reason: String) {
        self.pauses.lock().expect("pause list").push((campaign_id, reason));
    }

    /// The pauses asked for since the last call.
    pub(super) fn take_pauses(&self) -> Vec<(i64, String)> {
        std::mem::take(&mut *self.pauses.lock().expect("pause list"))
    }
}

/// The effects the engine works through; built from the config, or by tests.
pub struct Deps {
    pub mailer: Mailer,
    pub throttle: Throttle,
    pub dns: Dns,
}

impl Deps {
    pub fn from_config(app: &App, env: &[(String, String)]) -> Result<Deps> {
        Ok(Deps {
            mailer: Mailer::from_config(&app.config, env)?,
            throttle: super::throttle_from_config(&app.config)?,
            dns: Dns::from_config(&app.config)?,
        })
    }
}
