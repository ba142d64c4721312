//! The person's rights over what Herald keeps (DESIGN §12, issue 14). What each file owns:
//!
//! - `erase`: erasure (Art. 17): the record emptied, its evidence deleted, the bodies
//!   holding personal data redacted, the address kept suppressed as `erased`, in one
//!   transaction; the chain still verifies.
//! - `export`: access and portability: everything Herald holds about a person (profile,
//!   custom attributes, compliance card, subscriptions, purposes, ledger with its
//!   evidence, sends with their engagement, bounces), as JSON or CSV, one contact or a
//!   whole list streamed page by page.
//! - `document`: the shape of one contact's export and its JSON and CSV encodings.
//! - `requests`: the requests register — access, erasure, restriction and objection
//!   requests with the month the GDPR gives to answer them (Art. 12(3)).
//! - `restriction`: restriction (Art. 18) and objection (Art. 21), through the
//!   contact-change service, closing the matching open request.
//! - `field_key`: the key of sensitive fields (`HERALD_FIELD_KEY`, `_PREVIOUS`) and the
//!   AEAD that seals their values.
//! - `sensitive`: sensitive fields in the contact-change service (sealed, masked, erased
//!   and locked with `data_storage`) and in templates a campaign allows.
//! - `reveal`: `contacts reveal` with its access log, and `privacy rotate-key`.
//! - `retention`: storage limitation (Art. 5(1)(e)): inactive contacts and expired
//!   sign-ups, listed or erased, daily in the daemon.
//! - `compliance`: the compliance report (Art. 5(2)) and the last `audit verify` result.

pub mod compliance;
pub mod document;
pub mod erase;
pub mod export;
pub mod field_key;
pub mod requests;
pub mod restriction;
pub mod retention;
pub mod reveal;
pub mod sensitive;
