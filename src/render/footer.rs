//! Whether rendered HTML or text shows the unsubscribe and preference links and the
//! postal address, visibly: a workspace's own footer partial must (see
//! `custom_footer`). A hidden unsubscribe link is never acceptable, so every doubt
//! counts as hidden.

/// Tags whose content a reader never sees.
const INVISIBLE_ELEMENTS: &[&str] = &["head", "style", "script", "template", "noscript", "title"];

/// Inline styles that hide an element (compared without spaces, lower-cased).
const HIDING_STYLES: &[&str] = &[
    "display:none",
    "visibility:hidden",
    "font-size:0",
    "opacity:0",
    "max-height:0",
    "height:0",
    "width:0",
    "color:transparent",
];

/// True when every one of `needles` is visible in `html`: the URLs as the target of a
/// link, the other texts anywhere in visible text.
pub(super) fn html_shows(html: &str, urls: &[&str], texts: &[&str]) -> bool {
    let lower = html.to_ascii_lowercase();
    // A stylesheet that hides anything could hide the links by class: assume it does.
    if style_blocks(&lower).any(|css| HIDING_STYLES.iter().any(|h| squeeze(css).contains(h))) {
        return false;
    }
    let visible = visible_html(html);
    urls.iter().all(|u| visible.contains(&format!("href=\"{u}\"")) || visible.contains(&format!("href='{u}'")))
        && texts.iter().all(|t| visible.contains(&crate::render::escape_text(t)) || visible.contains(t))
}

/// True when every needle appears in the text part.
pub(super) fn text_shows(text: &str, needles: &[&str]) -> bool {
    needles.iter().all(|n| text.contains(n))
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn style_blocks(lower: &str) -> impl Iterator<Item = &str> {
    lower.match_indices("<style").filter_map(move |(start, _)| {
        let end = lower[start..].find("</style").map(|e| start + e)?;
        Some(&lower[start..end])
    })
}

/// The HTML without comments and without the elements a reader cannot see.
fn visible_html(html: &str) -> String {
    let no_comments = strip_comments(html);
    let mut out = String::with_capacity(no_comments.len());
    let lower = no_comments.to_ascii_lowercase();
    let mut i = 0;
    while let Some(rel) = lower[i..].find('<') {
        let start = i + rel;
        out.push_str(&no_comments[i..start]);
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e + 1) else {
            i = no_comments.len();
            break;
        };
        let tag = &lower[start..tag_end];
        match hidden_element_name(tag) {
            Some(name) if !tag.ends_with("/>") => {
                i = closing_tag_end(&lower, tag_end, name).unwrap_or(lower.len());
            }
            _ => {
                out.push_str(&no_comments[start..tag_end]);
                i = tag_end;
            }
        }
    }
    if i < no_comments.len() {
        out.push_str(&no_comments[i..]);
    }
    out
}

fn strip_comments(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        // An unterminated comment hides everything after it.
        rest = rest[start..].find("-->").map_or("", |end| &rest[start + end + 3..]);
    }
    out.push_str(rest);
    out
}

/// The element's name when the opening `tag` (lower-cased) hides its content.
fn hidden_element_name(tag: &str) -> Option<&str> {
    if tag.starts_with("</") || tag.starts_with("<!") {
        return None;
    }
    let name_end = tag[1..].find(|c: char| c.is_whitespace() || c == '>' || c == '/').map_or(tag.len(), |e| e + 1);
    let name = &tag[1..name_end];
    let attrs = squeeze(&tag[name_end..]);
    let hidden = INVISIBLE_ELEMENTS.contains(&name)
        || HIDING_STYLES.iter().any(|h| attrs.contains(h))
        || attrs.contains("hidden")
        || attrs.contains("aria-hidden=\"true\"");
    (hidden && !name.is_empty()).then_some(name)
}

/// The end of the element opened before `from`, counting nested elements of the same name.
fn closing_tag_end(lower: &str, from: usize, name: &str) -> Option<usize> {
    let open = format!("<{name}");
    let close = format!("</{name}");
    let mut depth = 1;
    let mut i = from;
    loop {
        let next_open = lower[i..].find(&open).map(|p| i + p);
        let next_close = lower[i..].find(&close).map(|p| i + p)?;
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                i = o + open.len();
            }
            _ => {
                depth -= 1;
                let end = lower[next_close..].find('>').map_or(lower.len(), |e| next_close + e + 1);
                if depth == 0 {
                    return Some(end);
                }
                i = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "https://n.example/u/T";
    const P: &str = "https://n.example/p/T";

    fn shows(html: &str) -> bool {
        html_shows(html, &[U, P], &["Acme Ltd"])
    }

    #[test]
    fn visible_links_and_address_count() {
        assert!(shows(&format!("<p><a href=\"{U}\">Unsubscribe</a> <a href='{P}'>Prefs</a></p><p>Acme Ltd</p>")));
    }

    #[test]
    fn missing_or_hidden_links_do_not_count() {
        let cases = [
            format!("<a href=\"{U}\">u</a><p>Acme Ltd</p>"),
            format!("<!-- <a href=\"{U}\">u</a><a href=\"{P}\">p</a> --><p>Acme Ltd</p>"),
            format!("<div style=\"display: none\"><a href=\"{U}\">u</a><a href=\"{P}\">p</a></div><p>Acme Ltd</p>"),
            format!(
                "<div style=\"font-size:0\"><div><a href=\"{U}\">u</a></div><a href=\"{P}\">p</a></div><p>Acme Ltd</p>"
            ),
            format!("<span hidden><a href=\"{U}\">u</a><a href=\"{P}\">p</a></span>Acme Ltd"),
            format!(
                "<style>.x {{ display:none }}</style><p class=x><a href=\"{U}\">u</a><a href=\"{P}\">p</a>Acme Ltd</p>"
            ),
            format!("<head><title><a href=\"{U}\"></a><a href=\"{P}\"></a>Acme Ltd</title></head>"),
            format!("<p>{U} {P} Acme Ltd</p>"),
            format!("<a href=\"{U}\">u</a><a href=\"{P}\">p</a><!-- unterminated Acme Ltd"),
        ];
        for html in cases {
            assert!(!shows(&html), "{html}");
        }
    }

    #[test]
    fn hidden_content_ends_at_its_own_closing_tag() {
        let html = format!(
            "<div style=\"display:none\"><div>preheader</div></div><a href=\"{U}\">u</a><a href=\"{P}\">p</a> Acme Ltd"
        );
        assert!(shows(&html));
    }
}
