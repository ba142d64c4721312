//! The mapping from sources to requests: each rule, and that it reaches only the flows it
//! names.

use super::*;
use crate::domain::SendId;
use std::path::Path;

fn flow(name: &str, head: &str) -> Flow {
    let text = format!("name = \"{name}\"\n{head}\n[[steps]]\nafter = \"1d\"\nsubject = \"Hi\"\ntemplate = \"t\"\n");
    crate::flows::parse(Path::new("flows/x.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Six flows, one per kind of trigger, on different lists and purposes.
fn flows() -> Vec<Flow> {
    vec![
        flow(
            "welcome",
            "purpose = \"newsletter\"\nlists = [\"newsletter\"]\ntrigger = { event = \"subscribed\", list = \"newsletter\" }",
        ),
        flow("confirmed-deals", "lists = [\"deals\"]\ntrigger = { event = \"confirmed\", list = \"deals\" }"),
        flow("followup", "lists = [\"newsletter\"]\ntrigger = { event = \"opened\", campaign = \"spring\" }"),
        flow(
            "deep-dive",
            "lists = [\"newsletter\"]\ntrigger = { event = \"clicked\", campaign = \"spring\", link = \"https://acme.example/guides/\" }",
        ),
        flow("any-click", "lists = [\"deals\"]\ntrigger = { event = \"clicked\", campaign = \"spring\" }"),
        flow(
            "cart",
            "purpose = \"offers\"\nlists = [\"deals\", \"newsletter\"]\ntrigger = { event = \"custom\", name = \"cart_abandoned\" }\nexit_on = [\"purchased\"]",
        ),
    ]
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn signal(name: &'static str, list: Option<&str>, purpose: Option<&str>) -> Signal {
    Signal { name, list: list.map(str::to_owned), purpose: purpose.map(str::to_owned) }
}

fn enrolled(requests: &[EnrolRequest]) -> Vec<(&str, &str)> {
    requests.iter().map(|r| (r.flow.as_str(), r.trigger_key.as_str())).collect()
}

fn exited(requests: &[ExitRequest]) -> Vec<(Option<&str>, &str)> {
    requests.iter().map(|r| (r.flow.as_deref(), r.reason.as_str())).collect()
}

const C: ContactId = ContactId::new(42);

#[test]
fn subscribing_enrols_in_the_flows_triggered_by_that_list_only() {
    let (enrol, exit) =
        from_signals(&flows(), C, &[signal("subscribed", Some("newsletter"), None)], "ledger:42:1", at());
    assert_eq!(enrolled(&enrol), [("welcome", "ledger:42:1")]);
    assert_eq!((enrol[0].contact_id, enrol[0].at), (C, at()));
    assert!(exit.is_empty());
    // Another list, or a confirmation of it, is not a subscription to newsletter.
    let (enrol, _) = from_signals(&flows(), C, &[signal("subscribed", Some("deals"), None)], "k", at());
    assert!(enrol.is_empty(), "{enrol:?}");
    let (enrol, _) = from_signals(&flows(), C, &[signal("confirmed", Some("newsletter"), None)], "k", at());
    assert!(enrol.is_empty(), "{enrol:?}");
}

#[test]
fn confirming_enrols_in_the_flows_triggered_by_confirming_that_list() {
    let (enrol, _) = from_signals(&flows(), C, &[signal("confirmed", Some("deals"), None)], "ledger:42:2", at());
    assert_eq!(enrolled(&enrol), [("confirmed-deals", "ledger:42:2")]);
    let (enrol, _) = from_signals(&flows(), C, &[signal("subscribed", Some("deals"), None)], "k", at());
    assert!(enrol.is_empty(), "subscribing is not confirming: {enrol:?}");
}

#[test]
fn a_signal_that_ends_flows_takes_the_contact_out_of_every_flow() {
    for name in ["opted_out", "suppressed", "bounced_confirmed", "restricted", "erased"] {
        let (enrol, exit) = from_signals(&flows(), C, &[signal(name, None, None)], "k", at());
        assert!(enrol.is_empty());
        assert_eq!(exited(&exit), [(None, name)], "{name}");
        assert_eq!(exit[0].contact_id, C);
    }
}

#[test]
fn unsubscribing_from_a_list_leaves_only_the_flows_that_need_it() {
    let (_, exit) = from_signals(&flows(), C, &[signal("unsubscribed", Some("deals"), None)], "k", at());
    assert_eq!(
        exited(&exit),
        [
            (Some("confirmed-deals"), "unsubscribed"),
            (Some("any-click"), "unsubscribed"),
            (Some("cart"), "unsubscribed")
        ]
    );
    let (_, exit) = from_signals(&flows(), C, &[signal("unsubscribed", Some("other"), None)], "k", at());
    assert!(exit.is_empty(), "{exit:?}");
}

#[test]
fn withdrawing_a_purpose_leaves_the_flows_of_that_purpose() {
    let (_, exit) = from_signals(&flows(), C, &[signal("purpose_withdrawn", None, Some("newsletter"))], "k", at());
    assert_eq!(exited(&exit), [(Some("welcome"), "purpose_withdrawn")]);
    // Granting, lifting a suppression or a restriction moves nobody.
    for s in [
        signal("purpose_granted", None, Some("newsletter")),
        signal("unsuppressed", None, None),
        signal("unrestricted", None, None),
    ] {
        let (enrol, exit) = from_signals(&flows(), C, &[s], "k", at());
        assert!(enrol.is_empty() && exit.is_empty());
    }
}

fn row(send: i64, campaign: &str, link: Option<&str>) -> EngagementRow {
    EngagementRow {
        send_id: SendId::new(send),
        contact_id: C,
        campaign: campaign.into(),
        at: at(),
        link: link.map(str::to_owned),
    }
}

#[test]
fn an_open_enrols_in_the_flows_triggered_by_opening_that_campaign() {
    let enrol = from_engagement(&flows(), Engaged::Opened, &[row(7, "spring", None), row(8, "autumn", None)]);
    assert_eq!(enrolled(&enrol), [("followup", "open:7")]);
    assert_eq!(enrol[0].properties, serde_json::json!({"campaign": "spring"}));
}

#[test]
fn a_click_enrols_by_campaign_and_by_the_start_of_the_link() {
    let enrol =
        from_engagement(&flows(), Engaged::Clicked, &[row(9, "spring", Some("https://acme.example/guides/dns"))]);
    assert_eq!(enrolled(&enrol), [("deep-dive", "click:9"), ("any-click", "click:9")]);
    let enrol = from_engagement(&flows(), Engaged::Clicked, &[row(9, "spring", Some("https://acme.example/shop"))]);
    assert_eq!(enrolled(&enrol), [("any-click", "click:9")]);
    // The URL unknown: a trigger that names a link does not match.
    let enrol = from_engagement(&flows(), Engaged::Clicked, &[row(9, "spring", None)]);
    assert_eq!(enrolled(&enrol), [("any-click", "click:9")]);
    // Another campaign's click, or an open, enrols in no click flow.
    assert!(from_engagement(&flows(), Engaged::Clicked, &[row(9, "autumn", None)]).is_empty());
}

fn event(id: i64, contact: Option<i64>, name: &str) -> CustomEvent {
    CustomEvent {
        id,
        contact_id: contact.map(ContactId::new),
        name: name.into(),
        properties: serde_json::json!({"items": [{"sku": "A1"}]}),
        at: at(),
    }
}

#[test]
fn a_custom_event_enrols_with_its_properties_and_ends_the_flows_that_exit_on_it() {
    let (enrol, exit) = from_custom(&flows(), &[event(913, Some(42), "cart_abandoned")]);
    assert_eq!(enrolled(&enrol), [("cart", "event:913")]);
    assert_eq!(enrol[0].properties["items"][0]["sku"], "A1");
    assert!(exit.is_empty());
    let (enrol, exit) = from_custom(&flows(), &[event(914, Some(42), "purchased")]);
    assert!(enrol.is_empty());
    assert_eq!(exited(&exit), [(Some("cart"), "purchased")]);
    assert_eq!(exit[0].contact_id, C);
}

#[test]
fn an_event_without_a_contact_or_of_an_unknown_name_does_nothing() {
    let (enrol, exit) = from_custom(&flows(), &[event(1, None, "cart_abandoned"), event(2, None, "purchased")]);
    assert!(enrol.is_empty() && exit.is_empty());
    let (enrol, exit) = from_custom(&flows(), &[event(3, Some(42), "page_viewed")]);
    assert!(enrol.is_empty() && exit.is_empty());
}

#[test]
fn on_a_double_opt_in_list_the_subscription_counts_once_confirmed() {
    use std::collections::BTreeMap;
    let body = |changes: &[(&str, Option<&str>, Option<&str>)]| EventBody {
        contact_id: C,
        seq: 1,
        at: "2026-12-06T10:00:00Z".into(),
        actor: "web".into(),
        action: "updated".into(),
        changes: changes
            .iter()
            .map(|(k, o, n)| ((*k).to_owned(), [o.map(str::to_owned), n.map(str::to_owned)]))
            .collect(),
        evidence: BTreeMap::new(),
        evidence_digest: None,
        redacts: Vec::new(),
        redacted: false,
    };
    let lists: BTreeMap<ListName, bool> =
        [(ListName::parse("newsletter").unwrap(), true), (ListName::parse("deals").unwrap(), false)].into();
    let seen = |b: &EventBody| {
        let said = as_flows_see_them(crate::consent::signals::of(b), b, &lists);
        from_signals(&flows(), C, &said, "k", at()).0.into_iter().map(|r| r.flow).collect::<Vec<_>>()
    };
    // Signed up, not confirmed yet: the welcome flow waits.
    assert!(seen(&body(&[("list.newsletter", None, Some("unconfirmed"))])).is_empty());
    // Confirmed: now they subscribed.
    assert_eq!(seen(&body(&[("list.newsletter", Some("unconfirmed"), Some("confirmed"))])), ["welcome"]);
    // Imported as confirmed: subscribed at once.
    assert_eq!(seen(&body(&[("list.newsletter", None, Some("confirmed"))])), ["welcome"]);
    // A list without double opt-in: an unconfirmed subscription is one.
    let deals = body(&[("list.deals", None, Some("unconfirmed"))]);
    let said = as_flows_see_them(crate::consent::signals::of(&deals), &deals, &lists);
    assert_eq!(said, crate::consent::signals::of(&deals));
}
