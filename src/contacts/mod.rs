//! Contacts: CSV import, staff edits, the suppression list and the ledger commands.
//! Each operation builds patches, lets [`crate::consent::apply`] decide, and persists
//! what it decided through [`crate::store::Store::modify`].

pub mod audit;
pub mod cells;
pub mod change;
mod csv_row;
pub mod edit;
pub mod export;
pub mod import;
pub mod parse;
mod records;
mod rejects;
pub mod suppression;
pub mod token;
pub mod warnings;
pub mod withdraw;

pub use csv_row::parse_datetime;
