//! `herald init [DIR]`: scaffold a workspace (config, templates, an example contacts
//! file, an example campaign and four example flows), then create and migrate its
//! database. Existing files are never overwritten.

use super::{Context, output};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{self, Secrets};
use crate::error::{Error, Result};
use crate::store::Store;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub(super) struct InitArgs {
    /// Folder to create the workspace in (default: the current folder).
    dir: Option<PathBuf>,
}

/// (path in the workspace, content): the same files the repository ships.
const FILES: &[(&str, &str)] = &[
    ("config/herald.toml", include_str!("../../config/herald.toml")),
    ("campaigns/example.toml", include_str!("../../config/campaigns/example.toml")),
    ("contacts.example.csv", include_str!("../../config/contacts.example.csv")),
    ("templates/example.html.hbs", include_str!("../../templates/example.html.hbs")),
    ("templates/example.txt.hbs", include_str!("../../templates/example.txt.hbs")),
    ("templates/partials/footer.html.hbs", include_str!("../../templates/partials/footer.html.hbs")),
    ("templates/partials/footer.txt.hbs", include_str!("../../templates/partials/footer.txt.hbs")),
    ("templates/emails/confirm.html.hbs", include_str!("../../templates/emails/confirm.html.hbs")),
    ("templates/emails/confirm.txt.hbs", include_str!("../../templates/emails/confirm.txt.hbs")),
    // The automation flows of DESIGN §13 and their templates (issue 15).
    ("flows/welcome.toml", include_str!("../../config/flows/welcome.toml")),
    ("flows/engagement-followup.toml", include_str!("../../config/flows/engagement-followup.toml")),
    ("flows/deep-dive.toml", include_str!("../../config/flows/deep-dive.toml")),
    ("flows/abandoned-cart.toml", include_str!("../../config/flows/abandoned-cart.toml")),
    ("templates/welcome-1.html.hbs", include_str!("../../templates/welcome-1.html.hbs")),
    ("templates/welcome-1.txt.hbs", include_str!("../../templates/welcome-1.txt.hbs")),
    ("templates/welcome-2.html.hbs", include_str!("../../templates/welcome-2.html.hbs")),
    ("templates/welcome-2.txt.hbs", include_str!("../../templates/welcome-2.txt.hbs")),
    ("templates/welcome-3.html.hbs", include_str!("../../templates/welcome-3.html.hbs")),
    ("templates/welcome-3.txt.hbs", include_str!("../../templates/welcome-3.txt.hbs")),
    ("templates/engagement-followup.html.hbs", include_str!("../../templates/engagement-followup.html.hbs")),
    ("templates/engagement-followup.txt.hbs", include_str!("../../templates/engagement-followup.txt.hbs")),
    ("templates/deep-dive.html.hbs", include_str!("../../templates/deep-dive.html.hbs")),
    ("templates/deep-dive.txt.hbs", include_str!("../../templates/deep-dive.txt.hbs")),
    ("templates/cart-reminder.html.hbs", include_str!("../../templates/cart-reminder.html.hbs")),
    ("templates/cart-reminder.txt.hbs", include_str!("../../templates/cart-reminder.txt.hbs")),
];

pub(super) async fn run(ctx: &Context, args: InitArgs) -> Result<i32> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let (created, kept, url) = scaffold(ctx, &dir).await?;
    if ctx.json {
        output::json(&serde_json::json!({ "dir": dir, "created": created, "kept": kept, "database": url }));
    } else {
        println!("Herald workspace in {}", dir.display());
        for f in &created {
            println!("  created {f}");
        }
        for f in &kept {
            println!("  kept    {f} (already there)");
        }
        println!("  database {url} (migrated)");
        println!("\nNext: cd {} && herald contacts import contacts.example.csv", dir.display());
    }
    Ok(0)
}

/// Writes the workspace files that are missing and creates the database; returns the
/// files created, the files kept, and the database URL.
pub(super) async fn scaffold(ctx: &Context, dir: &Path) -> Result<(Vec<String>, Vec<String>, String)> {
    let mut created = Vec::new();
    let mut kept = Vec::new();
    // The person-facing pages (`templates/pages/`), to customise.
    let pages = crate::web::pages::DEFAULTS.iter().map(|(name, content)| (format!("templates/pages/{name}"), *content));
    for (rel, content) in FILES.iter().map(|(rel, content)| (rel.to_string(), *content)).chain(pages) {
        let path = dir.join(&rel);
        if path.exists() {
            kept.push(rel);
            continue;
        }
        write(&path, content)?;
        created.push(rel);
    }
    // A config in the workspace's `config/` folder: its paths resolve against `dir`.
    let loaded = config::load(Some(&dir.join(config::DEFAULT_PATH)), &ctx.env)?;
    let secrets = Secrets::resolve(&loaded, &ctx.env)?;
    let store = Store::connect(&loaded.config.database.url).await?;
    store.migrate().await?;
    App::with_store(&loaded, store.clone(), secrets, Arc::new(SystemClock)).await?;
    store.close().await;
    Ok((created, kept, loaded.config.database.url))
}

fn write(path: &Path, content: &str) -> Result<()> {
    let fail = |e: std::io::Error| Error::Internal(anyhow::anyhow!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, content).map_err(fail)
}
