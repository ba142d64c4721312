//! `herald audit log EMAIL` and `herald audit verify`.

use super::{Context, output, parse_email};
use crate::contacts::audit;
use crate::error::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// A contact's consent history, oldest first.
    Log { email: String },
    /// Recompute every contact's hash chain and replay it against the stored record;
    /// exit 1 if any chain is broken or any record does not follow from its chain.
    Verify {
        /// Also print the digest of every chain head (anchor it elsewhere, compare later).
        #[arg(long)]
        digest: bool,
    },
}

pub(super) async fn run(ctx: &Context, cmd: AuditCommand) -> Result<i32> {
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
        AuditCommand::Verify { digest } => {
            let progress = output::Progress::new(ctx.json, None, "verifying");
            let report = audit::verify(&app, &|n| progress.update(n, || format!("verified {n} contacts"))).await?;
            progress.finish();
            if ctx.json {
                output::json(&report);
            } else {
                print_report(&report);
                if digest {
                    println!("Digest of all chain heads: {}", report.digest);
                }
            }
            Ok(if report.intact() { 0 } else { 1 })
        }
    }
}

fn print_report(report: &audit::VerifyReport) {
    if report.intact() {
        println!(
            "Ledger intact: {} contacts, {} events, every chain verifies and replays to the stored state.",
            report.contacts, report.events
        );
        return;
    }
    if !report.broken.is_empty() {
        println!("Ledger BROKEN for {} of {} contacts:", report.broken.len(), report.contacts);
        for b in &report.broken {
            println!("  contact #{} ({}): {}", b.contact_id, output::clean(&b.email), b.problem);
        }
    }
    if !report.diverged.is_empty() {
        println!(
            "Stored state does NOT follow from the ledger for {} of {} contacts (changed outside Herald):",
            report.diverged.len(),
            report.contacts
        );
        let show = |v: &Option<String>| v.as_deref().map(output::clean).unwrap_or_else(|| "—".into());
        for d in &report.diverged {
            println!("  contact #{} ({}):", d.contact_id, output::clean(&d.email));
            for m in &d.fields {
                println!("       {}: ledger says {}, stored {}", m.field, show(&m.ledger), show(&m.stored));
            }
        }
    }
}
