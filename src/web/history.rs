//! The person's history in words (the preference centre's "my history"): their ledger,
//! newest first, each event as a sentence about their own choices. Only the change's
//! fields are read, never its evidence (IP addresses, user agents) nor an import's file.

use super::pages::label;
use super::{HttpError, WebState};
use crate::consent::ledger::EventBody;
use crate::domain::{Contact, ListName};
use serde::Serialize;

/// One line of the history.
#[derive(Debug, Serialize)]
pub(super) struct HistoryLine {
    at: String,
    what: String,
}

/// The history of `contact`, newest first.
pub(super) async fn of(s: &WebState, contact: &Contact) -> Result<Vec<HistoryLine>, HttpError> {
    let entries = s.app.store.ledger(contact.id.unwrap_or_default()).await?;
    Ok(entries
        .iter()
        .rev()
        .filter_map(|e| {
            let body: EventBody = serde_json::from_str(&e.body).ok()?;
            let what = in_words(s, &body)?;
            Some(HistoryLine { at: e.at.format("%-d %B %Y, %H:%M UTC").to_string(), what })
        })
        .collect())
}

/// One ledger event as a sentence for the person, or `None` when nothing in it concerns
/// their choices. Only the change's fields are read: never its evidence (IP addresses,
/// user agents) nor an import's file name.
fn in_words(s: &WebState, event: &EventBody) -> Option<String> {
    let yours = event.actor == "contact";
    let by = if yours {
        ""
    } else if event.actor.starts_with("import:") || event.actor.starts_with("api:") {
        " (imported)"
    } else if event.actor.starts_with("cli:") {
        " (recorded by our staff)"
    } else {
        " (automatically)"
    };
    let list_name = |l: &str| {
        ListName::parse(l)
            .ok()
            .and_then(|l| s.app.config.lists.get(&l).map(|_| label(l.as_str())))
            .unwrap_or_else(|| label(l))
    };
    let mut said = Vec::new();
    for (key, [_, new]) in &event.changes {
        let new = new.as_deref().unwrap_or_default();
        let sentence = if let Some(list) = key.strip_prefix("list.") {
            let list = list_name(list);
            match (new, yours) {
                ("unsubscribed", true) => format!("You unsubscribed from {list}"),
                ("unsubscribed", false) => format!("You were unsubscribed from {list}"),
                ("confirmed", true) => format!("You confirmed your subscription to {list}"),
                ("confirmed", false) => format!("You were subscribed to {list}"),
                ("unconfirmed", _) => format!("You were subscribed to {list}, not yet confirmed"),
                _ => continue,
            }
        } else if let Some(purpose) = key.strip_prefix("purpose.") {
            let purpose = label(purpose);
            match (new, yours) {
                ("granted", true) => format!("You gave your consent for {purpose}"),
                ("granted", false) => format!("Your consent for {purpose} was recorded"),
                ("withdrawn", true) => format!("You withdrew your consent for {purpose}"),
                ("withdrawn", false) => format!("Your consent for {purpose} was recorded as withdrawn"),
                _ => continue,
            }
        } else if key == "opt_in_status" {
            match (new, yours) {
                ("opted_out_contact", _) => "You unsubscribed from everything".to_owned(),
                ("opted_out_user", _) => "You were opted out of everything at your request".to_owned(),
                ("double_opt_in", true) => "You confirmed by email that you want our emails".to_owned(),
                ("double_opt_in", false) => "Your confirmation by email was recorded".to_owned(),
                ("single_opt_in_webform", _) => "You signed up on our form".to_owned(),
                ("single_opt_in_user", _) => "You were signed up".to_owned(),
                _ => continue,
            }
        } else if key == "processing" {
            match new {
                "restricted" if yours => "You asked us to stop processing your data".to_owned(),
                "restricted" => "Processing of your data was stopped".to_owned(),
                "erasure_requested" => "You asked us to erase your data".to_owned(),
                "active" if event.action != "created" => "Processing of your data resumed".to_owned(),
                _ => continue,
            }
        } else {
            continue;
        };
        said.push(sentence);
    }
    if said.is_empty() {
        return (event.action == "created").then(|| format!("We started keeping your record{by}"));
    }
    let mut line = String::new();
    for (i, sentence) in said.iter().enumerate() {
        if i == 0 {
            line.push_str(sentence);
        } else {
            // "A; b; c": the later sentences continue the first.
            let mut chars = sentence.chars();
            line.push_str("; ");
            line.extend(chars.next().into_iter().flat_map(char::to_lowercase).chain(chars));
        }
    }
    Some(format!("{line}{by}"))
}
