//! The person's rights over what Herald keeps (DESIGN §12, issue 14). What each file owns:
//!
//! - `export`: access and portability: everything Herald holds about a person (profile,
//!   custom attributes, compliance card, subscriptions, purposes, ledger with its
//!   evidence, sends with their engagement, bounces), as JSON or CSV, one contact or a
//!   whole list streamed page by page.
//! - `requests`: the requests register — access, erasure, restriction and objection
//!   requests with the month the GDPR gives to answer them (Art. 12(3)).
//! - `restriction`: restriction (Art. 18) and objection (Art. 21), through the
//!   contact-change service, closing the matching open request.
//! - `retention`: storage limitation (Art. 5(1)(e)): inactive contacts and expired
//!   sign-ups, listed or erased, daily in the daemon.
//! - `compliance`: the compliance report (Art. 5(2)) and the last `audit verify` result.
//! - `erase`: erasure (Art. 17).

pub mod compliance;
pub mod erase;
pub mod export;
pub mod requests;
pub mod restriction;
pub mod retention;
