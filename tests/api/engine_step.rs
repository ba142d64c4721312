//! The engine driven one batch at a time (`Engine::step`) through the recording transport:
//! what each claim's attempt came to, what reached the transport, and what the queue
//! recorded. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CAMPAIGN, CONTACTS};
use herald::app::App;
use herald::campaign::{self, lifecycle};
use herald::clock::SystemClock;
use herald::consent::{Actor, Authority, unsubscribe_from_message};
use herald::domain::{BounceKind, CampaignState, EmailAddress, ListName};
use herald::send::engine::{CampaignCtx, Deps, Engine, Finished, Loaded, Recheck, Verdict};
use herald::send::smtp::dns::Dns;
use herald::send::smtp::recording::{RecordingTransport, Script};
use herald::store::CampaignRecord;
use std::sync::Arc;
use std::time::Duration;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.org";
const CY: &str = "cy@example.net";

/// The contacts of `send.rs` (Eve then suppressed: Ada, Bob and Cy eligible), the template
/// and the campaign written, and `sending` as the config's `[sending]` (domain checks off).
/// Returns the campaign file. Shared with `sources.rs`.
pub(crate) async fn spring_workspace(t: &TestDb, sending: &str) -> std::path::PathBuf {
    let path = t.write("contacts.csv", CONTACTS);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    let eve = EmailAddress::parse("eve@example.com").unwrap();
    herald::contacts::suppression::add(&t.app, &eve, "complaint", &Actor::Cli("test".into())).await.unwrap();
    t.write("news.html.hbs", "<p>Hello {{first_name}}</p>");
    let file = t.write("spring.toml", CAMPAIGN);
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n[sending]\n{sending}")).unwrap();
    file
}

/// An engine on a recording transport (one connection, four attempts in flight).
pub(crate) fn recording_engine(app: &Arc<App>) -> Engine<RecordingTransport> {
    let deps = Deps {
        transport: RecordingTransport::new(1, 4),
        throttle: herald::send::throttle_from_config(&app.config).unwrap(),
        dns: Dns::from_config(&app.config).unwrap(),
    };
    Engine::new(app.clone(), deps)
}

/// The workspace of [`spring_workspace`], the campaign started and its sends
/// materialised, and an engine on a recording transport.
async fn started(t: &TestDb, extra: &str) -> (Arc<App>, CampaignRecord, Engine<RecordingTransport>) {
    let file =
        spring_workspace(t, &format!("lease_seconds = 3\nretry_base_seconds = 1\nmin_sample = 1000\n{extra}")).await;
    let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
    let text = std::fs::read_to_string(&file).unwrap();
    let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
    let (record, _) = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
    lifecycle::materialise(&app, &record, &c).await.unwrap();
    let engine = recording_engine(&app);
    (app, record, engine)
}

/// The verdict of the claim for `email`'s contact.
async fn verdict_for(app: &App, finished: &[Finished], email: &str) -> Verdict {
    let contact = app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap();
    let f = finished.iter().find(|f| Some(f.claim.contact_id) == contact.id);
    f.unwrap_or_else(|| panic!("no claim for {email}: {finished:?}")).verdict.clone()
}

async fn status(app: &App, record: &CampaignRecord) -> lifecycle::Status {
    lifecycle::status(app, record).await.unwrap()
}

on_both_backends! {
    async fn a_step_delivers_the_batch_once_and_the_next_finds_nothing_due(t) {
        let (app, record, engine) = started(&t, "").await;
        let finished = engine.step(Some(record.id)).await.unwrap();
        assert_eq!(finished.len(), 3, "{finished:?}");
        for email in [ADA, BOB, CY] {
            assert!(matches!(verdict_for(&app, &finished, email).await, Verdict::Delivered { .. }), "{email}");
        }
        let transport = engine.transport();
        for email in [ADA, BOB, CY] {
            assert_eq!(transport.transmitted_to(email), 1, "{email}");
        }
        assert!(transport.records().iter().all(|r| r.marked == Some(true)), "every message was marked before DATA");
        assert!(engine.step(Some(record.id)).await.unwrap().is_empty(), "nothing is due any more");
        let s = status(&app, &record).await;
        assert_eq!((s.sent, s.failed, s.queued), (3, 0, 0), "{s:?}");
    }

    async fn a_transient_refusal_is_deferred_then_retried_once_due(t) {
        let (app, record, engine) = started(&t, "").await;
        engine.transport().script(BOB, [Script::RefuseRcpt(450, "4.2.1 mailbox busy, try later".into())]);
        let finished = engine.step(Some(record.id)).await.unwrap();
        let Verdict::Deferred { until: Some(until), .. } = verdict_for(&app, &finished, BOB).await else {
            panic!("not deferred: {finished:?}");
        };
        assert_eq!(engine.transport().transmitted_to(BOB), 0);
        assert!(engine.step(Some(record.id)).await.unwrap().is_empty(), "the retry is not due yet");
        let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
        let retried = engine.step(Some(record.id)).await.unwrap();
        assert_eq!(retried.len(), 1, "{retried:?}");
        assert_eq!(retried[0].claim.attempts, 1, "the first attempt counted");
        assert!(matches!(retried[0].verdict, Verdict::Delivered { .. }), "{retried:?}");
        assert_eq!(engine.transport().transmitted_to(BOB), 1);
        assert_eq!(status(&app, &record).await.sent, 3);
    }

    async fn a_refused_recipient_is_a_hard_bounce_and_is_never_marked(t) {
        let (app, record, engine) = started(&t, "").await;
        engine.transport().script(CY, [Script::RefuseRcpt(550, "5.1.1 no such user".into())]);
        let finished = engine.step(Some(record.id)).await.unwrap();
        let Verdict::Bounced { bounce, .. } = verdict_for(&app, &finished, CY).await else {
            panic!("not bounced: {finished:?}");
        };
        assert_eq!((bounce.kind, bounce.status.as_deref(), bounce.source.as_str()), (BounceKind::Hard, Some("5.1.1"), "smtp"));
        let cy = engine.transport().records().into_iter().find(|r| r.to == CY).unwrap();
        assert_eq!((cy.marked, cy.transmitted), (None, false));
        let s = status(&app, &record).await;
        assert_eq!((s.sent, s.failed, s.hard_bounces), (2, 1, 1), "{s:?}");
    }

    async fn a_connection_dropped_after_data_is_in_doubt_and_not_sent_again(t) {
        let (app, record, engine) = started(&t, "").await;
        engine.transport().script(ADA, [Script::DropAfterData]);
        let finished = engine.step(Some(record.id)).await.unwrap();
        assert!(
            matches!(verdict_for(&app, &finished, ADA).await, Verdict::InDoubt { ref reason, .. } if reason == "no reply to DATA"),
            "{finished:?}"
        );
        assert!(engine.step(Some(record.id)).await.unwrap().is_empty(), "an in-doubt send is not claimed again");
        assert_eq!(engine.transport().transmitted_to(ADA), 1);
        let s = status(&app, &record).await;
        assert_eq!((s.sent, s.in_doubt), (2, 1), "{s:?}");
    }

    async fn a_contact_who_unsubscribes_between_plan_and_send_is_skipped_with_the_reason(t) {
        let (app, record, engine) = started(&t, "").await;
        let bob = EmailAddress::parse(BOB).unwrap();
        let contact = app.store.contact(bob.normalized()).await.unwrap().unwrap();
        let patch = unsubscribe_from_message(&contact, &[ListName::parse("newsletter").unwrap()]);
        herald::contacts::edit::set(&app, &bob, &patch, &Authority::new(Actor::Cli("test".into()))).await.unwrap();
        let finished = engine.step(Some(record.id)).await.unwrap();
        assert_eq!(verdict_for(&app, &finished, BOB).await, Verdict::Skipped("not_subscribed".into()));
        assert!(engine.transport().records().iter().all(|r| r.to != BOB), "nothing reached the transport");
        let s = status(&app, &record).await;
        assert_eq!((s.sent, s.skipped.get("not_subscribed")), (2, Some(&1)), "{s:?}");
    }

    async fn leases_are_renewed_while_a_slow_relay_holds_a_message(t) {
        // lease_seconds = 3: without the heartbeat, Ada's `transmitting` row would expire
        // while the relay takes 4 s, and recovery would call it in doubt.
        let (app, record, engine) = started(&t, "").await;
        engine.transport().script(ADA, [Script::Slow(Duration::from_secs(4))]);
        let engine = Arc::new(engine);
        let stepping = {
            let engine = engine.clone();
            tokio::spawn(async move { engine.step(Some(record.id)).await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let recovered = app.store.recover(chrono::Utc::now(), false).await.unwrap();
        assert_eq!((recovered.in_doubt, recovered.requeued), (0, 0), "the lease lapsed: {recovered:?}");
        let finished = stepping.await.unwrap();
        assert!(matches!(verdict_for(&app, &finished, ADA).await, Verdict::Delivered { .. }), "{finished:?}");
        assert_eq!(engine.transport().transmitted_to(ADA), 1);
        assert_eq!(status(&app, &record).await.sent, 3);
    }

    async fn the_engine_calls_the_recheck_it_is_given(t) {
        struct HoldAll;
        impl Recheck for HoldAll {
            fn recheck(
                &self,
                _: &CampaignCtx,
                _: Loaded,
            ) -> Result<herald::consent::policy::EligibleRecipient, String> {
                Err("held".into())
            }
        }
        let (app, record, engine) = started(&t, "").await;
        let engine = engine.with_recheck(Arc::new(HoldAll));
        let finished = engine.step(Some(record.id)).await.unwrap();
        assert_eq!(finished.len(), 3);
        assert!(finished.iter().all(|f| f.verdict == Verdict::Skipped("held".into())), "{finished:?}");
        assert!(engine.transport().records().is_empty());
        assert_eq!(status(&app, &record).await.skipped.get("held"), Some(&3));
    }
}
