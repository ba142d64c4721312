//! `[import]`: the bounds a CSV import holds every row to, so that no file, however it
//! is made, can take more memory than a few rows' worth (issue 12).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Longest cell, in bytes; a row with a longer one is rejected.
    pub max_cell_bytes: usize,
    /// Longest row, in bytes (line breaks inside quoted fields included); a longer row is
    /// rejected, and a quoted field still open at this length counts as never closed.
    pub max_row_bytes: usize,
    /// Most columns in the header or in a row; a wider row is rejected, a wider header
    /// refuses the file.
    pub max_columns: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig { max_cell_bytes: 64 * 1024, max_row_bytes: 1024 * 1024, max_columns: 256 }
    }
}
