//! `herald privacy ...`: data-subject rights (DESIGN §12). Each subcommand keeps to its
//! own functions (`export`: [`ExportArgs`], [`export`]).

use super::{Context, output, parse_email};
use crate::error::{Error, Result};
use crate::privacy::export::{self, Format, Scope};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum PrivacyCommand {
    /// Everything Herald holds about a person (access and portability): profile, custom
    /// attributes, compliance card, subscriptions, purposes, ledger with its evidence,
    /// sends with opens and clicks, bounces. One address gives one JSON document; --list
    /// and --all give JSON Lines (one contact per line) or CSV (one row per contact,
    /// nested data as JSON cells, formula-like cells prefixed with ').
    Export(ExportArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("whom").required(true).args(["email", "list", "all"]))]
pub(super) struct ExportArgs {
    /// The person's address.
    email: Option<String>,
    /// Every contact subscribed to this list (in any status), streamed.
    #[arg(long, value_name = "NAME")]
    list: Option<String>,
    /// Every contact, streamed.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to this file (created only when the export succeeds) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) async fn run(ctx: &Context, cmd: PrivacyCommand) -> Result<i32> {
    match cmd {
        PrivacyCommand::Export(args) => export(ctx, args).await,
    }
}

async fn export(ctx: &Context, args: ExportArgs) -> Result<i32> {
    let scope = match (args.email, args.list) {
        (Some(email), _) => Scope::One(parse_email(&email)?),
        (None, Some(list)) => {
            Scope::List(crate::domain::ListName::parse(&list).map_err(|e| Error::Invalid(format!("--list: {}", e.0)))?)
        }
        (None, None) => Scope::All,
    };
    let app = ctx.open().await?;
    let report = export::export(&app, &scope, args.format, args.out.as_deref()).await?;
    let Some(file) = &report.file else { return Ok(0) };
    if ctx.json {
        output::json(&report);
    } else {
        println!("Exported {} contact(s) to {}", report.contacts, output::clean(&file.display().to_string()));
    }
    Ok(0)
}
