use super::*;
use crate::domain::{ContactId, SendId};
use crate::store::flows::PreviousSend;
use std::path::Path;

const FLOW: &str = "name = \"welcome\"\nlists = [\"newsletter\"]\ntrigger = { event = \"custom\", name = \"x\" }\n\
    [[steps]]\nname = \"hello\"\nafter = \"0m\"\nsubject = \"Hi\"\ntemplate = \"t\"\n\
    [[steps]]\nname = \"tips\"\nafter = \"3d\"\nsubject = \"Tips\"\ntemplate = \"t\"\nunless = \"clicked\"\n\
    [[steps]]\nname = \"bye\"\nafter = \"1d\"\nsubject = \"Bye\"\ntemplate = \"t\"\n";

fn now() -> DateTime<Utc> {
    "2026-03-01T08:00:00Z".parse().unwrap()
}

fn due(flow: &Flow, index: i32, name: &str) -> DueEnrolment {
    DueEnrolment {
        id: 7,
        flow: flow.name.clone(),
        contact_id: ContactId::new(3),
        step_index: index,
        step_name: name.into(),
        flow_hash: flow.content_hash.clone(),
        properties: serde_json::json!({"items": ["a"]}),
        due_at: now(),
        attributes: Default::default(),
        previous: None,
        done_steps: Vec::new(),
    }
}

fn sent(clicked: bool) -> Option<PreviousSend> {
    Some(PreviousSend { id: SendId::new(1), state: "sent".into(), reason: None, opened: clicked, clicked })
}

fn one(flow: &Flow, d: DueEnrolment) -> Advance {
    let flows = HashMap::from([(flow.name.as_str(), flow)]);
    plan(&flows, vec![d], now()).pop().unwrap()
}

#[test]
fn a_due_step_queues_one_message_naming_its_step_and_event_and_moves_on() {
    let flow = crate::flows::parse(Path::new("welcome.toml"), FLOW).unwrap();
    let a = one(&flow, due(&flow, 0, "hello"));
    assert_eq!(a.done.len(), 1);
    let StepOutcome::Queued { context } = &a.done[0].outcome else { panic!("{a:?}") };
    assert_eq!(context["step"], "hello");
    assert_eq!(context["event"]["items"][0], "a");
    assert_eq!(context["flow_hash"], flow.content_hash.as_str());
    assert_eq!(a.next, Next::Step { index: 1, name: "tips".into(), due_at: now() + chrono::Duration::days(3) });
}

#[test]
fn unless_clicked_skips_the_step_only_when_the_previous_message_was_clicked() {
    let flow = crate::flows::parse(Path::new("welcome.toml"), FLOW).unwrap();
    let mut d = due(&flow, 1, "tips");
    d.previous = sent(true);
    let a = one(&flow, d.clone());
    assert_eq!(a.done[0].outcome, StepOutcome::Skipped { reason: "unless_clicked".into() });
    assert!(matches!(a.next, Next::Step { index: 2, .. }));
    d.previous = sent(false);
    assert!(matches!(one(&flow, d).done[0].outcome, StepOutcome::Queued { .. }));
}

#[test]
fn a_previous_message_skipped_for_consent_ends_the_enrolment_but_a_frequency_cap_does_not() {
    let flow = crate::flows::parse(Path::new("welcome.toml"), FLOW).unwrap();
    let mut d = due(&flow, 1, "tips");
    d.previous = Some(PreviousSend {
        id: SendId::new(1),
        state: "skipped".into(),
        reason: Some("opted_out".into()),
        opened: false,
        clicked: false,
    });
    let a = one(&flow, d.clone());
    assert!(a.done.is_empty());
    assert_eq!(a.next, Next::Exited { reason: "opted_out".into() });
    d.previous.as_mut().unwrap().reason = Some("frequency_cap".into());
    assert!(matches!(one(&flow, d).done[0].outcome, StepOutcome::Queued { .. }));
}

#[test]
fn a_changed_file_keeps_the_step_by_name_and_never_repeats_one() {
    // The new file puts a step in front: "tips" is now third.
    let changed = FLOW.replace(
        "[[steps]]\nname = \"tips\"",
        "[[steps]]\nname = \"new\"\nafter = \"1d\"\nsubject = \"N\"\ntemplate = \"t\"\n[[steps]]\nname = \"tips\"",
    );
    let flow = crate::flows::parse(Path::new("welcome.toml"), &changed).unwrap();
    let mut d = due(&flow, 1, "tips");
    d.flow_hash = "old".into();
    let a = one(&flow, d);
    assert_eq!(a.done[0].step_name, "tips");
    assert_eq!(a.done[0].step_index, 2);
    assert_eq!(a.flow_hash, flow.content_hash);
    // "tips" removed: the step now at its position, unless already gone through.
    let removed = FLOW
        .replace("name = \"tips\"", "name = \"hello\"")
        .replace("name = \"hello\"\nafter = \"0m\"", "name = \"first\"\nafter = \"0m\"");
    let flow = crate::flows::parse(Path::new("welcome.toml"), &removed).unwrap();
    let mut d = due(&flow, 1, "tips");
    d.done_steps = vec!["hello".into()];
    let a = one(&flow, d);
    assert_eq!(a.done[0].step_name, "bye");
    let mut d = due(&flow, 2, "gone");
    d.done_steps = vec!["bye".into()];
    let a = one(&flow, d);
    assert!(a.done.is_empty());
    assert_eq!(a.next, Next::Completed);
}
