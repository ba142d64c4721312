//! `herald contacts list` and `contacts export`: the filters they share and their output.

use super::{Context, output};
use crate::app::App;
use crate::contacts::export;
use crate::domain::{BounceStatus, Contact, Identity, ListName, OptInStatus, Purpose};
use crate::error::Result;
use crate::store::ContactFilter;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Which contacts to show; every filter given must hold.
#[derive(Debug, Args)]
pub(super) struct FilterArgs {
    /// Only contacts subscribed to this list (in any status: unconfirmed, confirmed or unsubscribed).
    #[arg(long, value_name = "NAME")]
    list: Option<ListName>,
    /// Only contacts with this opt-in status: none, single_opt_in_user, single_opt_in_webform,
    /// double_opt_in, opted_out_user or opted_out_contact.
    #[arg(long = "opt-in", value_name = "STATUS")]
    opt_in: Option<OptInStatus>,
    /// Only contacts who granted consent to this purpose (a purpose name, e.g. newsletter).
    #[arg(long, value_name = "PURPOSE")]
    purpose: Option<Purpose>,
    /// Only contacts whose address is in this bounce state: ok, soft, hard or confirmed.
    #[arg(long, value_name = "STATE")]
    bounce: Option<BounceStatus>,
    /// Only contacts whose address or name contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
}

impl FilterArgs {
    pub(super) fn filter(self) -> ContactFilter {
        ContactFilter {
            list: self.list,
            opt_in: self.opt_in,
            purpose: self.purpose,
            bounce: self.bounce,
            search: self.search.filter(|s| !s.trim().is_empty()),
        }
    }
}

/// One line of `contacts list --json`.
#[derive(Serialize)]
struct Summary<'a> {
    id: Option<crate::domain::ContactId>,
    email: &'a str,
    first_name: &'a Option<String>,
    last_name: &'a Option<String>,
    opt_in_status: OptInStatus,
    lists: &'a std::collections::BTreeMap<ListName, crate::domain::SubscriptionStatus>,
    bounce_status: BounceStatus,
    processing: crate::domain::Processing,
}

impl<'a> Summary<'a> {
    fn of(c: &'a Contact) -> Self {
        Summary {
            id: c.id,
            email: c.email.as_str(),
            first_name: &c.identity.first_name,
            last_name: &c.identity.last_name,
            opt_in_status: c.opt_in,
            lists: &c.lists,
            bounce_status: c.bounce.status,
            processing: c.processing,
        }
    }
}

/// First and last name, whichever are set, joined by a space (empty when neither is).
pub(super) fn full_name(id: &Identity) -> String {
    [&id.first_name, &id.last_name].iter().filter_map(|v| v.as_deref()).collect::<Vec<_>>().join(" ")
}

pub(super) async fn list(ctx: &Context, app: &App, filter: ContactFilter, limit: u64) -> Result<i32> {
    // One more than asked, to say whether there are more.
    let mut shown: Vec<Contact> = Vec::new();
    export::for_each(app, &filter, Some(limit.saturating_add(1)), |c| {
        shown.push(c.clone());
        Ok(())
    })
    .await?;
    let more = shown.len() as u64 > limit;
    shown.truncate(limit as usize);
    if ctx.json {
        #[derive(Serialize)]
        struct Listing<'a> {
            contacts: Vec<Summary<'a>>,
            shown: usize,
            more: bool,
        }
        output::json(&Listing { contacts: shown.iter().map(Summary::of).collect(), shown: shown.len(), more });
        return Ok(0);
    }
    for c in &shown {
        let name = full_name(&c.identity);
        let lists: Vec<String> = c.lists.iter().map(|(l, s)| format!("{l}:{s}")).collect();
        println!(
            "#{:<7} {:<40} {:<24} {:<21} bounce={} lists={}",
            c.id.unwrap_or_default(),
            output::clean(c.email.as_str()),
            output::clean(&name),
            c.opt_in,
            c.bounce.status,
            if lists.is_empty() { "—".into() } else { lists.join(";") }
        );
    }
    println!(
        "{} contact{} shown{}",
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        if more { format!(" (more match: raise --limit, currently {limit})") } else { String::new() }
    );
    Ok(0)
}

pub(super) async fn export(
    ctx: &Context,
    app: &App,
    filter: ContactFilter,
    limit: Option<u64>,
    out: PathBuf,
) -> Result<i32> {
    let report = export::export(app, &filter, limit, &out).await?;
    if ctx.json {
        output::json(&report);
        return Ok(0);
    }
    println!("Exported {} contacts to {}", report.contacts, out.display());
    if !report.attributes.is_empty() {
        println!(
            "  custom attribute columns: {}",
            report.attributes.iter().map(|a| output::clean(a)).collect::<Vec<_>>().join(", ")
        );
    }
    for w in &report.warnings {
        println!("  warning: {}", output::clean(w));
    }
    Ok(0)
}
