//! The flags of `contacts add`, `set` and `bulk-set`, and the patch they ask for.

use super::actor;
use crate::app::App;
use crate::consent::{Authority, ContactPatch};
use crate::contacts::parse_datetime;
use crate::domain::{LegalBasis, ListName, OptInStatus, Purpose, SourceType, SubscriptionStatus};
use crate::error::{Error, Result};
use clap::Args;

/// The consent-relevant flags shared by `add`, `set` and `bulk-set`.
#[derive(Debug, Args)]
pub(super) struct ChangeArgs {
    /// Email-marketing permission: none, single_opt_in_user, single_opt_in_webform, double_opt_in, opted_out_user or opted_out_contact.
    #[arg(long = "opt-in", value_name = "STATUS")]
    opt_in: Option<OptInStatus>,
    /// Legal basis (GDPR Art. 6): consent, legitimate_interest, contract, legal_obligation, vital_interests, public_interest or other.
    #[arg(long, value_name = "BASIS")]
    legal_basis: Option<LegalBasis>,
    /// A note on the legal basis (required with `other`).
    #[arg(long, value_name = "TEXT")]
    legal_basis_note: Option<String>,
    /// ISO 8601 date or date-time.
    #[arg(long, value_name = "DATE")]
    consent_date: Option<String>,
    /// Grant a purpose (repeatable).
    #[arg(long, value_name = "PURPOSE")]
    grant: Vec<Purpose>,
    /// Withdraw a purpose (repeatable).
    #[arg(long, value_name = "PURPOSE")]
    withdraw: Vec<Purpose>,
    /// Where the contact came from: crm_sync, import, manual, browser_extension, webform, api or other.
    #[arg(long, value_name = "TYPE")]
    source: Option<SourceType>,
    /// A note on the source (required with `other`).
    #[arg(long, value_name = "TEXT")]
    source_note: Option<String>,
    /// Proof that the person asked: needed to lift a staff-recorded opt-out (or grant
    /// anything while it stands), an unsubscription or a withdrawn purpose. Kept in the
    /// ledger.
    #[arg(long, value_name = "TEXT")]
    proof: Option<String>,
    /// Name for the ledger (default: the login name).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
}

impl ChangeArgs {
    pub(super) fn patch(&self, app: &App) -> Result<ContactPatch> {
        let consent_date = self
            .consent_date
            .as_deref()
            .map(|d| parse_datetime(d, app.clock.now()).map_err(|e| Error::Invalid(format!("--consent-date: {}", e.0))))
            .transpose()?;
        Ok(ContactPatch {
            opt_in: self.opt_in,
            legal_basis: self.legal_basis,
            legal_basis_note: self.legal_basis_note.clone(),
            consent_date,
            source_type: self.source,
            source_note: self.source_note.clone(),
            grant: self.grant.clone(),
            withdraw: self.withdraw.clone(),
            ..Default::default()
        })
    }

    pub(super) fn authority(&self) -> Authority {
        Authority::new(actor(self.actor.clone())).with_proof(self.proof.clone())
    }
}

fn parse_subscription(raw: &str) -> Result<(ListName, Option<SubscriptionStatus>)> {
    let bad = |e: crate::domain::ParseError| Error::Invalid(format!("--subscribe '{raw}': {}", e.0));
    match raw.split_once(':') {
        Some((name, status)) => Ok((ListName::parse(name).map_err(bad)?, Some(status.parse().map_err(bad)?))),
        None => Ok((ListName::parse(raw).map_err(bad)?, None)),
    }
}

/// The profile and list flags shared by `add` and `set`.
#[derive(Debug, Args)]
pub(super) struct ProfileArgs {
    /// Subscribe to a list: NAME or NAME:STATUS, STATUS one of unconfirmed, confirmed or
    /// unsubscribed (repeatable).
    #[arg(long, value_name = "LIST")]
    subscribe: Vec<String>,
    /// Unsubscribe from a list (repeatable).
    #[arg(long, value_name = "LIST")]
    unsubscribe: Vec<ListName>,
    /// First name.
    #[arg(long)]
    first_name: Option<String>,
    /// Last name.
    #[arg(long)]
    last_name: Option<String>,
    /// Company.
    #[arg(long)]
    company: Option<String>,
    /// Job title.
    #[arg(long)]
    title: Option<String>,
    /// Phone number.
    #[arg(long)]
    phone: Option<String>,
    /// Website.
    #[arg(long)]
    website: Option<String>,
    /// Country (e.g. an ISO code such as DE).
    #[arg(long)]
    country: Option<String>,
    /// The contact's id in your CRM.
    #[arg(long)]
    crm_id: Option<String>,
    /// A custom attribute, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attributes: Vec<String>,
}

impl ProfileArgs {
    /// `patch` with these flags' profile fields and subscriptions added.
    pub(super) fn patch(&self, mut patch: ContactPatch) -> Result<ContactPatch> {
        patch.subscribe = self.subscribe.iter().map(|s| parse_subscription(s)).collect::<Result<_>>()?;
        patch.unsubscribe = self.unsubscribe.clone();
        let id = &mut patch.identity;
        id.first_name = self.first_name.clone();
        id.last_name = self.last_name.clone();
        id.company = self.company.clone();
        id.title = self.title.clone();
        id.phone = self.phone.clone();
        id.website = self.website.clone();
        id.country = self.country.clone();
        id.crm_id = self.crm_id.clone();
        for kv in &self.attributes {
            let (k, v) =
                kv.split_once('=').ok_or_else(|| Error::Invalid(format!("--attr '{kv}': expected KEY=VALUE")))?;
            id.attributes.insert(k.trim().to_owned(), v.to_owned());
        }
        Ok(patch)
    }
}
