//! Browsing contacts (`contacts list`, `contacts export`), keyset-paged by id so an
//! export of any size holds one page at a time.

use super::Db;
use super::contacts::load_contacts;
use super::support::Pool;
use crate::domain::Contact;
use crate::domain::ContactId;
use crate::error::Result;
use crate::store::ContactFilter;
use sqlx::{QueryBuilder, Row};

pub(in crate::store) async fn contacts_page(
    pool: &Pool,
    filter: &ContactFilter,
    after_id: ContactId,
    limit: i64,
) -> Result<Vec<Contact>> {
    let mut conn = pool.acquire().await?;
    let mut qb = QueryBuilder::<Db>::new("SELECT c.email_norm FROM contacts c WHERE c.id > ");
    qb.push_bind(after_id);
    if let Some(list) = &filter.list {
        qb.push(" AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.contact_id = c.id AND s.list = ");
        qb.push_bind(list.as_str().to_owned());
        qb.push(")");
    }
    if let Some(status) = filter.opt_in {
        qb.push(" AND c.opt_in_status = ");
        qb.push_bind(status.as_str());
    }
    if let Some(purpose) = &filter.purpose {
        qb.push(
            " AND EXISTS (SELECT 1 FROM consents k WHERE k.contact_id = c.id AND k.state = 'granted' AND k.purpose = ",
        );
        qb.push_bind(purpose.as_str().to_owned());
        qb.push(")");
    }
    if let Some(bounce) = filter.bounce {
        qb.push(" AND c.bounce_status = ");
        qb.push_bind(bounce.as_str());
    }
    if let Some(search) = &filter.search {
        // A substring, not a pattern: LIKE's wildcards in the search text match themselves.
        let escaped: String = search
            .to_lowercase()
            .chars()
            .flat_map(|ch| match ch {
                '%' | '_' | '\\' => vec!['\\', ch],
                other => vec![other],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        qb.push(" AND (c.email_norm LIKE ");
        qb.push_bind(pattern.clone());
        qb.push(" ESCAPE '\\' OR LOWER(COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, '')) LIKE ");
        qb.push_bind(pattern);
        qb.push(" ESCAPE '\\')");
    }
    qb.push(" ORDER BY c.id LIMIT ");
    qb.push_bind(limit);
    let mut norms = Vec::new();
    for row in qb.build().fetch_all(&mut *conn).await? {
        norms.push(row.try_get::<String, _>(0)?);
    }
    let (found, _) = load_contacts(&mut conn, &norms, false).await?;
    let mut contacts: Vec<Contact> = found.into_values().collect();
    contacts.sort_by_key(|c| c.id);
    Ok(contacts)
}
