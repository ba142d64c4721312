//! The campaign file parser (TOML text to a checked campaign).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let defaults = herald::config::PolicyDefaults::default();
        let _ = herald::campaign::parse(std::path::Path::new("fuzz.toml"), text, &defaults);
    }
});
