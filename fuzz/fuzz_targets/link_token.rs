//! `LinkToken::verify` on untrusted link tokens. The first byte picks the mode: even,
//! the input is the token itself (almost always stopped by the signature); odd, the
//! rest is a payload signed here with the test key as Herald signs, so the fuzzer also
//! reaches the payload's parsing behind the signature check.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-link-key-0123456789abcdef0123456789";

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
        m.update(rest);
        let tag = m.finalize().into_bytes();
        format!("{}.{}", B64.encode(rest), B64.encode(&tag[..16]))
    };
    let _ = herald::render::LinkToken::verify(&token, KEY, now);
});
