//! Printing: one JSON document on stdout with `--json`, human text otherwise; errors on
//! stderr (or as `{"error": ...}` with `--json`). Free text from contact data is
//! printed with control characters escaped, so a record cannot drive the terminal.

use crate::error::Error;
use serde::Serialize;

pub(super) fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        // A closed pipe (`herald ... --json | head`) is the reader's choice, not a crash.
        Ok(text) => {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Prints the error and returns its exit code.
pub(super) fn fail(as_json: bool, e: &Error) -> i32 {
    let message = match e {
        Error::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    };
    if as_json {
        json(&serde_json::json!({ "error": message }));
    } else {
        eprintln!("error: {message}");
    }
    e.exit_code()
}

/// Control characters (CR, LF, ESC, ...) shown escaped.
pub(super) fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) { s.escape_debug().to_string() } else { s.to_owned() }
}

/// Progress on stderr for long work: a bar on a terminal, a line every few seconds
/// otherwise, nothing with `--json`.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last: std::cell::Cell<std::time::Instant>,
}

impl Progress {
    pub(super) fn new(quiet: bool, total: Option<u64>, what: &str) -> Progress {
        use std::io::IsTerminal;
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let bar = match total {
                Some(t) => indicatif::ProgressBar::new(t).with_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {percent}% {binary_bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                ),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_message(what.to_owned());
            bar
        });
        Progress { bar, plain: !quiet && !tty, last: std::cell::Cell::new(std::time::Instant::now()) }
    }

    pub(super) fn update(&self, position: u64, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        } else if self.plain && self.last.get().elapsed().as_secs() >= 5 {
            self.last.set(std::time::Instant::now());
            eprintln!("{}", message());
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
