//! The contact record and its compliance card (DESIGN §2).

use super::{
    BounceStatus, ConsentState, ContactId, EmailAddress, LegalBasis, ListName, OptInStatus, Processing, Purpose,
    SourceType, SubscriptionStatus,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who the person is: the fields of DESIGN §8 plus free-form custom attributes.
/// None of this is consent-relevant; changes to it are not ledgered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub country: Option<String>,
    pub crm_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// The state of one purpose, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurposeConsent {
    pub state: ConsentState,
    pub at: DateTime<Utc>,
}

/// Deliverability, maintained by bounce feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bounce {
    pub status: BounceStatus,
    pub consecutive_hard: u32,
}

impl Default for Bounce {
    fn default() -> Self {
        Bounce { status: BounceStatus::Ok, consecutive_hard: 0 }
    }
}

/// One contact with its full compliance card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// `None` until the store has written the contact.
    pub id: Option<ContactId>,
    pub email: EmailAddress,
    pub identity: Identity,
    pub opt_in: OptInStatus,
    pub legal_basis: Option<LegalBasis>,
    pub legal_basis_note: Option<String>,
    pub consent_date: Option<DateTime<Utc>>,
    pub source_type: SourceType,
    pub source_note: Option<String>,
    pub purposes: BTreeMap<Purpose, PurposeConsent>,
    pub lists: BTreeMap<ListName, SubscriptionStatus>,
    pub processing: Processing,
    pub bounce: Bounce,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// A record that does not exist yet: no permission, no basis, nothing subscribed.
    pub fn new(email: EmailAddress, source_type: SourceType, now: DateTime<Utc>) -> Self {
        Contact {
            id: None,
            email,
            identity: Identity::default(),
            opt_in: OptInStatus::None,
            legal_basis: None,
            legal_basis_note: None,
            consent_date: None,
            source_type,
            source_note: None,
            purposes: BTreeMap::new(),
            lists: BTreeMap::new(),
            processing: Processing::Active,
            bounce: Bounce::default(),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn granted(&self, purpose: &Purpose) -> bool {
        self.purposes.get(purpose).is_some_and(|p| p.state == ConsentState::Granted)
    }

    pub fn granted_purposes(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.iter().filter(|(_, c)| c.state == ConsentState::Granted).map(|(p, _)| p)
    }
}
