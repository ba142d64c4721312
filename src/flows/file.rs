//! The flow file (DESIGN §13): TOML, unknown keys refused, every error naming the file,
//! the line and column, and what was expected, like campaign files.
//!
//! ```toml
//! name = "welcome"
//! kind = "marketing"                  # or "transactional"
//! purpose = "newsletter"              # optional, as for campaigns
//! lists = ["newsletter"]
//! trigger = { event = "subscribed", list = "newsletter" }
//! exit_on = ["purchased"]             # custom events that end the flow for the contact
//! reenter = false                     # true: a contact may go through it again
//! [[steps]]
//! name = "hello"                      # optional: "step-N"
//! after = "0m"
//! subject = "Welcome, {{first_name}}"
//! template = "welcome-1"
//! unless = "clicked"                  # or "opened", or { attribute = "plan", equals = "pro" }
//! from = "..."                        # optional, as for campaigns; reply_to too
//! ```

use super::step::{RawStep, Step, Unless};
use super::trigger::{EVENT_NAME_RULE, RawTrigger, Trigger};
use crate::campaign::Campaign;
use crate::config::PolicyDefaults;
use crate::consent::policy::{CampaignKind, CampaignPolicy};
use crate::domain::{ListName, Purpose};
use crate::error::{Error, Result, at_offset, toml_error};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: Spanned<String>,
    kind: Option<Spanned<CampaignKind>>,
    purpose: Option<Spanned<Purpose>>,
    lists: Spanned<Vec<Spanned<ListName>>>,
    trigger: Spanned<RawTrigger>,
    #[serde(default)]
    exit_on: Vec<Spanned<String>>,
    #[serde(default)]
    reenter: bool,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

/// A validated flow file.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub name: String,
    pub kind: CampaignKind,
    pub purpose: Option<Purpose>,
    pub lists: Vec<ListName>,
    pub trigger: Trigger,
    /// Custom events that end the flow for a contact.
    pub exit_on: Vec<String>,
    /// Whether a contact who went through the flow may be enrolled again.
    pub reenter: bool,
    pub steps: Vec<Step>,
    /// The file it came from; templates are looked up beside it first.
    pub path: PathBuf,
    /// SHA-256 of the file, to notice a changed file under enrolled contacts.
    pub content_hash: String,
    /// Where in the file the names the workspace checks look at are, so their errors
    /// name a line and column too.
    #[serde(skip)]
    pub(super) places: Places,
}

/// Byte offsets, in the file's text, of what [`super::check`] checks against the workspace.
#[derive(Debug, Clone, Default)]
pub(super) struct Places {
    pub(super) text: String,
    pub(super) name: usize,
    pub(super) lists: Vec<usize>,
    pub(super) purpose: Option<usize>,
    /// The trigger's list or campaign.
    pub(super) trigger_value: Option<usize>,
    /// Each step's `template` (and subject, which compiles with it).
    pub(super) templates: Vec<usize>,
}

impl Places {
    /// `FILE:LINE:COL: message` at `offset`.
    pub(super) fn error(&self, path: &Path, offset: usize, message: &str) -> Error {
        at_offset(path, &self.text, offset, message)
    }
}

/// Reads and validates a flow file.
pub fn load(path: &Path) -> Result<Flow> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read flow file {}: {e}", path.display())))?;
    parse(path, &text)
}

/// Validates flow-file text; `path` names it in errors and anchors template look-up.
pub fn parse(path: &Path, text: &str) -> Result<Flow> {
    let at = |span: std::ops::Range<usize>, message: &str| at_offset(path, text, span.start, message);
    let raw: RawFlow = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;

    let name = raw.name.get_ref().trim();
    if !crate::campaign::is_name(name) {
        return Err(at(raw.name.span(), "name must be 1 to 64 letters, digits, '.', '_' or '-' (it names the flow)"));
    }
    let kind = match raw.kind {
        Some(k) if *k.get_ref() == CampaignKind::Reconfirm => {
            return Err(at(
                k.span(),
                "a flow is \"marketing\" or \"transactional\"; asking for re-permission is a campaign of kind \"reconfirm\"",
            ));
        }
        Some(k) => k.into_inner(),
        None => CampaignKind::Marketing,
    };
    if raw.lists.get_ref().is_empty() {
        return Err(at(raw.lists.span(), "lists is empty: name at least one list"));
    }
    let mut places = Places {
        text: text.to_owned(),
        name: raw.name.span().start,
        lists: raw.lists.get_ref().iter().map(|l| l.span().start).collect(),
        purpose: raw.purpose.as_ref().map(|p| p.span().start),
        trigger_value: raw.trigger.get_ref().value_span().map(|s| s.start),
        templates: Vec::new(),
    };
    let trigger_span = raw.trigger.span();
    let trigger = raw.trigger.into_inner().validate(trigger_span).map_err(|(span, why)| at(span, &why))?;
    let mut exit_on: Vec<String> = Vec::new();
    for event in raw.exit_on {
        let e = event.get_ref();
        if !crate::campaign::is_name(e) {
            return Err(at(event.span(), &format!("exit_on: '{}': {EVENT_NAME_RULE}", e.escape_debug())));
        }
        if matches!(&trigger, Trigger::Custom { name } if name == e) {
            return Err(at(event.span(), &format!("exit_on: '{e}' is the trigger: every contact would leave at once")));
        }
        if exit_on.contains(e) {
            return Err(at(event.span(), &format!("exit_on: '{e}' is named twice")));
        }
        exit_on.push(e.clone());
    }
    if raw.steps.get_ref().is_empty() {
        return Err(at(raw.steps.span(), "a flow needs at least one [[steps]]"));
    }
    let triggered_by_a_message = trigger.campaign().is_some();
    let mut steps: Vec<Step> = Vec::new();
    for (index, raw_step) in raw.steps.into_inner().into_iter().enumerate() {
        let whole = raw_step.span();
        let raw_step = raw_step.into_inner();
        let name_span = raw_step.name_span().unwrap_or(whole.clone());
        places.templates.push(raw_step.template_span().start);
        let step =
            raw_step.validate(index, index > 0 || triggered_by_a_message).map_err(|(span, why)| at(span, &why))?;
        if let Some(earlier) = steps.iter().position(|s| s.name == step.name) {
            return Err(at(
                name_span,
                &format!("step name '{}' is taken by step {}: step names must be unique", step.name, earlier + 1),
            ));
        }
        steps.push(step);
    }
    Ok(Flow {
        name: name.to_owned(),
        kind,
        purpose: raw.purpose.map(Spanned::into_inner),
        lists: raw.lists.into_inner().into_iter().map(Spanned::into_inner).collect(),
        trigger,
        exit_on,
        reenter: raw.reenter,
        steps,
        path: path.to_path_buf(),
        content_hash: hex::encode(Sha256::digest(text.as_bytes())),
        places,
    })
}

impl Flow {
    /// The step at `index` as a campaign of one message: what the renderer and the
    /// policy (DESIGN §3, for the flow's kind and purpose) take. Its name is
    /// `FLOW.STEP`; the policy is the app config's defaults.
    pub fn step_campaign(&self, index: usize, defaults: &PolicyDefaults) -> Option<Campaign> {
        let step = self.steps.get(index)?;
        Some(Campaign {
            name: format!("{}.{}", self.name, step.name),
            subject: step.subject.clone(),
            template: step.template.clone(),
            lists: self.lists.clone(),
            purpose: self.purpose.clone(),
            segment: Vec::new(),
            from: step.from.clone(),
            reply_to: step.reply_to.clone(),
            send_at: None,
            policy: CampaignPolicy {
                kind: self.kind,
                accept: defaults.accept,
                purpose: self.purpose.clone(),
                legitimate_interest_purposes: defaults.legitimate_interest_purposes.clone(),
                frequency_cap: defaults.frequency_cap,
                exclude_unengaged: defaults.exclude_unengaged,
            },
            tracking: defaults.tracking,
            sensitive_fields: Vec::new(),
            path: self.path.clone(),
            content_hash: self.content_hash.clone(),
        })
    }

    /// Whether any step is skipped on an open or a click (which Herald only sees with
    /// tracking on).
    pub fn looks_at_engagement(&self) -> bool {
        self.steps.iter().any(|s| matches!(s.unless, Some(Unless::Clicked | Unless::Opened)))
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
