//! Recording opens and clicks on a campaign send (see `store/engagement.rs`): one guarded
//! `UPDATE`, so consent and processing are read in the statement that writes.

use super::support::Pool;
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::engagement::Engagement;
use chrono::{DateTime, Utc};

/// The campaign send a token names, delivered, whose contact may still be tracked.
const TRACKABLE: &str = "source = 'campaign' AND campaign_id = (SELECT c.id FROM campaigns c WHERE c.name = $1) \
     AND contact_id = $2 AND state IN ('sent', 'in_doubt') \
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
