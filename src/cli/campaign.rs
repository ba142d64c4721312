//! `herald campaign plan|preview|validate|test`; the lifecycle commands are in `send.rs`.

use super::{Context, output, parse_email};
use crate::campaign::{self, plan, preview};
use crate::domain::ExclusionReason;
use crate::error::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum CampaignCommand {
    /// Who is in the audience, who is eligible, and who is excluded, by reason.
    Plan {
        file: PathBuf,
        /// Show, for one contact, each rule with pass/fail and the data it looked at.
        #[arg(long, value_name = "EMAIL")]
        explain: Option<String>,
    },
    /// The exact RFC 5322 message one contact would get (or .eml files with --out).
    Preview {
        file: PathBuf,
        #[arg(long, value_name = "EMAIL", required_unless_present = "out")]
        contact: Option<String>,
        /// Write <contact id>.eml for the first --limit eligible contacts into DIR.
        #[arg(long, value_name = "DIR", conflicts_with = "contact")]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Preview for an excluded contact too (nothing is ever sent to them).
        #[arg(long)]
        force: bool,
        /// Show the message as it reads: headers and parts decoded (quoted-printable,
        /// base64, encoded words), not the bytes on the wire. With --contact only.
        #[arg(long, conflicts_with = "out")]
        decoded: bool,
    },
    /// Start (or resume) the campaign and send to completion in the foreground.
    Send {
        file: PathBuf,
        /// Also wait for deferred messages' retries instead of leaving them to the daemon,
        /// and for a relay to come up when none can be reached.
        #[arg(long)]
        wait: bool,
        /// Record and start the campaign even when nobody is eligible.
        #[arg(long)]
        allow_empty: bool,
        /// The file changed after messages went out: continue with the new content for the
        /// recipients not yet sent to (recorded as a new revision).
        #[arg(long)]
        new_revision: bool,
    },
    /// Send the campaign once to ADDR as a test, rendered as one contact would get it.
    ///
    /// The contact is the first eligible one of the plan, or --contact. The subject starts
    /// with "[TEST] " and its links change nothing. Records no campaign, counts in no
    /// figure, never touches the contact.
    Test {
        file: PathBuf,
        /// Where the test message goes.
        #[arg(long, value_name = "ADDR")]
        to: String,
        /// Render it as this contact (who must exist; an ineligible one is allowed).
        #[arg(long, value_name = "EMAIL")]
        contact: Option<String>,
    },
    /// Record the campaign for the daemon, which starts it at its `send_at` (or at once).
    Schedule {
        file: PathBuf,
        /// Record the campaign even when nobody is eligible.
        #[arg(long)]
        allow_empty: bool,
    },
    /// Queue again the sends that failed on Herald's or the relay's side (a render error,
    /// an unreachable relay), once the cause is fixed; never a recipient's refusal.
    Retry {
        name: String,
    },
    /// Counts by state, skip reasons, bounces, failures with their SMTP replies.
    Status {
        name: String,
    },
    /// Stop sending until `resume`.
    Pause {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Resume {
        name: String,
    },
    /// Stop for good: nothing more is sent.
    Cancel {
        name: String,
    },
    /// Every campaign with its counts.
    List,
    /// The checks `send` makes, without recording or sending: the file, the lists and
    /// purposes it names, the templates for every eligible contact, a non-empty audience,
    /// and full messages for a sample.
    Validate {
        file: PathBuf,
        #[arg(long, default_value_t = 50)]
        sample: usize,
        /// An empty audience is not an error.
        #[arg(long)]
        allow_empty: bool,
    },
}

pub(super) async fn run(ctx: &Context, cmd: CampaignCommand) -> Result<i32> {
    use crate::domain::CampaignState;
    let cmd = match cmd {
        CampaignCommand::Test { file, to, contact } => return test(ctx, &file, &to, contact.as_deref()).await,
        CampaignCommand::Send { file, wait, allow_empty, new_revision } => {
            let flags = super::send::SendFlags { wait, allow_empty, new_revision };
            return super::send::send(ctx, &file, flags).await;
        }
        CampaignCommand::Schedule { file, allow_empty } => return super::send::schedule(ctx, &file, allow_empty).await,
        CampaignCommand::Retry { name } => return super::send::retry(ctx, &name).await,
        CampaignCommand::Validate { file, sample, allow_empty } => {
            return super::send::validate(ctx, &file, sample, allow_empty).await;
        }
        CampaignCommand::Status { name } => return super::send::status(ctx, &name).await,
        CampaignCommand::Pause { name, reason } => {
            return super::send::transition(ctx, &name, CampaignState::Paused, reason).await;
        }
        CampaignCommand::Resume { name } => {
            return super::send::transition(ctx, &name, CampaignState::Running, None).await;
        }
        CampaignCommand::Cancel { name } => {
            return super::send::transition(ctx, &name, CampaignState::Cancelled, None).await;
        }
        CampaignCommand::List => return super::send::list(ctx).await,
        other => other,
    };
    let app = ctx.open().await?;
    match cmd {
        CampaignCommand::Preview { file, contact: Some(email), force, decoded, .. } => {
            let c = campaign::load(&file, &app.config.policy)?;
            let email = parse_email(&email)?;
            let dkim = app.secrets.dkim_key(&app.config)?;
            let (message, excluded) = preview::preview_one(&app, &c, &email, force, dkim).await?;
            if let Some(reason) = excluded {
                eprintln!("note: {email} is excluded ({reason}); this message would NOT be sent");
            }
            if ctx.json {
                let mut v = serde_json::json!({
                    "envelope_from": message.envelope_from,
                    "to": message.to,
                    "message_id": message.message_id,
                    "excluded": excluded,
                    "message": String::from_utf8_lossy(&message.bytes),
                });
                if decoded {
                    v["decoded"] = campaign::decoded::decoded(&message.bytes).into();
                }
                output::json(&v);
            } else if decoded {
                print!("{}", campaign::decoded::decoded(&message.bytes));
            } else {
                use std::io::Write;
                std::io::stdout().write_all(&message.bytes).map_err(|e| crate::error::Error::Internal(e.into()))?;
            }
            Ok(0)
        }
        CampaignCommand::Preview { file, out, limit, .. } => {
            let c = campaign::load(&file, &app.config.policy)?;
            let dir = out.unwrap_or_else(|| PathBuf::from("preview"));
            let dkim = app.secrets.dkim_key(&app.config)?;
            let written = preview::preview_many(&app, &c, &dir, limit, dkim).await?;
            if ctx.json {
                output::json(&written);
            } else {
                println!(
                    "Wrote {} message{} to {}",
                    written.len(),
                    if written.len() == 1 { "" } else { "s" },
                    dir.display()
                );
            }
            Ok(0)
        }
        CampaignCommand::Plan { file, explain: None } => {
            let c = campaign::load(&file, &app.config.policy)?;
            let report = plan::plan(&app, &c).await?;
            if ctx.json {
                output::json(&report);
                return Ok(0);
            }
            println!("Campaign {} ({})", report.campaign, file.display());
            println!("  audience  {:>9}", report.audience);
            println!("  eligible  {:>9}", report.eligible);
            println!("  excluded  {:>9}", report.audience - report.eligible);
            for reason in ExclusionReason::ALL {
                println!("    {:<22}{:>9}", reason.as_str(), report.excluded.get(*reason));
            }
            Ok(0)
        }
        CampaignCommand::Plan { file, explain: Some(email) } => {
            let c = campaign::load(&file, &app.config.policy)?;
            let email = parse_email(&email)?;
            let e = plan::explain(&app, &c, &email).await?;
            if ctx.json {
                output::json(&e);
                return Ok(0);
            }
            println!("Campaign {}, contact #{}: {}", e.campaign, e.contact_id.unwrap_or_default(), e.verdict);
            println!("  audience: {}", e.audience_note);
            for r in &e.rules {
                println!("  {:<7} {:<20} {}", r.result, r.rule.as_str(), r.looked_at);
            }
            Ok(0)
        }
        _ => unreachable!("lifecycle commands are handled above"),
    }
}

/// `herald campaign test FILE --to ADDR [--contact EMAIL]`: exit 0 once the relay (or the
/// outbox) took the message, 1 when it did not.
async fn test(ctx: &Context, file: &std::path::Path, to: &str, contact: Option<&str>) -> Result<i32> {
    use crate::domain::SendState;
    use crate::send::engine::{Deps, Engine};
    let app = std::sync::Arc::new(ctx.open().await?);
    let to = parse_email(to)?;
    let contact = contact.map(parse_email).transpose()?;
    let engine = Engine::new(app.clone(), Deps::from_config(&app)?);
    let outbox = engine.transport().outbox_dir();
    let result = campaign::test_send::send(&app, &engine, file, &to, contact.as_ref()).await;
    engine.close().await;
    let mut report = result?;
    if let Some(dir) = outbox {
        let id = format!("{}-{}", report.campaign, report.send_id);
        let path = crate::send::smtp::outbox::FileOutbox::new(&dir).ok().and_then(|o| o.path_for(&id).ok());
        report.outbox = path.map(|p| p.display().to_string());
    }
    if let Some(reason) = &report.excluded {
        eprintln!("note: this contact is excluded from the campaign ({reason}); the campaign would NOT go to them");
    }
    if ctx.json {
        output::json(&report);
    } else {
        let contact = format!("contact #{}", report.contact_id);
        match (report.state, &report.outbox) {
            (SendState::Sent, Some(path)) => {
                println!("Test message (as {contact}) for {} written to {path}", report.to)
            }
            (SendState::Sent, None) => println!(
                "Test message (as {contact}) sent to {} through {}: {} {}",
                report.to,
                report.relay.as_deref().unwrap_or("the relay"),
                report.reply.code.map(|c| c.to_string()).unwrap_or_default(),
                report.reply.text.as_deref().unwrap_or_default()
            ),
            (state, _) => println!(
                "Test message (as {contact}) to {} NOT delivered: {state}{}",
                report.to,
                report
                    .reason
                    .as_deref()
                    .or(report.reply.text.as_deref())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        }
    }
    Ok(if report.state == SendState::Sent { 0 } else { 1 })
}
