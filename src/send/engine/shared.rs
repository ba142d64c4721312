//! What the engine's attempts share: the campaign as they need it, and the engine's effects
//! (throttle, DNS, writer) with its settings. The transport is the engine's own, beside it.

use super::metrics::Metrics;
use super::retry::Backoff;
use super::writer::Writer;
use crate::app::App;
use crate::campaign::Campaign;
use crate::config::SendingConfig;
use crate::domain::{Fault, ListName, SendState};
use crate::error::Result;
use crate::render::Renderer;
use crate::send::smtp::dns::Dns;
use crate::send::smtp::mailer::Mailer;
use crate::send::throttle::Throttle;
use crate::store::{CampaignRecord, Outcome};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// A campaign as the workers need it: parsed from the stored copy of its file (or, for a
/// test send, from the send's context), with its renderer built once.
pub struct CampaignCtx {
    /// The campaign's record; none for a message of another source (a test send is
    /// rendered from the campaign file it was given, and records no campaign).
    pub record: Option<CampaignRecord>,
    pub campaign: Campaign,
    pub renderer: Renderer,
    pub lists: BTreeMap<ListName, bool>,
}

/// What every attempt shares.
pub struct Shared {
    pub app: Arc<App>,
    pub throttle: Arc<Throttle>,
    pub dns: Arc<Dns>,
    pub writer: Writer,
    pub cfg: SendingConfig,
    pub backoff: Backoff,
    pub metrics: Arc<Metrics>,
    pub owner: String,
    pub(super) pauses: Mutex<Vec<(crate::domain::CampaignId, String)>>,
    /// This engine's attempts per campaign, judged as each ends (see [`Shared::tally`]).
    pub(super) tallies: Mutex<HashMap<crate::domain::CampaignId, Tally>>,
    /// Wakes the engine from its idle wait: work was queued ([`super::Engine::waker`]).
    pub wake: Arc<tokio::sync::Notify>,
}

/// One campaign's attempts in this engine, and the faults (Herald's or the relay's)
/// among them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub attempted: u64,
    pub faults: u64,
    /// The fault guard tripped: the attempts not yet made go back to the queue.
    pub halted: bool,
}

impl Shared {
    pub fn next_retry(&self, attempts: i32, first: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.backoff.next_retry(attempts.max(0) as u32, first, now, &mut rand::rng())
    }

    /// Asks the engine loop to pause a campaign (attempts cannot wait on the store).
    pub fn pause(&self, campaign_id: crate::domain::CampaignId, reason: String) {
        self.pauses.lock().expect("pause list").push((campaign_id, reason));
    }

    /// Counts an attempt's outcome for its campaign and judges the faults as they happen:
    /// the guard's periodic count could come only after every message had failed (a
    /// render error or a refused connection fails in a millisecond). Returns the reason
    /// to pause, once, when the fault guard trips.
    pub fn tally(&self, campaign_id: crate::domain::CampaignId, name: &str, outcome: &Outcome) -> Option<String> {
        if matches!(outcome.state, SendState::Skipped | SendState::Queued) {
            return None;
        }
        let fault = outcome.reason.as_deref().and_then(Fault::of_reason);
        let mut tallies = self.tallies.lock().expect("tallies");
        let t = tallies.entry(campaign_id).or_default();
        t.attempted += 1;
        t.faults += u64::from(fault.is_some());
        if t.halted {
            return None;
        }
        let reason = super::guard::fault_verdict(
            &self.cfg,
            name,
            t.attempted as i64,
            t.faults as i64,
            outcome.reason.as_deref(),
        )?;
        t.halted = true;
        Some(reason)
    }

    /// Whether the fault guard stopped the campaign's attempts in this engine.
    pub fn halted(&self, campaign_id: crate::domain::CampaignId) -> bool {
        self.tallies.lock().expect("tallies").get(&campaign_id).is_some_and(|t| t.halted)
    }

    /// A campaign that was halted runs again (its sends could be claimed, so it was
    /// resumed or retried): its tally starts afresh, unless its pause is still pending.
    pub(super) fn running_again(&self, campaign_id: crate::domain::CampaignId) {
        let pending = self.pauses.lock().expect("pause list").iter().any(|(id, _)| *id == campaign_id);
        let mut tallies = self.tallies.lock().expect("tallies");
        if !pending && tallies.get(&campaign_id).is_some_and(|t| t.halted) {
            tallies.remove(&campaign_id);
        }
    }

    /// The pauses asked for since the last call.
    pub(super) fn take_pauses(&self) -> Vec<(crate::domain::CampaignId, String)> {
        std::mem::take(&mut *self.pauses.lock().expect("pause list"))
    }
}

/// The effects the engine works through; built from the config, or by tests (with a
/// [`crate::send::smtp::recording::RecordingTransport`], say).
pub struct Deps<T = Mailer> {
    pub transport: T,
    pub throttle: Throttle,
    pub dns: Dns,
}

impl Deps {
    /// Relay credentials come from the app's secrets, resolved when it was built.
    pub fn from_config(app: &App) -> Result<Deps> {
        Ok(Deps {
            transport: Mailer::from_config(&app.config, app.secrets.relay_env())?,
            throttle: crate::send::throttle_from_config(&app.config)?,
            dns: Dns::from_config(&app.config)?,
        })
    }
}
