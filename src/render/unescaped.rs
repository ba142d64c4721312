//! HTML templates may not print anything unescaped. A triple-stash (`{{{first_name}}}`
//! or `{{& first_name}}`) of contact data lets a first name such as `<!--` or `<style>`
//! swallow everything after it, Herald's footer and its unsubscribe link included. No
//! value a template can reach needs it (the links and the postal address read fine
//! escaped), so Herald refuses the template when it is loaded rather than guess at send
//! time which values are safe.

use crate::error::{Error, Result};
use handlebars::template::{Template, TemplateElement};
use std::path::Path;

/// An error naming `path`, the line and the expression when `source` prints anything
/// unescaped; a template that does not compile is left to the registry's own error.
pub(super) fn refuse(path: &Path, source: &str) -> Result<()> {
    let Ok(template) = Template::compile(source) else { return Ok(()) };
    match first_unescaped(&template) {
        Some((line, col)) => {
            let snippet: String =
                source.lines().nth(line.saturating_sub(1)).unwrap_or("").trim().chars().take(80).collect();
            Err(Error::Invalid(format!(
                "{}: line {line}, column {col}: '{snippet}' prints a value unescaped (triple-stash {{{{{{…}}}}}} or {{{{& …}}}}); \
                 HTML templates must use {{{{…}}}} so that contact data cannot hide the unsubscribe footer",
                path.display()
            )))
        }
        None => Ok(()),
    }
}

/// Where (line, column) the first unescaped expression is, searching nested blocks too.
fn first_unescaped(t: &Template) -> Option<(usize, usize)> {
    for (i, element) in t.elements.iter().enumerate() {
        let here = || t.mapping.get(i).map_or((0, 0), |m| (m.0, m.1));
        let nested: Vec<&Template> = match element {
            TemplateElement::HtmlExpression(_) => return Some(here()),
            TemplateElement::HelperBlock(h) => h.template.iter().chain(h.inverse.iter()).collect(),
            TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => d.template.iter().collect(),
            _ => Vec::new(),
        };
        if let Some(found) = nested.into_iter().find_map(first_unescaped) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(source: &str) -> Option<String> {
        refuse(Path::new("spring.html.hbs"), source).err().map(|e| e.to_string())
    }

    #[test]
    fn triple_stash_and_ampersand_are_refused_with_file_and_line() {
        let e = refused("<p>Hi</p>\n<p>{{{first_name}}}</p>").expect("refused");
        assert!(e.contains("spring.html.hbs: line 2"), "{e}");
        assert!(e.contains("{{{first_name}}}"), "{e}");
        assert!(refused("{{& first_name}}").is_some());
        assert!(refused("{{{default first_name \"x\"}}}").is_some());
    }

    #[test]
    fn triple_stash_inside_blocks_and_else_branches_is_refused() {
        assert!(refused("{{#if a}}ok{{else}}{{{first_name}}}{{/if}}").is_some());
        assert!(refused("{{#each attributes}}{{{this}}}{{/each}}").is_some());
        assert!(refused("{{#> layout}}{{{first_name}}}{{/layout}}").is_some());
    }

    #[test]
    fn escaped_expressions_raw_blocks_and_comments_are_accepted() {
        assert_eq!(refused("<a href=\"{{unsubscribe_url}}\">{{default first_name \"there\"}}</a>"), None);
        assert_eq!(refused("{{!-- {{{x}}} --}}{{{{raw}}}}{{{x}}}{{{{/raw}}}}"), None);
    }
}
