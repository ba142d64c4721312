//! Campaign revisions (each content a campaign has run from) and the re-queuing of the
//! sends that failed through no fault of their recipient (issue 19). The SQL is in
//! `sql/revisions.rs`, compiled once per backend.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::CampaignId;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// A changed campaign file, accepted as the campaign's next revision.
#[derive(Debug, Clone)]
pub struct Revision {
    pub file_path: String,
    pub content: String,
    pub content_hash: String,
    pub kind: String,
    pub send_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The campaign's latest revision number (1 for a campaign never changed).
    pub async fn campaign_revision(&self, campaign_id: CampaignId) -> Result<i64> {
        dispatch!(self.revisions::revision(campaign_id))
    }

    /// Records the first revision of a new campaign.
    pub(crate) async fn record_first_revision(
        &self,
        campaign_id: CampaignId,
        content_hash: &str,
        content: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(self.revisions::insert_first_revision(campaign_id, content_hash, content, now))
    }

    /// Runs the campaign from `r` from now on, recorded as its next revision (returned).
    /// Its queued sends are dropped and its audience judged again.
    pub async fn revise_campaign(&self, campaign_id: CampaignId, r: &Revision, now: DateTime<Utc>) -> Result<i64> {
        dispatch!(self.revisions::revise_campaign(campaign_id, r, now))
    }

    /// Puts the campaign's sends that failed (or wait for a retry) because of Herald or
    /// the relay back in the queue; returns how many.
    pub async fn requeue_faults(&self, campaign_id: CampaignId, now: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.revisions::requeue_faults(campaign_id, now))
    }

    /// The purposes known to the database.
    pub async fn purpose_names(&self) -> Result<Vec<String>> {
        dispatch!(self.revisions::purpose_names())
    }
}
