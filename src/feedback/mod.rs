//! Bounce feedback (DESIGN §5): inbound reports (DSNs, ARF complaints, auto-replies,
//! the non-standard bounces real MTAs still send) and provider webhooks become
//! [`BounceEvent`]s; the rules turn them into changes to the contact's record.

pub mod classify;
pub mod clean;
pub mod event;
pub mod ingest;
pub mod listener;
pub mod mapping;
pub mod reason;
pub mod rules;
pub mod smtp_command;
pub mod unsubscribe;
pub mod webhooks;

pub use classify::classify;
pub use event::{BounceEvent, Classification};
