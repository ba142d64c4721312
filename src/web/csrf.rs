//! CSRF tokens for the pages' forms (DESIGN §11): bound to the page's own link token and
//! to the day, `day "." base64url(HMAC-SHA256(link key, "csrf|" day "|" bound)[..16])`.
//! A form posted from another site cannot carry one (it cannot read the page), and one
//! read off a page is good only for that page's token, today and tomorrow. Checked in
//! constant time with the current link key, then the previous one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Days a CSRF token stays good after the day it was made.
const GRACE_DAYS: i64 = 1;

fn mac(key: &[u8], day: i64, bound: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(format!("csrf|{day}|{bound}").as_bytes());
    m
}

fn day_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(86_400)
}

/// The CSRF token of a form on the page bound to `bound` (the page's link token).
pub fn token(key: &[u8], bound: &str, now: DateTime<Utc>) -> String {
    let day = day_of(now);
    format!("{day}.{}", B64.encode(&mac(key, day, bound).finalize().into_bytes()[..16]))
}

/// Whether `given` is a CSRF token of the page bound to `bound`, made today or within the
/// grace period, with any of `keys`.
pub fn verify(keys: &[&[u8]], bound: &str, given: &str, now: DateTime<Utc>) -> bool {
    let Some((day, tag)) = given.split_once('.') else { return false };
    let (Ok(day), Ok(tag)) = (day.parse::<i64>(), B64.decode(tag)) else { return false };
    let today = day_of(now);
    if day > today || today - day > GRACE_DAYS || tag.len() != 16 {
        return false;
    }
    keys.iter().any(|key| mac(key, day, bound).verify_truncated_left(&tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"link-key-0123456789abcdef0123456789";

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(20_000 * 86_400 + days * 86_400 + 3_600, 0).unwrap()
    }

    #[test]
    fn a_token_is_good_for_its_page_today_and_tomorrow_only() {
        let t = token(KEY, "page-a", at(0));
        assert!(verify(&[KEY], "page-a", &t, at(0)));
        assert!(verify(&[KEY], "page-a", &t, at(1)));
        assert!(!verify(&[KEY], "page-a", &t, at(2)), "expired");
        assert!(!verify(&[KEY], "page-b", &t, at(0)), "another page's");
        assert!(!verify(&[b"other-key-0123456789abcdef0123456789"], "page-a", &t, at(0)));
        assert!(!verify(&[KEY], "page-a", "", at(0)));
        assert!(!verify(
            &[KEY],
            "page-a",
            &t.replacen(&day_of(at(0)).to_string(), &day_of(at(1)).to_string(), 1),
            at(1)
        ));
        let previous: &[u8] = b"previous-key-0123456789abcdef012345";
        assert!(verify(&[KEY, previous], "page-a", &token(previous, "page-a", at(0)), at(0)), "during a rotation");
    }
}
