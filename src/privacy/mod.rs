//! Data-subject rights (DESIGN §12, issue 14).
//!
//! - `export`: access and portability: everything Herald holds about a person (profile,
//!   custom attributes, compliance card, subscriptions, purposes, ledger with its
//!   evidence, sends with their engagement, bounces), as JSON or CSV, one contact or a
//!   whole list streamed page by page.

pub mod export;
