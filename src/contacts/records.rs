//! The import's CSV reader: bytes → one bounded record at a time (RFC 4180 quoting, the
//! csv crate's reading of stray quotes), each with the line it starts on and its raw text
//! for the rejects file. A general CSV reader buffers a whole record, or a whole
//! unterminated quoted field, before returning it; this one holds at most
//! `max_row_bytes` of a row, so no file can make an import outgrow its memory (issue 12).
//!
//! A row that breaks a bound is still a row: it comes back refused, with the reason, and
//! reading goes on. A quoted field still open when its row reaches `max_row_bytes`, or at
//! the end of the file, is refused as never closed, and reading resumes on the line after
//! the one where its quote opened: the rows that the quote would have swallowed are read
//! as rows.

use crate::config::ImportConfig;
use csv::ByteRecord;
use std::io::{self, BufRead};

/// One record as read.
#[derive(Debug)]
pub(super) struct Record {
    /// The line (1-based) the record starts on.
    pub line: u64,
    /// Its text without the line terminator; cut at `max_row_bytes`.
    pub raw: Vec<u8>,
    pub fields: Result<ByteRecord, Refused>,
}

/// Why a record was not split into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// A quoted field opened on `line` is not closed before `max_row_bytes` (`at_eof`:
    /// before the end of the file).
    UnclosedQuote { line: u64, at_eof: bool },
    RowTooLong { limit: usize },
    /// Column `column` (1-based) is longer than `limit` bytes.
    CellTooLong { column: usize, limit: usize },
    TooManyColumns { limit: usize },
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
    /// Bytes read once and handed back to be read again (after an unclosed quote).
    again: Vec<u8>,
    again_at: usize,
    /// The line the next byte is on.
    line: u64,
    bytes_read: u64,
    limits: ImportConfig,
}

/// The record being read.
struct Building {
    line: u64,
    raw: Vec<u8>,
    fields: ByteRecord,
    field: Vec<u8>,
    refused: Option<Refused>,
    state: State,
    /// Where (in `raw`) and on which line the open quoted field began.
    quote_at: (usize, u64),
    /// A `\r` outside quotes, kept back until the next byte says whether it ends the line.
    cr: bool,
}

enum Step {
    Continue,
    /// The record ends here (the terminator consumed).
    End,
    /// The row reached `max_row_bytes` with a quote open.
    Unclosed,
    /// The row reached `max_row_bytes`: skip to the end of the line.
    SkipLine,
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(input: R, limits: ImportConfig) -> Self {
        Records { input, again: Vec::new(), again_at: 0, line: 1, bytes_read: 0, limits }
    }

    /// Bytes taken from the input so far.
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next record; blank lines are skipped.
    pub(super) fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            let Some(record) = self.read_one()? else { return Ok(None) };
            if !(record.raw.is_empty() && record.fields.is_ok()) {
                return Ok(Some(record));
            }
        }
    }

    fn read_one(&mut self) -> io::Result<Option<Record>> {
        let mut b = Building {
            line: self.line,
            raw: Vec::new(),
            fields: ByteRecord::new(),
            field: Vec::new(),
            refused: None,
            state: State::FieldStart,
            quote_at: (0, 0),
            cr: false,
        };
        let mut started = false;
        loop {
            let (chunk, from_input) = if self.again_at < self.again.len() {
                (&self.again[self.again_at..], false)
            } else {
                (self.input.fill_buf()?, true)
            };
            if chunk.is_empty() {
                if !started {
                    return Ok(None);
                }
                return Ok(Some(self.finish_at_eof(b)));
            }
            started = true;
            let mut used = 0;
            let mut step = Step::Continue;
            for &byte in chunk {
                used += 1;
                step = b.push(byte, &self.limits, self.line);
                if byte == b'\n' {
                    self.line += 1;
                }
                if let Step::Unclosed = step {
                    // That byte was not kept: it is read again after the quote's line.
                    used -= 1;
                    if byte == b'\n' {
                        self.line -= 1;
                    }
                }
                if !matches!(step, Step::Continue) {
                    break;
                }
            }
            if from_input {
                self.input.consume(used);
                self.bytes_read += used as u64;
            } else {
                self.again_at += used;
            }
            match step {
                Step::Continue => {}
                Step::End => return Ok(Some(b.finish())),
                Step::SkipLine => {
                    self.skip_line()?;
                    return Ok(Some(b.finish()));
                }
                Step::Unclosed => return self.unclosed(b, false).map(Some),
            }
        }
    }

    fn finish_at_eof(&mut self, mut b: Building) -> Record {
        if b.cr {
            // A last line ended by a lone `\r`.
            b.raw.pop();
        }
        if b.state == State::Quoted {
            return match self.unclosed(b, true) {
                Ok(record) => record,
                Err(_) => unreachable!("an unclosed quote at the end of the file needs no more input"),
            };
        }
        b.end_field(&self.limits);
        b.finish()
    }

    /// Refuses the record from its start to the end of the line where its open quote
    /// began, and reads the lines after that one again.
    fn unclosed(&mut self, mut b: Building, at_eof: bool) -> io::Result<Record> {
        let (at, line) = b.quote_at;
        let refused = Refused::UnclosedQuote { line, at_eof };
        let rest = b.raw[at..].iter().position(|&c| c == b'\n').map(|nl| at + nl);
        match rest {
            Some(nl) => {
                // What follows the quote's line was read but not used: it is read again,
                // ahead of what is left of the input.
                let mut again = b.raw.split_off(nl + 1);
                again.extend_from_slice(&self.again[self.again_at..]);
                self.again = again;
                self.again_at = 0;
                self.line = line + 1;
                b.raw.truncate(nl);
            }
            // The quote's own line is longer than the cap: the rest of it goes unread.
            None if !at_eof => self.skip_line()?,
            None => {}
        }
        if b.raw.last() == Some(&b'\r') {
            b.raw.pop();
        }
        Ok(Record { line: b.line, raw: b.raw, fields: Err(refused) })
    }

    /// Reads past the end of the current line, keeping nothing.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let (chunk, from_input) = if self.again_at < self.again.len() {
                (&self.again[self.again_at..], false)
            } else {
                (self.input.fill_buf()?, true)
            };
            if chunk.is_empty() {
                return Ok(());
            }
            let (used, found) = match chunk.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if from_input {
                self.input.consume(used);
                self.bytes_read += used as u64;
            } else {
                self.again_at += used;
            }
            if found {
                self.line += 1;
                return Ok(());
            }
        }
    }
}

impl Building {
    /// Takes the next byte, which is on `line`.
    fn push(&mut self, byte: u8, limits: &ImportConfig, line: u64) -> Step {
        if self.raw.len() >= limits.max_row_bytes {
            if self.state == State::Quoted || (self.state == State::QuoteInQuoted && byte == b'"') {
                return Step::Unclosed;
            }
            self.refuse(Refused::RowTooLong { limit: limits.max_row_bytes });
            return if byte == b'\n' { Step::End } else { Step::SkipLine };
        }
        self.raw.push(byte);
        if self.cr {
            self.cr = false;
            if byte == b'\n' {
                self.raw.truncate(self.raw.len() - 2);
                self.end_field(limits);
                return Step::End;
            }
            self.data(b'\r', limits);
            self.state = State::Unquoted;
        }
        match (self.state, byte) {
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => self.data(byte, limits),
            (State::QuoteInQuoted, b'"') => {
                self.data(b'"', limits);
                self.state = State::Quoted;
            }
            (State::FieldStart, b'"') => {
                self.state = State::Quoted;
                self.quote_at = (self.raw.len() - 1, line);
            }
            (_, b',') => {
                self.end_field(limits);
                self.state = State::FieldStart;
            }
            (_, b'\n') => {
                self.raw.pop();
                self.end_field(limits);
                return Step::End;
            }
            (_, b'\r') => self.cr = true,
            (_, _) => {
                self.data(byte, limits);
                self.state = State::Unquoted;
            }
        }
        Step::Continue
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

    fn finish(self) -> Record {
        let fields = match self.refused {
            Some(why) => Err(why),
            None => Ok(self.fields),
        };
        Record { line: self.line, raw: self.raw, fields }
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
