//! Consent: the rules that protect a person's choices (`rules`, deciding from `authority`:
//! who asks and with what proof; `grants` for what a request may grant; `processing` for
//! the processing and bounce states only staff and automatic rules set), the
//! tamper-evident ledger (`ledger`, with `fields`: a record's consent-relevant fields as
//! the ledger sees them) and the evidence kept apart from it (`evidence`: digests, row
//! checks, redaction at erasure), and the suppression key and who may lift a
//! suppression; `sources` holds the send-time policy of each message source (campaign,
//! test, confirmation, flow). Everything here is pure: it takes data and returns data;
//! the contact-change service (`contacts::change`) persists it.

mod authority;
pub mod evidence;
mod fields;
mod grants;
pub mod ledger;
pub mod policy;
mod processing;
pub mod replay;
mod rules;
pub mod signals;
pub mod sources;
mod suppression;

pub use authority::{Actor, Authority};
pub use processing::ProcessingChange;
pub use rules::{
    ContactPatch, IdentityPatch, Outcome, OutcomeKind, Refusal, Target, apply, unsubscribe_from_everything,
    unsubscribe_from_message,
};
pub use suppression::{SuppressionKey, may_lift_suppression};
