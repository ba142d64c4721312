//! A ledger event read as the named consent signals the outside world knows (DESIGN §13):
//! what flows exit on and what the CRM webhooks (`[[webhooks.out]] events`) carry. One
//! event may say several things (an import that subscribes to two lists); an event that
//! changes nothing a signal names says nothing.

use super::ledger::EventBody;
use serde::Serialize;

/// The names of the signals, as `[[webhooks.out]] events` takes them.
pub const NAMES: &[&str] = &[
    "subscribed",
    "confirmed",
    "unsubscribed",
    "opted_out",
    "purpose_granted",
    "purpose_withdrawn",
    "suppressed",
    "unsuppressed",
    "bounced_confirmed",
    "restricted",
    "unrestricted",
    "erased",
];

/// One thing an event said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// One of [`NAMES`].
    pub name: &'static str,
    /// The list, for `subscribed`, `confirmed` and `unsubscribed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// The purpose, for `purpose_granted` and `purpose_withdrawn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

impl Signal {
    fn plain(name: &'static str) -> Signal {
        Signal { name, list: None, purpose: None }
    }

    /// Whether a contact who gives this signal leaves every flow (its messages would no
    /// longer be sent anyway; leaving at once keeps the flow's figures true).
    pub fn ends_flows(&self) -> bool {
        matches!(self.name, "opted_out" | "suppressed" | "bounced_confirmed" | "restricted" | "erased")
    }
}

/// What `event` said, in the order of its changed fields.
pub fn of(event: &EventBody) -> Vec<Signal> {
    if event.action == "erased" {
        return vec![Signal::plain("erased")];
    }
    let mut out = Vec::new();
    for (key, [old, new]) in &event.changes {
        let (old, new) = (old.as_deref(), new.as_deref());
        if old == new {
            continue;
        }
        if let Some(list) = key.strip_prefix("list.") {
            let name = match new {
                // A new unconfirmed subscription is a subscription; confirming it is `confirmed`.
                Some("unconfirmed") => "subscribed",
                Some("confirmed") if old == Some("unconfirmed") => "confirmed",
                Some("confirmed") => "subscribed",
                Some("unsubscribed") if old.is_some() => "unsubscribed",
                _ => continue,
            };
            out.push(Signal { name, list: Some(list.to_owned()), purpose: None });
        } else if let Some(purpose) = key.strip_prefix("purpose.") {
            let name = match new {
                Some("granted") => "purpose_granted",
                Some("withdrawn") if old.is_some() => "purpose_withdrawn",
                _ => continue,
            };
            out.push(Signal { name, list: None, purpose: Some(purpose.to_owned()) });
        } else {
            let name = match (key.as_str(), new) {
                ("opt_in_status", Some("opted_out_contact" | "opted_out_user")) => "opted_out",
                ("suppressed", Some("true")) => "suppressed",
                ("suppressed", Some("false")) => "unsuppressed",
                ("bounce_status", Some("confirmed")) => "bounced_confirmed",
                ("processing", Some("restricted")) => "restricted",
                ("processing", Some("active")) if old == Some("restricted") => "unrestricted",
                _ => continue,
            };
            out.push(Signal::plain(name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn body(action: &str, changes: &[(&str, Option<&str>, Option<&str>)]) -> EventBody {
        let changes: BTreeMap<String, [Option<String>; 2]> =
            changes.iter().map(|(k, o, n)| ((*k).to_owned(), [o.map(str::to_owned), n.map(str::to_owned)])).collect();
        EventBody {
            contact_id: crate::domain::ContactId::new(1),
            seq: 1,
            at: "2026-12-06T00:00:00Z".into(),
            actor: "cli:test".into(),
            action: action.into(),
            changes,
            evidence: BTreeMap::new(),
            evidence_digest: None,
            redacts: Vec::new(),
            redacted: false,
        }
    }

    fn names(b: &EventBody) -> Vec<(&'static str, Option<String>)> {
        of(b).into_iter().map(|s| (s.name, s.list.or(s.purpose))).collect()
    }

    #[test]
    fn subscriptions_confirmations_and_unsubscribes() {
        let b = body("updated", &[("list.news", None, Some("unconfirmed")), ("list.deals", None, Some("confirmed"))]);
        assert_eq!(names(&b), [("subscribed", Some("deals".into())), ("subscribed", Some("news".into()))]);
        let b = body("updated", &[("list.news", Some("unconfirmed"), Some("confirmed"))]);
        assert_eq!(names(&b), [("confirmed", Some("news".into()))]);
        let b = body("updated", &[("list.news", Some("confirmed"), Some("unsubscribed"))]);
        assert_eq!(names(&b), [("unsubscribed", Some("news".into()))]);
        // A contact imported as unsubscribed never was subscribed: nothing to tell.
        assert!(names(&body("created", &[("list.news", None, Some("unsubscribed"))])).is_empty());
    }

    #[test]
    fn purposes_opt_out_suppression_processing_and_erasure() {
        let b = body("updated", &[("purpose.newsletter", Some("granted"), Some("withdrawn"))]);
        assert_eq!(names(&b), [("purpose_withdrawn", Some("newsletter".into()))]);
        let b = body("updated", &[("opt_in_status", Some("double_opt_in"), Some("opted_out_contact"))]);
        assert_eq!(of(&b)[0].name, "opted_out");
        assert!(of(&b)[0].ends_flows());
        assert_eq!(of(&body("suppressed", &[("suppressed", Some("false"), Some("true"))]))[0].name, "suppressed");
        assert_eq!(
            of(&body("bounce", &[("bounce_status", Some("hard"), Some("confirmed"))]))[0].name,
            "bounced_confirmed"
        );
        assert!(names(&body("bounce", &[("bounce_status", Some("ok"), Some("hard"))])).is_empty());
        assert_eq!(of(&body("updated", &[("processing", Some("active"), Some("restricted"))]))[0].name, "restricted");
        assert_eq!(of(&body("updated", &[("processing", Some("restricted"), Some("active"))]))[0].name, "unrestricted");
        assert_eq!(names(&body("erased", &[])), [("erased", None)]);
        for s in of(&body("updated", &[("list.x", None, Some("confirmed")), ("purpose.p", None, Some("granted"))])) {
            assert!(NAMES.contains(&s.name) && !s.ends_flows());
        }
    }
}
