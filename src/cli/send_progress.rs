//! The progress of a foreground `campaign send`: a bar with a whole-number rate and an
//! ETA on a terminal (indicatif's own `{per_sec}` prints "37.2918/s"), plain lines every
//! few seconds otherwise.

/// A progress bar with rate and ETA on a terminal; plain lines every few seconds
/// otherwise (logs, CI).
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    already: u64,
    last_line: std::sync::Mutex<std::time::Instant>,
}

impl Progress {
    pub(super) fn new(terminal: bool, total: u64, already: u64) -> Progress {
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} messages  {rate}  ETA {eta}  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate_text(state.per_sec()));
                    }),
            );
            bar.set_position(already);
            bar
        });
        Progress { bar, total, already, last_line: std::sync::Mutex::new(std::time::Instant::now()) }
    }

    pub(super) fn update(&self, finished: u64, sent: u64) {
        let done = self.already + finished;
        match &self.bar {
            Some(bar) => {
                bar.set_position(done.min(self.total));
                bar.set_message(format!("{sent} sent"));
            }
            None => {
                let mut last = self.last_line.lock().expect("progress lock");
                if last.elapsed() >= std::time::Duration::from_secs(5) {
                    eprintln!("progress: {done}/{} attempted, {sent} sent in this run", self.total);
                    *last = std::time::Instant::now();
                }
            }
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Messages per second as a whole number: "37/s".
fn rate_text(per_sec: f64) -> String {
    let rate = if per_sec.is_finite() { per_sec.max(0.0).round() as u64 } else { 0 };
    format!("{rate}/s")
}

#[cfg(test)]
mod tests {
    use super::rate_text;

    #[test]
    fn the_rate_is_a_whole_number_of_messages_per_second() {
        assert_eq!(rate_text(37.291_845), "37/s");
        assert_eq!(rate_text(0.4), "0/s");
        assert_eq!(rate_text(1234.5), "1235/s");
        assert_eq!(rate_text(f64::NAN), "0/s");
    }
}
