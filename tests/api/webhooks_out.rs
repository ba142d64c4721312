//! Outbound consent webhooks (issue 15.6) against an in-test CRM (`webhook_receiver.rs`):
//! every signal delivered through 500s and an outage, in order per contact, none twice,
//! signed; only the signals a webhook asks for; no row without a webhook; the row in the
//! change's own transaction; erasure; a crash of the worker; `webhooks status|retry`.

use crate::helpers::*;
use crate::on_both_backends;
use crate::webhook_receiver::{Hit, Receiver};
use herald::app::App;
use herald::clock::SystemClock;
use herald::config::{self, Secrets};
use herald::consent::{Authority, ContactPatch, Target};
use herald::contacts::change::{Mode, Selector, change};
use herald::domain::{EmailAddress, ListName, OptInStatus, SubscriptionStatus};
use herald::outbound::worker::{Step, Worker};
use herald::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const KEY: &str = "crm-webhook-key-0123456789abcdef";

pub(crate) fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// `crm` (most signals) and `audit` (`erased` only), both at `r`, with fast retries.
pub(crate) fn webhooks_config(r: &Receiver, crm_max_attempts: u32) -> String {
    format!(
        "[[webhooks.out]]\nname = \"crm\"\nurl = \"{}\"\n\
         events = [\"subscribed\", \"unsubscribed\", \"opted_out\", \"suppressed\", \"erased\"]\n\
         timeout = \"300ms\"\nbackoff = \"20ms\"\nmax_backoff = \"80ms\"\nmax_attempts = {crm_max_attempts}\n\
         [[webhooks.out]]\nname = \"audit\"\nurl = \"{}\"\nevents = [\"erased\"]\n\
         timeout = \"300ms\"\nbackoff = \"20ms\"\nmax_backoff = \"80ms\"\n",
        r.url("/crm"),
        r.url("/audit"),
    )
}

/// A second `App` on `t`'s database whose config adds `webhooks` (and whose environment
/// holds the webhook key).
pub(crate) async fn with_webhooks(t: &TestDb, webhooks: &str) -> Arc<App> {
    let text = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(t.config_path(), format!("{text}\n{webhooks}")).unwrap();
    let mut env = env();
    env.push(("HERALD_CRM_WEBHOOK_SECRET".into(), KEY.into()));
    let loaded = config::load(Some(&t.config_path()), &env).expect("config");
    let secrets = Secrets::resolve(&loaded, &env).expect("secrets");
    let store = Store::connect(&loaded.config.database.url).await.unwrap();
    Arc::new(App::with_store(&loaded, store, secrets, Arc::new(SystemClock)).await.unwrap())
}

async fn apply(app: &App, who: &str, patch: ContactPatch) {
    let report =
        change(app, &Selector::Email(email(who)), &patch, &Authority::staff("tester", None), Mode::EachOnItsOwn)
            .await
            .unwrap();
    assert!(report.changes.iter().all(|c| c.result.is_ok()), "{report:?}");
}

fn newsletter() -> ListName {
    ListName::parse("newsletter").unwrap()
}

pub(crate) async fn subscribe(app: &App, who: &str) {
    let patch = ContactPatch {
        opt_in: Some(OptInStatus::SingleOptInUser),
        subscribe: vec![(newsletter(), Some(SubscriptionStatus::Confirmed))],
        target: Target::Any,
        ..Default::default()
    };
    apply(app, who, patch).await;
}

pub(crate) async fn unsubscribe(app: &App, who: &str) {
    apply(app, who, ContactPatch { unsubscribe: vec![newsletter()], ..Default::default() }).await;
}

pub(crate) async fn opt_out(app: &App, who: &str) {
    apply(app, who, ContactPatch { opt_in: Some(OptInStatus::OptedOutUser), ..Default::default() }).await;
}

/// Steps `webhook` until nothing is pending (or panics after 20 s), waiting out another
/// worker's lease.
pub(crate) async fn drain(worker: &Worker, app: &App, webhook: &str) {
    let w = app.config.webhooks.out.iter().find(|w| w.name == webhook).unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match worker.step(&w).await.unwrap() {
            Step::Idle => return,
            Step::Waiting(d) => tokio::time::sleep(d).await,
            Step::Progress => {}
            // A crashed worker's lease runs out (three request timeouts).
            Step::Held => tokio::time::sleep(Duration::from_millis(100)).await,
            Step::NoKey => panic!("the key is set"),
        }
        assert!(Instant::now() < deadline, "{webhook} still has pending signals");
    }
}

pub(crate) async fn pending(app: &App, webhook: &str) -> i64 {
    app.store.outbox_status().await.unwrap().into_iter().find(|s| s.webhook == webhook).map_or(0, |s| s.pending)
}

/// (event, email or none) per contact id, in delivery order.
pub(crate) fn by_contact(hits: &[Hit]) -> std::collections::BTreeMap<i64, Vec<(String, Option<String>)>> {
    let mut out = std::collections::BTreeMap::<i64, Vec<_>>::new();
    for h in hits {
        let b = h.json();
        out.entry(b["contact"]["id"].as_i64().unwrap())
            .or_default()
            .push((b["event"].as_str().unwrap().to_owned(), b["contact"]["email"].as_str().map(str::to_owned)));
    }
    out
}

on_both_backends! {
    async fn every_signal_reaches_the_crm_once_in_order_through_errors_and_an_outage(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        subscribe(&app, "ann@example.com").await;
        subscribe(&app, "bob@example.com").await;
        unsubscribe(&app, "ann@example.com").await;
        herald::contacts::suppression::add(&app, &email("bob@example.com"), "complaint", &herald::consent::Actor::Cli("t".into())).await.unwrap();
        opt_out(&app, "ann@example.com").await;
        assert_eq!(pending(&app, "crm").await, 5);
        assert_eq!(pending(&app, "audit").await, 0, "audit asks for `erased` only");

        let worker = Worker::new(app.clone()).unwrap();
        let w = app.config.webhooks.out[0].clone();
        // The CRM is down: attempts fail, nothing is lost, the error is shown.
        for _ in 0..3 {
            match worker.step(&w).await.unwrap() {
                Step::Waiting(d) => tokio::time::sleep(d).await,
                other => panic!("expected a retry, got {other:?}"),
            }
        }
        let status = app.store.outbox_status().await.unwrap();
        let s = status.iter().find(|s| s.webhook == "crm").unwrap();
        assert_eq!((s.pending, s.delivered), (5, 0));
        assert!(s.last_error.as_deref().unwrap().contains("connect"), "{s:?}");
        assert!(!s.last_error.as_deref().unwrap().contains("example.com"));

        // Up, but the first two answers are 500; then down again for a while; then up.
        crm.up(2).await;
        for _ in 0..6 {
            if let Step::Waiting(d) = worker.step(&w).await.unwrap() { tokio::time::sleep(d).await }
        }
        crm.stop();
        for _ in 0..2 {
            if let Step::Waiting(d) = worker.step(&w).await.unwrap() { tokio::time::sleep(d).await }
        }
        crm.up(0).await;
        drain(&worker, &app, "crm").await;

        let (delivered, repeats) = crm.deduped("/crm");
        assert_eq!(repeats, 0, "no signal was accepted twice");
        assert_eq!(delivered.len(), 5);
        assert!(crm.hits().iter().filter(|h| h.status == 500).count() == 2);
        let ann = t.contact("ann@example.com").await.unwrap().id.unwrap().get();
        let bob = t.contact("bob@example.com").await.unwrap().id.unwrap().get();
        let got = by_contact(&delivered);
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(got[&ann], [("subscribed".into(), some("ann@example.com")), ("unsubscribed".into(), some("ann@example.com")), ("opted_out".into(), some("ann@example.com"))]);
        assert_eq!(got[&bob], [("subscribed".into(), some("bob@example.com")), ("suppressed".into(), some("bob@example.com"))]);
        for h in crm.hits() {
            assert!(h.signature_verifies(KEY.as_bytes()), "signature of {}", h.event_id);
            assert!(!h.signature_verifies(b"another key"));
            assert_eq!(h.content_type, "application/json");
            assert_eq!(h.json()["id"], h.event_id.as_str(), "the body's id is the idempotency id");
        }
        // The idempotency id is stable across retries: the 500s carried the first one's.
        let first_failed = crm.hits().into_iter().find(|h| h.status == 500).unwrap();
        assert!(delivered.iter().any(|h| h.event_id == first_failed.event_id));
        let unsubscribed = &delivered.iter().find(|h| h.json()["event"] == "unsubscribed").unwrap().json();
        assert_eq!(unsubscribed["list"], "newsletter");
        assert!(crm.accepted("/audit").is_empty(), "audit asked for none of these");
    }

    async fn no_webhook_writes_no_outbox_row(t) {
        // `t.app` has no [[webhooks.out]].
        subscribe(&t.app, "ann@example.com").await;
        unsubscribe(&t.app, "ann@example.com").await;
        assert!(t.app.store.outbox_status().await.unwrap().is_empty());
        assert_eq!(t.app.store.execute_raw("DELETE FROM webhook_outbox").await.unwrap(), 0);
    }

    async fn a_change_that_rolls_back_leaves_no_outbox_row(t) {
        let crm = Receiver::down().await;
        let app = with_webhooks(&t, &webhooks_config(&crm, 1000)).await;
        subscribe(&app, "bob@example.com").await;
        assert_eq!(pending(&app, "crm").await, 1);
        // The suppression's evidence row is written after the ledger entry and its outbox
        // row: make it fail, and the whole change must leave nothing behind.
        let trigger = match t.app.store.backend_name() {
            "sqlite" => "CREATE TRIGGER boom BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            _ => "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql; \
                  CREATE TRIGGER boom BEFORE INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION boom();",
        };
        app.store.execute_raw(trigger).await.unwrap();
        let actor = herald::consent::Actor::Cli("t".into());
        assert!(herald::contacts::suppression::add(&app, &email("bob@example.com"), "complaint", &actor).await.is_err());
        assert_eq!(pending(&app, "crm").await, 1, "the failed change wrote no outbox row");
        app.store.execute_raw("DROP TRIGGER boom").await.ok();
        app.store.execute_raw("DROP TRIGGER boom ON evidence").await.ok();
        assert!(herald::contacts::suppression::add(&app, &email("bob@example.com"), "complaint", &actor).await.unwrap());
        assert_eq!(pending(&app, "crm").await, 2, "the committed change wrote its row");
    }
}
