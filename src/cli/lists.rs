//! `herald lists clean [--apply]`.

use super::{Context, output};
use crate::error::Result;
use crate::feedback::clean;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum ListsCommand {
    /// Report confirmed bounces to suppress, repeated soft bounces and (with
    /// `[bounces] unengaged_after`) unengaged contacts; `--apply` carries it out.
    Clean {
        #[arg(long)]
        apply: bool,
        /// Also name the contacts a re-permission campaign (kind = "reconfirm") reached
        /// this many days ago or more who did not confirm (named only, never changed).
        #[arg(long, value_name = "N")]
        reconfirm_days: Option<u32>,
    },
}

pub(super) async fn run(ctx: &Context, cmd: ListsCommand) -> Result<i32> {
    let ListsCommand::Clean { apply, reconfirm_days } = cmd;
    let app = ctx.open().await?;
    let report = clean::clean_with(&app, apply, reconfirm_days).await?;
    if ctx.json {
        output::json(&report);
        return Ok(0);
    }
    let show = |title: &str, c: &clean::Category, what: &str| {
        println!("{title}: {}", c.count);
        for x in c.contacts.iter().take(50) {
            println!("  {:<40} {} {what}", output::clean(&x.email), x.count);
        }
        if c.count > 50 {
            println!("  ... and {} more (--json lists them all)", c.count - 50);
        }
    };
    show("Confirmed bounces not yet suppressed", &report.confirmed_bounces, "hard bounces");
    show("Repeated soft bounces", &report.repeated_soft_bounces, "campaigns soft-bounced since the last delivery");
    match &report.unengaged {
        Some(c) => show("Unengaged (tracking consent, no open or click)", c, "messages considered"),
        None => println!("Unengaged: not judged (set [bounces] unengaged_after = N)"),
    }
    if let Some(c) = &report.not_reconfirmed {
        show("Did not re-confirm (named only, nothing changed)", c, "re-permission campaigns unanswered");
    }
    if apply {
        println!(
            "Applied: {} newly suppressed, {} bounce states changed, {} unsubscribed as unengaged.",
            report.suppressed, report.bounce_changed, report.unsubscribed
        );
    } else {
        println!("Nothing changed: run with --apply to carry this out.");
    }
    Ok(0)
}
