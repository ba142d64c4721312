//! Issue 15, flow triggers: contacts made and changed through the normal paths (import,
//! the contact-change service, erasure, the open pixel's store call), then the watchers
//! polled with a fixed clock. Each test asserts the requests produced, that a committed
//! cursor does not repeat them, that an uncommitted poll re-delivers them, and that the
//! first poll starts at the end. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use chrono::{DateTime, Duration, Utc};
use herald::app::App;
use herald::clock::{Clock, FixedClock};
use herald::consent::{Actor, Authority, ContactPatch, ProcessingChange};
use herald::contacts::change::{Mode, Selector, change};
use herald::contacts::import::{ImportOptions, import};
use herald::domain::{ContactId, EmailAddress, ListName, OptInStatus, Purpose, SubscriptionStatus};
use herald::flows::requests::{CustomEvent, EnrolRequest, ExitRequest};
use herald::flows::triggers::{self, Polled, SETTLE};
use herald::flows::{Flow, parse};
use herald::store::Engagement;
use std::path::Path;
use std::sync::Arc;

const START: &str = "2026-12-06T10:00:00Z";

/// The app on the test database with a clock that stands still, and the flows watched.
pub(crate) struct Rig {
    pub t: TestDb,
    pub app: App,
    pub clock: Arc<FixedClock>,
    pub flows: Vec<Flow>,
}

fn flow(name: &str, head: &str) -> Flow {
    let text = format!("name = \"{name}\"\n{head}\n[[steps]]\nafter = \"1d\"\nsubject = \"Hi\"\ntemplate = \"t\"\n");
    parse(Path::new("flows/x.toml"), &text).unwrap()
}

impl Rig {
    pub(crate) async fn new(t: TestDb) -> Rig {
        let start = DateTime::parse_from_rfc3339(START).unwrap().with_timezone(&Utc);
        let clock = Arc::new(FixedClock::new(start));
        let app = open_app(&t.config_path(), clock.clone()).await;
        let flows = vec![
            flow(
                "welcome",
                "purpose = \"newsletter\"\nlists = [\"newsletter\"]\n\
                 trigger = { event = \"subscribed\", list = \"newsletter\" }",
            ),
            flow("followup", "lists = [\"newsletter\"]\ntrigger = { event = \"opened\", campaign = \"spring\" }"),
            flow(
                "cart",
                "lists = [\"newsletter\"]\ntrigger = { event = \"custom\", name = \"cart_abandoned\" }\n\
                 exit_on = [\"purchased\"]",
            ),
            flow("quiet", "lists = [\"newsletter\"]\ntrigger = { event = \"inactive\", days = 30 }"),
        ];
        Rig { t, app, clock, flows }
    }

    /// Imports `rows` (`email` only: confirmed on newsletter, granting newsletter and
    /// tracking) at the clock's time.
    pub(crate) async fn import(&self, name: &str, emails: &[&str]) {
        let mut csv = String::from("email,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n");
        for e in emails {
            csv.push_str(&format!("{e},double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n"));
        }
        let path = self.t.write(name, csv);
        let report = import(&self.app, &path, &ImportOptions::default(), &|_, _| {}).await.unwrap().report;
        assert_eq!(report.created as usize, emails.len(), "{report:?}");
    }

    async fn id(&self, email: &str) -> ContactId {
        self.t.contact(email).await.unwrap().id.unwrap()
    }

    async fn patch(&self, email: &str, patch: ContactPatch) {
        let selector = Selector::Email(EmailAddress::parse(email).unwrap());
        let report =
            change(&self.app, &selector, &patch, &Authority::staff("tester", None), Mode::EachOnItsOwn).await.unwrap();
        assert!(report.changes[0].result.is_ok(), "{:?}", report.changes[0].result);
    }

    /// Polls as if `SETTLE` had passed since the clock's time.
    pub(crate) async fn poll(&self, events: &[CustomEvent]) -> Polled {
        triggers::poll(&self.app, &self.flows, events, self.clock.now() + SETTLE).await.unwrap()
    }

    /// The first poll: it starts the cursors at the end, asks for nothing, and commits.
    pub(crate) async fn start(&self) {
        let p = self.poll(&[]).await;
        assert!(p.enrol.is_empty() && p.exit.is_empty(), "history is not replayed: {:?} {:?}", p.enrol, p.exit);
        triggers::commit(&self.app, &p.cursors).await.unwrap();
    }
}

fn enrolled(p: &Polled) -> Vec<(String, ContactId, String)> {
    let mut v: Vec<_> = p
        .enrol
        .iter()
        .map(|EnrolRequest { flow, contact_id, trigger_key, .. }| (flow.clone(), *contact_id, trigger_key.clone()))
        .collect();
    v.sort();
    v
}

fn exited(p: &Polled) -> Vec<(ContactId, Option<String>, String)> {
    let mut v: Vec<_> = p
        .exit
        .iter()
        .map(|ExitRequest { contact_id, flow, reason, .. }| (*contact_id, flow.clone(), reason.clone()))
        .collect();
    v.sort();
    v
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn newsletter() -> ListName {
    ListName::parse("newsletter").unwrap()
}

on_both_backends! {
    async fn sign_ups_enrol_and_withdrawals_exit_once_committed_and_history_is_not_replayed(t) {
        let rig = Rig::new(t).await;
        rig.import("old.csv", &["ada@example.com", "bob@example.org", "cy@example.net"]).await;
        rig.start().await;

        rig.clock.advance(Duration::minutes(5));
        rig.import("new.csv", &["dora@example.com"]).await;
        rig.patch("ada@example.com", ContactPatch { unsubscribe: vec![newsletter()], ..Default::default() }).await;
        let purpose = Purpose::parse("newsletter").unwrap();
        rig.patch("bob@example.org", ContactPatch { withdraw: vec![purpose], ..Default::default() }).await;
        let (ada, bob, cy, dora) =
            (rig.id("ada@example.com").await, rig.id("bob@example.org").await, rig.id("cy@example.net").await, rig.id("dora@example.com").await);

        let p = rig.poll(&[]).await;
        let dora_seq = rig.app.store.ledger(dora).await.unwrap().last().unwrap().seq;
        assert_eq!(enrolled(&p), [(s("welcome"), dora, format!("ledger:{dora}:{dora_seq}"))]);
        assert_eq!(p.enrol[0].at, rig.clock.now());
        // Ada's unsubscribe leaves every flow that needs the newsletter list; Bob's
        // withdrawal only the flow of that purpose.
        let mut want = vec![
            (ada, Some(s("cart")), s("unsubscribed")),
            (ada, Some(s("followup")), s("unsubscribed")),
            (ada, Some(s("quiet")), s("unsubscribed")),
            (ada, Some(s("welcome")), s("unsubscribed")),
            (bob, Some(s("welcome")), s("purpose_withdrawn")),
        ];
        want.sort();
        assert_eq!(exited(&p), want);

        // Not committed (a crash before the commit): the same requests come again.
        let again = rig.poll(&[]).await;
        assert_eq!((enrolled(&again), exited(&again)), (enrolled(&p), exited(&p)));
        triggers::commit(&rig.app, &again.cursors).await.unwrap();
        let after = rig.poll(&[]).await;
        assert!(after.enrol.is_empty() && after.exit.is_empty(), "{:?} {:?}", after.enrol, after.exit);

        // A restriction and an erasure take the contact out of every flow.
        rig.clock.advance(Duration::minutes(5));
        rig.patch("cy@example.net", ContactPatch { processing: Some(ProcessingChange::Restrict), ..Default::default() }).await;
        herald::privacy::erase::erase_contact(&rig.app, dora, None, Actor::Cli("dpo".into())).await.unwrap();
        let p = rig.poll(&[]).await;
        assert!(p.enrol.is_empty(), "{:?}", p.enrol);
        assert_eq!(exited(&p), [(cy, None, s("restricted")), (dora, None, s("erased"))]);
    }

    async fn a_double_opt_in_sign_up_enrols_when_confirmed(t) {
        let rig = Rig::new(t).await;
        rig.start().await;
        rig.clock.advance(Duration::minutes(1));
        let path = rig.t.write(
            "web.csv",
            "email,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
             ada@example.com,single_opt_in_webform,consent,2026-12-06,newsletter,newsletter:unconfirmed\n",
        );
        import(&rig.app, &path, &ImportOptions::default(), &|_, _| {}).await.unwrap();
        let p = rig.poll(&[]).await;
        assert!(p.enrol.is_empty(), "not confirmed yet: {:?}", p.enrol);
        triggers::commit(&rig.app, &p.cursors).await.unwrap();

        rig.clock.advance(Duration::minutes(1));
        let confirm = ContactPatch {
            opt_in: Some(OptInStatus::DoubleOptIn),
            subscribe: vec![(newsletter(), Some(SubscriptionStatus::Confirmed))],
            ..Default::default()
        };
        let selector = Selector::Email(EmailAddress::parse("ada@example.com").unwrap());
        let proof = Authority::staff("tester", Some("clicked the confirmation link, ticket 7".into()));
        change(&rig.app, &selector, &confirm, &proof, Mode::EachOnItsOwn).await.unwrap();
        let ada = rig.t.contact("ada@example.com").await.unwrap();
        assert_eq!(ada.lists[&newsletter()], SubscriptionStatus::Confirmed);
        let ada = ada.id.unwrap();
        let seq = rig.app.store.ledger(ada).await.unwrap().last().unwrap().seq;
        assert_eq!(enrolled(&rig.poll(&[]).await), [(s("welcome"), ada, format!("ledger:{ada}:{seq}"))]);
    }

    async fn a_change_is_read_only_once_it_has_settled(t) {
        let rig = Rig::new(t).await;
        rig.start().await;
        rig.clock.advance(Duration::minutes(1));
        rig.import("new.csv", &["ada@example.com"]).await;
        let early = triggers::poll(&rig.app, &rig.flows, &[], rig.clock.now() + SETTLE - Duration::seconds(1)).await.unwrap();
        assert!(early.enrol.is_empty(), "{:?}", early.enrol);
        triggers::commit(&rig.app, &early.cursors).await.unwrap();
        assert_eq!(rig.poll(&[]).await.enrol.len(), 1);
    }

    async fn an_open_of_the_named_campaign_enrols_once(t) {
        let rig = Rig::new(t).await;
        rig.import("c.csv", &["ada@example.com", "bob@example.org"]).await;
        let (ada, bob) = (rig.id("ada@example.com").await, rig.id("bob@example.org").await);
        for (name, base) in [("spring", 100), ("autumn", 200)] {
            rig.app.store.execute_raw(&format!(
                "INSERT INTO campaigns (name, kind, file_path, content, content_hash, state, created_at, updated_at) \
                 VALUES ('{name}', 'marketing', '{name}.toml', '', '', 'completed', '{START}', '{START}')"
            )).await.unwrap();
            for (n, who) in [(1, ada), (2, bob)] {
                let id = base + n;
                rig.app.store.execute_raw(&format!(
                    "INSERT INTO sends (id, campaign_id, contact_id, state, sent_at, updated_at) \
                     VALUES ({id}, (SELECT id FROM campaigns WHERE name = '{name}'), {who}, 'sent', '{START}', '{START}')"
                )).await.unwrap();
            }
        }
        // An open before the watcher starts is history.
        assert!(rig.app.store.record_engagement("spring", bob, Engagement::Open, rig.clock.now()).await.unwrap());
        rig.start().await;

        rig.clock.advance(Duration::minutes(2));
        let now = rig.clock.now();
        assert!(rig.app.store.record_engagement("spring", ada, Engagement::Click, now).await.unwrap());
        assert!(rig.app.store.record_engagement("autumn", ada, Engagement::Open, now).await.unwrap());
        let p = rig.poll(&[]).await;
        // Ada's spring send is 101; her autumn open is of no flow's campaign.
        assert_eq!(enrolled(&p), [(s("followup"), ada, s("open:101"))]);
        assert_eq!(p.enrol[0].properties, serde_json::json!({"campaign": "spring"}));
        triggers::commit(&rig.app, &p.cursors).await.unwrap();
        assert!(rig.poll(&[]).await.enrol.is_empty());
    }

    async fn custom_events_enrol_and_exit_and_are_not_taken_twice(t) {
        let rig = Rig::new(t).await;
        rig.import("c.csv", &["ada@example.com"]).await;
        rig.start().await;
        let ada = rig.id("ada@example.com").await;
        let event = |id: i64, contact: Option<ContactId>, name: &str| CustomEvent {
            id,
            contact_id: contact,
            name: name.into(),
            properties: serde_json::json!({"items": [{"sku": "A1", "qty": 2}]}),
            at: rig.clock.now(),
        };
        let events = [event(1, Some(ada), "cart_abandoned"), event(2, None, "cart_abandoned")];
        let p = rig.poll(&events).await;
        assert_eq!(enrolled(&p), [(s("cart"), ada, s("event:1"))]);
        assert_eq!(p.enrol[0].properties["items"][0]["qty"], 2);
        assert_eq!(triggers::events_cursor(&rig.app).await.unwrap(), None);
        triggers::commit(&rig.app, &p.cursors).await.unwrap();
        assert_eq!(triggers::events_cursor(&rig.app).await.unwrap(), Some(2));
        // Handed in again (a reader that re-reads): skipped by the cursor.
        assert!(rig.poll(&events).await.enrol.is_empty());
        let p = rig.poll(&[event(3, Some(ada), "purchased")]).await;
        assert_eq!(exited(&p), [(ada, Some(s("cart")), s("purchased"))]);
    }

    async fn the_inactive_are_enrolled_once_per_stretch_and_the_pass_runs_once_a_day(t) {
        let rig = Rig::new(t).await;
        rig.import("c.csv", &["quiet@example.com", "opener@example.com", "new@example.com", "gone@example.com", "unmailed@example.com"]).await;
        rig.patch("gone@example.com", ContactPatch { unsubscribe: vec![newsletter()], ..Default::default() }).await;
        rig.app.store.execute_raw(&format!(
            "INSERT INTO campaigns (name, kind, file_path, content, content_hash, state, created_at, updated_at) \
             VALUES ('old', 'marketing', 'old.toml', '', '', 'completed', '{START}', '{START}')"
        )).await.unwrap();
        let sent = |who: ContactId, sent: &str, opened: Option<&str>| {
            let opened = opened.map_or(s("NULL"), |o| format!("'{o}'"));
            format!(
                "INSERT INTO sends (campaign_id, contact_id, state, sent_at, opened_at, updated_at) \
                 VALUES ((SELECT id FROM campaigns WHERE name = 'old'), {who}, 'sent', '{sent}', {opened}, '{sent}')"
            )
        };
        let quiet = rig.id("quiet@example.com").await;
        for (who, at, opened) in [
            (quiet, "2026-10-20T09:00:00+00:00", None),
            (rig.id("opener@example.com").await, "2026-10-20T09:00:00+00:00", Some("2026-12-01T09:00:00+00:00")),
            (rig.id("new@example.com").await, "2026-11-30T09:00:00+00:00", None),
            (rig.id("gone@example.com").await, "2026-10-20T09:00:00+00:00", None),
        ] {
            rig.app.store.execute_raw(&sent(who, at, opened)).await.unwrap();
        }
        let p = rig.poll(&[]).await;
        let key = s("inactive:quiet:2026-10-20");
        assert_eq!(enrolled(&p), [(s("quiet"), quiet, key.clone())]);
        triggers::commit(&rig.app, &p.cursors).await.unwrap();
        assert!(rig.poll(&[]).await.enrol.is_empty(), "the day's pass is done");
        // The next day's pass asks again with the same key: enrolment keeps it once.
        rig.clock.advance(Duration::days(1));
        assert_eq!(enrolled(&rig.poll(&[]).await), [(s("quiet"), quiet, key)]);
    }

    async fn a_cursor_never_moves_back(t) {
        let rig = Rig::new(t).await;
        rig.start().await;
        rig.clock.advance(Duration::minutes(1));
        rig.import("a.csv", &["ada@example.com"]).await;
        let first = rig.poll(&[]).await;
        rig.clock.advance(Duration::minutes(1));
        rig.import("b.csv", &["bob@example.org"]).await;
        let second = rig.poll(&[]).await;
        assert_eq!(second.enrol.len(), 2, "ada's and bob's: {:?}", second.enrol);
        // Two daemons polled; the later commits first, then the earlier.
        triggers::commit(&rig.app, &second.cursors).await.unwrap();
        triggers::commit(&rig.app, &first.cursors).await.unwrap();
        let p = rig.poll(&[]).await;
        assert!(p.enrol.is_empty(), "the cursor stayed at the later position: {:?}", p.enrol);
    }
}
