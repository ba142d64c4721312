//! `herald privacy export|erase|restrict|unrestrict|request add|request extend|requests`
//! (and `access-log`, `rotate-key`, in `privacy_sensitive.rs`; `erase` in `privacy_erase.rs`)
//! (DESIGN §12). Each subcommand keeps to its own functions.

use super::{Context, actor, output, parse_email};
use crate::app::App;
use crate::domain::{Purpose, RequestKind};
use crate::error::{Error, Result};
use crate::privacy::export::{self, Format, Scope};
use crate::privacy::requests;
use crate::privacy::restriction::{self, Restriction};
use crate::store::privacy_requests::RequestRow;
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
    /// Erase a person's data (GDPR Art. 17): personal fields and custom attributes
    /// emptied, the address replaced by a placeholder, evidence deleted, the address kept
    /// on the suppression list (reason `erased`), waiting sends skipped; the ledger still
    /// verifies. Closes the contact's open erasure request.
    Erase(super::privacy_erase::EraseArgs),
    /// Restrict processing (GDPR Art. 18): the contact gets no mail of any kind and cannot
    /// be edited until `unrestrict`. With --object PURPOSE, withdraw that purpose instead
    /// (an objection, Art. 21: withdrawn whatever the legal basis). Ledgered; closes the
    /// contact's open restriction (or objection) request.
    Restrict {
        email: String,
        /// Why (the person's request, by what channel): kept in the ledger.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Object to this purpose rather than restrict the whole record.
        #[arg(long, value_name = "PURPOSE")]
        object: Option<Purpose>,
        /// Name for the ledger (default: the login name).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
    /// Lift a restriction. Ledgered.
    Unrestrict {
        email: String,
        /// Why: kept in the ledger.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Name for the ledger (default: the login name).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
    /// Record or extend a request in the register.
    #[command(subcommand)]
    Request(RequestCommand),
    /// The requests register: each request with its due date, open ones first by due date.
    Requests {
        /// Only open requests past their due date.
        #[arg(long)]
        overdue: bool,
    },
    /// Every reveal of a sensitive field (`contacts reveal`): when, who, which contact and
    /// field, and why. Never the values.
    AccessLog,
    /// Re-encrypt every sensitive field with HERALD_FIELD_KEY, reading values sealed with
    /// the previous key from HERALD_FIELD_KEY_PREVIOUS; once done, the previous key can go.
    RotateKey,
    /// Contacts Herald should no longer keep (`[retention]`): no open, click, send or
    /// consent renewal within the retention period of their legal basis, and web
    /// sign-ups whose confirmation expired unconfirmed. Lists them; --apply erases them.
    Retention {
        /// Erase every candidate (each through the erasure path, actor `system:retention`).
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum RequestCommand {
    /// Record a request made to staff (mail, phone, letter): due one month from now.
    Add {
        email: String,
        /// access, erasure, restriction or objection.
        #[arg(long, value_name = "KIND")]
        kind: RequestKind,
    },
    /// Extend a request's due date by two months, once, with a reason.
    Extend {
        id: i64,
        /// Why more time is needed (complexity, number of requests): kept with the request.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
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
    if let PrivacyCommand::Export(args) = cmd {
        return export(ctx, args).await;
    }
    if let PrivacyCommand::Erase(args) = cmd {
        return super::privacy_erase::run(ctx, args).await;
    }
    let app = ctx.open().await?;
    match cmd {
        PrivacyCommand::Export(_) | PrivacyCommand::Erase(_) => unreachable!("handled above"),
        PrivacyCommand::Restrict { email, reason, object, actor: name } => {
            let what = object.map_or(Restriction::Restrict, Restriction::Object);
            restrict(ctx, &app, &email, &what, &reason, name).await
        }
        PrivacyCommand::Unrestrict { email, reason, actor: name } => {
            restrict(ctx, &app, &email, &Restriction::Unrestrict, &reason, name).await
        }
        PrivacyCommand::Request(RequestCommand::Add { email, kind }) => request_add(ctx, &app, &email, kind).await,
        PrivacyCommand::Request(RequestCommand::Extend { id, reason }) => request_extend(ctx, &app, id, &reason).await,
        PrivacyCommand::Requests { overdue } => list_requests(ctx, &app, overdue).await,
        PrivacyCommand::AccessLog => super::privacy_sensitive::access_log(ctx, &app).await,
        PrivacyCommand::RotateKey => super::privacy_sensitive::rotate_key(ctx, &app).await,
        PrivacyCommand::Retention { apply } => super::privacy_retention::run(ctx, &app, apply).await,
    }
}

async fn restrict(
    ctx: &Context,
    app: &App,
    email: &str,
    what: &Restriction,
    reason: &str,
    name: Option<String>,
) -> Result<i32> {
    let email = parse_email(email)?;
    let done = restriction::apply(app, &email, what, reason, actor(name)).await?;
    let changed = done.kind != crate::consent::OutcomeKind::Unchanged;
    if ctx.json {
        output::json(&serde_json::json!({
            "contact_id": done.contact.id,
            "processing": done.contact.processing.as_str(),
            "changed": changed,
            "closed_requests": done.closed_requests,
        }));
        return Ok(0);
    }
    let what = match what {
        Restriction::Restrict => "Restricted: no mail of any kind, record locked until `privacy unrestrict`.".into(),
        Restriction::Unrestrict => "Restriction lifted.".into(),
        Restriction::Object(p) => format!("Objection recorded: purpose {p} withdrawn."),
    };
    println!("{}{email}: {what}", if changed { "" } else { "Unchanged: " });
    if done.closed_requests > 0 {
        println!("Closed {} open request(s).", done.closed_requests);
    }
    Ok(0)
}

async fn request_add(ctx: &Context, app: &App, email: &str, kind: RequestKind) -> Result<i32> {
    let email = parse_email(email)?;
    let (id, _) = requests::register_for(app, &email, kind).await?;
    let row = app.store.privacy_request(id).await?;
    if ctx.json {
        output::json(&row);
    } else if let Some(row) = row {
        println!("Request {id} ({kind}) for {email} registered, due {}.", row.due_at.format("%Y-%m-%d"));
    }
    Ok(0)
}

async fn request_extend(ctx: &Context, app: &App, id: i64, reason: &str) -> Result<i32> {
    let row = requests::extend(app, id, reason).await?;
    if ctx.json {
        output::json(&row);
    } else {
        println!("Request {id} extended: now due {}.", row.due_at.format("%Y-%m-%d"));
    }
    Ok(0)
}

async fn list_requests(ctx: &Context, app: &App, overdue: bool) -> Result<i32> {
    let rows = requests::list(app, overdue).await?;
    if ctx.json {
        output::json(&rows);
        return Ok(0);
    }
    let now = app.clock.now();
    println!(
        "{} request{}{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if overdue { " overdue" } else { "" }
    );
    for r in &rows {
        println!("  {}", line(r, now));
    }
    Ok(0)
}

fn line(r: &RequestRow, now: chrono::DateTime<chrono::Utc>) -> String {
    let state = match (&r.closed_at, &r.outcome) {
        (Some(at), outcome) => {
            format!("closed {} ({})", at.format("%Y-%m-%d"), output::clean(outcome.as_deref().unwrap_or("")))
        }
        (None, _) if r.due_at < now => "OVERDUE".to_owned(),
        (None, _) => "open".to_owned(),
    };
    let extended = if r.extended_at.is_some() { " (extended)" } else { "" };
    format!(
        "#{:<5} contact {:<8} {:<12} {:<6} due {}{extended}  {state}",
        r.id,
        r.contact_id,
        r.kind.as_str(),
        r.source.as_str(),
        r.due_at.format("%Y-%m-%d"),
    )
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
