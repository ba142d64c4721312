//! Recording opens and clicks on a campaign or flow send (see `store/engagement.rs`):
//! guarded statements, so consent and processing are read in the statement that writes.

use super::support::{Pool, begin_write};
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::engagement::Engagement;
use chrono::{DateTime, Utc};

/// The send a token names (`$1` its campaign, `$2` its contact), delivered, whose contact
/// may still be tracked. A campaign message's token names the campaign; a flow message's
/// names `FLOW.STEP` (`Flow::step_campaign`), matched through the enrolment's steps: the
/// contact's latest send of that step (a flow with `reenter = true` may have sent it
/// before; its older messages' links then count on the newest).
const TRACKABLE: &str = "contact_id = $2 AND state IN ('sent', 'in_doubt') \
     AND ((source = 'campaign' AND campaign_id = (SELECT c.id FROM campaigns c WHERE c.name = $1)) \
          OR (source = 'flow' AND id = (SELECT MAX(f.send_id) FROM flow_steps f \
              JOIN flow_enrolments e ON e.id = f.enrolment_id \
              WHERE e.contact_id = $2 AND e.flow || '.' || f.step_name = $1))) \
     AND EXISTS (SELECT 1 FROM contacts k WHERE k.id = sends.contact_id AND k.processing = 'active') \
     AND EXISTS (SELECT 1 FROM consents t WHERE t.contact_id = sends.contact_id AND t.purpose = 'tracking' \
                 AND t.state = 'granted')";

pub(in crate::store) async fn record(
    pool: &Pool,
    campaign: &str,
    contact_id: ContactId,
    what: Engagement,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql = match what {
        Engagement::Open => format!("UPDATE sends SET opened_at = $3 WHERE opened_at IS NULL AND {TRACKABLE}"),
        Engagement::Click => format!(
            "UPDATE sends SET clicked_at = $3, opened_at = COALESCE(opened_at, $3) \
             WHERE clicked_at IS NULL AND {TRACKABLE}"
        ),
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign).bind(contact_id).bind(now).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

pub(in crate::store) async fn record_click(
    pool: &Pool,
    campaign: &str,
    contact_id: ContactId,
    url: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let update = format!(
        "UPDATE sends SET clicked_at = $3, opened_at = COALESCE(opened_at, $3) \
         WHERE clicked_at IS NULL AND {TRACKABLE}"
    );
    let first = sqlx::query(sqlx::AssertSqlSafe(update))
        .bind(campaign)
        .bind(contact_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    // One row per link per send: a repeat (a person, or a scanner following every link
    // again and again) changes nothing.
    let insert = format!(
        "INSERT INTO clicks (send_id, url, at) SELECT id, $4, $3 FROM sends WHERE {TRACKABLE} \
         ON CONFLICT (send_id, url) DO NOTHING"
    );
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .bind(campaign)
        .bind(contact_id)
        .bind(now)
        .bind(url)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(first)
}
