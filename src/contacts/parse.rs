//! The import's parsing on its own, without a file or a database: a CSV byte stream to
//! the rows `contacts import` would act on. The fuzz target `csv_import` calls this; it
//! goes through the same reader settings, header checks and row parser as
//! [`super::import::import`], so when the reader changes, re-point this one function.

use super::csv_row::{Columns, parse_row};
use super::import::header_names;
use chrono::{DateTime, Utc};
use csv::ByteRecord;

/// Each data row's line and whether it parses (`Err` says why not, as a reject would);
/// `Err` for the whole stream when its header is unusable.
#[allow(clippy::type_complexity)]
pub fn parse_csv(bytes: &[u8], now: DateTime<Utc>) -> Result<Vec<(u64, Result<(), String>)>, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut header = ByteRecord::new();
    if !reader.read_byte_record(&mut header).map_err(|e| e.to_string())? {
        return Err("empty: expected a header row with an 'email' column".into());
    }
    let cols = Columns::from_header(&header_names(&header)?)?;
    let mut rows = Vec::new();
    let mut record = ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(|e| e.to_string())? {
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, parse_row(&cols, &record, now).map(|_| ())));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    #[test]
    fn rows_parse_or_say_why_not_by_line() {
        let csv = b"email,first_name,opt_in_status\nann@example.com,Ann,double_opt_in\nnot-an-address,Bo,none\n";
        let rows = parse_csv(csv, now()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], (2, Ok(())));
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.is_err());
    }

    #[test]
    fn a_header_without_email_is_refused() {
        assert!(parse_csv(b"name\nx\n", now()).is_err());
        assert!(parse_csv(b"", now()).is_err());
    }
}
