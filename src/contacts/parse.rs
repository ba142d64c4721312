//! The import's parsing on its own, without a file or a database: a CSV byte stream to
//! the rows `contacts import` would act on. The fuzz target `csv_import` calls this; it
//! goes through the same bounded record reader (`records`, with the default `[import]`
//! caps), header checks and row parser as [`super::import::import`].

use super::csv_row::{Columns, parse_record};
use super::import::header_names;
use super::records::{Record, Records};
use crate::config::ImportConfig;
use chrono::{DateTime, Utc};

/// One data row's line and whether it parses (`Err` says why not, as a reject would).
pub type ParsedRow = (u64, Result<(), String>);

/// Each data row's line and whether it parses; `Err` for the whole stream when its header
/// is unusable.
pub fn parse_csv(bytes: &[u8], now: DateTime<Utc>) -> Result<Vec<ParsedRow>, String> {
    let mut records = Records::new(bytes, ImportConfig::default());
    let header = match records.next_record().map_err(|e| e.to_string())? {
        None => return Err("empty: expected a header row with an 'email' column".into()),
        Some(Record { fields: Err(why), .. }) => return Err(format!("the header row cannot be read: {why}")),
        Some(Record { fields: Ok(fields), .. }) => fields,
    };
    let cols = Columns::from_header(&header_names(&header)?)?;
    let mut rows = Vec::new();
    while let Some(record) = records.next_record().map_err(|e| e.to_string())? {
        rows.push((record.line, parse_record(&cols, &record, now).map(|_| ())));
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

    #[test]
    fn it_reads_through_the_bounded_reader_an_unclosed_quote_costs_one_row() {
        let csv = b"email,first_name\nq1@example.com,\"Ann,Lee\nq2@example.com,Bo\n";
        let rows = parse_csv(csv, now()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].1.as_ref().unwrap_err().contains("never closed"), "{rows:?}");
        assert_eq!(rows[1], (3, Ok(())));
    }
}
