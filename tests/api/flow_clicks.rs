//! Issue 15, clicks and opens as flow triggers and flow conditions (DESIGN §11, §13): the
//! tracked `spring` campaign of `tracking.rs` goes out, its links are followed through
//! the real web router, and the trigger watchers and the scheduler see what was done.
//! - a `clicked { campaign, link }` trigger matches ANY link followed in the message whose
//!   URL starts with the prefix, not only the first click; another link does not enrol;
//! - a link scanner following a link again and again leaves one `clicks` row per link;
//! - `unless = "clicked"` on the first step of a flow triggered by `opened` looks at the
//!   campaign message (the engagement follow-up: opened but not clicked);
//! - a flow message's own tracked link records its click, and the next step with
//!   `unless = "clicked"` is skipped;
//! - erasure deletes the contact's clicks.
//!
//! On both backends.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::tracking::{PUBLIC_URL, clicks, pixel, sent, urls};
use chrono::{DateTime, Duration, Utc};
use herald::app::App;
use herald::clock::{Clock, FixedClock};
use herald::consent::Actor;
use herald::domain::{ContactId, EmailAddress, SendId};
use herald::flows::enrolment;
use herald::flows::requests::EnrolRequest;
use herald::flows::scheduler::Scheduler;
use herald::flows::triggers::{self, SETTLE};
use herald::store::flow_triggers::EngagementPosition;
use scraper::Html;
use std::sync::Arc;

/// The flows watching `spring`: the deep-dive (a spring link), any click, and the
/// engagement follow-up (opened but not clicked, on its first step).
const FLOWS: [(&str, &str); 3] = [
    (
        "deep-dive",
        "trigger = { event = \"clicked\", campaign = \"spring\", link = \"https://acme.example/spring\" }\n\
         [[steps]]\nafter = \"0m\"\nsubject = \"More\"\ntemplate = \"t\"\n",
    ),
    (
        "any-click",
        "trigger = { event = \"clicked\", campaign = \"spring\" }\n\
         [[steps]]\nafter = \"0m\"\nsubject = \"Thanks\"\ntemplate = \"t\"\n",
    ),
    (
        "followup",
        "trigger = { event = \"opened\", campaign = \"spring\" }\n\
         [[steps]]\nafter = \"0m\"\nsubject = \"In case you missed it\"\ntemplate = \"t\"\nunless = \"clicked\"\n",
    ),
];

async fn id(app: &App, email: &str) -> ContactId {
    app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap().id.unwrap()
}

/// Rows of `table` matching `filter` (counted by a no-op update, on either backend).
async fn count(app: &App, table: &str, set: &str, filter: &str) -> u64 {
    app.store.execute_raw(&format!("UPDATE {table} SET {set} = {set} WHERE {filter}")).await.unwrap()
}

/// The `flow_steps` of `flow` for `contact` with this outcome and reason.
async fn steps(app: &App, flow: &str, contact: ContactId, outcome: &str, reason: Option<&str>) -> u64 {
    let reason = reason.map(|r| format!("reason = '{r}'")).unwrap_or_else(|| "reason IS NULL".into());
    let filter = format!(
        "outcome = '{outcome}' AND {reason} AND enrolment_id IN \
         (SELECT id FROM flow_enrolments WHERE flow = '{flow}' AND contact_id = {contact})"
    );
    count(app, "flow_steps", "step_name", &filter).await
}

on_both_backends! {
    async fn clicks_on_a_topic_link_enrol_into_the_deep_dive_and_unless_looks_at_the_campaign(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let dir = t.dir.path().join("flows");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in FLOWS {
            let head = format!("name = \"{name}\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n");
            std::fs::write(dir.join(format!("{name}.toml")), format!("{head}{body}")).unwrap();
        }
        std::fs::write(dir.join("t.html.hbs"), "<p>Hi</p>").unwrap();
        let extra = format!("[flows]\ndir = \"{}\"\n", dir.display());
        let (web, app) = sent(t, &fake, &extra, &[]).await;
        let (flows, invalid) = enrolment::valid_flows(&app).unwrap();
        assert!(invalid.is_empty(), "{invalid:?}");

        // The watchers start at the end: nothing clicked yet.
        let first = triggers::poll(&app, &flows, &[], Utc::now()).await.unwrap();
        assert!(first.enrol.is_empty());
        triggers::commit(&app, &first.cursors).await.unwrap();

        // Ada follows the spring link, and a scanner follows it 20 times more.
        let ada = clicks(&fake, "ada@example.com");
        for _ in 0..21 {
            assert_eq!(web.get(&ada[0]).await.status, 302);
        }
        // Cy follows only the other link; Dora the other one first, then spring.
        let cy = clicks(&fake, "cy@example.net");
        assert_eq!(web.get(&cy[1]).await.status, 302);
        let dora = clicks(&fake, "dora@example.com");
        assert_eq!(web.get(&dora[1]).await.status, 302);
        assert_eq!(web.get(&dora[0]).await.status, 302);
        // Bob never agreed to tracking: his links redirect and record nothing.
        let bob = urls(&html_of_links(&fake, "bob@example.org"), "a[href]", "href");
        assert!(bob.iter().all(|u| !u.starts_with("/t/c/")), "Bob's links are not tracked: {bob:?}");
        // Dora also opens; Eve was suppressed; nobody else opens.
        assert_eq!(web.get(&pixel(&fake, "dora@example.com")).await.status, 200);

        let (a, c, d) = (id(&app, "ada@example.com").await, id(&app, "cy@example.net").await, id(&app, "dora@example.com").await);
        // One row per link per send: the scanner's 20 repeats added nothing.
        assert_eq!(count(&app, "clicks", "url", "1 = 1").await, 4, "Ada 1, Cy 1, Dora 2");
        let ada_rows = format!("send_id IN (SELECT id FROM sends WHERE contact_id = {a})");
        assert_eq!(count(&app, "clicks", "url", &ada_rows).await, 1);
        assert_eq!(count(&app, "clicks", "url", &format!("{ada_rows} AND url = 'https://acme.example/spring?a=1&b=2'")).await, 1, "the URL followed, decoded");

        let polled = triggers::poll(&app, &flows, &[], Utc::now() + SETTLE + Duration::seconds(1)).await.unwrap();
        let mut got: Vec<(String, ContactId)> = polled.enrol.iter().map(|r| (r.flow.clone(), r.contact_id)).collect();
        got.sort();
        got.dedup();
        let mut want = vec![
            ("any-click".to_owned(), a), ("any-click".to_owned(), c), ("any-click".to_owned(), d),
            ("deep-dive".to_owned(), a), ("deep-dive".to_owned(), d),
            ("followup".to_owned(), a), ("followup".to_owned(), c), ("followup".to_owned(), d),
        ];
        want.sort();
        assert_eq!(got, want, "Cy's click on another link does not enrol into the deep-dive; Dora's second click does");
        let dive: Vec<&EnrolRequest> = polled.enrol.iter().filter(|r| r.flow == "deep-dive" && r.contact_id == a).collect();
        assert_eq!(dive[0].properties["link"], "https://acme.example/spring?a=1&b=2");
        assert!(dive[0].trigger_key.starts_with("click:"), "{:?}", dive[0].trigger_key);

        let done = enrolment::enrol(&app, &flows, &polled.enrol).await.unwrap();
        assert_eq!(done.enrolled, 8, "{done:?}");
        triggers::commit(&app, &polled.cursors).await.unwrap();
        let again = triggers::poll(&app, &flows, &[], Utc::now() + SETTLE + Duration::seconds(1)).await.unwrap();
        assert!(again.enrol.is_empty(), "a committed cursor does not repeat: {:?}", again.enrol);

        // The follow-up's first step: skipped for who clicked the campaign message (Ada,
        // and Cy, whose click on any link counts), sent to who only opened it (Dora did both).
        Scheduler::new().tick(&app).await.unwrap();
        assert_eq!(steps(&app, "followup", a, "skipped", Some("unless_clicked")).await, 1);
        assert_eq!(steps(&app, "followup", c, "skipped", Some("unless_clicked")).await, 1);
        assert_eq!(steps(&app, "followup", d, "skipped", Some("unless_clicked")).await, 1);
        assert_eq!(steps(&app, "deep-dive", a, "queued", None).await, 1);

        // Clicks of one send at one instant share a place in the watcher's order: a full
        // page never ends between two of them (the second would be behind the cursor).
        app.store.execute_raw("UPDATE clicks SET at = (SELECT MIN(at) FROM clicks)").await.unwrap();
        let spring = ["spring".to_owned()];
        let upto = Utc::now() + Duration::days(1);
        let start = EngagementPosition { at: DateTime::<Utc>::UNIX_EPOCH, send_id: SendId::new(0) };
        let page = app.store.engagement_after(&spring, true, &start, upto, 3).await.unwrap();
        let who: Vec<ContactId> = page.iter().map(|r| r.contact_id).collect();
        assert_eq!(who, [a, c], "Dora's two clicks wait for the next page together");
        let next = app.store.engagement_after(&spring, true, &page[1].position(), upto, 3).await.unwrap();
        let links: Vec<Option<String>> = next.iter().map(|r| r.link.clone()).collect();
        assert_eq!(links, [Some("https://acme.example/other".into()), Some("https://acme.example/spring?a=1&b=2".into())]);

        // Erasure takes the links Ada followed with it; the others' stay.
        herald::privacy::erase::erase_contact(&app, a, None, Actor::Cli("dpo".into())).await.unwrap();
        assert_eq!(count(&app, "clicks", "url", &ada_rows).await, 0, "Ada's clicks are erased");
        assert_eq!(count(&app, "clicks", "url", "1 = 1").await, 3);
    }

    async fn the_followup_reaches_who_opened_without_clicking(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let dir = t.dir.path().join("flows");
        std::fs::create_dir_all(&dir).unwrap();
        let (name, body) = FLOWS[2];
        std::fs::write(dir.join("followup.toml"), format!("name = \"{name}\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n{body}")).unwrap();
        std::fs::write(dir.join("t.html.hbs"), "<p>Hi</p>").unwrap();
        let (web, app) = sent(t, &fake, &format!("[flows]\ndir = \"{}\"\n", dir.display()), &[]).await;
        let (flows, _) = enrolment::valid_flows(&app).unwrap();
        let first = triggers::poll(&app, &flows, &[], Utc::now()).await.unwrap();
        triggers::commit(&app, &first.cursors).await.unwrap();

        // Ada opens only; Cy opens and clicks.
        assert_eq!(web.get(&pixel(&fake, "ada@example.com")).await.status, 200);
        assert_eq!(web.get(&pixel(&fake, "cy@example.net")).await.status, 200);
        assert_eq!(web.get(&clicks(&fake, "cy@example.net")[0]).await.status, 302);
        let polled = triggers::poll(&app, &flows, &[], Utc::now() + SETTLE + Duration::seconds(1)).await.unwrap();
        assert_eq!(enrolment::enrol(&app, &flows, &polled.enrol).await.unwrap().enrolled, 2);
        Scheduler::new().tick(&app).await.unwrap();
        let (a, c) = (id(&app, "ada@example.com").await, id(&app, "cy@example.net").await);
        assert_eq!(steps(&app, "followup", a, "queued", None).await, 1, "opened, not clicked: the follow-up goes");
        assert_eq!(steps(&app, "followup", c, "skipped", Some("unless_clicked")).await, 1);
    }
}

/// The HTML of `who`'s message.
fn html_of_links(fake: &FakeSmtp, who: &str) -> Html {
    let m = fake.received().into_iter().find(|m| m.to == [who]).unwrap_or_else(|| panic!("nothing for {who}"));
    let parsed = mail_parser::MessageParser::default().parse(&m.data).expect("a MIME message");
    Html::parse_document(&parsed.body_html(0).unwrap())
}

/// Contacts granting tracking, for the flow message test.
const TRACKED: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n\
    cy@example.net,Cy,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n";

/// Two steps a day apart; the second is for who did not click the first.
const TWO_STEPS: &str = "name = \"welcome\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n\
    trigger = { event = \"custom\", name = \"joined\" }\n\
    [[steps]]\nname = \"hello\"\nafter = \"0m\"\nsubject = \"Step hello\"\ntemplate = \"w1\"\n\
    [[steps]]\nname = \"tips\"\nafter = \"1d\"\nsubject = \"Step tips\"\ntemplate = \"w1\"\nunless = \"clicked\"\n";

on_both_backends! {
    async fn a_click_in_a_flow_message_skips_the_next_step_unless_clicked(t) {
        let path = t.write("contacts.csv", TRACKED);
        herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
        std::fs::create_dir_all(t.dir.path().join("flows")).unwrap();
        t.write("flows/welcome.toml", TWO_STEPS);
        t.write("flows/w1.html.hbs", "<p>Hello {{first_name}}</p><a href=\"https://acme.example/start\">Start</a>");
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(
            t.config_path(),
            format!(
                "{config}\n[flows]\ndir = \"{}\"\n[policy]\ntracking = true\n[dns]\ncheck_domains = false\n\
                 [sending]\nlease_seconds = 3\nmin_sample = 1000\n",
                t.dir.path().join("flows").display()
            ),
        )
        .unwrap();
        // The clock stands at the real time, so the links' tokens are valid for the web surface.
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let app = Arc::new(open_app(&t.config_path(), clock.clone()).await);
        let engine = crate::engine_step::recording_engine(&app);
        let (flows, _) = enrolment::valid_flows(&app).unwrap();
        let (a, c) = (id(&app, "ada@example.com").await, id(&app, "cy@example.net").await);
        let reqs: Vec<EnrolRequest> = [a, c]
            .into_iter()
            .map(|contact_id| EnrolRequest {
                flow: "welcome".into(),
                contact_id,
                trigger_key: format!("event:{contact_id}"),
                properties: serde_json::json!({}),
                at: clock.now(),
            })
            .collect();
        assert_eq!(enrolment::enrol(&app, &flows, &reqs).await.unwrap().enrolled, 2);
        let mut scheduler = Scheduler::new();
        scheduler.tick(&app).await.unwrap();
        while !engine.step_messages().await.unwrap().is_empty() {}

        // Ada follows the tracked link of her first flow message, through the web router.
        let record = engine.transport().records().into_iter().find(|r| r.transmitted && r.to == "ada@example.com").expect("Ada's first step");
        let parsed = mail_parser::MessageParser::default().parse(&record.bytes).expect("a MIME message");
        let html = Html::parse_document(&parsed.body_html(0).unwrap());
        let link: Vec<String> = urls(&html, "a[href]", "href").into_iter().filter(|u| u.starts_with("/t/c/")).collect();
        assert_eq!(link.len(), 1, "the flow message's link is tracked: {link:?} ({PUBLIC_URL})");
        let web = TestApp::on(t, &[]).await;
        let r = web.get(&link[0]).await;
        assert_eq!((r.status, r.header("location")), (302, "https://acme.example/start"));
        let flow_send = format!("contact_id = {a} AND source = 'flow' AND clicked_at IS NOT NULL");
        assert_eq!(count(&app, "sends", "state", &flow_send).await, 1, "the click is on the flow's send");

        // A day later: Ada clicked, so no tips; Cy did not, so tips.
        clock.advance(Duration::days(1));
        scheduler.tick(&app).await.unwrap();
        assert_eq!(steps(&app, "welcome", a, "skipped", Some("unless_clicked")).await, 1);
        assert_eq!(steps(&app, "welcome", c, "skipped", Some("unless_clicked")).await, 0);
        assert_eq!(steps(&app, "welcome", c, "queued", None).await, 2);
    }
}
