//! Free text a person or a file gives Herald (names, company, notes, custom attributes):
//! any characters but control characters. A NUL or a line break in a name ends up in
//! databases, CSV exports and mail headers that treat it as a terminator (issue 12);
//! tab is the one control character that is ordinary text.

use super::ParseError;

/// Checks that `value` (the content of `field`) holds no control character but tab. The
/// message names the field and the character, not the value: it may be personal data.
pub fn check_text(field: &str, value: &str) -> Result<(), ParseError> {
    match value.chars().enumerate().find(|(_, c)| c.is_control() && *c != '\t') {
        None => Ok(()),
        Some((at, c)) => Err(ParseError(format!(
            "{field} contains the control character U+{:04X} at character {}: only tab is allowed",
            c as u32,
            at + 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_tab_and_any_script_is_accepted() {
        for ok in ["Ann", "Zoë Ł. Ørsted", "名前", "a\tb", "", "=cmd|' /C calc'!A0"] {
            assert!(check_text("first_name", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn nul_line_breaks_and_other_control_characters_are_refused_naming_field_and_character() {
        for (bad, code) in [
            ("Ni\0ck", "U+0000"),
            ("a\nb", "U+000A"),
            ("a\r", "U+000D"),
            ("\u{1b}[31m", "U+001B"),
            ("x\u{7f}", "U+007F"),
            ("x\u{85}", "U+0085"),
        ] {
            let err = check_text("company", bad).unwrap_err().0;
            assert!(err.starts_with("company contains") && err.contains(code), "{bad:?}: {err}");
        }
    }
}
