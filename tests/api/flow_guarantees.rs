//! Issue 15, point 2: what flows guarantee besides the order of steps. A changed flow
//! file keeps contacts on their step by name and never sends a step twice; two ticks at
//! once, or a tick whose transaction fails, queue each step once; flow messages count
//! in the frequency cap; a paused flow sends nothing; `flows enroll` by hand; erasure
//! takes a contact out of every flow. On both backends.

use crate::flow_steps::{ADA, BOB, WELCOME, workspace};
use crate::helpers::*;
use herald::clock::Clock;
use herald::consent::Actor;
use herald::flows::scheduler::{Scheduler, plan};
use herald::store::flows::{Advance, Next, StepDone, StepOutcome};
use std::sync::Arc;

/// How many rows `condition` selects in `table` (a no-op UPDATE counts them on both backends).
async fn count(app: &herald::app::App, table: &str, condition: &str) -> u64 {
    let col = if table == "flow_steps" { "at" } else { "updated_at" };
    let sql = format!("UPDATE {table} SET {col} = {col} WHERE {condition}");
    app.store.execute_raw(&sql).await.unwrap()
}

crate::on_both_backends! {
    async fn a_changed_flow_file_keeps_each_contact_on_its_step_by_name_and_sends_no_step_twice(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA], "joined:1").await;
        f.run().await;
        // A step is put in front of "tips", and "tips" gets a new subject.
        let changed = WELCOME
            .replace(
                "[[steps]]\nname = \"tips\"",
                "[[steps]]\nname = \"extra\"\nafter = \"1d\"\nsubject = \"Step extra\"\ntemplate = \"w2\"\n\
                 [[steps]]\nname = \"tips\"",
            )
            .replace("Step tips", "Step tips, revised");
        t.write("flows/welcome.toml", &changed);
        let out = t.herald(&["flows", "status", "welcome", "--json"]);
        let status = json(&out);
        assert_eq!(status["flows"][0]["on_changed_file"], 1, "{status}");
        assert_eq!(status["flows"][0]["steps"]["tips"], 1, "{status}");
        f.advance(chrono::Duration::days(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step tips, revised"], "kept on 'tips' by its name");
        // The file goes back: "hello" is before the contact's place and is never re-sent.
        t.write("flows/welcome.toml", WELCOME);
        for _ in 0..3 {
            f.advance(chrono::Duration::days(2));
            f.run().await;
        }
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step tips, revised", "Step last"]);
        assert_eq!(f.states().await, [("completed".to_owned(), "last".to_owned(), 1)]);
    }

    async fn two_ticks_at_once_queue_each_due_step_once(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB, "cy@example.net"], "joined:1").await;
        let other = Arc::new(open_app(&t.config_path(), f.clock.clone()).await);
        let (mut s1, mut s2) = (Scheduler::new(), Scheduler::new());
        let (a, b) = tokio::join!(s1.tick(&f.app), s2.tick(&other));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.advanced.queued + b.advanced.queued, 3, "{a:?} {b:?}");
        assert_eq!(count(&f.app, "sends", "source = 'flow'").await, 3);
        f.run().await;
        for email in [ADA, BOB, "cy@example.net"] {
            assert_eq!(f.subjects(email).len(), 1, "{email}");
        }
    }

    async fn a_tick_that_fails_before_its_commit_leaves_the_step_due_once(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB], "joined:1").await;
        // A plan whose writes cannot all commit (the same step recorded twice): the
        // transaction that queued the sends and moved the enrolments rolls back.
        let now = f.clock.now();
        let failed = f
            .app
            .store
            .advance_flows("welcome", now, 100, |due| {
                due.into_iter()
                    .map(|d| {
                        let step = StepDone {
                            step_index: 0,
                            step_name: "hello".into(),
                            marketing: true,
                            outcome: StepOutcome::Queued { context: serde_json::json!({"enrolment": d.id, "flow": "welcome", "step": "hello"}) },
                        };
                        Advance { enrolment_id: d.id, contact_id: d.contact_id, flow_hash: d.flow_hash, done: vec![step.clone(), step], next: Next::Completed }
                    })
                    .collect()
            })
            .await;
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(count(&f.app, "sends", "source = 'flow'").await, 0, "nothing queued");
        assert_eq!(f.states().await, [("active".to_owned(), "hello".to_owned(), 2)], "still due");
        f.run().await;
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"]);
        assert_eq!(f.subjects(BOB), ["Step hello for Bob"]);
        assert_eq!(count(&f.app, "flow_steps", "step_name = 'hello'").await, 2);
    }

    async fn a_step_taken_set_based_writes_what_the_plan_writes(t) {
        // Ada's first step goes through the plan (claimed and decided one by one), Bob's
        // through the set-based step the tick takes for a step with no `unless`: the same
        // rows, and the same message rendered from the same context.
        let mut f = workspace(&t, WELCOME).await;
        t.write("flows/w1.html.hbs", "<p>Hello {{first_name}}: flow {{flow}}, step {{step}}, plan {{event.plan}}</p>");
        f.enrol(&[ADA, BOB], "joined:1").await;
        let now = f.clock.now();
        let (flows, _) = herald::flows::enrolment::valid_flows(&f.app).unwrap();
        let running: std::collections::HashMap<&str, &herald::flows::Flow> =
            flows.iter().map(|fl| (fl.name.as_str(), fl)).collect();
        let one = f.app.store.advance_flows("welcome", now, 1, |due| plan(&running, due, now)).await.unwrap();
        assert_eq!((one.claimed, one.queued), (1, 1), "{one:?}");
        let tick = f.scheduler.tick(&f.app).await.unwrap();
        assert_eq!((tick.advanced.claimed, tick.advanced.queued), (1, 1), "{tick:?}");
        assert_eq!(count(&f.app, "flow_steps", "step_name = 'hello' AND step_index = 0 AND outcome = 'queued' \
            AND reason IS NULL AND marketing AND send_id IS NOT NULL").await, 2);
        assert_eq!(count(&f.app, "flow_enrolments", "state = 'active' AND step_index = 1 AND step_name = 'tips' \
            AND exit_reason IS NULL AND due_at > created_at \
            AND last_send_id = (SELECT f.send_id FROM flow_steps f WHERE f.enrolment_id = flow_enrolments.id) \
            AND EXISTS (SELECT 1 FROM sends s WHERE s.id = flow_enrolments.last_send_id \
                AND s.contact_id = flow_enrolments.contact_id AND s.source = 'flow' AND s.state = 'queued')").await, 2);
        while !f.engine.step_messages().await.unwrap().is_empty() {}
        let bodies: Vec<String> = f
            .engine
            .transport()
            .records()
            .iter()
            .filter(|r| r.transmitted)
            .map(|r| String::from_utf8_lossy(&r.bytes).into_owned())
            .collect();
        assert_eq!(bodies.len(), 2);
        for (who, name) in [(ADA, "Ada"), (BOB, "Bob")] {
            assert!(
                bodies.iter().any(|b| b.contains(&format!("Hello {name}: flow welcome, step hello, plan gold"))),
                "{who}: {bodies:?}"
            );
        }
        // Both then go on alike: "tips" (an `unless`) a day later through the plan.
        f.advance(chrono::Duration::days(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada", "Step tips"]);
        assert_eq!(f.subjects(BOB), ["Step hello for Bob", "Step tips"]);
    }

    async fn flow_messages_count_in_the_frequency_cap_with_campaign_messages(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA], "joined:1").await;
        f.run().await;
        let ada = f.id(ADA).await;
        let since = f.clock.now() - chrono::Duration::days(7);
        let history = f.app.store.history(&[ada], Some(since), None).await.unwrap();
        assert_eq!(history.get(&ada).map(|h| h.recent_marketing), Some(1), "{history:?}");
        // A transactional flow's message does not count.
        t.write("flows/welcome.toml", WELCOME.replace("purpose = \"newsletter\"", "kind = \"transactional\""));
        f.enrol(&[BOB], "joined:1").await;
        f.run().await;
        assert_eq!(f.subjects(BOB).len(), 1);
        let bob = f.id(BOB).await;
        let history = f.app.store.history(&[bob], Some(since), None).await.unwrap();
        assert_eq!(history.get(&bob).map(|h| h.recent_marketing).unwrap_or(0), 0, "{history:?}");
    }

    async fn a_paused_flow_sends_nothing_until_resumed(t) {
        let mut f = workspace(&t, WELCOME).await;
        let out = t.herald(&["flows", "pause", "welcome"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        f.enrol(&[ADA], "joined:1").await;
        f.run().await;
        assert!(f.subjects(ADA).is_empty(), "paused");
        let status = json(&t.herald(&["flows", "status", "--json"]));
        assert_eq!(status["flows"][0]["paused"], true, "{status}");
        assert_eq!(status["flows"][0]["due"], 1, "{status}");
        let out = t.herald(&["flows", "resume", "welcome"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"]);
        let out = t.herald(&["flows", "pause", "nope"]);
        assert_ne!(out.status.code(), Some(0));
        assert!(stderr(&out).contains("no valid flow named 'nope'"), "{}", stderr(&out));
    }

    async fn a_contact_is_enrolled_by_hand_once(t) {
        let mut f = workspace(&t, WELCOME).await;
        let out = t.herald(&["flows", "enroll", "nope", "--email", ADA]);
        assert_ne!(out.status.code(), Some(0));
        assert!(stderr(&out).contains("no valid flow named 'nope'"), "{}", stderr(&out));
        let out = t.herald(&["flows", "enroll", "welcome", "--email", "nobody@example.com"]);
        assert_ne!(out.status.code(), Some(0));
        assert!(stderr(&out).contains("no contact has that address"), "{}", stderr(&out));
        let out = t.herald(&["flows", "enroll", "welcome", "--email", ADA]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("enrolled in welcome"), "{}", stdout(&out));
        assert!(!stdout(&out).contains(ADA), "no address in the output");
        let out = t.herald(&["flows", "enroll", "welcome", "--email", ADA]);
        assert!(stdout(&out).contains("already enrolled"), "{}", stdout(&out));
        // The CLI's clock is the system's: the step is due now. By hand, there is no event
        // for `{{event.plan}}`.
        t.write("flows/w1.html.hbs", "<p>Hello {{first_name}}</p>");
        f.clock.advance(chrono::Duration::days(400));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"]);
    }

    async fn erasure_takes_a_contact_out_of_every_flow(t) {
        let mut f = workspace(&t, WELCOME).await;
        f.enrol(&[ADA, BOB], "joined:1").await;
        f.run().await;
        let ada = f.id(ADA).await;
        herald::privacy::erase::erase_contact(&f.app, ada, None, Actor::Cli("test".into())).await.unwrap();
        assert_eq!(count(&f.app, "flow_enrolments", &format!("contact_id = {}", ada.get())).await, 0);
        assert_eq!(count(&f.app, "flow_enrolments", "1 = 1").await, 1, "Bob stays");
        f.advance(chrono::Duration::days(3));
        f.run().await;
        assert_eq!(f.subjects(ADA).len(), 1);
    }
}
