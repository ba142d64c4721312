//! `inactive { days }` triggers. Inactivity is a state, not an event: once a day per
//! flow, a pass over the contacts (a page per poll, by contact id) finds those who are
//! inactive now and asks to enrol them.
//!
//! A contact is inactive for `days` when they have been mailed for at least that long
//! and have opened and clicked nothing in that time: their last open or click (or, if
//! they never engaged, their first delivered message) is `days` or more ago. Only active
//! contacts (not restricted nor erased) subscribed to one of the flow's lists are
//! looked at; one never mailed is not inactive, only unmailed.
//!
//! The trigger key is `inactive:FLOW:YYYY-MM-DD`, the day the inactivity began (the day
//! of that last activity): every daily pass of one stretch of inactivity asks with the
//! same key, so enrolment (idempotent by key) enrols the contact once per stretch even
//! in a flow with `reenter = true`; a contact who engages and then goes quiet again
//! starts a new stretch, with a new key. The first pass enrols everyone inactive at the
//! time: there is no history to skip, only a state.

use super::cursor::{self, Position};
use super::{BATCH, Cursors};
use crate::app::App;
use crate::domain::ContactId;
use crate::error::Result;
use crate::flows::requests::EnrolRequest;
use crate::flows::{Flow, Trigger};
use crate::store::flow_triggers::Activity;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

/// The `meta` key of a flow's daily pass.
fn key(flow: &str) -> String {
    format!("flows.triggers.inactive.{flow}")
}

/// The day `a`'s current stretch of inactivity began, if they are inactive for `days`
/// at `now`.
pub fn inactive_since(a: &Activity, days: u32, now: DateTime<Utc>) -> Option<NaiveDate> {
    let last = a.last_open.max(a.last_click).or(a.first_sent)?;
    (last <= now - Duration::days(i64::from(days))).then(|| last.date_naive())
}

/// One page of each `inactive` flow's pass of the day: the enrolments, and where each
/// pass now stands in `cursors`. True when a pass has more pages.
pub(super) async fn poll(
    app: &App,
    flows: &[Flow],
    now: DateTime<Utc>,
    enrol: &mut Vec<EnrolRequest>,
    cursors: &mut Cursors,
) -> Result<bool> {
    let today = now.date_naive();
    let mut more = false;
    let mut last_id: Option<ContactId> = None;
    for flow in flows {
        let Trigger::Inactive { days } = flow.trigger else { continue };
        let key = key(&flow.name);
        let like = Position::Day { day: today, after: 0 };
        let after = match cursor::load(app, &key, &like).await? {
            Some(Position::Day { day, after }) if day == today => after,
            _ => 0,
        };
        if after == i64::MAX {
            continue;
        }
        let last = match last_id {
            Some(id) => id,
            None => *last_id.insert(app.store.max_contact_id().await?),
        }
        .get();
        let upto = after.saturating_add(BATCH).min(last);
        if upto > after {
            for a in app.store.activity(&flow.lists, ContactId::new(after), ContactId::new(upto)).await? {
                let Some(since) = inactive_since(&a, days, now) else { continue };
                enrol.push(EnrolRequest {
                    flow: flow.name.clone(),
                    contact_id: a.contact_id,
                    trigger_key: format!("inactive:{}:{since}", flow.name),
                    properties: json!({ "days": days, "inactive_since": since.to_string() }),
                    at: now,
                });
            }
        }
        let done = upto >= last;
        more |= !done;
        cursors.push(key, Position::Day { day: today, after: if done { i64::MAX } else { upto } });
    }
    Ok(more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn activity(first_sent: Option<&str>, open: Option<&str>, click: Option<&str>) -> Activity {
        Activity {
            contact_id: ContactId::new(1),
            first_sent: first_sent.map(at),
            last_open: open.map(at),
            last_click: click.map(at),
        }
    }

    #[test]
    fn inactive_means_mailed_for_the_days_and_no_open_or_click_in_them() {
        let now = at("2026-12-06T12:00:00Z");
        // Mailed 100 days ago, never opened: inactive since that first message.
        let quiet = activity(Some("2026-08-28T09:00:00Z"), None, None);
        assert_eq!(inactive_since(&quiet, 90, now), Some("2026-08-28".parse().unwrap()));
        // Mailed for only 30 days: not inactive for 90 yet.
        assert_eq!(inactive_since(&activity(Some("2026-11-06T09:00:00Z"), None, None), 90, now), None);
        // Opened 10 days ago: active, however old their first message.
        let opened = activity(Some("2025-01-01T00:00:00Z"), Some("2026-11-26T00:00:00Z"), None);
        assert_eq!(inactive_since(&opened, 90, now), None);
        // A click counts too, and the latest of open and click starts the stretch.
        let clicked =
            activity(Some("2025-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"), Some("2026-11-30T00:00:00Z"));
        assert_eq!(inactive_since(&clicked, 90, now), None);
        let long_ago =
            activity(Some("2025-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z"), Some("2026-02-01T00:00:00Z"));
        assert_eq!(inactive_since(&long_ago, 90, now), Some("2026-02-01".parse().unwrap()));
        // Never mailed (only failed or skipped sends): unmailed, not inactive.
        assert_eq!(inactive_since(&activity(None, None, None), 1, now), None);
    }
}
