//! The person-facing pages (DESIGN §11): handlebars templates under `templates/pages/`,
//! each page's body rendered into `layout.hbs`. Herald carries a default of every file
//! ([`DEFAULTS`], which `herald init` copies into a new workspace); a file of the same
//! name in the workspace's `templates/pages/` overrides it. Every value is escaped by
//! handlebars (`{{…}}`); only the layout takes the already-rendered body unescaped.
//!
//! A [`Page`] answers with a strict Content-Security-Policy (nothing but the page's own
//! style sheet, `/assets/pages.css`, and forms posting back to this origin), no caching,
//! and no `Referer` (the URLs carry tokens). No page needs JavaScript.

use super::error::HttpError;
use crate::config::Config;
use crate::error::{Error, Result};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use handlebars::Handlebars;
use serde_json::{Value, json};

/// Every page file Herald ships, by name: the layout, the style sheet, then the pages.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("layout.hbs", include_str!("../../templates/pages/layout.hbs")),
    ("pages.css", include_str!("../../templates/pages/pages.css")),
    ("signup.hbs", include_str!("../../templates/pages/signup.hbs")),
    ("check_inbox.hbs", include_str!("../../templates/pages/check_inbox.hbs")),
    ("confirm.hbs", include_str!("../../templates/pages/confirm.hbs")),
    ("confirmed.hbs", include_str!("../../templates/pages/confirmed.hbs")),
    ("confirm_expired.hbs", include_str!("../../templates/pages/confirm_expired.hbs")),
    ("notice.hbs", include_str!("../../templates/pages/notice.hbs")),
    ("unsubscribe.hbs", include_str!("../../templates/pages/unsubscribe.hbs")),
    ("unsubscribed.hbs", include_str!("../../templates/pages/unsubscribed.hbs")),
    ("preferences.hbs", include_str!("../../templates/pages/preferences.hbs")),
    ("preferences-saved.hbs", include_str!("../../templates/pages/preferences-saved.hbs")),
];

/// The pages' policy: their own style sheet and images, forms only to this origin, never
/// framed (the sign-up form, meant to be embedded, relaxes `frame-ancestors` with
/// [`Page::framable_by`]).
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                            base-uri 'none'; frame-ancestors 'none'";

/// The loaded page templates and what every page shows.
pub struct Pages {
    hb: Handlebars<'static>,
    css: String,
    common: Value,
}

impl Pages {
    /// The defaults, overridden by the workspace's `templates/pages/` files. A template
    /// that does not compile is an error naming its file.
    pub fn load(config: &Config) -> Result<Pages> {
        let dir = config.templates.dir.join("pages");
        let mut hb = Handlebars::new();
        let mut css = String::new();
        for (name, default) in DEFAULTS {
            let path = dir.join(name);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (*default).to_owned(),
                Err(e) => return Err(Error::Invalid(format!("{}: {e}", path.display()))),
            };
            match name.strip_suffix(".hbs") {
                Some(template) => hb
                    .register_template_string(template, &text)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?,
                None => css = text,
            }
        }
        let sender = &config.sender;
        let sender_name = sender
            .from
            .as_deref()
            .and_then(|f| f.split_once('<').map(|(name, _)| name.trim().trim_matches('"').to_owned()))
            .filter(|n| !n.is_empty())
            .or_else(|| {
                sender.from.as_deref().and_then(|f| f.rsplit_once('@')).map(|(_, d)| d.trim_end_matches('>').to_owned())
            })
            .unwrap_or_else(|| "Herald".into());
        let base = sender.public_url.as_deref().unwrap_or("").trim_end_matches('/').to_owned();
        let common = json!({
            "sender_name": sender_name,
            "postal_address": sender.postal_address,
            "base": base,
        });
        Ok(Pages { hb, css, common })
    }

    /// The page `name` (a template under `templates/pages/`, without `.hbs`) with `title`
    /// and `data`, inside the layout. `data` is merged over the common values
    /// (`sender_name`, `postal_address`, `base`).
    pub fn render(&self, name: &str, title: &str, data: Value) -> std::result::Result<Page, HttpError> {
        let mut data = data;
        if let (Value::Object(map), Value::Object(common)) = (&mut data, &self.common) {
            for (k, v) in common {
                map.entry(k.clone()).or_insert_with(|| v.clone());
            }
            map.insert("title".into(), json!(title));
        }
        let body = self.hb.render(name, &data).map_err(|e| HttpError::internal(&e))?;
        let mut outer = self.common.clone();
        if let Value::Object(map) = &mut outer {
            map.insert("title".into(), json!(title));
            map.insert("body".into(), json!(body));
        }
        let html = self.hb.render("layout", &outer).map_err(|e| HttpError::internal(&e))?;
        Ok(Page { status: StatusCode::OK, html, frame_ancestors: None })
    }

    /// `[sender] public_url` without its trailing slash: where links on pages point.
    pub fn base(&self) -> &str {
        self.common["base"].as_str().unwrap_or_default()
    }

    /// `GET /assets/pages.css`.
    pub fn css(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            self.css.clone(),
        )
            .into_response()
    }
}

/// A list's or purpose's name as a person reads it: `product_updates` → "Product updates".
pub fn label(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A page of one sentence (`id` on its paragraph), with an optional hint and link: the
/// answers that need no page of their own (a test link, an expired one, a refused form).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Notice {
    pub id: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub link: Option<String>,
    pub link_text: Option<String>,
    /// Shown as a notice box.
    pub notice: bool,
}

impl Pages {
    /// [`Notice`] under `title`, answered with `status`.
    pub fn notice(&self, title: &str, notice: Notice, status: StatusCode) -> std::result::Result<Page, HttpError> {
        let data = serde_json::to_value(&notice).map_err(|e| HttpError::internal(&e))?;
        Ok(self.render("notice", title, data)?.with_status(status))
    }
}

/// A rendered page, answered as HTML with the page headers.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub html: String,
    /// `frame-ancestors` sources when the page may be embedded (the sign-up form).
    frame_ancestors: Option<String>,
}

impl Page {
    pub fn with_status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// Lets the page be framed by these origins (CSP `frame-ancestors` syntax).
    pub fn framable_by(mut self, ancestors: &str) -> Page {
        self.frame_ancestors = Some(ancestors.to_owned());
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let csp = match &self.frame_ancestors {
            None => PAGE_CSP.to_owned(),
            Some(a) => PAGE_CSP.replace("frame-ancestors 'none'", &format!("frame-ancestors {a}")),
        };
        let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static(PAGE_CSP));
        let mut response = (self.status, self.html).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if self.frame_ancestors.is_none() {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(dir: &std::path::Path) -> Pages {
        let mut config: Config = toml::from_str(
            "[sender]\nfrom = \"Acme <news@acme.example>\"\npostal_address = \"1 Main St\"\npublic_url = \"https://n.example/\"\n",
        )
        .unwrap();
        config.templates.dir = dir.to_path_buf();
        Pages::load(&config).unwrap()
    }

    #[test]
    fn a_page_is_escaped_inside_the_layout_with_the_senders_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pages")).unwrap();
        let mut p = pages(dir.path());
        p.hb.register_template_string("hello", "<p>Hello {{name}}</p>").unwrap();
        let page = p.render("hello", "Hi <b>", json!({"name": "<script>alert(1)</script>"})).unwrap();
        assert!(page.html.contains("<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>"), "{}", page.html);
        assert!(page.html.contains("<title>Hi &lt;b&gt; · Acme</title>"), "{}", page.html);
        assert!(page.html.contains("href=\"https://n.example/assets/pages.css\""), "{}", page.html);
    }

    #[test]
    fn a_workspace_file_overrides_the_default_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pages")).unwrap();
        std::fs::write(dir.path().join("pages/pages.css"), "body{color:red}").unwrap();
        let p = pages(dir.path());
        assert_eq!(p.css, "body{color:red}");
        std::fs::write(dir.path().join("pages/layout.hbs"), "{{#if}}").unwrap();
        let mut config: Config = toml::from_str("").unwrap();
        config.templates.dir = dir.path().to_path_buf();
        let err = Pages::load(&config).err().unwrap().to_string();
        assert!(err.contains("layout.hbs"), "{err}");
    }

    #[test]
    fn pages_carry_a_strict_policy_and_no_referrer() {
        let page = Page { status: StatusCode::OK, html: String::new(), frame_ancestors: None };
        let r = page.into_response();
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], PAGE_CSP);
        assert_eq!(r.headers()[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let framed = Page { status: StatusCode::OK, html: String::new(), frame_ancestors: None }
            .framable_by("https://acme.example")
            .into_response();
        let csp = framed.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.ends_with("frame-ancestors https://acme.example"), "{csp}");
        assert!(framed.headers().get(header::X_FRAME_OPTIONS).is_none());
    }
}
