//! The rejects file of an import: `<file>.rejects.csv`, the original columns plus `reason`
//! and `raw` (the row's text as it was in the file, so that a row the columns cannot hold
//! (too many fields, an unclosed quote, a cell over the cap) is not lost either).

use crate::error::{Error, Result};
use csv::ByteRecord;
use std::fs::File;
use std::path::{Path, PathBuf};

pub(super) struct Rejects {
    path: PathBuf,
    writer: csv::Writer<File>,
    /// Columns of the input.
    width: usize,
    written: u64,
}

fn failed(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("cannot write the rejects file {}: {e}", path.display()))
}

impl Rejects {
    /// Creates the file with its header now, before any row is imported: a rejects file
    /// that cannot be written stops the import while nothing is written yet. A stale one
    /// from an earlier run of the same file is replaced.
    pub(super) fn create(path: PathBuf, header: &[String]) -> Result<Self> {
        let mut writer = csv::Writer::from_path(&path).map_err(|e| failed(&path, e))?;
        let mut names = header.to_vec();
        names.extend(["reason".to_owned(), "raw".to_owned()]);
        writer.write_record(&names).map_err(|e| failed(&path, e))?;
        writer.flush().map_err(|e| failed(&path, e))?;
        Ok(Rejects { path, writer, width: header.len(), written: 0 })
    }

    /// One rejected row: its fields where it could be split into them (cut or padded to
    /// the header's columns), its raw text, and why.
    pub(super) fn write(&mut self, fields: Option<&ByteRecord>, raw: &[u8], reason: &str) -> Result<()> {
        let mut out = ByteRecord::new();
        for field in fields.into_iter().flat_map(|f| f.iter()).take(self.width) {
            out.push_field(field);
        }
        while out.len() < self.width {
            out.push_field(b"");
        }
        out.push_field(reason.as_bytes());
        out.push_field(raw);
        self.writer.write_byte_record(&out).map_err(|e| failed(&self.path, e))?;
        self.written += 1;
        Ok(())
    }

    /// Pushes what was written to the disk (after each batch, so the file matches what
    /// was committed).
    pub(super) fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| failed(&self.path, e))
    }

    /// The file's path, or `None` (and no file) when no row was rejected.
    pub(super) fn finish(mut self) -> Result<Option<PathBuf>> {
        self.flush()?;
        if self.written > 0 {
            return Ok(Some(self.path));
        }
        drop(self.writer);
        std::fs::remove_file(&self.path)
            .map_err(|e| Error::Internal(anyhow::anyhow!("removing the empty {}: {e}", self.path.display())))?;
        Ok(None)
    }
}
