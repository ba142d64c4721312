//! `herald demo [DIR]`: the README's first command. On the embedded default it creates a
//! workspace, imports the example contacts (every consent state), plans and sends the
//! example campaign to the outbox (or to the SMTP relay the workspace config names), and
//! shows that the excluded people got nothing.

use super::{Context, init};
use crate::campaign::{self, plan};
use crate::contacts::import;
use crate::domain::ExclusionReason;
use crate::error::{Error, Result};
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Folder of the demo workspace (created if missing; reused if there).
    #[arg(default_value = "demo")]
    dir: PathBuf,
}

pub(super) async fn run(ctx: &Context, args: DemoArgs) -> Result<i32> {
    init::scaffold(ctx, &args.dir).await?;
    std::env::set_current_dir(&args.dir)
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot enter {}: {e}", args.dir.display())))?;
    // The demo runs offline: example.com addresses are not looked up in DNS.
    let mut env = ctx.env.clone();
    env.push(("HERALD_DNS__CHECK_DOMAINS".into(), "false".into()));
    let ctx = Context { json: ctx.json, config_path: None, env, verbose: ctx.verbose };
    let app = ctx.open().await?;
    say(&ctx, &format!("Workspace {} (config/herald.toml, templates/, data/)", args.dir.display()));

    let report =
        import::import(&app, std::path::Path::new("contacts.example.csv"), &Default::default(), &|_, _| {}).await?;
    say(&ctx, &format!("\n1. Imported contacts.example.csv: {}", import_summary(&report.report)));

    let file = PathBuf::from("campaigns/example.toml");
    let c = campaign::load(&file, &app.config.policy)?;
    let planned = plan::plan(&app, &c).await?;
    say(&ctx, &format!("\n2. Plan of {}: audience {}, eligible {}", c.name, planned.audience, planned.eligible));
    let excluded = excluded_addresses(&app, &c).await?;
    for (email, reason) in &excluded {
        say(&ctx, &format!("     excluded {email:<28} {reason}"));
    }

    say(&ctx, "\n3. Sending:");
    let code = super::send::send(&ctx, &file, Default::default()).await?;

    let outbox = app.config.data.dir.join("outbox");
    let delivered = outbox_recipients(&outbox);
    let leaked: Vec<&String> = excluded.iter().map(|(e, _)| e).filter(|e| delivered.contains(*e)).collect();
    say(
        &ctx,
        &format!(
            "\n4. {} messages in {}; of the {} excluded people, {} got a message{}",
            delivered.len(),
            std::env::current_dir().map(|d| d.join(&outbox)).unwrap_or(outbox).display(),
            excluded.len(),
            leaked.len(),
            if leaked.is_empty() { " (as it must be)." } else { ": THIS IS A BUG" }
        ),
    );
    if !leaked.is_empty() {
        return Ok(1);
    }
    Ok(code)
}

fn say(ctx: &Context, line: &str) {
    if !ctx.json {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
}

/// The import's counts in words, as `contacts import` prints them.
fn import_summary(r: &import::ImportReport) -> String {
    format!(
        "{} rows: {} created, {} updated, {} unchanged, {} rejected, {} suppressed, {} protected",
        r.rows, r.created, r.updated, r.unchanged, r.rejected, r.suppressed, r.protected
    )
}

/// The audience members the policy excludes, with the reason, by address.
async fn excluded_addresses(app: &crate::app::App, c: &campaign::Campaign) -> Result<Vec<(String, ExclusionReason)>> {
    let query = plan::audience_query(c, app.clock.now());
    let mut out = Vec::new();
    let mut after = crate::domain::ContactId::default();
    loop {
        let batch = app.store.audience(&query, after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.contact_id;
        let reasons: Vec<_> = batch.iter().filter_map(|m| Some((m.contact_id, m.exclusion?))).collect();
        let ids: Vec<_> = reasons.iter().map(|(id, _)| *id).collect();
        for contact in app.store.contacts_by_id(&ids).await? {
            if let Some((_, reason)) = reasons.iter().find(|(id, _)| Some(*id) == contact.id) {
                out.push((contact.email.normalized().to_owned(), *reason));
            }
        }
    }
    Ok(out)
}

/// The `To:` addresses of the messages in the outbox.
fn outbox_recipients(dir: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        if let Some(line) = text.lines().find(|l| l.to_ascii_lowercase().starts_with("to:")) {
            let addr = line.rsplit('<').next().unwrap_or(line).trim_end_matches('>').trim();
            let addr = addr.trim_start_matches("To:").trim_start_matches("to:").trim();
            out.insert(addr.to_lowercase());
        }
    }
    out
}
