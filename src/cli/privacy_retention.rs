//! `herald privacy retention [--apply]` (DESIGN §12): the contacts retention would erase,
//! or their erasure. Addresses are shown here, on the operator's terminal, never logged.

use super::{Context, output};
use crate::app::App;
use crate::error::Result;
use crate::privacy::retention::{self, Why};
use std::io::Write;

pub(super) async fn run(ctx: &Context, app: &App, apply: bool) -> Result<i32> {
    if apply {
        return erase(ctx, app).await;
    }
    let report = retention::candidates(app).await?;
    if ctx.json {
        // Written as it is serialised: a million candidates need no second copy as text.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // A closed pipe (`... --json | head`) is the reader's choice, not a failure.
        match serde_json::to_writer_pretty(&mut out, &report) {
            Err(e) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => return Ok(0),
            Err(e) => return Err(crate::error::Error::Internal(e.into())),
            Ok(()) => {}
        }
        let _ = writeln!(out).and_then(|()| out.flush());
        return Ok(0);
    }
    // Errors ignored: a closed pipe (`... | head`) is the reader's choice.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let periods: Vec<String> = report.periods.iter().map(|(basis, period)| format!("{basis} {period}")).collect();
    let _ = writeln!(out, "Retention at {} (periods: {})", report.now.format("%Y-%m-%d %H:%M UTC"), periods.join(", "));
    let _ = writeln!(
        out,
        "{} candidate(s): {} inactive, {} expired sign-up(s)",
        report.contacts.len(),
        report.inactive,
        report.expired_signups
    );
    if report.contacts.is_empty() {
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "  {:<9} {:<15} {:<20} {:<7} {:<10}  EMAIL",
        "CONTACT", "REASON", "LEGAL BASIS", "PERIOD", "CREATED"
    );
    for c in &report.contacts {
        let reason = match c.reason {
            Why::Inactive => "inactive",
            Why::ExpiredSignup => "expired sign-up",
        };
        let _ = writeln!(
            out,
            "  {:<9} {:<15} {:<20} {:<7} {:<10}  {}",
            format!("#{}", c.contact_id),
            reason,
            c.legal_basis.map_or("—", |b| b.as_str()),
            c.period.as_deref().unwrap_or("—"),
            c.created_at.format("%Y-%m-%d"),
            output::clean(&c.email)
        );
    }
    let _ = writeln!(out, "Run `herald privacy retention --apply` to erase them.");
    Ok(0)
}

async fn erase(ctx: &Context, app: &App) -> Result<i32> {
    let done = retention::apply(app).await?;
    let code = if done.failed.is_empty() { 0 } else { 1 };
    if ctx.json {
        output::json(&done);
        return Ok(code);
    }
    let candidates = done.inactive + done.expired_signups;
    println!(
        "Erased {} of {candidates} candidate(s) ({} inactive, {} expired sign-up(s)).",
        done.erased, done.inactive, done.expired_signups
    );
    for f in &done.failed {
        println!("  contact #{}: {}", f.contact_id, output::clean(&f.error));
    }
    Ok(code)
}
