//! The bounce classifier on a raw inbound message (DSN, ARF, auto-reply, anything).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = herald::feedback::classify(data);
});
