//! `herald privacy erase EMAIL [--reason TEXT]` and `herald privacy erase --request ID`
//! (DESIGN §12): carries out an erasure and says what was done.

use super::{Context, actor, output, parse_email};
use crate::error::Result;
use crate::privacy::erase::{self, ErasureReport};
use clap::Args;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("whom").required(true).args(["email", "request"]))]
pub(super) struct EraseArgs {
    /// The person's address.
    email: Option<String>,
    /// Carry out this erasure request of the register (`herald privacy requests`).
    #[arg(long, value_name = "ID")]
    request: Option<i64>,
    /// Why, e.g. the request's channel and ticket: kept apart from the ledger as the
    /// erasure's evidence. Do not name the person in it.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Name for the ledger (default: the login name).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
}

pub(super) async fn run(ctx: &Context, args: EraseArgs) -> Result<i32> {
    let app = ctx.open().await?;
    let who = actor(args.actor);
    let reason = args.reason.as_deref();
    let report = match (args.email, args.request) {
        (_, Some(request)) => erase::erase_request(&app, request, reason, who).await?,
        (Some(email), None) => erase::erase_address(&app, &parse_email(&email)?, reason, who).await?,
        (None, None) => unreachable!("clap requires an address or --request"),
    };
    print(ctx, &report);
    Ok(0)
}

fn print(ctx: &Context, r: &ErasureReport) {
    if ctx.json {
        output::json(r);
        return;
    }
    println!("Erased contact #{}: it now reads {}.", r.contact_id, r.placeholder);
    println!(
        "  {} evidence row(s) deleted, {} ledger event(s) redacted, {} waiting send(s) skipped.",
        r.counts.evidence_rows_deleted,
        r.redacted_events.len(),
        r.counts.sends_skipped
    );
    println!(
        "  The address stays on the suppression list (reason: erased); only the person's own confirmed sign-up brings it back."
    );
    if r.closed_requests > 0 {
        println!("  Closed {} open erasure request(s).", r.closed_requests);
    }
}
