//! Contacts: CSV import, staff edits, the suppression list and the ledger commands.
//! Each operation builds patches, lets [`crate::consent::apply`] decide, and persists
//! what it decided through [`crate::store::Store::modify`].

pub mod audit;
mod csv_row;
pub mod edit;
pub mod import;
pub mod parse;
mod records;
mod rejects;
pub mod suppression;

pub use csv_row::parse_datetime;
