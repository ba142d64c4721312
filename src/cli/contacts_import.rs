//! `herald contacts import`: the report, with its warnings.

use super::{Context, output};
use crate::app::App;
use crate::contacts::import::{self, ImportOptions};
use crate::error::Result;
use serde::Serialize;
use std::path::PathBuf;

pub(super) async fn run_import(ctx: &Context, app: &App, file: PathBuf, opts: ImportOptions) -> Result<i32> {
    let dry_run = opts.dry_run;
    let size = std::fs::metadata(&file).map(|m| m.len()).ok();
    let progress = output::Progress::new(ctx.json, size, "importing");
    let outcome =
        import::import(app, &file, &opts, &|rows, bytes| progress.update(bytes, || format!("imported {rows} rows")))
            .await;
    progress.finish();
    let outcome = outcome?;
    let r = outcome.report;
    let warnings = &outcome.warnings;
    if ctx.json {
        /// DESIGN §7's counts, plus the warnings (the first 1000; the human report counts them all).
        #[derive(Serialize)]
        struct WithWarnings<'a> {
            #[serde(flatten)]
            report: &'a import::ImportReport,
            warnings: &'a [crate::contacts::warnings::ImportWarning],
        }
        output::json(&WithWarnings { report: &r, warnings: &warnings.listed });
        return Ok(0);
    }
    let verb = if dry_run { "Dry run of" } else { "Imported" };
    println!("{verb} {}: {} rows", file.display(), r.rows);
    println!("  created    {:>9}", r.created);
    println!("  updated    {:>9}", r.updated);
    println!("  unchanged  {:>9}", r.unchanged);
    match &outcome.rejects_file {
        Some(path) => println!("  rejected   {:>9}  (rows with their reasons: {})", r.rejected, path.display()),
        None => println!("  rejected   {:>9}", r.rejected),
    }
    println!("  suppressed {:>9}  (on the suppression list: not imported)", r.suppressed);
    println!(
        "  protected  {:>9}  (asked for more than the person gave: an opt-out lifted, a grant after an opt-out, a confirmed list without double opt-in, a locked record; that part was not done)",
        r.protected
    );
    let total = warnings.total();
    if total > 0 {
        println!("  warnings   {total:>9}  (imported as given; worth a look)");
        for w in &warnings.listed {
            println!("    line {}: {}: {}", w.line, output::clean(&w.email), w.message);
        }
        if warnings.omitted > 0 {
            println!("    ... and {} more", warnings.omitted);
        }
    }
    if dry_run {
        println!("Nothing was written to the database.");
    }
    Ok(0)
}
