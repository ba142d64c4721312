//! The privacy export's reads (DESIGN §12): a batch of contacts in id order, each with
//! its subscriptions, consents, ledger (with evidence), sends (each with the links
//! followed in it), bounces, events and flow entries (each with its steps).
//!
//! One statement per batch, and one row: the batch as a JSON array, a contact per
//! element (`[its columns…, subscriptions, consents, ledger, sends, bounces, …]`), each
//! related table aggregated by a correlated subquery over its `contact_id` index into a
//! JSON array of arrays (SQLite's `json_group_array`, PostgreSQL's `json_agg`). The
//! driver's cost is per row and per column, so a batch costs it one value however much
//! it holds; the array is parsed here (serde reads a struct from a JSON array, field by
//! field) into the records the export writes. The aggregates are not ordered in SQL
//! (SQLite sorts an aggregate's `ORDER BY` through a temporary b-tree, the contacts'
//! whole JSON included): the contacts and each one's ledger, sends and bounces are
//! sorted here.

use super::support::Conn;
use super::{DIALECT, Db};
use crate::consent::ledger::Entry;
use crate::domain::{Bounce, Contact, ContactId, EmailAddress, Identity, ListName, Purpose, PurposeConsent, SendId};
use crate::error::Result;
use crate::store::privacy::{
    ContactBounce, ContactEvent, ContactFlow, ContactFlowStep, ExportBatch, LinkFollowed, SendRecord,
};
use crate::store::{Dialect, corrupt};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{QueryBuilder, Row};
use std::collections::BTreeMap;

pub(in crate::store) async fn export_batch(
    conn: &mut Conn,
    list: Option<&ListName>,
    after: ContactId,
    limit: i64,
) -> Result<ExportBatch> {
    // One snapshot for the batch (one statement, but the cursor's batches stay apart).
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    if DIALECT == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    }
    let attributes = match DIALECT {
        Dialect::Sqlite => "json(x.attributes)",
        Dialect::Postgres => "x.attributes",
    };
    let columns = format!(
        "x.id, x.email, x.first_name, x.last_name, x.company, x.title, x.phone, x.website, x.country, x.crm_id, \
         {attributes}, x.opt_in_status, x.legal_basis, x.legal_basis_note, x.consent_date, x.source_type, \
         x.source_note, x.processing, x.bounce_status, x.consecutive_hard_bounces, x.created_at, x.updated_at, \
         {subscriptions}, {consents}, {ledger}, {sends}, {bounces}, {events}, {flows}",
        subscriptions = aggregate("s.list, s.status", "subscriptions s WHERE s.contact_id = x.id"),
        consents = aggregate("s.purpose, s.state, s.at", "consents s WHERE s.contact_id = x.id"),
        ledger = aggregate(
            "l.seq, l.at, l.body, l.hash, v.data",
            "ledger l LEFT JOIN evidence v ON v.contact_id = l.contact_id AND v.seq = l.seq \
             WHERE l.contact_id = x.id",
        ),
        // Each send's clicks through `UNIQUE (send_id, url)`.
        sends = aggregate(
            &format!(
                "s.id, s.source, c.name, s.state, s.reason, s.created_at, s.sent_at, s.opened_at, s.clicked_at, \
                 s.smtp_code, s.updated_at, {clicks}",
                clicks = aggregate("k.url, k.at", "clicks k WHERE k.send_id = s.id"),
            ),
            "sends s LEFT JOIN campaigns c ON c.id = s.campaign_id WHERE s.contact_id = x.id",
        ),
        bounces = aggregate(
            "b.id, b.received_at, b.kind, c.name, b.send_id, b.status, b.reason, b.source",
            "bounces b LEFT JOIN campaigns c ON c.id = b.campaign_id WHERE b.contact_id = x.id",
        ),
        events = aggregate("e.id, e.name, e.properties, e.received_at", "events e WHERE e.contact_id = x.id"),
        flows = aggregate(
            &format!(
                "f.id, f.flow, f.state, f.step_name, f.due_at, f.exit_reason, f.properties, f.created_at, \
                 f.updated_at, {steps}",
                steps = aggregate(
                    "t.step_index, t.step_name, t.outcome, t.reason, t.send_id, t.at",
                    "flow_steps t WHERE t.enrolment_id = f.id"
                ),
            ),
            "flow_enrolments f WHERE f.contact_id = x.id",
        ),
    );
    let outer = match DIALECT {
        Dialect::Sqlite => format!("SELECT json_group_array(json_array({columns}))"),
        Dialect::Postgres => format!("SELECT json_agg(json_build_array({columns}))::text"),
    };
    let mut qb = QueryBuilder::<Db>::new(format!("{outer} FROM (SELECT * FROM contacts x WHERE x.id > "));
    qb.push_bind(after);
    if let Some(list) = list {
        qb.push(" AND EXISTS (SELECT 1 FROM subscriptions l WHERE l.contact_id = x.id AND l.list = ");
        qb.push_bind(list.as_str().to_owned());
        qb.push(")");
    }
    qb.push(" ORDER BY x.id LIMIT ");
    qb.push_bind(limit);
    qb.push(") x");
    let row = qb.build().fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let Some(json) = row.try_get::<Option<&str>, _>(0)? else { return Ok(ExportBatch::default()) };
    let mut contacts: Vec<ContactRow> = serde_json::from_str(json).map_err(|e| corrupt("export batch", e))?;
    contacts.sort_unstable_by_key(|c| c.id);
    let mut batch = ExportBatch::default();
    for c in contacts {
        c.add_to(&mut batch)?;
    }
    Ok(batch)
}

/// The rows of `from_where` as a JSON array of `[columns]` arrays (in no set order):
/// `[]` when there are none. (SQLite's `json()` keeps it JSON, not text, through the
/// subquery.)
fn aggregate(columns: &str, from_where: &str) -> String {
    match DIALECT {
        Dialect::Sqlite => format!("json((SELECT json_group_array(json_array({columns})) FROM {from_where}))"),
        Dialect::Postgres => {
            format!("(SELECT COALESCE(json_agg(json_build_array({columns})), '[]'::json) FROM {from_where})")
        }
    }
}

type LedgerRow = (i64, DateTime<Utc>, String, String, Option<String>);
type SendRow = (
    SendId,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<i32>,
    DateTime<Utc>,
    Vec<(String, DateTime<Utc>)>,
);
type EventRow = (i64, String, String, DateTime<Utc>);
type FlowStepRow = (i64, String, String, Option<String>, Option<SendId>, DateTime<Utc>);
type FlowRow = (
    i64,
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Vec<FlowStepRow>,
);
type BounceRow = (i64, DateTime<Utc>, String, Option<String>, Option<SendId>, Option<String>, Option<String>, String);

/// One element of the batch's array: the fields in the statement's column order.
#[derive(Deserialize)]
struct ContactRow {
    id: ContactId,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    country: Option<String>,
    crm_id: Option<String>,
    attributes: BTreeMap<String, String>,
    opt_in_status: String,
    legal_basis: Option<String>,
    legal_basis_note: Option<String>,
    consent_date: Option<DateTime<Utc>>,
    source_type: String,
    source_note: Option<String>,
    processing: String,
    bounce_status: String,
    consecutive_hard_bounces: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    subscriptions: Vec<(String, String)>,
    consents: Vec<(String, String, DateTime<Utc>)>,
    ledger: Vec<LedgerRow>,
    sends: Vec<SendRow>,
    bounces: Vec<BounceRow>,
    events: Vec<EventRow>,
    flows: Vec<FlowRow>,
}

impl ContactRow {
    /// Adds the contact to `batch`, with its share of the batch's records.
    fn add_to(mut self, batch: &mut ExportBatch) -> Result<()> {
        let contact_id = self.id;
        self.ledger.sort_unstable_by_key(|e| e.0);
        self.sends.sort_unstable_by_key(|s| s.0);
        self.bounces.sort_unstable_by_key(|b| (b.1, b.0));
        self.events.sort_unstable_by_key(|e| e.0);
        self.flows.sort_unstable_by_key(|f| f.0);
        let mut contact = Contact {
            id: Some(contact_id),
            email: EmailAddress::parse(&self.email).map_err(|e| corrupt("email", e))?,
            identity: Identity {
                first_name: self.first_name,
                last_name: self.last_name,
                company: self.company,
                title: self.title,
                phone: self.phone,
                website: self.website,
                country: self.country,
                crm_id: self.crm_id,
                attributes: self.attributes,
            },
            opt_in: self.opt_in_status.parse().map_err(|e| corrupt("opt_in_status", e))?,
            legal_basis: self.legal_basis.map(|b| b.parse()).transpose().map_err(|e| corrupt("legal_basis", e))?,
            legal_basis_note: self.legal_basis_note,
            consent_date: self.consent_date,
            source_type: self.source_type.parse().map_err(|e| corrupt("source_type", e))?,
            source_note: self.source_note,
            purposes: BTreeMap::new(),
            lists: BTreeMap::new(),
            processing: self.processing.parse().map_err(|e| corrupt("processing", e))?,
            bounce: Bounce {
                status: self.bounce_status.parse().map_err(|e| corrupt("bounce_status", e))?,
                consecutive_hard: self.consecutive_hard_bounces.max(0) as u32,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        for (list, status) in self.subscriptions {
            let list = ListName::parse(&list).map_err(|e| corrupt("list name", e))?;
            contact.lists.insert(list, status.parse().map_err(|e| corrupt("subscription", e))?);
        }
        for (purpose, state, at) in self.consents {
            let purpose = Purpose::parse(&purpose).map_err(|e| corrupt("purpose", e))?;
            let state = state.parse().map_err(|e| corrupt("consent", e))?;
            contact.purposes.insert(purpose, PurposeConsent { state, at });
        }
        batch.contacts.push(contact);
        for (seq, at, body, hash, evidence) in self.ledger {
            batch.ledger.push(Entry { contact_id, seq, at, body, hash, evidence });
        }
        for mut s in self.sends {
            s.11.sort_unstable_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            batch.sends.push(SendRecord {
                send_id: s.0,
                contact_id,
                source: s.1,
                campaign: s.2,
                state: s.3,
                reason: s.4,
                created_at: s.5,
                sent_at: s.6,
                opened_at: s.7,
                clicked_at: s.8,
                smtp_code: s.9,
                updated_at: s.10,
                clicks: s.11.into_iter().map(|(url, at)| LinkFollowed { url, at }).collect(),
            });
        }
        for b in self.bounces {
            batch.bounces.push(ContactBounce {
                id: b.0,
                contact_id,
                received_at: b.1,
                kind: b.2,
                campaign: b.3,
                send_id: b.4,
                status: b.5,
                reason: b.6,
                source: b.7,
            });
        }
        for (id, name, properties, received_at) in self.events {
            let properties = serde_json::from_str(&properties).map_err(|e| corrupt("event properties", e))?;
            batch.events.push(ContactEvent { id, contact_id, name, properties, received_at });
        }
        // Sorted by enrolment id above; the id itself is not exported.
        for (_, flow, state, step, due_at, exit_reason, properties, entered_at, updated_at, mut steps) in self.flows {
            let properties = serde_json::from_str(&properties).map_err(|e| corrupt("flow properties", e))?;
            steps.sort_unstable_by_key(|s| (s.5, s.0));
            let steps = steps
                .into_iter()
                .map(|(_, step, outcome, reason, send_id, at)| ContactFlowStep { step, outcome, reason, send_id, at })
                .collect();
            batch.flows.push(ContactFlow {
                contact_id,
                flow,
                state,
                step,
                due_at,
                exit_reason,
                properties,
                entered_at,
                updated_at,
                steps,
            });
        }
        Ok(())
    }
}
