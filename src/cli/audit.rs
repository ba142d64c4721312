//! `herald audit log EMAIL` and `herald audit verify`.

use super::{Context, output, parse_email};
use crate::contacts::audit;
use crate::error::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// A contact's consent history, oldest first.
    Log { email: String },
    /// Recompute every contact's hash chain; exit 1 if any is broken.
    Verify,
}

pub async fn run(ctx: &Context, cmd: AuditCommand) -> Result<i32> {
    let app = ctx.open().await?;
    match cmd {
        AuditCommand::Log { email } => {
            let email = parse_email(&email)?;
            let (id, events) = audit::log(&app, &email).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "contact_id": id, "events": events }));
                return Ok(0);
            }
            println!("Consent history of contact #{id} ({} events)", events.len());
            for e in &events {
                println!("#{:<3} {}  {}  {}", e.seq, e.at, output::clean(&e.actor), e.action);
                for (field, [old, new]) in &e.changes {
                    let show = |v: &Option<String>| v.as_deref().map(output::clean).unwrap_or_else(|| "—".into());
                    println!("       {field}: {} → {}", show(old), show(new));
                }
                for (k, v) in &e.evidence {
                    println!("       evidence {k}: {}", output::clean(v));
                }
            }
            Ok(0)
        }
        AuditCommand::Verify => {
            let progress = output::Progress::new(ctx.json, None, "verifying");
            let report = audit::verify(&app, &|n| progress.update(n, || format!("verified {n} contacts"))).await?;
            progress.finish();
            if ctx.json {
                output::json(&report);
            } else if report.broken.is_empty() {
                println!(
                    "Ledger intact: {} contacts, {} events, every chain verifies.",
                    report.contacts, report.events
                );
            } else {
                println!("Ledger BROKEN for {} of {} contacts:", report.broken.len(), report.contacts);
                for b in &report.broken {
                    println!("  contact #{} ({}): {}", b.contact_id, output::clean(&b.email), b.problem);
                }
            }
            Ok(if report.broken.is_empty() { 0 } else { 1 })
        }
    }
}
