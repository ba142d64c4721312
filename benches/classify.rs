//! Classifier benchmark: messages per second on one thread over the labelled bounce
//! corpus (`HERALD_BOUNCE_CORPUS`, else `../shared/corpus/bounces` beside the crate),
//! every message classified once per pass, passes repeated for about a second per round;
//! prints the median of several rounds. Without the corpus it says so and exits 0.
//! Run: `cargo bench --bench classify` (optionally `-- ROUNDS`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus_dir() -> PathBuf {
    std::env::var_os("HERALD_BOUNCE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/bounces"))
}

fn load(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir.join("messages")) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn main() {
    let rounds: usize =
        std::env::args().skip(1).filter(|a| !a.starts_with("--")).find_map(|a| a.parse().ok()).unwrap_or(5);
    let dir = corpus_dir();
    let messages = load(&dir);
    if messages.is_empty() {
        println!("bounce corpus not found at {} (set HERALD_BOUNCE_CORPUS): nothing to measure", dir.display());
        return;
    }
    let bytes: usize = messages.iter().map(Vec::len).sum();
    // Warm-up pass.
    for m in &messages {
        black_box(herald::feedback::classify(black_box(m)));
    }
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed() < Duration::from_secs(1) {
            for m in &messages {
                black_box(herald::feedback::classify(black_box(m)));
            }
            done += messages.len();
        }
        rates.push(done as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "classify: {:.0} messages/s on one thread (median of {} rounds; {} messages, {:.1} KiB average)",
        median,
        rates.len(),
        messages.len(),
        bytes as f64 / messages.len() as f64 / 1024.0
    );
}
