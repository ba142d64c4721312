//! What `flows validate` checks against the workspace, beyond the file itself: the lists
//! and purpose it names exist (config or database), each step's subject and template
//! compile (the renderer campaigns use, templates looked up beside the flow file, then in
//! `[templates] dir`), and the trigger's campaign. Errors name the file, line and column.
//!
//! A trigger's campaign may not have been sent yet (a flow is often written before the
//! campaign it follows up), so an unknown one is a warning, not an error.

use super::Flow;
use super::trigger::Trigger;
use crate::app::App;
use crate::campaign::check::{known, known_lists, known_purposes};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::render::Renderer;

/// The workspace checks of one flow: `Ok(warnings)`, or the first error.
pub async fn check(app: &App, flow: &Flow) -> Result<Vec<String>> {
    let places = &flow.places;
    let lists = known_lists(app).await?;
    for (list, offset) in flow.lists.iter().zip(&places.lists) {
        if !lists.contains(list.as_str()) {
            let why = format!("unknown list '{list}' (known lists: {})", known(&lists));
            return Err(places.error(&flow.path, *offset, &why));
        }
    }
    if let (Some(list), Some(offset)) = (flow.trigger.list(), places.trigger_value)
        && !lists.contains(list.as_str())
    {
        let why = format!("trigger: unknown list '{list}' (known lists: {})", known(&lists));
        return Err(places.error(&flow.path, offset, &why));
    }
    if let (Some(purpose), Some(offset)) = (&flow.purpose, places.purpose) {
        let purposes = known_purposes(app).await?;
        if !purposes.contains(&purpose.to_string()) {
            let why = format!("unknown purpose '{purpose}' (known purposes: {})", known(&purposes));
            return Err(places.error(&flow.path, offset, &why));
        }
    }
    templates_compile(&app.config, &app.secrets.link_key, flow)?;
    let mut warnings = Vec::new();
    if let Some(list) = flow.trigger.list()
        && !flow.lists.contains(list)
    {
        warnings.push(format!(
            "the trigger's list '{list}' is not among the flow's lists: its steps go only to contacts also \
             subscribed to {}",
            flow.lists.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(campaign) = flow.trigger.campaign()
        && app.store.campaign_by_name(campaign).await?.is_none()
    {
        warnings.push(format!(
            "no campaign '{campaign}' has been sent or scheduled yet: the trigger enrols nobody until it is"
        ));
    }
    let engagement =
        matches!(flow.trigger, Trigger::Opened { .. } | Trigger::Clicked { .. } | Trigger::Inactive { .. })
            || flow.looks_at_engagement();
    if engagement && !app.config.policy.tracking {
        warnings.push(
            "tracking is off ([policy] tracking = false): Herald sees no opens or clicks, so this flow's trigger \
             or its `unless` conditions act as if nobody opened or clicked"
                .into(),
        );
    }
    Ok(warnings)
}

/// Every step's subject and templates compile with the renderer campaigns use (the
/// templates exist, are valid handlebars, use no triple-stash, and the sender settings
/// the kind needs are there). Only the config is needed: no database.
pub fn templates_compile(config: &Config, link_key: &[u8], flow: &Flow) -> Result<()> {
    for (index, step) in flow.steps.iter().enumerate() {
        let Some(campaign) = flow.step_campaign(index, &config.policy) else { continue };
        if let Err(e) = Renderer::new(config, link_key, &campaign, None) {
            let Error::Invalid(message) = e else { return Err(e) };
            // The renderer names the flow file itself; say it once, with the place.
            let prefix = format!("{}: ", flow.path.display());
            let message = message.strip_prefix(&prefix).unwrap_or(&message);
            let offset = flow.places.templates.get(index).copied().unwrap_or_default();
            return Err(flow.places.error(&flow.path, offset, &format!("step '{}': {message}", step.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Contact, EmailAddress, SourceType};
    use std::path::{Path, PathBuf};

    /// The repository's config, with its templates folder.
    fn config() -> Config {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut config: Config = toml::from_str(include_str!("../../config/herald.toml")).unwrap();
        config.templates.dir = root.join("templates");
        config
    }

    fn shipped(name: &str) -> Flow {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/flows").join(format!("{name}.toml"));
        super::super::load(&path).unwrap()
    }

    #[test]
    fn the_flows_init_writes_compile() {
        for name in ["welcome", "engagement-followup", "deep-dive", "abandoned-cart"] {
            templates_compile(&config(), b"key", &shipped(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(shipped("welcome").steps.len(), 3);
    }

    #[test]
    fn the_cart_reminder_renders_the_events_items_and_needs_them() {
        let flow = shipped("abandoned-cart");
        let config = config();
        let campaign = flow.step_campaign(0, &config.policy).unwrap();
        let contact =
            Contact::new(EmailAddress::parse("a@example.com").unwrap(), SourceType::Manual, chrono::Utc::now());
        let renderer = Renderer::new(&config, b"key", &campaign, None).unwrap();
        // Strict mode: without the event's properties the template does not render.
        let problem = renderer.problem_for(&contact, chrono::Utc::now());
        assert!(problem.as_deref().is_some_and(|p| p.contains("event")), "{problem:?}");
        let event = serde_json::json!({"event": {"items": [{"name": "Blue mug", "quantity": 2}, {"name": "Tea"}]}});
        let renderer = renderer.with_data(event.as_object().unwrap().clone());
        assert_eq!(renderer.problem_for(&contact, chrono::Utc::now()), None);
    }
}
