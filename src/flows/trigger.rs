//! A flow's trigger (DESIGN §13): what enrols a contact. Each event takes exactly the keys
//! it needs, and a key it does not use is an error, so a typo cannot silently widen a
//! trigger (`campaign` on a `subscribed` trigger would otherwise be ignored).

use crate::domain::ListName;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// The event names a trigger may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Event {
    Subscribed,
    Confirmed,
    Opened,
    Clicked,
    Inactive,
    Custom,
}

/// `trigger = { event = ..., list | campaign | link | days | name = ... }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    event: Spanned<Event>,
    list: Option<Spanned<ListName>>,
    campaign: Option<Spanned<String>>,
    link: Option<Spanned<String>>,
    days: Option<Spanned<i64>>,
    name: Option<Spanned<String>>,
}

/// What enrols a contact in a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Trigger {
    /// The contact subscribed to the list (any subscription that is not `unsubscribed`).
    Subscribed { list: ListName },
    /// The contact confirmed a subscription to the list (double opt-in).
    Confirmed { list: ListName },
    /// The contact opened a message of the campaign.
    Opened { campaign: String },
    /// The contact clicked a link in a message of the campaign; with `link`, only a link
    /// whose URL starts with it (a topic's pages, say).
    Clicked {
        campaign: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// The contact opened and clicked nothing for this many days.
    Inactive { days: u32 },
    /// An event of this name came in from outside (`POST /api/events`).
    Custom { name: String },
}

impl Trigger {
    /// The campaign an `opened` or `clicked` trigger names.
    pub fn campaign(&self) -> Option<&str> {
        match self {
            Trigger::Opened { campaign } | Trigger::Clicked { campaign, .. } => Some(campaign),
            _ => None,
        }
    }

    /// The list a `subscribed` or `confirmed` trigger names.
    pub fn list(&self) -> Option<&ListName> {
        match self {
            Trigger::Subscribed { list } | Trigger::Confirmed { list } => Some(list),
            _ => None,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Subscribed { list } => write!(f, "subscribed to {list}"),
            Trigger::Confirmed { list } => write!(f, "confirmed {list}"),
            Trigger::Opened { campaign } => write!(f, "opened {campaign}"),
            Trigger::Clicked { campaign, link: None } => write!(f, "clicked in {campaign}"),
            Trigger::Clicked { campaign, link: Some(link) } => write!(f, "clicked {link} in {campaign}"),
            Trigger::Inactive { days } => write!(f, "inactive for {days} days"),
            Trigger::Custom { name } => write!(f, "event {name}"),
        }
    }
}

/// A trigger error: where (a byte range of the file) and what.
pub(super) type Problem = (Range<usize>, String);

impl RawTrigger {
    /// Where the list or campaign the trigger names is written.
    pub(super) fn value_span(&self) -> Option<Range<usize>> {
        self.list.as_ref().map(Spanned::span).or_else(|| self.campaign.as_ref().map(Spanned::span))
    }

    /// The trigger, or the first problem with it; `whole` is the span of the trigger table.
    pub(super) fn validate(self, whole: Range<usize>) -> Result<Trigger, Problem> {
        let event = *self.event.get_ref();
        let given: [(&str, Option<Range<usize>>); 5] = [
            ("list", self.list.as_ref().map(Spanned::span)),
            ("campaign", self.campaign.as_ref().map(Spanned::span)),
            ("link", self.link.as_ref().map(Spanned::span)),
            ("days", self.days.as_ref().map(Spanned::span)),
            ("name", self.name.as_ref().map(Spanned::span)),
        ];
        let takes: &[&str] = match event {
            Event::Subscribed | Event::Confirmed => &["list"],
            Event::Opened => &["campaign"],
            Event::Clicked => &["campaign", "link"],
            Event::Inactive => &["days"],
            Event::Custom => &["name"],
        };
        let event_name = event_name(event);
        for (key, span) in given {
            if let Some(span) = span
                && !takes.contains(&key)
            {
                let takes = takes.join(", ");
                return Err((span, format!("`{key}` does not apply to a `{event_name}` trigger (it takes: {takes})")));
            }
        }
        let needs =
            |key: &str, example: &str| (whole.clone(), format!("a `{event_name}` trigger needs {key} = {example}"));
        let campaign = |c: Option<Spanned<String>>| match c {
            None => Err(needs("campaign", "\"NAME\"")),
            Some(c) if !crate::campaign::is_name(c.get_ref().trim()) => {
                Err((c.span(), format!("'{}' is not a campaign name", c.get_ref().escape_debug())))
            }
            Some(c) => Ok(c.into_inner().trim().to_owned()),
        };
        Ok(match event {
            Event::Subscribed => {
                Trigger::Subscribed { list: self.list.ok_or_else(|| needs("list", "\"NAME\""))?.into_inner() }
            }
            Event::Confirmed => {
                Trigger::Confirmed { list: self.list.ok_or_else(|| needs("list", "\"NAME\""))?.into_inner() }
            }
            Event::Opened => Trigger::Opened { campaign: campaign(self.campaign)? },
            Event::Clicked => {
                let link = match self.link {
                    Some(l) if !(l.get_ref().starts_with("https://") || l.get_ref().starts_with("http://")) => {
                        return Err((
                            l.span(),
                            "link must be the start of a URL, e.g. \"https://acme.example/guides/\"".into(),
                        ));
                    }
                    l => l.map(Spanned::into_inner),
                };
                Trigger::Clicked { campaign: campaign(self.campaign)?, link }
            }
            Event::Inactive => {
                let days = self.days.ok_or_else(|| needs("days", "N"))?;
                match u32::try_from(*days.get_ref()) {
                    Ok(d) if d > 0 => Trigger::Inactive { days: d },
                    _ => return Err((days.span(), "days must be a whole number of at least 1".into())),
                }
            }
            Event::Custom => {
                let name = self.name.ok_or_else(|| needs("name", "\"EVENT\""))?;
                if !crate::campaign::is_name(name.get_ref()) {
                    return Err((name.span(), EVENT_NAME_RULE.into()));
                }
                Trigger::Custom { name: name.into_inner() }
            }
        })
    }
}

/// What a custom event's name may be, as the error says it.
pub(crate) const EVENT_NAME_RULE: &str =
    "an event name is 1 to 64 letters, digits, '.', '_' or '-' (e.g. \"cart_abandoned\")";

fn event_name(event: Event) -> &'static str {
    match event {
        Event::Subscribed => "subscribed",
        Event::Confirmed => "confirmed",
        Event::Opened => "opened",
        Event::Clicked => "clicked",
        Event::Inactive => "inactive",
        Event::Custom => "custom",
    }
}
