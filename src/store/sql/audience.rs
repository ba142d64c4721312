//! The audience SQL (campaign plans and materialisation): the SQL twin of
//! `consent::policy::evaluate`.

use super::support::{DbRow, Pool, push_in};
use super::{DIALECT, Db};
use crate::consent::policy::CampaignKind;
use crate::domain::ContactId;
use crate::domain::ExclusionReason;
use crate::error::Result;
use crate::store::{AudienceCounts, AudienceMember, AudienceQuery, Count, Dialect, SegmentColumn, corrupt};
use sqlx::{QueryBuilder, Row};

/// The audience with, per contact, the first exclusion reason (NULL when eligible): the
/// SQL twin of `consent::policy::evaluate`, rule for rule and in the same order (a
/// property test holds the two together).
///
/// `window` narrows it to a slice of contact ids, so that a batch reads only its slice.
fn push_audience(qb: &mut QueryBuilder<Db>, q: &AudienceQuery, window: Window) {
    let p = &q.policy;
    let marketing = p.kind == CampaignKind::Marketing;
    qb.push(
        "SELECT a.id, CASE \
         WHEN a.processing = 'erased' THEN 'erased' \
         WHEN a.processing IN ('restricted', 'erasure_requested') THEN 'restricted' \
         WHEN a.bounce_status = 'confirmed' THEN 'confirmed_bounce' \
         WHEN sp.mac IS NOT NULL THEN 'suppressed' ",
    );
    if p.kind != CampaignKind::Transactional {
        qb.push("WHEN a.opt_in_status IN ('opted_out_user', 'opted_out_contact') THEN 'opted_out' ");
        if marketing {
            let accepted: Vec<String> = p.accept.statuses().iter().map(|s| format!("'{}'", s.as_str())).collect();
            qb.push(format!("WHEN a.opt_in_status NOT IN ({}) THEN 'opt_in_insufficient' ", accepted.join(", ")));
        }
        qb.push(if marketing {
            "WHEN a.usable = 0 THEN 'not_subscribed' "
        } else {
            "WHEN a.subscribed = 0 THEN 'not_subscribed' "
        });
        if marketing && let Some(purpose) = &p.purpose {
            let interest = if p.legitimate_interest_purposes.contains(purpose) { "1 = 1" } else { "1 = 0" };
            qb.push(format!(
                "WHEN (CASE WHEN (a.legal_basis IS NULL OR a.legal_basis = 'consent') AND cp.state = 'granted' THEN 1 \
                 WHEN a.legal_basis = 'legitimate_interest' AND {interest} AND (cp.state IS NULL OR cp.state <> 'withdrawn') THEN 1 \
                 ELSE 0 END) = 0 THEN 'no_legal_basis' "
            ));
        }
        // Rules 9 and 10 read the contact's delivery history (through `sends_contact`),
        // as `Store::history` does for the send-time re-check.
        if marketing && let Some(cap) = p.frequency_cap {
            // Marketing messages delivered within the window.
            qb.push(
                "WHEN (SELECT COUNT(*) FROM sends h JOIN campaigns k ON k.id = h.campaign_id \
                 WHERE h.contact_id = a.id AND h.state = 'sent' AND k.kind = 'marketing' AND h.sent_at >= ",
            );
            qb.push_bind(q.now - chrono::Duration::days(i64::from(cap.days)));
            qb.push(format!(") >= {} THEN 'frequency_cap' ", cap.max));
        }
        if marketing && let Some(n) = p.exclude_unengaged.filter(|n| *n > 0) {
            // Tracking consent, at least n delivered messages, and none of the last n
            // (by sent_at, then id) opened or clicked: an engaged message is among the
            // last n when fewer than n delivered messages come after it.
            qb.push(format!(
                "WHEN ct.state = 'granted' \
                 AND (SELECT COUNT(*) FROM sends h WHERE h.contact_id = a.id AND h.state = 'sent' AND h.source <> 'test') >= {n} \
                 AND NOT EXISTS (SELECT 1 FROM sends e WHERE e.contact_id = a.id AND e.state = 'sent' AND e.source <> 'test' \
                   AND (e.opened_at IS NOT NULL OR e.clicked_at IS NOT NULL) \
                   AND (SELECT COUNT(*) FROM sends l WHERE l.contact_id = a.id AND l.state = 'sent' AND l.source <> 'test' \
                     AND (l.sent_at > e.sent_at OR (l.sent_at = e.sent_at AND l.id > e.id))) < {n}) \
                 THEN 'unengaged' "
            ));
        }
    }
    qb.push(
        "ELSE NULL END AS reason FROM (\
         SELECT c.id, c.processing, c.bounce_status, c.opt_in_status, c.legal_basis, c.email_mac, \
         MAX(CASE WHEN s.status = 'confirmed' THEN 1 WHEN s.status = 'unconfirmed' AND NOT l.double_opt_in THEN 1 ELSE 0 END) AS usable, \
         MAX(CASE WHEN s.status <> 'unsubscribed' THEN 1 ELSE 0 END) AS subscribed \
         FROM subscriptions s JOIN lists l ON l.name = s.list JOIN contacts c ON c.id = s.contact_id WHERE s.list",
    );
    push_in(qb, q.lists.iter().map(String::as_str));
    for (column, values) in &q.segment {
        match column {
            SegmentColumn::Column(name) => {
                qb.push(format!(" AND c.{name}"));
            }
            SegmentColumn::Attribute(key) => match DIALECT {
                Dialect::Sqlite => {
                    qb.push(" AND json_extract(c.attributes, ").push_bind(format!("$.\"{key}\"")).push(")");
                }
                Dialect::Postgres => {
                    qb.push(" AND (c.attributes ->> ").push_bind(key.clone()).push(")");
                }
            },
        }
        push_in(qb, values.iter().map(String::as_str));
    }
    match window {
        Window::All => {}
        Window::After { after, .. } => {
            qb.push(" AND s.contact_id > ").push_bind(after);
        }
        Window::Range { after, upto } => {
            qb.push(" AND s.contact_id > ").push_bind(after).push(" AND s.contact_id <= ").push_bind(upto);
        }
    }
    qb.push(" GROUP BY c.id, c.processing, c.bounce_status, c.opt_in_status, c.legal_basis, c.email_mac");
    if let Window::After { limit, .. } = window {
        qb.push(" ORDER BY c.id LIMIT ").push_bind(limit);
    }
    qb.push(") a LEFT JOIN suppression sp ON sp.mac = a.email_mac");
    if let Some(purpose) = &p.purpose {
        qb.push(" LEFT JOIN consents cp ON cp.contact_id = a.id AND cp.purpose = ")
            .push_bind(purpose.as_str().to_owned());
    }
    if marketing && p.exclude_unengaged.is_some_and(|n| n > 0) {
        qb.push(" LEFT JOIN consents ct ON ct.contact_id = a.id AND ct.purpose = 'tracking'");
    }
}

/// Which contacts an audience query looks at.
#[derive(Debug, Clone, Copy)]
enum Window {
    All,
    /// The first `limit` audience members after contact id `after`.
    After {
        after: ContactId,
        limit: i64,
    },
    /// The audience members with ids in (after, upto]: bounded work whatever the lists.
    Range {
        after: ContactId,
        upto: ContactId,
    },
}

fn member(r: &DbRow) -> Result<AudienceMember> {
    Ok(AudienceMember { contact_id: r.try_get("id")?, exclusion: reason_from(r.try_get("reason")?)? })
}

fn reason_from(raw: Option<String>) -> Result<Option<ExclusionReason>> {
    raw.map(|r| r.parse().map_err(|e| corrupt("exclusion reason", e))).transpose()
}

pub(in crate::store) async fn plan_counts(pool: &Pool, q: &AudienceQuery) -> Result<AudienceCounts> {
    let mut qb = QueryBuilder::<Db>::new("SELECT r.reason, COUNT(*) AS n FROM (");
    push_audience(&mut qb, q, Window::All);
    qb.push(") r GROUP BY r.reason");
    let mut total = 0;
    let mut counts = Vec::new();
    for row in qb.build().fetch_all(pool).await? {
        let n: i64 = row.try_get("n")?;
        total += n;
        counts.push(Count { key: reason_from(row.try_get("reason")?)?, count: n });
    }
    Ok(AudienceCounts { total, by_reason: counts })
}

pub(in crate::store) async fn audience(
    pool: &Pool,
    q: &AudienceQuery,
    after_id: ContactId,
    limit: i64,
) -> Result<Vec<AudienceMember>> {
    let mut qb = QueryBuilder::<Db>::new("SELECT r.id, r.reason FROM (");
    push_audience(&mut qb, q, Window::After { after: after_id, limit });
    qb.push(") r WHERE r.id > ").push_bind(after_id).push(" ORDER BY r.id LIMIT ").push_bind(limit);
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter().map(member).collect()
}

/// The audience members with contact ids in (after, upto], in id order.
pub(in crate::store) async fn audience_range(
    pool: &Pool,
    q: &AudienceQuery,
    after: ContactId,
    upto: ContactId,
) -> Result<Vec<AudienceMember>> {
    let mut qb = QueryBuilder::<Db>::new("SELECT r.id, r.reason FROM (");
    push_audience(&mut qb, q, Window::Range { after, upto });
    qb.push(") r ORDER BY r.id");
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter().map(member).collect()
}

pub(in crate::store) async fn max_contact_id(pool: &Pool) -> Result<ContactId> {
    Ok(sqlx::query_scalar::<_, Option<ContactId>>("SELECT MAX(id) FROM contacts")
        .fetch_one(pool)
        .await?
        .unwrap_or_default())
}
