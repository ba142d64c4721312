//! `herald report compliance [--json]` (DESIGN §7, §12): the compliance report, as an
//! aligned table or the JSON documented in [`crate::privacy::compliance`].

use super::{Context, output};
use crate::error::Result;
use crate::privacy::compliance::{self, ComplianceReport};
use clap::Subcommand;
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub(super) enum ReportCommand {
    /// What an auditor asks first: contacts by legal basis, opt-in status and source;
    /// consents without a date or evidence, or older than `[retention] consent_max_age`;
    /// open and overdue requests; the suppression list by reason; the last `audit verify`.
    Compliance,
}

pub(super) async fn run(ctx: &Context, cmd: ReportCommand) -> Result<i32> {
    let app = ctx.open().await?;
    match cmd {
        ReportCommand::Compliance => {
            let report = compliance::report(&app).await?;
            if ctx.json {
                output::json(&report);
            } else {
                print(&report);
            }
            Ok(0)
        }
    }
}

fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<36} {value:>10}");
}

fn section(title: &str, counts: &BTreeMap<String, i64>) {
    println!("{title}");
    for (key, n) in counts {
        row(&output::clean(key), n);
    }
}

fn print(r: &ComplianceReport) {
    println!("Compliance report, {}", r.generated_at.format("%Y-%m-%d %H:%M UTC"));
    println!("Contacts");
    row("total", r.contacts.total);
    row("active", r.contacts.active);
    row("restricted", r.contacts.restricted);
    row("erasure requested", r.contacts.erasure_requested);
    row("erased", r.contacts.erased);
    section("By legal basis (not erased)", &r.by_legal_basis);
    section("By opt-in status (not erased)", &r.by_opt_in_status);
    section("By source type (not erased)", &r.by_source_type);
    println!("Consents (legal basis consent)");
    let c = &r.consents.counts;
    row("total", c.total);
    row("without a consent date", c.without_date);
    row("without evidence in the ledger", c.without_evidence);
    row(&format!("older than {}", r.consents.max_age), c.older_than_max_age);
    println!("Requests");
    row("open", r.requests.open);
    row("overdue", r.requests.overdue);
    for (kind, n) in &r.requests.by_kind {
        row(&format!("{kind} (open / overdue)"), format!("{} / {}", n.open, n.overdue));
    }
    println!("Suppression list");
    row("total", r.suppression.total);
    for (reason, n) in &r.suppression.by_reason {
        row(&format!("reason: {}", output::clean(reason)), n);
    }
    println!("Last audit verify");
    match &r.last_audit_verify {
        None => println!("  never run (`herald audit verify`)"),
        Some(v) => {
            row("at", v.at.format("%Y-%m-%d %H:%M UTC"));
            row("result", if v.ok { "intact" } else { "FAILED" });
            row("contacts", v.contacts);
            row("events", v.events);
            row("broken chains", v.broken);
            row("diverged records", v.diverged);
        }
    }
}
