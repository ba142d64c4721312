//! The command line (DESIGN §7): clap types, one file per command group, and the
//! printing of human text or `--json`. Exit codes: 0 success, 1 the operation failed,
//! 2 bad usage or invalid input.

mod audit;
mod bounces;
mod campaign;
mod contact_args;
mod contacts;
mod contacts_browse;
mod contacts_import;
mod daemon;
mod db;
mod demo;
mod flows;
mod flows_state;
mod init;
mod lists;
mod output;
mod privacy;
mod privacy_erase;
mod privacy_retention;
mod privacy_sensitive;
mod report;
mod send;
mod send_progress;
mod suppression;
mod webhooks;

use crate::app::App;
use crate::config;
use crate::error::{Error, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Email campaigns that honour consent")]
pub struct Cli {
    /// Config file (default: config/herald.toml in the current folder or the nearest folder above it).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print one JSON document on stdout (errors as {"error": "..."}).
    #[arg(long, global = true)]
    json: bool,
    /// Say on stderr which config file is used.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scaffold a workspace: config, templates, example contacts and campaign; create the database.
    Init(init::InitArgs),
    /// The guided tour: a workspace, the example contacts, a plan, a send to the outbox.
    Demo(demo::DemoArgs),
    /// Database maintenance.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Contacts and their consent records.
    #[command(subcommand)]
    Contacts(Box<contacts::ContactsCommand>),
    /// Campaigns: plan, preview, send, and their lifecycle.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// The suppression list.
    #[command(subcommand)]
    Suppression(suppression::SuppressionCommand),
    /// The consent ledger.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run in the background: scheduler, sending workers, HTTP server; SIGTERM drains and exits.
    Daemon(daemon::DaemonArgs),
    /// Run the web surface alone (pages, webhooks); a daemon on the same database sends.
    Serve(daemon::DaemonArgs),
    /// Bounces and complaints: classify, ingest, list.
    #[command(subcommand)]
    Bounces(bounces::BouncesCommand),
    /// List hygiene.
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// The person's rights: export, restriction, objection, the requests register.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// Reports: the compliance report.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Automation flows: validate and list the flow files; status, pause, resume, enroll.
    #[command(subcommand)]
    Flows(flows::FlowsCommand),
    /// Outbound consent webhooks to the CRM: what is pending, delivered, failed.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

/// What a command needs besides its arguments.
pub(crate) struct Context {
    pub json: bool,
    pub config_path: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// `--verbose`: say which config file is used.
    pub verbose: bool,
}

impl Context {
    pub(crate) async fn open(&self) -> Result<App> {
        let loaded = self.load_config()?;
        App::open(&loaded, &self.env).await
    }

    /// [`open`](Self::open) for a bulk import (a larger SQLite page cache).
    pub(crate) async fn open_for_import(&self) -> Result<App> {
        let loaded = self.load_config()?;
        App::open_for(&loaded, &self.env, crate::store::Workload::BulkImport).await
    }

    /// The config (`--config`, else the workspace's), named on stderr with `--verbose`.
    pub(crate) fn load_config(&self) -> Result<config::Loaded> {
        let loaded = config::load(self.config_path.as_deref(), &self.env)?;
        if self.verbose {
            let shown = std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone());
            eprintln!("herald: using config {}", shown.display());
        }
        Ok(loaded)
    }
}

/// Parses the process arguments, runs the command, prints, and returns the exit code.
pub fn run() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, args.iter().any(|a| a == "--json")),
    };
    let ctx =
        Context { json: cli.json, config_path: cli.config, env: std::env::vars().collect(), verbose: cli.verbose };
    // One thread for the async work (SMTP sessions, the send writer, HTTP): the heavy work
    // runs on threads of its own (rendering on the blocking pool, SQLite on the connections'
    // threads), and tasks that hand each other a session or a commit then never wake one
    // another across threads. On the sending benchmark (2 cores) this was ~5 % faster than a
    // thread per core. `TOKIO_WORKER_THREADS` sets another number.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return output::fail(ctx.json, &Error::Internal(e.into())),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => init::run(&ctx, args).await,
            Command::Demo(args) => demo::run(&ctx, args).await,
            Command::Db(cmd) => db::run(&ctx, cmd).await,
            Command::Contacts(cmd) => contacts::run(&ctx, *cmd).await,
            Command::Campaign(cmd) => campaign::run(&ctx, cmd).await,
            Command::Suppression(cmd) => suppression::run(&ctx, cmd).await,
            Command::Audit(cmd) => audit::run(&ctx, cmd).await,
            Command::Daemon(args) => daemon::run(&ctx, args).await,
            Command::Serve(args) => daemon::serve(&ctx, args).await,
            Command::Bounces(cmd) => bounces::run(&ctx, cmd).await,
            Command::Lists(cmd) => lists::run(&ctx, cmd).await,
            Command::Privacy(cmd) => privacy::run(&ctx, cmd).await,
            Command::Report(cmd) => report::run(&ctx, cmd).await,
            Command::Flows(cmd) => flows::run(&ctx, cmd).await,
            Command::Webhooks(cmd) => webhooks::run(&ctx, cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => output::fail(ctx.json, &e),
    }
}

/// A command line clap cannot parse: its message and usage on stderr (exit 2), or with
/// `--json` anywhere on the line `{"error": "..."}` on stdout, as for every other error,
/// so a script reading stdout always gets JSON. `--help` and `--version` print as usual.
fn usage_error(e: &clap::Error, json: bool) -> i32 {
    if !e.use_stderr() {
        let _ = e.print();
        return 0;
    }
    if !json {
        let _ = e.print();
        return 2;
    }
    // The rendered text without clap's "error: " prefix and its usage lines and tips.
    let text = e.render().to_string();
    let message = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
    let message = message.split("\n\n").next().unwrap_or(message).trim();
    output::json(&serde_json::json!({ "error": message }));
    2
}

/// `--actor NAME`, else the OS account running Herald (looked up by user id, so it is
/// known where `$USER` is not set: cron, containers, `sudo`), else `$USER`: the
/// `cli:<user>` of ledger events and of the suppression list.
pub(crate) fn actor(name: Option<String>) -> crate::consent::Actor {
    let user = name
        .or_else(|| whoami::username().ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".into());
    crate::consent::Actor::Cli(user)
}

pub(crate) fn parse_email(raw: &str) -> Result<crate::domain::EmailAddress> {
    crate::domain::EmailAddress::parse(raw).map_err(|e| Error::Invalid(e.0))
}
