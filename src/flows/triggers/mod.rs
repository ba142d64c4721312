//! The trigger watchers (DESIGN §13): what enrols contacts into flows and what takes them
//! out, read from the sources and handed on as [`EnrolRequest`]s and [`ExitRequest`]s
//! for enrolment (`flows::enrolment`) to apply.
//!
//! - `mapping`: pure functions from rows to requests (consent signals, opens and clicks,
//!   custom events).
//! - `inactive`: the daily pass of `inactive` triggers.
//! - `cursor`: where each watcher stands, in the `meta` table, moved only forward.
//!
//! [`poll`] reads a batch from each source after its cursor and returns the requests with
//! the cursors they reach; the caller applies the requests, then [`commit`]s the
//! cursors. A crash between the two re-delivers the batch, which is harmless: enrolment
//! is idempotent by trigger key, and an exit from a flow one is not in changes nothing.
//! Several daemons may poll at once (PostgreSQL): they may read the same batch, the keys
//! remove the duplicates, and a cursor only moves forward.
//!
//! The sources and their trigger keys:
//! - the consent ledger, all contacts, in the order `(at, contact_id, seq)`
//!   (`ledger:CONTACT:SEQ`), read through `consent::signals` (a subscription to a
//!   double-opt-in list counts once confirmed: `mapping::as_flows_see_them`);
//! - the opens and clicks of the campaigns that `opened` / `clicked` triggers name
//!   (`open:SEND`, `click:SEND`), in the order `(time, send id)`;
//! - custom events, handed in by the caller from the events API's table (`event:ID`);
//! - the daily pass of `inactive` triggers (`inactive:FLOW:YYYY-MM-DD`, see `inactive`).
//!
//! Time-ordered sources are read only up to `now - SETTLE`: a row's time is taken from
//! the clock before its transaction commits, so a transaction still open could commit a
//! row just behind one already read; waiting [`SETTLE`] lets it land first.
//!
//! On the first poll (no cursor), each time-ordered watcher starts at the current end,
//! `now - SETTLE`: a new installation, or the first daemon with this code, does not
//! enrol the whole history. A watcher with nothing to watch (no flow triggered by an
//! open, say) keeps its cursor at the end too, so a flow added later starts from the
//! time it appears.

mod cursor;
pub mod inactive;
pub mod mapping;

pub use cursor::Position;
pub use mapping::{Engaged, as_flows_see_them, from_custom, from_engagement, from_signals};

use crate::app::App;
use crate::consent::ledger::EventBody;
use crate::consent::signals;
use crate::domain::{ContactId, SendId};
use crate::error::Result;
use crate::flows::requests::{CustomEvent, EnrolRequest, ExitRequest};
use crate::flows::{Flow, Trigger};
use crate::store::flow_triggers::{EngagementPosition, LedgerPosition};
use chrono::{DateTime, Duration, Utc};

/// How long a time-ordered row waits before it is read (see the module doc).
pub const SETTLE: Duration = Duration::seconds(60);

/// Most rows read from one source in one poll.
pub const BATCH: i64 = 2_000;

const LEDGER: &str = "flows.triggers.ledger";
const OPENS: &str = "flows.triggers.opens";
const CLICKS: &str = "flows.triggers.clicks";
const EVENTS: &str = "flows.triggers.events";

/// Positions the watchers reached in a poll, to [`commit`] once its requests are applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursors(Vec<(String, Position)>);

impl Cursors {
    fn push(&mut self, key: impl Into<String>, to: Position) {
        self.0.push((key.into(), to));
    }

    /// Each `meta` key and the position it moves to.
    pub fn positions(&self) -> &[(String, Position)] {
        &self.0
    }
}

/// What one poll found.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub enrol: Vec<EnrolRequest>,
    /// Apply after `enrol`: within a batch, an exit then wins over an enrolment.
    pub exit: Vec<ExitRequest>,
    pub cursors: Cursors,
    /// A source had a full batch (or a pass has more pages): poll again soon.
    pub more: bool,
}

/// Reads the next batch of every source for `flows` (all valid flows: a paused one
/// still needs its exits; enrolment decides what a pause means). `events` are the
/// custom events recorded since [`events_cursor`]; those at or before it are skipped.
pub async fn poll(app: &App, flows: &[Flow], events: &[CustomEvent], now: DateTime<Utc>) -> Result<Polled> {
    let mut polled = Polled::default();
    let upto = now - SETTLE;
    polled.more |= ledger(app, flows, upto, &mut polled).await?;
    polled.more |= engagement(app, flows, Engaged::Opened, upto, &mut polled).await?;
    polled.more |= engagement(app, flows, Engaged::Clicked, upto, &mut polled).await?;
    let seen = events_cursor(app).await?.unwrap_or(0);
    let new: Vec<CustomEvent> = events.iter().filter(|e| e.id > seen).cloned().collect();
    let (enrol, exit) = from_custom(flows, &new);
    polled.enrol.extend(enrol);
    polled.exit.extend(exit);
    if let Some(last) = new.iter().map(|e| e.id).max() {
        polled.cursors.push(EVENTS, Position::Event(last));
    }
    polled.more |= inactive::poll(app, flows, now, &mut polled.enrol, &mut polled.cursors).await?;
    tracing::debug!(enrol = polled.enrol.len(), exit = polled.exit.len(), more = polled.more, "flow triggers polled");
    Ok(polled)
}

/// Moves the cursors to where `cursors` says, never back.
pub async fn commit(app: &App, cursors: &Cursors) -> Result<()> {
    for (key, to) in &cursors.0 {
        cursor::advance(app, key, to).await?;
    }
    Ok(())
}

/// The id of the last custom event a committed poll took: the events API's reader hands
/// [`poll`] the events after it. `None` before the first: the reader
/// (`flows::watch`) then starts from the first event recorded, since each was accepted
/// with a 202.
pub async fn events_cursor(app: &App) -> Result<Option<i64>> {
    Ok(match cursor::load(app, EVENTS, &Position::Event(0)).await? {
        Some(Position::Event(id)) => Some(id),
        _ => None,
    })
}

/// The ledger watcher: one batch of events, each read as consent signals.
async fn ledger(app: &App, flows: &[Flow], upto: DateTime<Utc>, polled: &mut Polled) -> Result<bool> {
    let end = LedgerPosition { at: upto, contact_id: ContactId::new(i64::MAX), seq: i64::MAX };
    let like = Position::Ledger(end);
    let after = match cursor::load(app, LEDGER, &like).await? {
        Some(Position::Ledger(p)) => p,
        _ => {
            polled.cursors.push(LEDGER, like);
            return Ok(false);
        }
    };
    let rows = app.store.ledger_after(&after, upto, BATCH).await?;
    let double_opt_in = if rows.is_empty() { Default::default() } else { app.store.list_settings().await? };
    for row in &rows {
        let body: EventBody = match serde_json::from_str(&row.body) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(contact_id = row.contact_id.get(), seq = row.seq, error = %e,
                    "flow triggers: a ledger event's body is unreadable; skipped");
                continue;
            }
        };
        let key = format!("ledger:{}:{}", row.contact_id, row.seq);
        let said = as_flows_see_them(signals::of(&body), &body, &double_opt_in);
        let (enrol, exit) = from_signals(flows, row.contact_id, &said, &key, row.at);
        polled.enrol.extend(enrol);
        polled.exit.extend(exit);
    }
    if let Some(last) = rows.last() {
        polled.cursors.push(LEDGER, Position::Ledger(last.position()));
    }
    Ok(rows.len() as i64 >= BATCH)
}

/// The open (or click) watcher, over the campaigns the flows' triggers name.
async fn engagement(
    app: &App,
    flows: &[Flow],
    what: Engaged,
    upto: DateTime<Utc>,
    polled: &mut Polled,
) -> Result<bool> {
    let (key, clicks) = match what {
        Engaged::Opened => (OPENS, false),
        Engaged::Clicked => (CLICKS, true),
    };
    let mut campaigns: Vec<String> = flows
        .iter()
        .filter(|f| {
            matches!(
                (&f.trigger, what),
                (Trigger::Opened { .. }, Engaged::Opened) | (Trigger::Clicked { .. }, Engaged::Clicked)
            )
        })
        .filter_map(|f| f.trigger.campaign().map(str::to_owned))
        .collect();
    campaigns.sort();
    campaigns.dedup();
    let end = Position::Engagement(EngagementPosition { at: upto, send_id: SendId::new(i64::MAX) });
    let after = match cursor::load(app, key, &end).await? {
        Some(Position::Engagement(p)) if !campaigns.is_empty() => p,
        _ => {
            polled.cursors.push(key, end);
            return Ok(false);
        }
    };
    let rows = app.store.engagement_after(&campaigns, clicks, &after, upto, BATCH).await?;
    polled.enrol.extend(from_engagement(flows, what, &rows));
    if let Some(last) = rows.last() {
        polled.cursors.push(key, Position::Engagement(last.position()));
    }
    Ok(rows.len() as i64 >= BATCH)
}
