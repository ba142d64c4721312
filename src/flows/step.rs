//! A flow's steps: the delay before each, its subject and template, and the condition
//! that skips it (`unless`).
//!
//! `unless` takes one of two forms:
//! - `unless = "clicked"` or `unless = "opened"`: skip the step if the contact clicked
//!   (opened) the previous step's message; for the first step, the message of the
//!   campaign an `opened` / `clicked` trigger names (no other trigger has one);
//! - `unless = { attribute = "plan", equals = "pro" }`: skip the step if the contact's
//!   custom attribute `plan` is exactly `pro`.

use super::trigger::Problem;
use crate::config::show_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use toml::Spanned;

/// `[[steps]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    name: Option<Spanned<String>>,
    after: Spanned<String>,
    subject: Spanned<String>,
    template: Spanned<String>,
    unless: Option<Spanned<toml::Value>>,
    from: Option<String>,
    reply_to: Option<String>,
}

/// Why a step is skipped for a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unless {
    /// The contact clicked a link in the previous message.
    Clicked,
    /// The contact opened the previous message.
    Opened,
    /// The contact's custom attribute `attribute` equals `equals`.
    Attribute { attribute: String, equals: String },
}

/// One validated step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Unique in the flow (`step-N` when the file gives none): enrolled contacts are kept
    /// on a step by its name when the file changes.
    pub name: String,
    /// After the trigger (first step) or the previous step; only the first may be zero.
    #[serde(serialize_with = "as_duration")]
    pub after: Duration,
    pub subject: String,
    pub template: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unless: Option<Unless>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

fn as_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&if d.is_zero() { "0m".to_owned() } else { show_duration(*d) })
}

impl RawStep {
    /// The step at `index` (0-based), or the first problem with it; `has_previous_message`: whether `unless = "clicked"` has a message to
    /// look at (a previous step, or the trigger's campaign).
    pub(super) fn validate(self, index: usize, has_previous_message: bool) -> Result<Step, Problem> {
        let name = match self.name {
            Some(n) if !crate::campaign::is_name(n.get_ref()) => {
                return Err((n.span(), "a step name is 1 to 64 letters, digits, '.', '_' or '-'".into()));
            }
            Some(n) => n.into_inner(),
            None => format!("step-{}", index + 1),
        };
        let after = parse_after(self.after.get_ref(), index == 0).map_err(|why| (self.after.span(), why))?;
        if self.subject.get_ref().trim().is_empty() {
            return Err((self.subject.span(), "subject is empty".into()));
        }
        let template = self.template.get_ref().trim();
        if !crate::campaign::is_template_name(template) {
            return Err((self.template.span(), crate::campaign::TEMPLATE_NAME_RULE.into()));
        }
        let unless = self.unless.map(|u| unless(u, has_previous_message)).transpose()?;
        Ok(Step {
            name,
            after,
            template: template.to_owned(),
            subject: self.subject.into_inner(),
            unless,
            from: self.from,
            reply_to: self.reply_to,
        })
    }

    pub(super) fn template_span(&self) -> std::ops::Range<usize> {
        self.template.span()
    }

    pub(super) fn name_span(&self) -> Option<std::ops::Range<usize>> {
        self.name.as_ref().map(Spanned::span)
    }
}

/// `after`: a duration of the config's form ("3d", "12h", "30m"); zero ("0m") only for
/// the first step, which may go out as soon as the contact is enrolled.
fn parse_after(text: &str, first: bool) -> Result<Duration, String> {
    let t = text.trim();
    let zero = t
        .strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b == b'0'));
    match (zero, first) {
        (true, true) => Ok(Duration::ZERO),
        (true, false) => Err(format!(
            "after = '{t}': only the first step may have no delay; a later step waits at least a minute (e.g. \"1d\")"
        )),
        (false, _) => crate::config::parse_duration(t).map_err(|e| format!("after = {e}")),
    }
}

fn unless(value: Spanned<toml::Value>, has_previous_message: bool) -> Result<Unless, Problem> {
    let span = value.span();
    let shape = "unless must be \"clicked\", \"opened\" or { attribute = \"NAME\", equals = \"VALUE\" }";
    match value.into_inner() {
        toml::Value::String(s) if s == "clicked" || s == "opened" => {
            if !has_previous_message {
                return Err((
                    span,
                    format!(
                        "unless = \"{s}\" looks at the previous message, and the first step of a flow not \
                         triggered by a campaign's open or click has none"
                    ),
                ));
            }
            Ok(if s == "clicked" { Unless::Clicked } else { Unless::Opened })
        }
        toml::Value::Table(t) => {
            let text = |key: &str| t.get(key).and_then(toml::Value::as_str).map(str::to_owned);
            match (text("attribute"), text("equals"), t.len()) {
                (Some(attribute), Some(equals), 2) if !attribute.trim().is_empty() => {
                    Ok(Unless::Attribute { attribute, equals })
                }
                _ => Err((span, shape.into())),
            }
        }
        _ => Err((span, shape.into())),
    }
}
