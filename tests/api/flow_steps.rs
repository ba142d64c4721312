//! Issue 15, point 2: enrolled contacts get a flow's steps in order and on time, through
//! the engine (re-checked at send time), with a fixed clock: the scheduler's tick queues
//! the due steps, the engine sends them to a recording transport. On both backends.

use crate::helpers::*;
use crate::send::CONTACTS;
use herald::app::App;
use herald::clock::{Clock, FixedClock};
use herald::consent::{Actor, Authority, unsubscribe_from_message};
use herald::domain::{ContactId, EmailAddress, ListName};
use herald::flows::enrolment;
use herald::flows::requests::EnrolRequest;
use herald::flows::scheduler::Scheduler;
use herald::send::engine::Engine;
use herald::send::smtp::recording::RecordingTransport;
use std::sync::Arc;

pub(crate) const ADA: &str = "ada@example.com";
pub(crate) const BOB: &str = "bob@example.org";

/// A welcome series: three steps a day apart, the second skipped for who clicked the first.
pub(crate) const WELCOME: &str = "name = \"welcome\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n\
    trigger = { event = \"custom\", name = \"joined\" }\n\
    [[steps]]\nname = \"hello\"\nafter = \"0m\"\nsubject = \"Step hello for {{first_name}}\"\ntemplate = \"w1\"\n\
    [[steps]]\nname = \"tips\"\nafter = \"1d\"\nsubject = \"Step tips\"\ntemplate = \"w2\"\nunless = \"clicked\"\n\
    [[steps]]\nname = \"last\"\nafter = \"2d\"\nsubject = \"Step last\"\ntemplate = \"w2\"\n";

/// A flow workspace: the contacts of `send.rs` (all but Eve unsuppressed), `flow` in
/// `flows/`, its templates, a fixed clock, and an engine on a recording transport.
pub(crate) struct Flows {
    pub app: Arc<App>,
    pub clock: Arc<FixedClock>,
    pub engine: Engine<RecordingTransport>,
    pub scheduler: Scheduler,
}

pub(crate) async fn workspace(t: &TestDb, flow: &str) -> Flows {
    let path = t.write("contacts.csv", CONTACTS);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    std::fs::create_dir_all(t.dir.path().join("flows")).unwrap();
    t.write("flows/welcome.toml", flow);
    t.write("flows/w1.html.hbs", "<p>Hello {{first_name}}, plan {{event.plan}}</p>");
    t.write("flows/w2.html.hbs", "<p>More for {{first_name}}</p>");
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(
        t.config_path(),
        format!(
            "{config}\n[flows]\ndir = \"{}\"\n[dns]\ncheck_domains = false\n[sending]\nlease_seconds = 3\nmin_sample = 1000\n",
            t.dir.path().join("flows").display()
        ),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new("2026-03-02T09:00:00Z".parse().unwrap()));
    let app = Arc::new(open_app(&t.config_path(), clock.clone()).await);
    let engine = crate::engine_step::recording_engine(&app);
    Flows { app, clock, engine, scheduler: Scheduler::new() }
}

impl Flows {
    pub async fn id(&self, email: &str) -> ContactId {
        self.app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap().id.unwrap()
    }

    /// Enrols `emails` into `welcome` now, with `{"plan": "gold"}`, under `key`.
    pub async fn enrol(&self, emails: &[&str], key: &str) -> enrolment::Enrolled {
        let (flows, _) = enrolment::valid_flows(&self.app).unwrap();
        let mut reqs = Vec::new();
        for e in emails {
            reqs.push(EnrolRequest {
                flow: "welcome".into(),
                contact_id: self.id(e).await,
                trigger_key: key.into(),
                properties: serde_json::json!({"plan": "gold"}),
                at: self.clock.now(),
            });
        }
        enrolment::enrol(&self.app, &flows, &reqs).await.unwrap()
    }

    /// One scheduler tick, then the engine until nothing is due.
    pub async fn run(&mut self) {
        self.scheduler.tick(&self.app).await.unwrap();
        while !self.engine.step_messages().await.unwrap().is_empty() {}
        // The skips the engine just recorded end their enrolments.
        self.scheduler.tick(&self.app).await.unwrap();
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// The subjects `to` received, in order.
    pub fn subjects(&self, to: &str) -> Vec<String> {
        self.engine
            .transport()
            .records()
            .iter()
            .filter(|r| r.transmitted && r.to.eq_ignore_ascii_case(to))
            .map(|r| {
                let text = String::from_utf8_lossy(&r.bytes);
                let line = text.lines().find(|l| l.starts_with("Subject: ")).unwrap_or_default();
                line.trim_start_matches("Subject: ").to_owned()
            })
            .collect()
    }

    /// (state, count) of the enrolments of `welcome`, and the active ones' steps.
    pub async fn states(&self) -> Vec<(String, String, i64)> {
        let groups = self.app.store.enrolment_groups(self.clock.now()).await.unwrap();
        groups.into_iter().filter(|g| g.flow == "welcome").map(|g| (g.state, g.step_name, g.count)).collect()
    }
}

crate::on_both_backends! {
    async fn a_tick_queues_no_more_steps_while_the_queue_is_full(t) {
        // The scheduler feeds the engine instead of flooding the queue: with room for two
        // waiting messages and one enrolment per batch, a tick over three due enrolments
        // queues two, waits, and says there is more.
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB, "cy@example.net"], "joined:1").await;
        f.scheduler = Scheduler::new().paced(1, Some(2), std::time::Duration::from_millis(50));
        let tick = f.scheduler.tick(&f.app).await.unwrap();
        assert_eq!((tick.advanced.queued, tick.more), (2, true), "{tick:?}");
        // Still full: nothing more, however often it ticks.
        let tick = f.scheduler.tick(&f.app).await.unwrap();
        assert_eq!((tick.advanced.queued, tick.more), (0, true), "{tick:?}");
        // The engine takes them: room again, and the third is queued.
        while !f.engine.step_messages().await.unwrap().is_empty() {}
        let tick = f.scheduler.tick(&f.app).await.unwrap();
        assert_eq!((tick.advanced.queued, tick.more), (1, false), "{tick:?}");
        while !f.engine.step_messages().await.unwrap().is_empty() {}
        assert_eq!(f.subjects("cy@example.net"), ["Step hello for Cy"]);
        assert_eq!(f.subjects(ADA).len() + f.subjects(BOB).len(), 2);
    }

    async fn a_welcome_series_arrives_in_order_and_on_time_with_the_event_properties(t) {
        let mut f = workspace(&t, WELCOME).await;
        let e = f.enrol(&[ADA, BOB], "joined:1").await;
        assert_eq!(e.enrolled, 2, "{e:?}");
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"]);
        assert_eq!(f.subjects(BOB), ["Step hello for Bob"]);
        let body = String::from_utf8_lossy(&f.engine.transport().records()[0].bytes).into_owned();
        assert!(body.contains("plan gold"), "the event's properties reach the template: {body}");
        // Nothing before it is due.
        f.advance(chrono::Duration::hours(23) + chrono::Duration::minutes(59));
        f.run().await;
        assert_eq!(f.subjects(ADA).len(), 1);
        f.advance(chrono::Duration::minutes(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step tips"]);
        f.advance(chrono::Duration::days(2) - chrono::Duration::seconds(1));
        f.run().await;
        assert_eq!(f.subjects(BOB).len(), 2);
        f.advance(chrono::Duration::seconds(1));
        f.run().await;
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step tips", "Step last"]);
        assert_eq!(f.subjects(BOB), ["Step hello for Bob", "Step tips", "Step last"]);
        assert_eq!(f.states().await, [("completed".to_owned(), "last".to_owned(), 2)]);
    }

    async fn each_message_of_a_step_renders_its_own_events_properties(t) {
        let mut f = workspace(&t, WELCOME).await;
        let (flows, _) = enrolment::valid_flows(&f.app).unwrap();
        let mut reqs = Vec::new();
        for (email, plan) in [(ADA, "gold"), (BOB, "silver"), ("cy@example.net", "gold")] {
            reqs.push(EnrolRequest {
                flow: "welcome".into(),
                contact_id: f.id(email).await,
                trigger_key: "joined:1".into(),
                properties: serde_json::json!({ "plan": plan }),
                at: f.clock.now(),
            });
        }
        assert_eq!(enrolment::enrol(&f.app, &flows, &reqs).await.unwrap().enrolled, 3);
        f.run().await;
        for (email, plan) in [(ADA, "gold"), (BOB, "silver"), ("cy@example.net", "gold")] {
            let records = f.engine.transport().records();
            let r = records.iter().find(|r| r.to.eq_ignore_ascii_case(email)).unwrap_or_else(|| panic!("{email}"));
            let body = String::from_utf8_lossy(&r.bytes);
            assert!(body.contains(&format!("plan {plan}")), "{email}: {body}");
        }
    }

    async fn an_unsubscribe_between_steps_stops_the_rest_and_exits_the_flow(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB], "joined:1").await;
        f.run().await;
        let ada = EmailAddress::parse(ADA).unwrap();
        let contact = f.app.store.contact(ada.normalized()).await.unwrap().unwrap();
        let patch = unsubscribe_from_message(&contact, &[ListName::parse("newsletter").unwrap()]);
        herald::contacts::edit::set(&f.app, &ada, &patch, &Authority::new(Actor::Cli("test".into()))).await.unwrap();
        f.advance(chrono::Duration::days(1));
        f.run().await;
        f.advance(chrono::Duration::days(2));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"], "nothing after the unsubscribe");
        assert_eq!(f.subjects(BOB).len(), 3);
        let skipped = f
            .app
            .store
            .execute_raw(
                "UPDATE sends SET updated_at = updated_at WHERE source = 'flow' AND state = 'skipped' \
                 AND reason = 'not_subscribed'",
            )
            .await
            .unwrap();
        assert_eq!(skipped, 1, "the step that found her unsubscribed is skipped with its reason");
        let states = f.states().await;
        assert!(states.contains(&("exited".to_owned(), "last".to_owned(), 1)), "{states:?}");
        let reason = f
            .app
            .store
            .execute_raw("UPDATE flow_enrolments SET updated_at = updated_at WHERE exit_reason = 'not_subscribed'")
            .await
            .unwrap();
        assert_eq!(reason, 1);
    }

    async fn unless_clicked_skips_the_step_for_who_clicked_the_previous_message(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB], "joined:1").await;
        f.run().await;
        let ada = f.id(ADA).await;
        let clicked = format!(
            "UPDATE sends SET clicked_at = updated_at, opened_at = updated_at WHERE source = 'flow' AND contact_id = {}",
            ada.get()
        );
        assert_eq!(f.app.store.execute_raw(&clicked).await.unwrap(), 1);
        f.advance(chrono::Duration::days(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"], "she clicked: no tips");
        assert_eq!(f.subjects(BOB), ["Step hello for Bob", "Step tips"]);
        f.advance(chrono::Duration::days(2));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step last"], "the flow goes on after a skipped step");
    }

    async fn a_contact_enters_a_flow_once_unless_it_says_reenter(t) {
        let mut f = workspace(&t, WELCOME).await;
        assert_eq!(f.enrol(&[ADA], "joined:1").await.enrolled, 1);
        let again = f.enrol(&[ADA], "joined:2").await;
        assert_eq!((again.enrolled, again.already), (0, 1));
        // reenter = true: once per trigger, never twice at the same time.
        t.write("flows/welcome.toml", WELCOME.replace("trigger =", "reenter = true\ntrigger ="));
        assert_eq!(f.enrol(&[BOB], "joined:1").await.enrolled, 1);
        assert_eq!(f.enrol(&[BOB], "joined:2").await.already, 1, "still active in the flow");
        for _ in 0..3 {
            f.run().await;
            f.advance(chrono::Duration::days(2));
        }
        assert_eq!(f.subjects(BOB).len(), 3);
        assert_eq!(f.enrol(&[BOB], "joined:1").await.already, 1, "the same trigger never enrols twice");
        assert_eq!(f.enrol(&[BOB], "joined:2").await.enrolled, 1, "a new trigger after completion does");
        f.run().await;
        assert_eq!(f.subjects(BOB).len(), 4);
        // An unknown flow and an erased-or-restricted contact are ignored, counted.
        let (flows, _) = enrolment::valid_flows(&f.app).unwrap();
        let req = |flow: &str, id| EnrolRequest {
            flow: flow.into(),
            contact_id: id,
            trigger_key: "k".into(),
            properties: serde_json::Value::Null,
            at: f.clock.now(),
        };
        let cy = f.id("cy@example.net").await;
        f.app.store.execute_raw(&format!("UPDATE contacts SET processing = 'restricted' WHERE id = {}", cy.get())).await.unwrap();
        let done = enrolment::enrol(&f.app, &flows, &[req("nope", cy), req("welcome", cy)]).await.unwrap();
        assert_eq!((done.unknown_flow, done.not_processable, done.enrolled), (1, 1, 0));
    }
}
