//! Consent: the rules that protect a person's choices, the tamper-evident ledger that
//! keeps the evidence, and the suppression key. Everything here is pure: it takes data
//! and returns data; the store persists what it returns.

mod grants;
pub mod ledger;
pub mod policy;
pub mod replay;
mod rules;
mod suppression;

pub use rules::{
    Actor, Authority, ContactPatch, IdentityPatch, Outcome, OutcomeKind, ProcessingChange, Refusal, Target, apply,
    may_lift_suppression, unsubscribe_from_everything, unsubscribe_from_message,
};
pub use suppression::SuppressionKey;
