//! `herald webhooks status|retry`: the outbound consent webhooks (DESIGN §13).

use super::{Context, output};
use crate::error::Result;
use crate::outbound::status::{WebhookStatus, status};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum WebhooksCommand {
    /// Per webhook: signals pending, delivered and failed, the oldest pending, the last error.
    Status,
    /// Re-queue the signals that failed for good (after `max_attempts`), oldest first.
    Retry {
        /// Only this webhook's (its `name`).
        #[arg(long)]
        webhook: Option<String>,
    },
}

pub(super) async fn run(ctx: &Context, cmd: WebhooksCommand) -> Result<i32> {
    let app = ctx.open().await?;
    match cmd {
        WebhooksCommand::Status => {
            let rows = status(&app).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "webhooks": rows }));
            } else if rows.is_empty() {
                println!("No outbound webhook is configured ([[webhooks.out]]) and the outbox is empty.");
            } else {
                rows.iter().for_each(print);
            }
            Ok(0)
        }
        WebhooksCommand::Retry { webhook } => {
            let requeued = app.store.outbox_retry(webhook.as_deref(), app.clock.now()).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "requeued": requeued }));
            } else {
                println!("{requeued} failed signal{} re-queued.", if requeued == 1 { "" } else { "s" });
            }
            Ok(0)
        }
    }
}

fn print(s: &WebhookStatus) {
    let mut notes = Vec::new();
    if !s.configured {
        notes.push("not in the config: its rows are not sent".to_owned());
    } else if !s.key_set {
        notes.push("key variable not set here".to_owned());
    }
    let notes = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join("; ")) };
    println!("{}{notes}", output::clean(&s.name));
    println!("  pending {}   delivered {}   failed {}", s.pending, s.delivered, s.failed);
    if let Some(age) = s.oldest_pending_age_seconds {
        println!("  oldest pending: {} ago", age_text(age));
    }
    if let Some(e) = &s.last_error {
        println!("  last error: {}", output::clean(e));
    }
}

/// An age rounded down to its largest sensible unit ("45s", "12m", "5h", "3d").
fn age_text(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}
