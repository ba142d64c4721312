//! The bounce listener's SMTP command parser, one line at a time as the session reads
//! them (lossy UTF-8, CR LF removed).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        let _ = herald::feedback::smtp_command::parse_command(line.trim_end_matches('\r'));
    }
});
