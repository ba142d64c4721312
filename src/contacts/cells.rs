//! Formula-like cells in exported CSV files, and how import reads them back.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and some read a
//! leading tab or carriage return the same way) as a formula, so an exported name like
//! `=HYPERLINK(...)` would run when the file is opened. Export puts one apostrophe in
//! front of every cell whose text, after any apostrophes it already starts with, begins
//! with one of those characters; import removes exactly one apostrophe from such a
//! cell. A cell that starts with apostrophes followed by a trigger therefore gets one
//! more on export and loses one on import, so every value reads back as it was, and a
//! hand-made file's `'+49 30 1234` (the usual way to keep a spreadsheet from reading a
//! phone number as a formula) imports as `+49 30 1234`.

const TRIGGERS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

fn starts_like_a_formula(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// The cell as export writes it.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if starts_like_a_formula(text) { format!("'{text}").into() } else { text.into() }
}

/// The value of a cell as import reads it: the inverse of [`neutralise`].
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_like_a_formula(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_get_an_apostrophe_that_import_removes() {
        for (value, exported) in [
            ("=SUM(A1:A3)", "'=SUM(A1:A3)"),
            ("+49 30 1234", "'+49 30 1234"),
            ("-5", "'-5"),
            ("@handle", "'@handle"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=already", "''=already"),
            ("''+twice", "'''+twice"),
            ("plain", "plain"),
            ("it's", "it's"),
            ("'quoted'", "'quoted'"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(value), exported, "{value:?}");
            assert_eq!(unneutralise(exported), value, "{exported:?}");
        }
    }

    #[test]
    fn an_apostrophe_before_ordinary_text_is_kept_on_import() {
        assert_eq!(unneutralise("'hello"), "'hello");
        assert_eq!(unneutralise("'+49 30 1234"), "+49 30 1234");
    }
}
