//! `herald contacts import|show|list|export|set|add|bulk-set|reveal` (reveal in
//! `privacy_sensitive.rs`).

use super::contact_args::{ChangeArgs, ProfileArgs};
use super::contacts_browse::{self, FilterArgs};
use super::contacts_import;
use super::{Context, output, parse_email};
use crate::app::App;
use crate::consent::OutcomeKind;
use crate::contacts::edit::{self, BulkSelection};
use crate::contacts::import::ImportOptions;
use crate::domain::{Contact, ListName, SourceType};
use crate::error::{Error, Result};
use crate::store::Selection;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum ContactsCommand {
    /// Import a CSV file with a header row and an 'email' column (the columns are those
    /// `contacts export` writes; any other column is a custom attribute); rejected rows go
    /// to FILE.rejects.csv with a reason.
    Import {
        file: PathBuf,
        /// source_type of the contacts this file creates, where a row does not say: crm_sync, import, manual, browser_extension, webform, api or other.
        #[arg(long, value_name = "TYPE", default_value = "import")]
        source: SourceType,
        /// Also subscribe every row to this list.
        #[arg(long, value_name = "NAME")]
        list: Option<ListName>,
        /// Decide and count without writing to the database (the rejects file is written).
        #[arg(long)]
        dry_run: bool,
        /// Rows per transaction (default: 1000 on SQLite, 2000 on PostgreSQL).
        #[arg(long, hide = true)]
        batch_size: Option<usize>,
    },
    /// The compliance card of one contact.
    Show {
        /// The contact's address (compared case-insensitively).
        email: String,
    },
    /// Contacts matching the filters, in the order they were created.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Show at most this many.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u64,
    },
    /// Write the contacts matching the filters to a CSV file in the columns `contacts
    /// import` reads (custom attributes as extra columns), so importing it again loses
    /// nothing. A cell that starts with =, +, -, @, a tab or a carriage return gets an
    /// apostrophe in front (spreadsheets would run it as a formula); import removes it.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// Export at most this many.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// The CSV file to write (replaced if it exists; written only when complete).
        #[arg(long, value_name = "FILE.csv")]
        out: PathBuf,
    },
    /// Change one existing contact; the change is ledgered. Unknown addresses are an
    /// error (create contacts with `contacts add`).
    Set {
        /// The contact's address (compared case-insensitively).
        email: String,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Create one contact by hand (source `manual` unless --source says otherwise), with
    /// the validation and protections of an import; the creation is ledgered.
    Add {
        /// The new contact's address.
        email: String,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Apply a legal basis, source or opt-in status to many existing contacts at once.
    #[command(group(clap::ArgGroup::new("selection").required(true).args(["list", "email_file", "where_source"])))]
    BulkSet {
        /// Every contact with a subscription (of any status) to this list.
        #[arg(long)]
        list: Option<ListName>,
        /// The contacts named in this file, one address a line; an address that is not a
        /// contact refuses the whole file (exit 1, naming it and its line).
        #[arg(long, value_name = "FILE")]
        email_file: Option<PathBuf>,
        /// Every contact with this source_type: crm_sync, import, manual, browser_extension, webform, api or other.
        #[arg(long, value_name = "TYPE")]
        where_source: Option<SourceType>,
        #[command(flatten)]
        change: ChangeArgs,
        /// Decide and count what would change, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the value of a sensitive field (shown masked everywhere else); who asked and
    /// why goes to the access log (`herald privacy access-log`) first.
    Reveal {
        email: String,
        /// The sensitive field ([privacy] sensitive_fields).
        #[arg(long, value_name = "NAME")]
        field: String,
        /// Why the value is needed: kept in the access log.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Name for the access log (default: the login name).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
}

pub(super) async fn run(ctx: &Context, cmd: ContactsCommand) -> Result<i32> {
    let app = match cmd {
        ContactsCommand::Import { .. } => ctx.open_for_import().await?,
        _ => ctx.open().await?,
    };
    match cmd {
        ContactsCommand::Import { file, source, list, dry_run, batch_size } => {
            // PostgreSQL pays per statement and round trip, and its reads are planned
            // with their values: larger batches are fewer of both (measured at 200 000
            // rows: 1000 -> 2000 rows, ~2 100 -> ~3 000 rows/s, peak RSS 75 -> 109 MB;
            // 2500 was no faster and held 130 MB).
            let default = if app.store.backend_name() == "postgres" { 2000 } else { 1000 };
            let opts = ImportOptions { source, list, dry_run, batch_size: batch_size.unwrap_or(default).max(1) };
            contacts_import::run_import(ctx, &app, file, opts).await
        }
        ContactsCommand::Show { email } => {
            let email = parse_email(&email)?;
            let contact = app
                .store
                .contact(email.normalized())
                .await?
                .ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
            let suppressed = app.store.is_suppressed(&app.mac(&email)).await?;
            print_card(ctx.json, &contact, suppressed);
            Ok(0)
        }
        ContactsCommand::Set { email, change, profile } => {
            let email = parse_email(&email)?;
            let patch = profile.patch(change.patch(&app)?)?;
            let (contact, kind) = edit::set(&app, &email, &patch, &change.authority()).await?;
            let what = match kind {
                OutcomeKind::Created => "Created",
                OutcomeKind::Updated => "Updated",
                OutcomeKind::Unchanged => "Unchanged:",
            };
            print_outcome(ctx.json, &app, what, &contact).await
        }
        ContactsCommand::Add { email, change, profile } => {
            let email = parse_email(&email)?;
            let patch = profile.patch(change.patch(&app)?)?;
            let contact = edit::add(&app, &email, &patch, &change.authority()).await?;
            print_outcome(ctx.json, &app, "Created", &contact).await
        }
        ContactsCommand::Reveal { email, field, reason, actor } => {
            super::privacy_sensitive::reveal(ctx, &app, &email, &field, &reason, actor).await
        }
        ContactsCommand::List { filter, limit } => contacts_browse::list(ctx, &app, filter.filter(), limit).await,
        ContactsCommand::Export { filter, limit, out } => {
            contacts_browse::export(ctx, &app, filter.filter(), limit, out).await
        }
        ContactsCommand::BulkSet { list, email_file, where_source, change, dry_run } => {
            let selection = match (list, email_file, where_source) {
                (Some(l), _, _) => BulkSelection::Store(Selection::List(l.to_string())),
                (_, Some(f), _) => BulkSelection::EmailFile(f),
                (_, _, Some(s)) => BulkSelection::Store(Selection::Source(s)),
                _ => {
                    return Err(Error::Invalid("choose contacts with --list, --email-file or --where-source".into()));
                }
            };
            let patch = change.patch(&app)?;
            let report = edit::bulk_apply(&app, &selection, &patch, &change.authority(), dry_run).await?;
            if ctx.json {
                output::json(&report);
            } else {
                println!(
                    "{} contacts matched: {} updated, {} unchanged, {} protected, {} rejected{}",
                    report.matched,
                    report.updated,
                    report.unchanged,
                    report.protected,
                    report.rejected,
                    if report.not_found > 0 {
                        format!(", {} addresses not found", report.not_found)
                    } else {
                        String::new()
                    }
                );
                for note in &report.notes {
                    println!("  {note}");
                }
                if dry_run {
                    println!("Dry run: nothing was written to the database.");
                }
            }
            Ok(0)
        }
    }
}

/// "Created contact #N" (text only) and the compliance card.
async fn print_outcome(json: bool, app: &App, what: &str, contact: &Contact) -> Result<i32> {
    let suppressed = app.store.is_suppressed(&app.mac(&contact.email)).await?;
    if !json {
        println!("{what} contact #{}", contact.id.unwrap_or_default());
    }
    print_card(json, contact, suppressed);
    Ok(0)
}

fn print_card(json: bool, c: &Contact, suppressed: bool) {
    if json {
        output::json(&crate::contacts::card::Card::of(c, suppressed));
        return;
    }
    let opt = |v: &Option<String>| v.as_deref().map(output::clean).unwrap_or_else(|| "—".into());
    let id = &c.identity;
    println!("Contact #{}  {}", c.id.unwrap_or_default(), output::clean(c.email.as_str()));
    let name = contacts_browse::full_name(id);
    println!("  name              {}", if name.is_empty() { "—".into() } else { output::clean(&name) });
    for (label, v) in [
        ("company", &id.company),
        ("title", &id.title),
        ("phone", &id.phone),
        ("website", &id.website),
        ("country", &id.country),
        ("crm_id", &id.crm_id),
    ] {
        if v.is_some() {
            println!("  {label:<17} {}", opt(v));
        }
    }
    println!("  opt_in_status     {}", c.opt_in);
    let basis = c.legal_basis.map(|b| b.to_string()).unwrap_or_else(|| "— (none recorded)".into());
    println!(
        "  legal_basis       {basis}{}",
        c.legal_basis_note.as_deref().map(|n| format!(" ({})", output::clean(n))).unwrap_or_default()
    );
    println!("  consent_date      {}", c.consent_date.map(|d| d.to_rfc3339()).unwrap_or_else(|| "—".into()));
    println!(
        "  source            {}{}",
        c.source_type,
        c.source_note.as_deref().map(|n| format!(" ({})", output::clean(n))).unwrap_or_default()
    );
    let purposes: Vec<String> =
        c.purposes.iter().map(|(p, s)| format!("{p}: {} {}", s.state, s.at.format("%Y-%m-%d"))).collect();
    println!("  purposes          {}", if purposes.is_empty() { "—".into() } else { purposes.join("; ") });
    let lists: Vec<String> = c.lists.iter().map(|(l, s)| format!("{l}: {s}")).collect();
    println!("  lists             {}", if lists.is_empty() { "—".into() } else { lists.join("; ") });
    println!("  processing        {}", c.processing);
    println!("  bounce            {} ({} consecutive hard)", c.bounce.status, c.bounce.consecutive_hard);
    println!("  suppressed        {}", if suppressed { "YES: never mailed" } else { "no" });
    if !id.attributes.is_empty() {
        let attrs: Vec<String> =
            id.attributes.iter().map(|(k, v)| format!("{}={}", output::clean(k), output::clean(v))).collect();
        println!("  attributes        {}", attrs.join("; "));
    }
    println!(
        "  created / updated {} / {}",
        c.created_at.format("%Y-%m-%d %H:%M"),
        c.updated_at.format("%Y-%m-%d %H:%M")
    );
}
