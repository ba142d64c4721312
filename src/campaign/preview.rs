//! `herald campaign preview` and `herald campaign validate`: the exact messages the
//! sending engine would hand to SMTP, before anyone sends.

use super::Campaign;
use super::plan::audience_query;
use crate::app::App;
use crate::consent::policy::{EligibleRecipient, Facts};
use crate::domain::{Contact, ContactId, EmailAddress, ExclusionReason, SendId};
use crate::error::{Error, Result};
use crate::render::{DkimKey, Rendered, Renderer};
use serde::Serialize;
use std::path::{Path, PathBuf};

async fn facts(app: &App, campaign: &Campaign, contact: &Contact) -> Result<Facts> {
    let suppressed = app.store.is_suppressed(&app.mac(&contact.email)).await?;
    let lists = app.store.list_settings().await?;
    let mut facts = Facts::of(contact, suppressed, &campaign.lists, &lists, campaign.purpose.as_ref());
    super::plan::with_history(app, campaign, &mut facts, contact.id).await?;
    Ok(facts)
}

/// The message one contact would get. An excluded contact is refused (naming the
/// reason) unless `force`.
pub async fn preview_one(
    app: &App,
    campaign: &Campaign,
    email: &EmailAddress,
    force: bool,
    dkim: Option<DkimKey>,
) -> Result<(Rendered, Option<ExclusionReason>)> {
    let mut contact =
        app.store.contact(email.normalized()).await?.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    crate::privacy::sensitive::unseal_for_campaign(app, &campaign.sensitive_fields, [&mut contact]).await?;
    let facts = facts(app, campaign, &contact).await?;
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, campaign, dkim)?;
    let (recipient, excluded) = match EligibleRecipient::check(&campaign.policy, contact.clone(), &facts) {
        Ok(r) => (r, None),
        Err(reason) if force => (EligibleRecipient::for_preview_only(contact), Some(reason)),
        Err(reason) => {
            return Err(Error::Refused(format!(
                "{email} is excluded from {} ({reason}): nothing would be sent; use --force to preview anyway",
                campaign.name
            )));
        }
    };
    Ok((renderer.render(&recipient, SendId::new(0), app.clock.now())?, excluded))
}

/// Writes `<contact id>.eml` for the first `limit` eligible contacts into `dir`.
pub async fn preview_many(
    app: &App,
    campaign: &Campaign,
    dir: &Path,
    limit: usize,
    dkim: Option<DkimKey>,
) -> Result<Vec<PathBuf>> {
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, campaign, dkim)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for recipient in eligible_sample(app, campaign, limit).await? {
        let message = renderer.render(&recipient, SendId::new(0), app.clock.now())?;
        let path = dir.join(format!("{}.eml", recipient.contact().id.unwrap_or_default()));
        std::fs::write(&path, &message.bytes)
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// The first `limit` eligible contacts, each checked again by the pure policy.
pub(crate) async fn eligible_sample(app: &App, campaign: &Campaign, limit: usize) -> Result<Vec<EligibleRecipient>> {
    let q = audience_query(campaign, app.clock.now());
    let mut out = Vec::new();
    let mut after = ContactId::default();
    while out.len() < limit {
        let page = app.store.audience(&q, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.contact_id;
        let ids: Vec<ContactId> =
            page.iter().filter(|m| m.exclusion.is_none()).map(|m| m.contact_id).take(limit - out.len()).collect();
        let mut contacts = app.store.contacts_by_id(&ids).await?;
        crate::privacy::sensitive::unseal_for_campaign(app, &campaign.sensitive_fields, &mut contacts).await?;
        for contact in contacts {
            let facts = facts(app, campaign, &contact).await?;
            if let Ok(r) = EligibleRecipient::check(&campaign.policy, contact, &facts) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidateReport {
    pub campaign: String,
    pub rendered: usize,
    /// One line per contact whose message failed to render (strict mode: a missing
    /// variable), by contact id.
    pub errors: Vec<String>,
}

/// Checks the file, compiles every template and partial, and renders the campaign for
/// up to `sample` eligible contacts.
pub async fn validate(app: &App, campaign: &Campaign, sample: usize, dkim: Option<DkimKey>) -> Result<ValidateReport> {
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, campaign, dkim)?;
    let mut report = ValidateReport { campaign: campaign.name.clone(), ..Default::default() };
    for recipient in eligible_sample(app, campaign, sample).await? {
        report.rendered += 1;
        if let Err(e) = renderer.render(&recipient, SendId::new(0), app.clock.now()) {
            report.errors.push(e.to_string());
        }
    }
    Ok(report)
}
