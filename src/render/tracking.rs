//! Open and click tracking, added only when the campaign enables it AND the contact
//! granted the `tracking` purpose (the caller decides; this module only rewrites).

use crate::contacts::token::{LinkKind, LinkToken};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Binds a click token to its target, so a token cannot redirect elsewhere.
pub(crate) fn url_digest(url: &str) -> String {
    B64.encode(&Sha256::digest(url.as_bytes())[..12])
}

/// The purpose of the open pixel's token.
pub(crate) const OPEN_PURPOSE: &str = "open";

/// The purpose of a click token for `url` (the `href` as it stands in the HTML): the
/// redirect (`web::track`) follows a link only when its token's purpose is this.
pub(crate) fn click_purpose(url: &str) -> String {
    format!("click:{}", url_digest(url))
}

/// Rewrites every `href="http(s)://..."` except `keep` (the unsubscribe and preference
/// links) to `{base}/t/c/{token}/{base64url(url)}`, and appends the open pixel.
pub(super) fn add_tracking(html: &str, base: &str, keep: &[&str], token: &LinkToken, key: &[u8]) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    let mut rest = html;
    while let Some(pos) = rest.find("href=\"") {
        let start = pos + 6;
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('"') else {
            rest = &rest[start..];
            break;
        };
        let url = &rest[start..start + len];
        if (url.starts_with("http://") || url.starts_with("https://")) && !keep.contains(&url) {
            let link = LinkToken { kind: LinkKind::Click, purpose: Some(click_purpose(url)), ..token.clone() };
            out.push_str(&format!("{base}/t/c/{}/{}", link.sign(key), B64.encode(url)));
        } else {
            out.push_str(url);
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    let open = LinkToken { kind: LinkKind::Open, purpose: Some(OPEN_PURPOSE.into()), ..token.clone() };
    let pixel = format!(
        "<img src=\"{base}/t/o/{}.gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block\">",
        open.sign(key)
    );
    super::insert_before_body_end(&out, &pixel)
}
