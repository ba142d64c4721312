//! Handlebars templates in strict mode (a missing variable is an error, never an empty
//! string): `NAME.html.hbs` and an optional `NAME.txt.hbs`, looked up beside the
//! campaign file, then in the templates folder; partials and layouts from
//! `templates/partials/` and `templates/layouts/`; helpers `default` and `date`
//! (see `helpers`). HTML templates may not use the triple-stash (see `unescaped`).
//!
//! The footer: Herald appends it to both parts of every marketing message, whatever the
//! template says. Its text is the built-in one unless the workspace has
//! `partials/footer.html.hbs` / `partials/footer.txt.hbs` (see `custom_footer`); no
//! template or partial may include the footer itself, so a message has exactly one.

use super::{custom_footer, helpers, unescaped};
use crate::error::{Error, Result};
use handlebars::Handlebars;
use std::path::{Path, PathBuf};

/// The built-in footer, used for a part whose footer partial the workspace does not have.
pub(super) const FOOTER_HTML: &str = include_str!("../../templates/partials/footer.html.hbs");
pub(super) const FOOTER_TEXT: &str = include_str!("../../templates/partials/footer.txt.hbs");

/// HTML escaping of `&<>"'` and the backtick. (Handlebars' own default also escapes
/// `=` and `_`, which mangles every URL put in an attribute.)
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '`' => out.push_str("&#x60;"),
            c => out.push(c),
        }
    }
    out
}

/// The compiled templates of one campaign: HTML (escaping) and text (no escaping).
pub(super) struct Templates {
    pub html: Handlebars<'static>,
    pub text: Handlebars<'static>,
    /// False when the text part is generated from the HTML.
    pub has_text: bool,
    /// Whether the HTML template prints `{{confirm_url}}` (a re-permission campaign must).
    pub shows_confirm_url: bool,
}

/// Whether `source` has a `{{ name }}` expression.
fn prints(source: &str, name: &str) -> bool {
    source.split("{{").skip(1).any(|rest| rest.split("}}").next().is_some_and(|expr| expr.trim() == name))
}

/// Herald's own sources of a template the workspace may override.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub html: &'static str,
    pub text: &'static str,
}

pub(super) const MAIN: &str = "main";
pub(super) const SUBJECT: &str = "subject";
pub(super) const FOOTER: &str = "herald_footer";

fn registry(escape: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    if escape {
        hb.register_escape_fn(escape_html);
    } else {
        hb.register_escape_fn(handlebars::no_escape);
    }
    helpers::register(&mut hb);
    hb
}

fn find(name: &str, beside: &Path, dir: &Path, ext: &str) -> Option<PathBuf> {
    let file = format!("{name}.{ext}.hbs");
    [beside.join(&file), dir.join(&file)].into_iter().find(|p| p.is_file())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("cannot read template {}: {e}", path.display())))
}

pub(super) fn compile_error(path: &Path, e: handlebars::TemplateError) -> Error {
    Error::Invalid(format!("{}: {e}", path.display()))
}

impl Templates {
    /// Loads template `name` (beside `campaign_file`, else in `dir`), every partial and
    /// layout, and the subject template.
    #[cfg(test)]
    pub(super) fn load(name: &str, campaign_file: &Path, dir: &Path, subject: &str) -> Result<Templates> {
        Templates::load_or(name, campaign_file, dir, subject, None)
    }

    /// [`Templates::load`], with Herald's own `builtin` HTML and text sources for a
    /// template the workspace does not have (a confirmation message's).
    pub(super) fn load_or(
        name: &str,
        campaign_file: &Path,
        dir: &Path,
        subject: &str,
        builtin: Option<Builtin>,
    ) -> Result<Templates> {
        let beside = campaign_file.parent().unwrap_or(Path::new("."));
        let html_path = find(name, beside, dir, "html");
        if html_path.is_none() && builtin.is_none() {
            return Err(Error::Invalid(format!(
                "{}: template '{name}' not found (looked for {name}.html.hbs in {} and {})",
                campaign_file.display(),
                beside.display(),
                dir.display()
            )));
        }
        // The workspace's pair wins over the built-in one as a whole.
        let text_path = html_path.as_ref().and_then(|_| find(name, beside, dir, "txt"));
        let mut html = registry(true);
        let mut text = registry(false);
        let (mut footer_html, mut footer_text) = (None, None);
        let mut sources = Vec::new();
        for sub in ["partials", "layouts"] {
            let folder = dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
                let Some(stem) = file.strip_suffix(".hbs") else { continue };
                let source = read(&path)?;
                // The footer partials are the footer's text, not partials to include.
                match (sub, stem) {
                    ("partials", custom_footer::HTML_STEM) => footer_html = Some((path, source)),
                    ("partials", custom_footer::TEXT_STEM) => footer_text = Some((path, source)),
                    _ => sources.push((stem.to_owned(), path, source)),
                }
            }
        }
        for (stem, path, source) in &sources {
            let (stem, path, source) = (stem.as_str(), path.as_path(), source.as_str());
            {
                // `footer.html.hbs` is the partial `footer` in HTML and `footer.html` everywhere.
                let (base, kind) = stem.rsplit_once('.').unwrap_or((stem, ""));
                // Text partials stay out of the HTML registry: they are the only sources
                // that may use the triple-stash.
                custom_footer::refuse_inclusion(path, source)?;
                if kind != "txt" {
                    unescaped::refuse(path, source)?;
                    html.register_partial(stem, source).map_err(|e| compile_error(path, e))?;
                }
                text.register_partial(stem, source).map_err(|e| compile_error(path, e))?;
                match kind {
                    "html" => html.register_partial(base, source).map_err(|e| compile_error(path, e))?,
                    "txt" => text.register_partial(base, source).map_err(|e| compile_error(path, e))?,
                    _ => {}
                }
            }
        }
        let (html_path, main, text_source) = match (html_path, builtin) {
            (Some(path), _) => {
                let main = read(&path)?;
                let text_source = text_path.as_ref().map(|p| read(p).map(|s| (p.clone(), s))).transpose()?;
                (path, main, text_source)
            }
            (None, Some(b)) => {
                let at = dir.join(format!("{name}.html.hbs"));
                (at, b.html.to_owned(), Some((dir.join(format!("{name}.txt.hbs")), b.text.to_owned())))
            }
            (None, None) => unreachable!("refused above"),
        };
        unescaped::refuse(&html_path, &main)?;
        custom_footer::refuse_inclusion(&html_path, &main)?;
        let shows_confirm_url = prints(&main, "confirm_url");
        html.register_template_string(MAIN, main).map_err(|e| compile_error(&html_path, e))?;
        custom_footer::register(&mut html, footer_html, FOOTER_HTML, custom_footer::Part::Html)?;
        custom_footer::register(&mut text, footer_text, FOOTER_TEXT, custom_footer::Part::Text)?;
        text.register_template_string(SUBJECT, subject).map_err(|e| compile_error(Path::new("subject"), e))?;
        let has_text = text_source.is_some();
        if let Some((p, source)) = text_source {
            custom_footer::refuse_inclusion(&p, &source)?;
            text.register_template_string(MAIN, source).map_err(|e| compile_error(&p, e))?;
        }
        Ok(Templates { html, text, has_text, shows_confirm_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_mode_refuses_missing_variables_but_default_fills_them() {
        let hb = registry(true);
        let data = serde_json::json!({ "first_name": "Ann" });
        assert_eq!(hb.render_template("Hi {{first_name}}", &data).unwrap(), "Hi Ann");
        assert!(hb.render_template("Hi {{last_name}}", &data).is_err());
        assert_eq!(hb.render_template("Hi {{default last_name \"there\"}}", &data).unwrap(), "Hi there");
        assert_eq!(
            hb.render_template("{{date d \"%d.%m.%Y\"}}", &serde_json::json!({"d": "2025-03-01"})).unwrap(),
            "01.03.2025"
        );
    }

    #[test]
    fn a_printed_variable_is_found_in_any_spacing_but_not_in_text_or_other_names() {
        assert!(prints("<a href=\"{{confirm_url}}\">", "confirm_url"));
        assert!(prints("{{ confirm_url }}", "confirm_url"));
        assert!(!prints("confirm_url", "confirm_url"));
        assert!(!prints("{{confirm_url_old}} {{#if confirm_url}}", "confirm_url"));
    }

    #[test]
    fn html_is_escaped_but_urls_are_left_readable() {
        let hb = registry(true);
        let data = serde_json::json!({ "n": "<script>&'", "u": "https://x.example/u/ab_c=d" });
        assert_eq!(
            hb.render_template("{{n}} {{u}}", &data).unwrap(),
            "&lt;script&gt;&amp;&#x27; https://x.example/u/ab_c=d"
        );
        assert_eq!(registry(false).render_template("{{n}}", &data).unwrap(), "<script>&'");
    }

    #[test]
    fn an_html_partial_that_prints_unescaped_is_refused_but_a_text_partial_may() {
        let dir = tempfile::tempdir().unwrap();
        let campaign = dir.path().join("spring.toml");
        std::fs::write(dir.path().join("spring.html.hbs"), "<p>{{> greet}}</p>").unwrap();
        std::fs::create_dir(dir.path().join("partials")).unwrap();
        std::fs::write(dir.path().join("partials/sig.txt.hbs"), "-- {{{sender_name}}}").unwrap();
        std::fs::write(dir.path().join("partials/greet.html.hbs"), "Hi {{first_name}}").unwrap();
        assert!(Templates::load("spring", &campaign, dir.path(), "s").is_ok());
        std::fs::write(dir.path().join("partials/greet.html.hbs"), "Hi\n{{{first_name}}}").unwrap();
        let err = Templates::load("spring", &campaign, dir.path(), "s").err().expect("refused").to_string();
        assert!(err.contains("greet.html.hbs: line 2"), "{err}");
    }
}
