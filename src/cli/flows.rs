//! `herald flows validate [NAME|FILE]` and `herald flows list`: the flow files of
//! `[flows] dir` (DESIGN §13). The commands that act on enrolled contacts
//! (`status`, `pause`, `resume`, `enroll`) are in `flows_state.rs`.

use super::{Context, output};
use crate::error::{Error, Result};
use crate::flows::catalog::{self, Entry};
use crate::flows::check;
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub(super) enum FlowsCommand {
    /// Check flow files (all of `[flows] dir` when none is named): the file, the lists and
    /// purpose it names, its templates, its trigger. Exit 2 when one is invalid.
    Validate {
        /// A flow's name, or a flow file's path.
        #[arg(value_name = "NAME|FILE")]
        target: Option<String>,
    },
    /// Every flow file: name, trigger, steps, file; invalid files listed as such.
    List,
    /// Per flow: file ok or missing, paused, enrolments by state and by step, due now,
    /// enrolments under a changed file, the last change.
    Status {
        /// One flow only.
        name: Option<String>,
    },
    /// Stop sending a flow's steps (enrolments wait; new ones are still taken).
    Pause { name: String },
    /// Send a paused flow's steps again.
    Resume { name: String },
    /// Enrol one contact by hand.
    Enroll {
        name: String,
        /// The contact's address.
        #[arg(long)]
        email: String,
    },
}

pub(super) async fn run(ctx: &Context, cmd: FlowsCommand) -> Result<i32> {
    match cmd {
        FlowsCommand::Validate { target } => validate(ctx, target.as_deref()).await,
        FlowsCommand::List => list(ctx),
        FlowsCommand::Status { name } => super::flows_state::status(ctx, name.as_deref()).await,
        FlowsCommand::Pause { name } => super::flows_state::pause(ctx, &name, true).await,
        FlowsCommand::Resume { name } => super::flows_state::pause(ctx, &name, false).await,
        FlowsCommand::Enroll { name, email } => super::flows_state::enroll(ctx, &name, &email).await,
    }
}

/// One file's verdict, as `flows validate --json` prints it.
#[derive(Serialize)]
struct Verdict {
    file: PathBuf,
    name: Option<String>,
    #[serde(skip)]
    summary: Option<String>,
    valid: bool,
    error: Option<String>,
    warnings: Vec<String>,
}

async fn validate(ctx: &Context, target: Option<&str>) -> Result<i32> {
    let app = ctx.open().await?;
    let dir = shown(&app.config.flows.dir);
    let entries = match target {
        Some(t) => catalog::select(&dir, t)?,
        None => catalog::read_dir(&dir)?,
    };
    let mut verdicts = Vec::with_capacity(entries.len());
    for Entry { file, flow } in entries {
        let name = flow.as_ref().ok().map(|f| f.name.clone());
        let summary = flow.as_ref().ok().map(|f| {
            let steps = f.steps.len();
            format!("{}: {steps} step{}, trigger: {}", f.name, if steps == 1 { "" } else { "s" }, f.trigger)
        });
        let checked = match flow {
            Ok(f) => check::check(&app, &f).await,
            Err(e) => Err(e),
        };
        let (error, warnings) = match checked {
            Ok(warnings) => (None, warnings),
            Err(Error::Invalid(message)) => (Some(message), Vec::new()),
            Err(e) => return Err(e),
        };
        verdicts.push(Verdict { file, name, summary, valid: error.is_none(), error, warnings });
    }
    let invalid = verdicts.iter().filter(|v| !v.valid).count();
    if ctx.json {
        output::json(&serde_json::json!({ "valid": invalid == 0, "flows": verdicts }));
    } else {
        if verdicts.is_empty() {
            println!("no flow files in {}", dir.display());
        }
        for v in &verdicts {
            match &v.error {
                None => println!("{}: valid ({})", v.file.display(), v.summary.as_deref().unwrap_or_default()),
                Some(e) => eprintln!("error: {e}"),
            }
            for w in &v.warnings {
                println!("  warning: {w}");
            }
        }
        if invalid > 0 {
            println!("{invalid} of {} flow files invalid", verdicts.len());
        }
    }
    Ok(if invalid > 0 { 2 } else { 0 })
}

/// One row of `flows list --json`.
#[derive(Serialize)]
struct Row {
    name: Option<String>,
    file: PathBuf,
    valid: bool,
    kind: Option<&'static str>,
    trigger: Option<crate::flows::Trigger>,
    steps: usize,
    step_names: Vec<String>,
    exit_on: Vec<String>,
    reenter: bool,
    error: Option<String>,
}

fn list(ctx: &Context) -> Result<i32> {
    let loaded = ctx.load_config()?;
    let dir = shown(&loaded.config.flows.dir);
    let rows: Vec<Row> = catalog::read_dir(&dir)?
        .into_iter()
        .map(|Entry { file, flow }| match flow {
            Ok(f) => Row {
                name: Some(f.name),
                file,
                valid: true,
                kind: Some(f.kind.as_str()),
                trigger: Some(f.trigger),
                steps: f.steps.len(),
                step_names: f.steps.into_iter().map(|s| s.name).collect(),
                exit_on: f.exit_on,
                reenter: f.reenter,
                error: None,
            },
            Err(e) => Row {
                name: None,
                file,
                valid: false,
                kind: None,
                trigger: None,
                steps: 0,
                step_names: Vec::new(),
                exit_on: Vec::new(),
                reenter: false,
                error: Some(e.to_string()),
            },
        })
        .collect();
    if ctx.json {
        output::json(&rows);
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no flow files in {}", dir.display());
        return Ok(0);
    }
    let cells: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| match (&r.name, &r.trigger) {
            (Some(name), Some(trigger)) => (name.clone(), trigger.to_string(), r.steps.to_string()),
            _ => ("(invalid)".into(), "-".into(), "-".into()),
        })
        .collect();
    let name_width = cells.iter().map(|c| c.0.len()).max().unwrap_or(0).max(4);
    let trigger_width = cells.iter().map(|c| c.1.chars().count()).max().unwrap_or(0).max(7);
    println!("{:<name_width$}  {:<trigger_width$}  {:>5}  FILE", "NAME", "TRIGGER", "STEPS");
    for (r, (name, trigger, steps)) in rows.iter().zip(&cells) {
        println!("{name:<name_width$}  {trigger:<trigger_width$}  {steps:>5}  {}", r.file.display());
    }
    for r in rows.iter().filter(|r| !r.valid) {
        println!("\ninvalid: {}", r.error.as_deref().unwrap_or_default());
    }
    Ok(0)
}

/// `dir` relative to the current folder when it is inside it, so that file names in the
/// output and in errors read as the user would type them.
fn shown(dir: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| dir.to_path_buf())
}
