//! What `campaign send`, `schedule` and `validate` check before anything is recorded
//! (issue 19), so that a typo cannot burn a campaign: every list and purpose the file
//! names exists, the templates render for every contact the campaign will go to (each
//! variable they use is there: a contact field, or an `attributes.NAME` the contact has),
//! and at least one contact is eligible.

use super::Campaign;
use super::plan::{Exclusions, audience_query};
use crate::app::App;
use crate::domain::{ContactId, ExclusionReason};
use crate::error::{Error, Result};
use crate::render::Renderer;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Eligible contacts loaded and rendered per page.
const PAGE: i64 = 1_000;

/// `campaign validate --json`, and what `send` and `schedule` decide on.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub campaign: String,
    pub audience: i64,
    pub eligible: i64,
    pub excluded: Exclusions,
    /// For each variable the templates use that some eligible contacts lack (or each
    /// other rendering error), how many of them lack it.
    pub missing: BTreeMap<String, i64>,
}

impl Readiness {
    /// The refusal `send` and `schedule` give, if the campaign is not ready: a variable
    /// missing for some contacts (invalid, exit 2), or nobody eligible (exit 1, unless
    /// `allow_empty`).
    pub fn refusal(&self, file: &str, allow_empty: bool) -> Option<Error> {
        if !self.missing.is_empty() {
            let lines: Vec<String> = self
                .missing
                .iter()
                .map(|(var, n)| format!("  {var}: missing for {n} of {} eligible contacts", self.eligible))
                .collect();
            return Some(Error::Invalid(format!(
                "{file}: the templates do not render for every eligible contact (nothing recorded):\n{}\n\
                 fill the data in, or give a fallback: {{{{default attributes.NAME \"...\"}}}}",
                lines.join("\n")
            )));
        }
        if self.eligible == 0 && !allow_empty {
            return Some(Error::Refused(format!(
                "campaign '{}' has no eligible contact (nothing recorded): {}; pass --allow-empty to record it anyway",
                self.campaign,
                self.exclusion_summary()
            )));
        }
        None
    }

    /// `audience N; excluded: reason n, ...` (the reasons with a count).
    pub fn exclusion_summary(&self) -> String {
        let reasons: Vec<String> = ExclusionReason::ALL
            .iter()
            .filter(|r| self.excluded.get(**r) > 0)
            .map(|r| format!("{} {}", r.as_str(), self.excluded.get(*r)))
            .collect();
        if reasons.is_empty() {
            format!("audience {}", self.audience)
        } else {
            format!("audience {}; excluded: {}", self.audience, reasons.join(", "))
        }
    }
}

/// Every list and purpose the campaign names exists, in the config or the database; an
/// unknown one is an error listing the known ones.
pub async fn names_exist(app: &App, campaign: &Campaign) -> Result<()> {
    let file = campaign.path.display();
    let lists = known_lists(app).await?;
    for list in &campaign.lists {
        if !lists.contains(list.as_str()) {
            return Err(Error::Invalid(format!("{file}: unknown list '{list}' (known lists: {})", known(&lists))));
        }
    }
    let purposes = known_purposes(app).await?;
    let named = campaign.purpose.iter().chain(&campaign.policy.legitimate_interest_purposes);
    for purpose in named {
        if !purposes.contains(&purpose.to_string()) {
            return Err(Error::Invalid(format!(
                "{file}: unknown purpose '{purpose}' (known purposes: {})",
                known(&purposes)
            )));
        }
    }
    crate::privacy::sensitive::campaign_may_read(app, campaign)
}

/// The lists declared in the config or present in the database.
pub async fn known_lists(app: &App) -> Result<BTreeSet<String>> {
    let mut lists: BTreeSet<String> = app.config.lists.keys().map(|l| l.to_string()).collect();
    lists.extend(app.store.list_settings().await?.keys().map(|l| l.to_string()));
    Ok(lists)
}

/// The purposes declared in the config or present in the database.
pub async fn known_purposes(app: &App) -> Result<BTreeSet<String>> {
    let mut purposes: BTreeSet<String> = app.config.purposes.keys().map(|p| p.to_string()).collect();
    purposes.extend(app.store.purpose_names().await?);
    Ok(purposes)
}

/// The names for an "unknown X (known X: ...)" error.
pub fn known(names: &BTreeSet<String>) -> String {
    if names.is_empty() { "none yet".into() } else { names.iter().cloned().collect::<Vec<_>>().join(", ") }
}

/// The plan's figures, and the templates rendered for every eligible contact. The figures
/// are counted on the pages walked for the rendering (the plan's own count would walk the
/// audience a second time).
pub async fn readiness(app: &App, campaign: &Campaign, renderer: &Renderer) -> Result<Readiness> {
    let now = app.clock.now();
    let query = audience_query(campaign, now);
    let mut missing: BTreeMap<String, i64> = BTreeMap::new();
    let (mut audience, mut eligible, mut excluded) = (0, 0, Exclusions::default());
    // Slices of contact ids, as materialising walks them: a keyset page of the audience
    // ("the next 1 000 members after id X") makes the database group every later
    // subscription before it can sort and stop, so walking a million contacts that way
    // was quadratic; a slice of ids is bounded work whatever the lists.
    let last = app.store.max_contact_id().await?;
    let mut after = ContactId::default();
    while after < last {
        let upto = ContactId::new((after.get() + PAGE).min(last.get()));
        let page = app.store.audience_range(&query, after, upto).await?;
        after = upto;
        audience += page.len() as i64;
        for member in &page {
            match member.exclusion {
                Some(r) => excluded.0[r as usize] += 1,
                None => eligible += 1,
            }
        }
        let ids: Vec<ContactId> = page.iter().filter(|m| m.exclusion.is_none()).map(|m| m.contact_id).collect();
        for contact in app.store.contacts_by_id(&ids).await? {
            if let Some(problem) = renderer.problem_for(&contact, now) {
                *missing.entry(problem).or_default() += 1;
            }
        }
    }
    Ok(Readiness { campaign: campaign.name.clone(), audience, eligible, excluded, missing })
}
