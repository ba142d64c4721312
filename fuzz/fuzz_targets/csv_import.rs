//! The contacts import's parsing of a CSV byte stream (header and rows).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let _ = herald::contacts::parse::parse_csv(data, now);
});
