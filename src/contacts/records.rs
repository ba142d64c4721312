//! The import's CSV reader: bytes → one bounded record at a time, each with its line
//! number and its raw text for the rejects file. A general CSV reader buffers a whole
//! record, or a whole unterminated quoted field, before returning it; this one holds at
//! most `max_row_bytes` of a row, so no file can make an import outgrow its memory
//! (issue 12).
//!
//! Quoting is RFC 4180's within a line (`"a, b"`, `""` for a quote; a stray quote inside
//! an unquoted field is data, as the csv crate reads it), but a record is one line: a
//! quoted field still open at the end of its line is refused as never closed, and the
//! next line is read as the next row. A line break inside a value is refused as a control
//! character anyway (DESIGN §8, issue 12), so no valid data is lost by that, and one
//! missing quote cannot swallow the rows after it.
//!
//! A row that breaks a bound is still a row: it comes back refused, with the reason, and
//! reading goes on at the next line.

use crate::config::ImportConfig;
use csv::ByteRecord;
use std::io::{self, BufRead};

/// One record as read.
#[derive(Debug)]
pub(super) struct Record {
    /// The line (1-based) the record is on.
    pub line: u64,
    /// Its text without the line terminator; cut at `max_row_bytes`.
    pub raw: Vec<u8>,
    pub fields: Result<ByteRecord, Refused>,
}

/// Why a record was not split into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// A quoted field opened on `line` is not closed before the end of that line.
    UnclosedQuote {
        line: u64,
    },
    RowTooLong {
        limit: usize,
    },
    /// Column `column` (1-based) is longer than `limit` bytes.
    CellTooLong {
        column: usize,
        limit: usize,
    },
    TooManyColumns {
        limit: usize,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::UnclosedQuote { line } => write!(
                f,
                "the quoted field opened on line {line} is never closed on that line (a quote is missing, \
                 or the value holds a line break); reading went on at the next line"
            ),
            Refused::RowTooLong { limit } => write!(f, "the row is longer than {limit} bytes (import.max_row_bytes)"),
            Refused::CellTooLong { column, limit } => {
                write!(f, "column {column} is longer than {limit} bytes (import.max_cell_bytes)")
            }
            Refused::TooManyColumns { limit } => {
                write!(f, "the row has more than {limit} columns (import.max_columns)")
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the end of the field, or the first of `""`.
    QuoteInQuoted,
}

pub(super) struct Records<R> {
    input: R,
    /// The line the next byte is on.
    line: u64,
    bytes_read: u64,
    limits: ImportConfig,
}

/// The record being read.
struct Building {
    raw: Vec<u8>,
    fields: ByteRecord,
    field: Vec<u8>,
    refused: Option<Refused>,
    state: State,
}

enum Step {
    Continue,
    /// The line ends here (its `\n` consumed).
    End,
    /// The row reached `max_row_bytes`: the rest of the line is skipped.
    TooLong,
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(input: R, limits: ImportConfig) -> Self {
        Records { input, line: 1, bytes_read: 0, limits }
    }

    /// Bytes taken from the input so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next record; blank lines are skipped.
    pub(super) fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            let Some(record) = self.read_line()? else { return Ok(None) };
            if !(record.raw.is_empty() && record.fields.is_ok()) {
                return Ok(Some(record));
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Option<Record>> {
        let line = self.line;
        let mut b = Building {
            raw: Vec::new(),
            fields: ByteRecord::new(),
            field: Vec::new(),
            refused: None,
            state: State::FieldStart,
        };
        let mut started = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                if !started {
                    return Ok(None);
                }
                b.end_line(line, &self.limits);
                return Ok(Some(b.finish(line)));
            }
            started = true;
            let mut used = 0;
            let mut step = Step::Continue;
            for &byte in chunk {
                used += 1;
                step = b.push(byte, line, &self.limits);
                if !matches!(step, Step::Continue) {
                    break;
                }
            }
            self.input.consume(used);
            self.bytes_read += used as u64;
            match step {
                Step::Continue => {}
                Step::End => {
                    self.line += 1;
                    return Ok(Some(b.finish(line)));
                }
                Step::TooLong => {
                    self.skip_line()?;
                    return Ok(Some(b.finish(line)));
                }
            }
        }
    }

    /// Reads past the end of the current line, keeping nothing.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let (used, found) = match chunk.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            self.input.consume(used);
            self.bytes_read += used as u64;
            if found {
                self.line += 1;
                return Ok(());
            }
        }
    }
}

impl Building {
    /// Takes the next byte of the line `line`.
    fn push(&mut self, byte: u8, line: u64, limits: &ImportConfig) -> Step {
        if byte == b'\n' {
            self.end_line(line, limits);
            return Step::End;
        }
        if self.raw.len() >= limits.max_row_bytes {
            self.refuse(Refused::RowTooLong { limit: limits.max_row_bytes });
            return Step::TooLong;
        }
        self.raw.push(byte);
        match (self.state, byte) {
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => self.data(byte, limits),
            (State::QuoteInQuoted, b'"') => {
                self.data(b'"', limits);
                self.state = State::Quoted;
            }
            (State::FieldStart, b'"') => self.state = State::Quoted,
            (_, b',') => {
                self.end_field(limits);
                self.state = State::FieldStart;
            }
            (_, _) => {
                self.data(byte, limits);
                self.state = State::Unquoted;
            }
        }
        Step::Continue
    }

    /// The line ended (at a `\n` or the end of the file): a `\r` before it is the line
    /// terminator's, an open quote is never closed.
    fn end_line(&mut self, line: u64, limits: &ImportConfig) {
        if self.raw.last() == Some(&b'\r') {
            self.raw.pop();
            if self.state != State::Quoted && self.field.last() == Some(&b'\r') {
                self.field.pop();
            }
        }
        if self.state == State::Quoted {
            self.refuse(Refused::UnclosedQuote { line });
        }
        self.end_field(limits);
    }

    fn data(&mut self, byte: u8, limits: &ImportConfig) {
        if self.refused.is_some() {
            return;
        }
        if self.field.len() >= limits.max_cell_bytes {
            let column = self.fields.len() + 1;
            self.refuse(Refused::CellTooLong { column, limit: limits.max_cell_bytes });
            return;
        }
        self.field.push(byte);
    }

    fn end_field(&mut self, limits: &ImportConfig) {
        if self.refused.is_some() {
            return;
        }
        if self.fields.len() >= limits.max_columns {
            self.refuse(Refused::TooManyColumns { limit: limits.max_columns });
            return;
        }
        self.fields.push_field(&self.field);
        self.field.clear();
    }

    fn refuse(&mut self, why: Refused) {
        if self.refused.is_none() {
            self.refused = Some(why);
            self.fields = ByteRecord::new();
            self.field = Vec::new();
        }
    }

    fn finish(self, line: u64) -> Record {
        let fields = match self.refused {
            Some(why) => Err(why),
            None => Ok(self.fields),
        };
        Record { line, raw: self.raw, fields }
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
