//! Message sources (DESIGN §10): migration 0007 keeps a database of an older Herald
//! sending and reporting, and a send of another source (a test send, a confirmation)
//! never counts in a campaign's figures or a contact's delivery history. On both backends.

use crate::helpers::*;
use herald::app::App;
use herald::campaign::{self, lifecycle};
use herald::clock::SystemClock;
use herald::domain::{CampaignState, ContactId, EmailAddress, SendState, Source};
use herald::send::engine::{Engine, Verdict};
use herald::send::smtp::recording::RecordingTransport;
use herald::store::CampaignRecord;
use herald::store::sources::NewMessage;
use std::sync::Arc;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.org";
const CY: &str = "cy@example.net";
const AT: &str = "'2026-03-01T08:30:00+00:00'";

/// The workspace of `engine_step::spring_workspace` with the campaign recorded running (its
/// sends not materialised).
async fn campaign_recorded(t: &TestDb) -> (CampaignRecord, campaign::Campaign) {
    let file = crate::engine_step::spring_workspace(t, "lease_seconds = 3\nmin_sample = 1000\n").await;
    let text = std::fs::read_to_string(&file).unwrap();
    let c = campaign::parse(&file, &text, &t.app.config.policy).unwrap();
    let (record, _) = lifecycle::record(&t.app, &c, &text, CampaignState::Running).await.unwrap();
    (record, c)
}

fn engine(app: &Arc<App>) -> Engine<RecordingTransport> {
    crate::engine_step::recording_engine(app)
}

async fn id_of(app: &App, email: &str) -> ContactId {
    app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap().id.unwrap()
}

async fn migrated_database_keeps_sending_and_reporting(backend: Backend) {
    let Some(t) = TestDb::at_migration(backend, Some(6)).await else {
        eprintln!("skipped on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    // Today's import seeds the contacts, and it writes evidence rows (0011): give it the
    // table for the seeding only; the migration below creates it for real.
    t.app
        .store
        .execute_raw(
            "CREATE TABLE evidence (contact_id BIGINT, seq BIGINT, data TEXT, digest TEXT, created_at TIMESTAMP)",
        )
        .await
        .unwrap();
    let (record, c) = campaign_recorded(&t).await;
    t.app.store.execute_raw("DROP TABLE evidence").await.unwrap();
    // Sends as Herald 0006 queued them: Ada delivered already, Bob and Cy queued.
    for (email, state, sent_at) in [(ADA, "sent", AT), (BOB, "queued", "NULL"), (CY, "queued", "NULL")] {
        let id = id_of(&t.app, email).await;
        t.app
            .store
            .execute_raw(&format!(
                "INSERT INTO sends (campaign_id, contact_id, state, sent_at, updated_at) \
                 VALUES ({}, {}, '{state}', {sent_at}, {AT})",
                record.id.get(),
                id.get()
            ))
            .await
            .unwrap();
    }
    // And a bounce recorded against Ada's delivered send (a foreign key into `sends`).
    t.app
        .store
        .execute_raw(&format!(
            "INSERT INTO bounces (send_id, campaign_id, contact_id, kind, source, received_at) \
             SELECT id, campaign_id, contact_id, 'soft', 'dsn', {AT} FROM sends WHERE state = 'sent'"
        ))
        .await
        .unwrap();
    assert!(!t.app.store.schema_is_current().await.unwrap());
    // The next Herald opens it and migrates.
    let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
    assert!(app.store.schema_is_current().await.unwrap());
    let engine = engine(&app);
    let finished = engine.step(Some(record.id)).await.unwrap();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(
        finished.iter().all(|f| f.claim.source == Source::Campaign && matches!(f.verdict, Verdict::Delivered { .. }))
    );
    assert_eq!(engine.transport().transmitted_to(BOB), 1);
    assert_eq!(engine.transport().transmitted_to(ADA), 0, "delivered before the migration");
    let s = lifecycle::status(&app, &record).await.unwrap();
    assert_eq!((s.sent, s.queued, s.total, s.soft_bounces), (3, 0, 3, 1), "{s:?}");
    // The bounces still point at the sends they were about.
    let dangling =
        format!("INSERT INTO bounces (send_id, kind, source, received_at) VALUES (999999, 'soft', 'dsn', {AT})");
    assert!(app.store.execute_raw(&dangling).await.is_err(), "bounces.send_id still references sends");
    // One send per campaign and contact still holds: materialising again adds nothing,
    // and a second campaign send of the same contact is refused.
    assert_eq!(lifecycle::materialise(&app, &record, &c).await.unwrap(), 0);
    let ada = id_of(&app, ADA).await;
    let twice = format!(
        "INSERT INTO sends (campaign_id, contact_id, state, updated_at) VALUES ({}, {}, 'queued', {AT})",
        record.id.get(),
        ada.get()
    );
    assert!(app.store.execute_raw(&twice).await.is_err(), "the unique index survived the migration");
    // A campaign send names its campaign, and only a campaign send does.
    let orphan = format!("INSERT INTO sends (contact_id, state, updated_at) VALUES ({}, 'queued', {AT})", ada.get());
    assert!(app.store.execute_raw(&orphan).await.is_err(), "a campaign send without a campaign");
    let test_with_campaign = format!(
        "INSERT INTO sends (source, campaign_id, contact_id, state, updated_at) VALUES ('test', {}, {}, 'queued', {AT})",
        record.id.get(),
        ada.get()
    );
    assert!(app.store.execute_raw(&test_with_campaign).await.is_err(), "a test send with a campaign");
    engine.close().await;
}

#[tokio::test]
async fn a_database_migrated_from_0006_keeps_sending_and_reporting_on_sqlite() {
    migrated_database_keeps_sending_and_reporting(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_database_migrated_from_0006_keeps_sending_and_reporting_on_postgres() {
    migrated_database_keeps_sending_and_reporting(Backend::Postgres).await;
}

crate::on_both_backends! {
    async fn other_sources_never_count_in_campaign_figures_or_a_contacts_history(t) {
        let (record, c) = campaign_recorded(&t).await;
        let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        let before = app.store.campaign_counts(record.id).await.unwrap();
        let ada = id_of(&app, ADA).await;
        let now = chrono::Utc::now();
        let test = NewMessage {
            source: Source::Test,
            contact_id: ada,
            to_address: Some("qa@acme.example".into()),
            context: serde_json::json!({"campaign": "spring"}),
        };
        // Any number of test sends per contact (the unique index is for campaign sends).
        let first = app.store.enqueue_message(&test, now).await.unwrap();
        let second = app.store.enqueue_message(&test, now).await.unwrap();
        assert_ne!(first, second);
        let m = app.store.message_send(first).await.unwrap().expect("queued");
        assert_eq!((m.source, m.state, m.contact_id, m.to_address.as_deref()), (Source::Test, SendState::Queued, ada, Some("qa@acme.example")));
        assert_eq!(m.context, serde_json::json!({"campaign": "spring"}));
        // Delivered test sends: not in the campaign's figures, not the contact's deliveries.
        app.store
            .execute_raw(&format!("UPDATE sends SET state = 'sent', sent_at = {AT} WHERE source = 'test'"))
            .await
            .unwrap();
        assert_eq!(app.store.campaign_counts(record.id).await.unwrap(), before);
        let s = lifecycle::status(&app, &record).await.unwrap();
        assert_eq!((s.queued, s.sent, s.total), (3, 0, 3), "{s:?}");
        let history = app.store.history(&[ada], None, Some(5)).await.unwrap();
        assert_eq!(history.get(&ada).map(|h| h.recent_delivered).unwrap_or(0), 0, "{history:?}");
        // A campaign send is not a message of another source.
        let campaign_send = herald::domain::SendId::new(1);
        assert!(app.store.message_send(campaign_send).await.unwrap().is_none());
        assert!(app.store.enqueue_message(&NewMessage { source: Source::Campaign, ..test.clone() }, now).await.is_err());
    }

    async fn the_engine_drains_other_sources_first_whatever_state_a_campaign_is_in(t) {
        let (record, c) = campaign_recorded(&t).await;
        let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        // The campaign is paused: its sends wait, a test send does not.
        app.store
            .set_campaign_state(record.id, &[CampaignState::Running], CampaignState::Paused, Some("by hand"), chrono::Utc::now())
            .await
            .unwrap();
        let file = t.dir.path().join("spring.toml");
        let context = serde_json::json!({
            "campaign": "spring",
            "file": file.display().to_string(),
            "content": std::fs::read_to_string(&file).unwrap(),
        });
        let ada = id_of(&app, ADA).await;
        let test = NewMessage { source: Source::Test, contact_id: ada, to_address: Some("qa@acme.example".into()), context };
        let id = app.store.enqueue_message(&test, chrono::Utc::now()).await.unwrap();
        let engine = engine(&app);
        let finished = engine.step(None).await.unwrap();
        assert_eq!(finished.len(), 1, "{finished:?}");
        assert_eq!((finished[0].claim.send_id, finished[0].claim.source, finished[0].claim.campaign_id), (id, Source::Test, None));
        assert!(matches!(finished[0].verdict, Verdict::Delivered { .. }), "{finished:?}");
        assert_eq!(engine.transport().transmitted_to("qa@acme.example"), 1);
        assert_eq!(engine.transport().transmitted_to(ADA), 0, "never to the contact");
        assert_eq!(app.store.message_send(id).await.unwrap().unwrap().state, SendState::Sent);
        assert!(engine.step(None).await.unwrap().is_empty(), "the paused campaign's sends wait");
        assert_eq!(lifecycle::status(&app, &record).await.unwrap().queued, 3);
        engine.close().await;
    }

    async fn confirmations_are_counted_per_contact_for_the_daily_limit(t) {
        let (_, _) = campaign_recorded(&t).await;
        let ada = id_of(&t.app, ADA).await;
        let bob = id_of(&t.app, BOB).await;
        let now = chrono::Utc::now();
        let confirm = |contact_id| NewMessage {
            source: Source::Confirmation,
            contact_id,
            to_address: None,
            context: serde_json::json!({"template": "confirm", "list": "newsletter"}),
        };
        let since = now - chrono::Duration::hours(24);
        assert_eq!(t.app.store.confirmations_since(ada, since).await.unwrap(), 0);
        t.app.store.enqueue_message(&confirm(ada), now - chrono::Duration::hours(30)).await.unwrap();
        t.app.store.enqueue_message(&confirm(ada), now).await.unwrap();
        t.app.store.enqueue_message(&confirm(ada), now).await.unwrap();
        t.app.store.enqueue_message(&confirm(bob), now).await.unwrap();
        let test = NewMessage { source: Source::Test, to_address: Some("qa@acme.example".into()), ..confirm(ada) };
        t.app.store.enqueue_message(&test, now).await.unwrap();
        let sent = t.app.store.confirmations_since(ada, since).await.unwrap();
        assert_eq!(sent, 2, "the one older than a day and the test send are not counted");
        assert!(herald::consent::sources::confirmation_allowed(sent, 3));
        t.app.store.enqueue_message(&confirm(ada), now).await.unwrap();
        assert!(!herald::consent::sources::confirmation_allowed(t.app.store.confirmations_since(ada, since).await.unwrap(), 3));
    }
}
