//! `herald bounces classify|ingest|list` (DESIGN §5, §7).

use super::{Context, output};
use crate::config;
use crate::domain::BounceKind;
use crate::error::{Error, Result};
use crate::feedback::{classify::classify, ingest, mapping};
use clap::Subcommand;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum BouncesCommand {
    /// Parse and classify inbound messages (bounces, complaints, auto-replies); no database access.
    Classify {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Feed messages to the bounce rules: .eml files, maildir folders, mbox files. Idempotent.
    Ingest {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Recorded bounces and complaints, newest first.
    List {
        /// Only this campaign's.
        #[arg(long)]
        campaign: Option<String>,
        /// Only reports tied to no message Herald sent (no valid VERP, no keyed Message-ID,
        /// no authenticated webhook): kept for review, they changed nothing.
        #[arg(long)]
        unmatched: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

/// One file's verdict, exactly the DESIGN §7 shape.
#[derive(Debug, Serialize)]
struct Verdict {
    file: String,
    is_bounce: bool,
    kind: &'static str,
    recipients: Vec<String>,
    status: Option<String>,
    reason: Option<String>,
    send_id: Option<crate::domain::SendId>,
    /// Issue 17: each recipient's kind and reason (the vocabulary of
    /// [`crate::feedback::reason`]); `reason` above is the first recipient's.
    per_recipient: Vec<RecipientVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One recipient of a classified file.
#[derive(Debug, Serialize)]
struct RecipientVerdict {
    recipient: String,
    kind: &'static str,
    status: Option<String>,
    reason: Option<String>,
}

pub(super) async fn run(ctx: &Context, cmd: BouncesCommand) -> Result<i32> {
    match cmd {
        BouncesCommand::Classify { files } => classify_files(ctx, &files),
        BouncesCommand::Ingest { paths } => {
            for p in &paths {
                if !p.exists() {
                    return Err(Error::Invalid(format!("{}: no such file or folder", p.display())));
                }
            }
            let app = ctx.open().await?;
            let tty = !ctx.json && std::io::stderr().is_terminal();
            let progress = |n: u64| {
                if tty && n.is_multiple_of(100) {
                    eprint!("\r{n} messages");
                }
            };
            let report = ingest::ingest_paths(&app, &paths, &progress).await?;
            if tty {
                eprintln!();
            }
            if ctx.json {
                output::json(&report);
            } else {
                print_ingest(&report);
            }
            Ok(if report.errors.is_empty() { 0 } else { 2 })
        }
        BouncesCommand::List { campaign, unmatched, limit } => {
            let app = ctx.open().await?;
            let campaign_id = match &campaign {
                Some(name) => Some(
                    app.store
                        .campaign_by_name(name)
                        .await?
                        .ok_or_else(|| Error::Invalid(format!("no campaign named '{name}'")))?
                        .id,
                ),
                None => None,
            };
            let rows = app.store.bounces(campaign_id, unmatched, limit.max(1)).await?;
            if ctx.json {
                output::json(&rows);
                return Ok(0);
            }
            let what = if unmatched { "unmatched report" } else { "bounce" };
            println!("{} {what}{}", rows.len(), if rows.len() == 1 { "" } else { "s" });
            for r in rows {
                println!(
                    "  {}  {:<10} {:<36} {:<20} {:<7} {}",
                    r.received_at.format("%Y-%m-%d %H:%M"),
                    r.kind,
                    match (r.email.as_deref().map(output::clean), r.unmatched) {
                        (Some(email), true) => format!("(unmatched) {email}"),
                        (Some(email), false) => email,
                        (None, _) => "(unmatched)".into(),
                    },
                    r.campaign.as_deref().map(output::clean).unwrap_or_default(),
                    r.status.as_deref().unwrap_or("-"),
                    output::clean(r.reason.as_deref().unwrap_or("")),
                );
            }
            Ok(0)
        }
    }
}

fn classify_files(ctx: &Context, files: &[PathBuf]) -> Result<i32> {
    // The VERP MAC needs the link key; without one, send ids are not read (null).
    let key = ctx.load_config().ok().and_then(|loaded| config::Secrets::link_key_if_present(&loaded, &ctx.env));
    let mut verdicts = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(e) => {
                verdicts.push(Verdict {
                    file: name,
                    is_bounce: false,
                    kind: "unknown",
                    recipients: vec![],
                    status: None,
                    reason: None,
                    send_id: None,
                    per_recipient: vec![],
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let c = classify(&raw);
        let first = c.events.first();
        verdicts.push(Verdict {
            file: name,
            is_bounce: c.is_bounce,
            kind: c.kind.map_or("unknown", BounceKind::as_str),
            recipients: c.recipients().into_iter().map(str::to_owned).collect(),
            status: first.and_then(|e| e.status.clone()),
            reason: first.and_then(|e| e.reason.clone()),
            send_id: key.as_deref().and_then(|k| mapping::verp_send_id(k, &c.envelope_hints)),
            per_recipient: c
                .events
                .iter()
                .map(|e| RecipientVerdict {
                    recipient: e.recipient.clone(),
                    kind: e.kind.as_str(),
                    status: e.status.clone(),
                    reason: e.reason.clone(),
                })
                .collect(),
            error: None,
        });
    }
    let failed = verdicts.iter().any(|v| v.error.is_some());
    if ctx.json {
        output::json(&verdicts);
    } else {
        for v in &verdicts {
            if let Some(e) = &v.error {
                eprintln!("{}: cannot read: {e}", v.file);
                continue;
            }
            let what = match (v.is_bounce, v.kind) {
                (true, "unknown") => "bounce (kind unknown)".to_owned(),
                (true, kind) => format!("{kind} bounce"),
                (false, "unknown") => "not a bounce".to_owned(),
                (false, kind) => kind.to_owned(),
            };
            let detail: Vec<&str> = [v.status.as_deref(), v.reason.as_deref()].into_iter().flatten().collect();
            let detail = if detail.is_empty() { String::new() } else { format!(" ({})", detail.join(" ")) };
            let who = if v.recipients.is_empty() { String::new() } else { format!(": {}", v.recipients.join(", ")) };
            let send = v.send_id.map(|id| format!(" [send {id}]")).unwrap_or_default();
            println!("{}: {what}{detail}{who}{send}", v.file);
        }
    }
    Ok(if failed { 2 } else { 0 })
}

fn print_ingest(r: &ingest::IngestReport) {
    println!(
        "Ingested {} message{}: {} event{}",
        r.messages,
        if r.messages == 1 { "" } else { "s" },
        r.events,
        if r.events == 1 { "" } else { "s" }
    );
    println!(
        "  hard {}  soft {}  delayed {}  complaints {}  auto-replies {}  not feedback {}",
        r.hard, r.soft, r.delayed, r.complaints, r.auto_replies, r.not_feedback
    );
    println!(
        "  confirmed bounces {}  opted out {}  newly suppressed {}  unmatched {}  already ingested {}",
        r.confirmed, r.opted_out, r.suppressed, r.unmatched, r.duplicates
    );
    for e in &r.errors {
        eprintln!("  cannot read {e}");
    }
}
