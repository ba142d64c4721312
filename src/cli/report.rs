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

/// Lines of the table. Written with errors ignored: a closed pipe (`... | head`) is the
/// reader's choice.
struct Table(std::io::BufWriter<std::io::StdoutLock<'static>>);

impl Table {
    fn line(&mut self, text: impl std::fmt::Display) {
        use std::io::Write;
        let _ = writeln!(self.0, "{text}");
    }

    fn row(&mut self, label: &str, value: impl std::fmt::Display) {
        self.line(format_args!("  {label:<36} {value:>10}"));
    }

    fn section(&mut self, title: &str, counts: &BTreeMap<String, i64>) {
        self.line(title);
        for (key, n) in counts {
            self.row(&output::clean(key), n);
        }
    }
}

fn print(r: &ComplianceReport) {
    let mut t = Table(std::io::BufWriter::new(std::io::stdout().lock()));
    t.line(format_args!("Compliance report, {}", r.generated_at.format("%Y-%m-%d %H:%M UTC")));
    t.line("Contacts");
    t.row("total", r.contacts.total);
    t.row("active", r.contacts.active);
    t.row("restricted", r.contacts.restricted);
    t.row("erasure requested", r.contacts.erasure_requested);
    t.row("erased", r.contacts.erased);
    t.section("By legal basis (not erased)", &r.by_legal_basis);
    t.section("By opt-in status (not erased)", &r.by_opt_in_status);
    t.section("By source type (not erased)", &r.by_source_type);
    t.line("Consents (legal basis consent)");
    let c = &r.consents.counts;
    t.row("total", c.total);
    t.row("without a consent date", c.without_date);
    t.row("without evidence in the ledger", c.without_evidence);
    t.row(&format!("older than {}", r.consents.max_age), c.older_than_max_age);
    t.line("Requests");
    t.row("open", r.requests.open);
    t.row("overdue", r.requests.overdue);
    for (kind, n) in &r.requests.by_kind {
        t.row(&format!("{kind} (open / overdue)"), format!("{} / {}", n.open, n.overdue));
    }
    t.line("Suppression list");
    t.row("total", r.suppression.total);
    for (reason, n) in &r.suppression.by_reason {
        t.row(&format!("reason: {}", output::clean(reason)), n);
    }
    t.line("Last audit verify");
    match &r.last_audit_verify {
        None => t.line("  never run (`herald audit verify`)"),
        Some(v) => {
            t.row("at", v.at.format("%Y-%m-%d %H:%M UTC"));
            t.row("result", if v.ok { "intact" } else { "FAILED" });
            t.row("contacts", v.contacts);
            t.row("events", v.events);
            t.row("broken chains", v.broken);
            t.row("diverged records", v.diverged);
        }
    }
}
