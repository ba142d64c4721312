//! What each source says about flows, as pure functions of the flows and the rows read:
//! which contacts to enrol where, and which to take out. The watchers (`super`) read the
//! rows; these decide.

use super::super::{Flow, Trigger};
use crate::consent::ledger::EventBody;
use crate::consent::signals::Signal;
use crate::domain::{ContactId, ListName};
use crate::flows::requests::{CustomEvent, EnrolRequest, ExitRequest};
use crate::store::flow_triggers::EngagementRow;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;

/// Whether an engagement row is an open or a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engaged {
    Opened,
    Clicked,
}

/// The signals of `event` as flows see them. A `subscribed` trigger enrols a contact once
/// the subscription can be mailed (DESIGN §3 rule 7): on a list that needs double opt-in
/// (`double_opt_in[list]`), a new unconfirmed subscription is not one yet, and its
/// confirmation is the moment the contact subscribed. So such a `subscribed` signal is
/// dropped and a `confirmed` one also counts as `subscribed`; elsewhere the signals stay
/// as `consent::signals` names them (the CRM webhooks' contract).
pub fn as_flows_see_them(
    signals: Vec<Signal>,
    event: &EventBody,
    double_opt_in: &BTreeMap<ListName, bool>,
) -> Vec<Signal> {
    let needs_confirming =
        |list: &str| ListName::parse(list).ok().and_then(|l| double_opt_in.get(&l).copied()).unwrap_or(false);
    let mut out = Vec::with_capacity(signals.len());
    for signal in signals {
        let Some(list) = signal.list.clone().filter(|l| needs_confirming(l)) else {
            out.push(signal);
            continue;
        };
        let now = event.changes.get(&format!("list.{list}")).and_then(|[_, new]| new.as_deref());
        match signal.name {
            "subscribed" if now == Some("unconfirmed") => {}
            "confirmed" => {
                out.push(signal);
                out.push(Signal { name: "subscribed", list: Some(list), purpose: None });
            }
            _ => out.push(signal),
        }
    }
    out
}

/// What the consent signals of one ledger event (`key`, e.g. `ledger:42:7`) do to flows:
/// - `subscribed` to L enrols into the flows triggered by `subscribed` to L;
/// - `confirmed` L enrols into the flows triggered by `confirmed` L;
/// - a signal that [`Signal::ends_flows`] takes the contact out of every flow;
/// - `unsubscribed` from L takes them out of the flows whose `lists` name L (only those:
///   the others do not need that subscription);
/// - `purpose_withdrawn` P takes them out of the flows whose purpose is P.
///
/// The exit's reason is the signal's name.
pub fn from_signals(
    flows: &[Flow],
    contact_id: ContactId,
    signals: &[Signal],
    key: &str,
    at: DateTime<Utc>,
) -> (Vec<EnrolRequest>, Vec<ExitRequest>) {
    let mut enrol = Vec::new();
    let mut exit = Vec::new();
    let exit_one = |flow: Option<&str>, reason: &str| ExitRequest {
        contact_id,
        flow: flow.map(str::to_owned),
        reason: reason.to_owned(),
        at,
    };
    for signal in signals {
        if signal.ends_flows() {
            exit.push(exit_one(None, signal.name));
            continue;
        }
        let list = signal.list.as_deref();
        let purpose = signal.purpose.as_deref();
        for flow in flows {
            let enrols = match (&flow.trigger, signal.name) {
                (Trigger::Subscribed { list: l }, "subscribed") | (Trigger::Confirmed { list: l }, "confirmed") => {
                    Some(l.as_str()) == list
                }
                _ => false,
            };
            if enrols {
                enrol.push(EnrolRequest {
                    flow: flow.name.clone(),
                    contact_id,
                    trigger_key: key.to_owned(),
                    properties: json!({ "list": list }),
                    at,
                });
            }
            let exits = match signal.name {
                "unsubscribed" => flow.lists.iter().any(|l| Some(l.as_str()) == list),
                "purpose_withdrawn" => flow.purpose.as_ref().is_some_and(|p| Some(p.as_str()) == purpose),
                _ => false,
            };
            if exits {
                exit.push(exit_one(Some(&flow.name), signal.name));
            }
        }
    }
    (enrol, exit)
}

/// The enrolments opens and clicks make: an open of a send of campaign X enrols into the
/// flows triggered by `opened` X (key `open:SEND`); a click into those triggered by
/// `clicked` X whose `link` (if any) starts the URL followed (key `click:SEND`: any link
/// of the message that matches enrols, once). A click whose URL is not known does not
/// match a trigger that names a link. The key names the send: the scheduler's
/// `unless = "clicked"|"opened"` looks at that message for a step with no flow message
/// before it (`store::sql::flows`).
pub fn from_engagement(flows: &[Flow], what: Engaged, rows: &[EngagementRow]) -> Vec<EnrolRequest> {
    let mut enrol = Vec::new();
    for row in rows {
        for flow in flows {
            let matches = match (&flow.trigger, what) {
                (Trigger::Opened { campaign }, Engaged::Opened) => *campaign == row.campaign,
                (Trigger::Clicked { campaign, link }, Engaged::Clicked) => {
                    *campaign == row.campaign
                        && match link {
                            None => true,
                            Some(prefix) => row.link.as_deref().is_some_and(|url| url.starts_with(prefix.as_str())),
                        }
                }
                _ => false,
            };
            if !matches {
                continue;
            }
            let (key, properties) = match what {
                Engaged::Opened => (format!("open:{}", row.send_id), json!({ "campaign": row.campaign })),
                Engaged::Clicked => {
                    (format!("click:{}", row.send_id), json!({ "campaign": row.campaign, "link": row.link }))
                }
            };
            enrol.push(EnrolRequest {
                flow: flow.name.clone(),
                contact_id: row.contact_id,
                trigger_key: key,
                properties,
                at: row.at,
            });
        }
    }
    enrol
}

/// What custom events do (key `event:ID`): an event named N enrols its contact into the
/// flows triggered by `custom` N, with the event's properties, and takes them out of
/// the flows whose `exit_on` names N (reason N). An event without a contact (an unknown
/// address) does nothing.
pub fn from_custom(flows: &[Flow], events: &[CustomEvent]) -> (Vec<EnrolRequest>, Vec<ExitRequest>) {
    let mut enrol = Vec::new();
    let mut exit = Vec::new();
    for event in events {
        let Some(contact_id) = event.contact_id else { continue };
        for flow in flows {
            if matches!(&flow.trigger, Trigger::Custom { name } if *name == event.name) {
                enrol.push(EnrolRequest {
                    flow: flow.name.clone(),
                    contact_id,
                    trigger_key: format!("event:{}", event.id),
                    properties: event.properties.clone(),
                    at: event.at,
                });
            }
            if flow.exit_on.contains(&event.name) {
                exit.push(ExitRequest {
                    contact_id,
                    flow: Some(flow.name.clone()),
                    reason: event.name.clone(),
                    at: event.at,
                });
            }
        }
    }
    (enrol, exit)
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
