//! The person's rights over what Herald keeps (DESIGN §12, issue 14). What each file owns:
//!
//! - `export`: access and portability: everything Herald holds about a person (profile,
//!   custom attributes, compliance card, subscriptions, purposes, ledger with its
//!   evidence, sends with their engagement, bounces), as JSON or CSV, one contact or a
//!   whole list streamed page by page.
//! - `document`: the shape of one contact's export and its JSON and CSV encodings.
//! - `requests`: the requests register — access, erasure, restriction and objection
//!   requests with the month the GDPR gives to answer them (Art. 12(3)).
//! - `restriction`: restriction (Art. 18) and objection (Art. 21), through the
//!   contact-change service, closing the matching open request.

pub mod document;
pub mod export;
pub mod requests;
pub mod restriction;
