//! The open pixel and the click redirect (DESIGN §11, issue 13 point 5). The renderer
//! puts them only into messages to contacts who granted the `tracking` purpose, in
//! campaigns with `tracking = true` (`render::tracking`); this module answers them.
//!
//! - `GET /t/o/{token}.gif` (and `/o/{token}`): always the same 1x1 transparent GIF, never
//!   cached; an open is recorded only for a good, unexpired, non-test `open` token.
//! - `GET /t/c/{token}/{url}` (and `/c/{token}/{url}`): `url` is the link's `href` in
//!   base64url; the token must verify and its purpose must be the click purpose of that
//!   very `href`, so a token redirects only to a URL that was in its message (never an
//!   open redirect). Then the click (and the open) is recorded, with the URL followed
//!   (`clicks`, once per link and send), and the answer is a 302. Flow messages' tokens
//!   name their `FLOW.STEP`; their opens and clicks are recorded on the flow's send.
//!   Anything else is the plain 404 page of [`HttpError`], which says nothing about why.
//!
//! Recording is best effort: a database that does not answer costs the statistic, never
//! the person their page or their image. Whether the person may be tracked is decided
//! again when recording ([`crate::store::Store::record_engagement`]): a contact who
//! withdrew tracking consent since the message, or whose processing is restricted, is
//! not recorded. A test send's links (`campaign test`) redirect but record nothing.

use super::WebState;
use super::error::HttpError;
use super::trace::{Id, record_id};
use crate::app::App;
use crate::contacts::token::{LinkKind, LinkToken};
use crate::render::tracking::{OPEN_PURPOSE, click_purpose};
use crate::store::Engagement;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::sync::Arc;

/// A 1x1 GIF whose one pixel is transparent (GIF89a, graphic control extension with the
/// transparency flag on colour 0).
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x00\x00\
\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";

/// The token, if it is of `kind` and verifies with the current link key or the previous
/// one; `None` when it is malformed, forged, tampered with, expired, or made for another
/// route (an unsubscribe link's token is neither a pixel nor a click).
fn verify(app: &App, token: &str, kind: LinkKind) -> Option<LinkToken> {
    LinkToken::verify_any(token, &app.secrets.link_keys(), app.clock.now()).ok().filter(|t| t.kind == kind)
}

/// `GET /t/o/{token}.gif`, `GET /o/{token}`.
/// A path that does not even decode still gets the image.
pub(super) async fn open(State(s): State<Arc<WebState>>, token: Result<Path<String>, PathRejection>) -> Response {
    if let Ok(Path(token)) = token {
        let token = token.strip_suffix(".gif").unwrap_or(&token);
        if let Some(t) = verify(&s.app, token, LinkKind::Open).filter(|t| t.purpose.as_deref() == Some(OPEN_PURPOSE)) {
            record(&s.app, &t, Engagement::Open, None).await;
        }
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache, must-revalidate, private")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
            (header::EXPIRES, HeaderValue::from_static("0")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        PIXEL,
    )
        .into_response()
}

/// `GET /t/c/{token}/{url}`, `GET /c/{token}/{url}`. A path that does not decode gets
/// the same 404 as a bad token (not axum's rejection, which would quote it).
pub(super) async fn click(
    State(s): State<Arc<WebState>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, HttpError> {
    let Path((token, url)) = path.map_err(|_| HttpError::NotFound)?;
    let signed = B64.decode(url).ok().and_then(|u| String::from_utf8(u).ok()).ok_or(HttpError::NotFound)?;
    let t = verify(&s.app, &token, LinkKind::Click).ok_or(HttpError::NotFound)?;
    if t.purpose.as_deref() != Some(click_purpose(&signed).as_str()) {
        return Err(HttpError::NotFound);
    }
    let target = redirect_target(&signed).ok_or(HttpError::NotFound)?;
    record(&s.app, &t, Engagement::Click, target.to_str().ok()).await;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, target),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // The target learns nothing of the link it was reached through.
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
    )
        .into_response())
}

/// Where a signed `href` leads: the attribute's text with its HTML character references
/// decoded (a template writes `&amp;` for `&`, and the renderer escapes `{{url}}`), if
/// that is an absolute http(s) URL fit for a `Location` header.
fn redirect_target(href: &str) -> Option<HeaderValue> {
    let url = unescape_html(href)?;
    let lower = url.get(..8)?.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    // No whitespace or control characters: a header value must not carry them, and a
    // browser would strip them from a URL anyway.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    HeaderValue::from_str(&url).ok()
}

/// Decodes the character references the template escaping produces (`&amp;`, `&lt;`,
/// `&gt;`, `&quot;`, `&apos;`, `&#NN;`, `&#xNN;`); `None` for any other (an `href`
/// Herald would not have written, so nothing to guess at).
fn unescape_html(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';')? + at;
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Records an open or a click (with the URL followed, `url`) for the token's contact and
/// campaign (or flow step), unless it is a test link; a failure is logged (ids only) and
/// otherwise ignored.
async fn record(app: &App, token: &LinkToken, what: Engagement, url: Option<&str>) {
    record_id(Id::Contact, token.contact_id);
    if token.test {
        return;
    }
    let now = app.clock.now();
    let done = match (what, url) {
        (Engagement::Click, Some(url)) => app.store.record_click(&token.campaign, token.contact_id, url, now).await,
        _ => app.store.record_engagement(&token.campaign, token.contact_id, what, now).await,
    };
    if let Err(e) = done {
        tracing::warn!(contact_id = token.contact_id.get(), error = %e, "tracking: cannot record {what:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_is_a_one_by_one_gif() {
        assert!(PIXEL.starts_with(b"GIF89a") && PIXEL.ends_with(b";"));
        assert_eq!((PIXEL[6], PIXEL[8]), (1, 1), "width and height");
        assert_eq!(PIXEL.len(), 43);
    }

    #[test]
    fn character_references_in_an_href_are_decoded_and_unknown_ones_refused() {
        assert_eq!(unescape_html("https://a.example/?x=1&amp;y=&#x27;2&#39;").unwrap(), "https://a.example/?x=1&y='2'");
        assert_eq!(unescape_html("https://a.example/&nbsp;"), None);
        assert_eq!(unescape_html("https://a.example/&amp"), None);
    }

    #[test]
    fn only_absolute_http_urls_are_redirect_targets() {
        for good in ["https://acme.example/spring", "HTTP://acme.example/?a=1&amp;b=2"] {
            assert!(redirect_target(good).is_some(), "{good}");
        }
        assert_eq!(redirect_target("https://a.example/?a=1&amp;b=2").unwrap(), "https://a.example/?a=1&b=2");
        for bad in [
            "javascript:alert(1)",
            "//evil.example/",
            "/relative",
            "data:text/html,x",
            "https://a.example/\r\nSet-Cookie: x=1",
            "https://a.example/&#10;Set-Cookie: x=1",
            "https://a.example/ x",
            "http",
        ] {
            assert!(redirect_target(bad).is_none(), "{bad:?}");
        }
    }
}
