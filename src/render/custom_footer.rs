//! The workspace's own footer text. `partials/footer.html.hbs` and
//! `partials/footer.txt.hbs` (written by `herald init`) replace the built-in footer's
//! text in their part; Herald still appends it, so a custom footer must show the
//! unsubscribe link, the preferences link and the postal address, and is refused at load
//! otherwise. No template includes the footer itself: that would give two.

use super::templates::{FOOTER, compile_error};
use super::{footer, unescaped};
use crate::error::{Error, Result};
use handlebars::Handlebars;
use std::path::{Path, PathBuf};

/// The partial stems (file name without `.hbs`) of the footer's two parts.
pub(super) const HTML_STEM: &str = "footer.html";
pub(super) const TEXT_STEM: &str = "footer.txt";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Html,
    Text,
}

/// Values only a footer check renders, so that finding one in the output proves the
/// footer printed that variable.
const PROBE_UNSUBSCRIBE: &str = "https://herald.invalid/u/footer-check";
const PROBE_PREFERENCES: &str = "https://herald.invalid/p/footer-check";
const PROBE_ADDRESS: &str = "Herald footer check, 1 Probe Street";

/// What a footer must show: (how the error names it, the probe value, whether it is a link).
const REQUIRED: &[(&str, &str, bool)] = &[
    ("the unsubscribe link {{unsubscribe_url}}", PROBE_UNSUBSCRIBE, true),
    ("the preferences link {{preferences_url}}", PROBE_PREFERENCES, true),
    ("the postal address {{postal_address}}", PROBE_ADDRESS, false),
];

/// Registers the footer template of one part: the workspace's `custom` partial (path and
/// source) when there is one and it shows what it must, else the built-in text.
pub(super) fn register(
    hb: &mut Handlebars<'static>,
    custom: Option<(PathBuf, String)>,
    builtin: &'static str,
    part: Part,
) -> Result<()> {
    let Some((path, source)) = custom else {
        let name = if part == Part::Html { "footer.html.hbs" } else { "footer.txt.hbs" };
        return hb.register_template_string(FOOTER, builtin).map_err(|e| compile_error(Path::new(name), e));
    };
    if part == Part::Html {
        unescaped::refuse(&path, &source)?;
    }
    hb.register_template_string(FOOTER, source).map_err(|e| compile_error(&path, e))?;
    let missing = missing(hb, part).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if missing.is_empty() {
        return Ok(());
    }
    let shown = if part == Part::Html { "visibly (the links as <a href>)" } else { "" };
    Err(Error::Invalid(format!(
        "{}: the footer partial replaces the text of the footer Herald appends to every marketing message, \
         so it must show {shown} the unsubscribe link, the preferences link and the postal address; it lacks {}",
        path.display(),
        missing.join(", ")
    )))
}

/// What the registered footer does not show, rendered with probe values (not strict: a
/// footer may print contact fields, which the check does not have).
fn missing(hb: &Handlebars<'static>, part: Part) -> std::result::Result<Vec<&'static str>, handlebars::RenderError> {
    let mut probe = hb.clone();
    probe.set_strict_mode(false);
    let data = serde_json::json!({
        "unsubscribe_url": PROBE_UNSUBSCRIBE,
        "preferences_url": PROBE_PREFERENCES,
        "postal_address": PROBE_ADDRESS,
        "sender_name": "Herald",
        "attributes": {},
    });
    let out = probe.render(FOOTER, &data)?;
    let shows = |value: &str, link: bool| match (part, link) {
        (Part::Html, true) => footer::html_shows(&out, &[value], &[]),
        (Part::Html, false) => footer::html_shows(&out, &[], &[value]),
        (Part::Text, _) => footer::text_shows(&out, &[value]),
    };
    Ok(REQUIRED.iter().filter(|(_, value, link)| !shows(value, *link)).map(|(what, ..)| *what).collect())
}

/// Refuses a template or partial that includes the footer partial (`{{> footer}}`,
/// `{{> footer.html}}`, `{{#> footer}}`): Herald appends the footer itself, and a second
/// one would follow.
pub(super) fn refuse_inclusion(path: &Path, source: &str) -> Result<()> {
    let Some(at) = footer_inclusion(source) else { return Ok(()) };
    let line = source[..at].matches('\n').count() + 1;
    Err(Error::Invalid(format!(
        "{}: line {line}: a template may not include the footer partial: Herald appends the footer to every \
         marketing message itself (edit partials/footer.html.hbs and footer.txt.hbs to change its text)",
        path.display()
    )))
}

/// The byte offset of the first tag that includes the footer partial.
fn footer_inclusion(source: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = source[from..].find("{{") {
        let start = from + rel;
        from = start + 2;
        let rest = source[from..].trim_start_matches(['{', '~']).trim_start();
        let rest = rest.strip_prefix('#').unwrap_or(rest);
        let Some(after) = rest.strip_prefix('>') else { continue };
        let name: String = after
            .trim_start()
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '}' | '~' | '"' | '\'' | ')'))
            .collect();
        if name == "footer" || name == HTML_STEM || name == TEXT_STEM {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_including_the_footer_partial_is_found() {
        for source in ["{{> footer}}", "a\n{{~> footer.html ~}}", "{{#> footer}}x{{/footer}}", "{{> \"footer.txt\"}}"] {
            assert!(footer_inclusion(source).is_some(), "{source}");
        }
        for source in ["{{> footer_links}}", "{{> header}}", "{{footer}}", "footer"] {
            assert!(footer_inclusion(source).is_none(), "{source}");
        }
    }
}
