//! `herald suppression add|remove|list`.

use super::{Context, actor, output, parse_email};
use crate::contacts::suppression;
use crate::error::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum SuppressionCommand {
    /// Never mail this address again (survives erasure and re-import).
    Add {
        email: String,
        #[arg(long, default_value = "manual")]
        reason: String,
        #[arg(long)]
        actor: Option<String>,
    },
    /// Take an address off the list; needs proof that the person asked.
    Remove {
        email: String,
        #[arg(long)]
        proof: String,
        #[arg(long)]
        actor: Option<String>,
    },
    /// Show the list (addresses only where a contact record still holds them).
    List,
}

pub(super) async fn run(ctx: &Context, cmd: SuppressionCommand) -> Result<i32> {
    let app = ctx.open().await?;
    match cmd {
        SuppressionCommand::Add { email, reason, actor: name } => {
            let email = parse_email(&email)?;
            let added = suppression::add(&app, &email, &reason, &actor(name)).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "suppressed": true, "added": added }));
            } else if added {
                println!("Suppressed: {email} will not be mailed again.");
            } else {
                println!("{email} was already on the suppression list.");
            }
            Ok(0)
        }
        SuppressionCommand::Remove { email, proof, actor: name } => {
            let email = parse_email(&email)?;
            let removed = suppression::remove(&app, &email, &proof, &actor(name)).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "suppressed": false, "removed": removed }));
            } else if removed {
                println!("Removed {email} from the suppression list (proof recorded).");
            } else {
                println!("{email} was not on the suppression list.");
            }
            Ok(if removed { 0 } else { 1 })
        }
        SuppressionCommand::List => {
            let rows = suppression::list(&app).await?;
            if ctx.json {
                output::json(&rows);
                return Ok(0);
            }
            println!("{} suppressed address{}", rows.len(), if rows.len() == 1 { "" } else { "es" });
            for r in rows {
                let who = r.email.as_deref().map(output::clean).unwrap_or_else(|| format!("(hmac {}…)", &r.mac[..12]));
                println!(
                    "  {who:<40} {}  {}  {}",
                    r.created_at.format("%Y-%m-%d %H:%M"),
                    output::clean(&r.reason),
                    output::clean(&r.actor)
                );
            }
            Ok(0)
        }
    }
}
