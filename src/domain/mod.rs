//! Domain newtypes: each has one parsing constructor, so everything past the edge
//! (CLI flags, CSV cells, config values) can trust it.

mod contact;
mod email;
mod enums;
mod fault;
mod ids;
mod name;
mod text;

pub use contact::{Bounce, Contact, Identity, PurposeConsent};
pub use email::EmailAddress;
pub use enums::{
    BounceKind, BounceStatus, CampaignState, ConfirmKind, ConsentState, ExclusionReason, LegalBasis, OptInStatus,
    Processing, RequestKind, RequestSource, SendState, Source, SourceType, SubscriptionStatus,
};
pub use fault::Fault;
pub use ids::{CampaignId, ContactId, SendId};
pub use name::{ListName, Purpose};
pub use text::check_text;

/// A value from outside that does not parse: the message names the value and what was
/// expected, ready to be shown to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);
