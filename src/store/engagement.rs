//! Opens and clicks (DESIGN §11, issue 13 point 5): the open pixel and the click redirect
//! set `opened_at` / `clicked_at` on the contact's send of a campaign or of a flow step,
//! once. These are the engagement `exclude_unengaged`, `lists clean` and a flow step's
//! `unless` read. Each link followed is also kept in `clicks` (send, URL, time; one row
//! per link per send), which the `clicked { link }` flow trigger reads. The SQL is in
//! `sql/engagement.rs`; it checks the contact's consent in the same statement as the
//! write, so a withdrawal committed a moment before is never overridden by a stale read.

use super::{Backend, Store, postgres, sqlite};
use crate::domain::ContactId;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// What the person did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engagement {
    /// The open pixel was fetched.
    Open,
    /// A link was followed (which also means the message was opened).
    Click,
}

impl Store {
    /// Records `what` on the send of the campaign named `campaign` to `contact_id`, at
    /// `now`; true when it is the first of its kind (a repeat changes nothing). A click
    /// also records the open when none was. Nothing is recorded unless the message was
    /// delivered (`sent`, or `in_doubt`: an open proves it arrived), the contact is
    /// `active` (not restricted, erased nor awaiting erasure), and the contact grants the
    /// `tracking` purpose now (a withdrawal since the message was sent wins).
    pub async fn record_engagement(
        &self,
        campaign: &str,
        contact_id: ContactId,
        what: Engagement,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(self.engagement::record(campaign, contact_id, what, now))
    }

    /// Records a click on `url` (the link's target, a URL that was in the message) like
    /// [`Store::record_engagement`] with [`Engagement::Click`], under the same conditions,
    /// and keeps the URL in `clicks`: once per link and send, whatever the number of
    /// repeats (a link scanner following every link cannot flood the table). True when
    /// it is the message's first click.
    pub async fn record_click(
        &self,
        campaign: &str,
        contact_id: ContactId,
        url: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        dispatch!(self.engagement::record_click(campaign, contact_id, url, now))
    }
}
