//! Contacts, and the one way they change (DESIGN §6).
//!
//! - `change`: the contact-change service — a [`change::Selector`], a
//!   [`crate::consent::ContactPatch`] and an [`crate::consent::Authority`]; the pure rules
//!   decide, the store writes records and ledger events in one transaction per batch.
//!   Every path below, the bounce rules and the link/mailto withdrawals call it; nothing
//!   else calls [`crate::store::Store::modify`].
//! - `confirm`: the confirmation service — requests that apply once the person confirms
//!   them from an email (double opt-in, grants, re-permission), and their expiry.
//! - `suppression`: the suppression list (add, lift under the rules, list).
//! - `token`: the signed link token of unsubscribe, preference and tracking links.
//! - `withdraw`: withdrawal by token, shared by `POST /u/{token}` and the mailto.
//! - `import` (with `csv_row`, `records`, `rejects`, `warnings`, `parse`, `cells`): CSV
//!   import, a batch at a time through the service.
//! - `upsert`: the contacts API's upsert, each JSON object read as an import row.
//! - `card`: the compliance card (`contacts show --json`, `GET /api/contacts/{email}`).
//! - `edit`: `contacts add|set|bulk-set` on the service.
//! - `export`, `audit`: reading contacts and verifying the ledger.

pub mod audit;
pub mod card;
pub mod cells;
pub mod change;
pub mod confirm;
mod csv_row;
pub mod edit;
pub mod export;
pub mod import;
pub mod parse;
mod records;
mod rejects;
pub mod suppression;
pub mod token;
pub mod upsert;
pub mod warnings;
pub mod withdraw;

pub use csv_row::parse_datetime;
