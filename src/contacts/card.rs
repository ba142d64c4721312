//! The compliance card as JSON: on what grounds Herald may mail one contact, with the
//! record's identity. `herald contacts show EMAIL --json` prints it and
//! `GET /api/contacts/{email}` answers it, so the two never drift apart.

use crate::domain::{
    BounceStatus, Contact, ContactId, Identity, LegalBasis, ListName, OptInStatus, Processing, Purpose, PurposeConsent,
    SourceType, SubscriptionStatus,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The card; see the module documentation.
#[derive(Debug, Serialize)]
pub struct Card<'a> {
    pub id: Option<ContactId>,
    pub email: &'a str,
    #[serde(flatten)]
    pub identity: &'a Identity,
    pub opt_in_status: OptInStatus,
    pub legal_basis: Option<LegalBasis>,
    pub legal_basis_note: &'a Option<String>,
    pub consent_date: Option<DateTime<Utc>>,
    pub source_type: SourceType,
    pub source_note: &'a Option<String>,
    pub purposes: &'a BTreeMap<Purpose, PurposeConsent>,
    pub lists: &'a BTreeMap<ListName, SubscriptionStatus>,
    pub processing: Processing,
    pub bounce_status: BounceStatus,
    pub consecutive_hard_bounces: u32,
    /// Whether the address is on the suppression list.
    pub suppressed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> Card<'a> {
    pub fn of(c: &'a Contact, suppressed: bool) -> Card<'a> {
        Card {
            id: c.id,
            email: c.email.as_str(),
            identity: &c.identity,
            opt_in_status: c.opt_in,
            legal_basis: c.legal_basis,
            legal_basis_note: &c.legal_basis_note,
            consent_date: c.consent_date,
            source_type: c.source_type,
            source_note: &c.source_note,
            purposes: &c.purposes,
            lists: &c.lists,
            processing: c.processing,
            bounce_status: c.bounce.status,
            consecutive_hard_bounces: c.bounce.consecutive_hard,
            suppressed,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}
