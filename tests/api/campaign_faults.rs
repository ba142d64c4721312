//! Issue 19, point 6: a failure that is Herald's own (a render error) or the relay's (a
//! refused connection) pauses the campaign once the guard's sample is in, not after every
//! message has failed; `campaign retry` queues exactly those sends again, never one the
//! recipient's server refused, never a sent one.

use crate::fake_smtp::{Behaviour, FakeSmtp, Matcher, Rule};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{recipients, send, setup_at};
use herald::campaign::lifecycle;
use herald::clock::SystemClock;
use herald::domain::CampaignState;
use std::sync::Arc;

const PEOPLE: usize = 20;

fn contacts() -> String {
    let mut csv = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n".to_owned();
    for i in 0..PEOPLE {
        csv += &format!("p{i}@example.com,P{i},double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n");
    }
    csv + "eve@example.com,Eve,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n"
}

/// The guard judges after 5 attempts (and the relay fails at once).
fn with_small_sample(t: &TestDb, port: u16) -> String {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    let config = config.replace("min_sample = 1000", "min_sample = 5");
    config.replace(&format!("port = {port}\n"), "port = PORT\n")
}

async fn reopen(t: &TestDb, config: &str, port: u16) -> Arc<herald::app::App> {
    std::fs::write(t.config_path(), config.replace("port = PORT\n", &format!("port = {port}\n"))).unwrap();
    Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await)
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

on_both_backends! {
    async fn render_errors_pause_after_the_sample_and_retry_sends_them_once_fixed(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_, file) = setup_at(&t, "127.0.0.1", fake.port(), &contacts(), "eve@example.com", "").await;
        let config = with_small_sample(&t, fake.port());
        let app = reopen(&t, &config, fake.port()).await;
        // Nobody has `attributes.plan`: every message fails to render.
        t.write("news.html.hbs", "<p>Your plan: {{attributes.plan}}</p>");
        let status = send(&app, &file).await;
        assert_eq!(status.state, CampaignState::Paused, "{status:?}");
        assert!(status.reason.as_deref().unwrap_or("").starts_with("fault guard: 5 of 5"), "{status:?}");
        assert_eq!(status.failed, 5, "{status:?}");
        assert_eq!((status.faults, status.queued), (5, (PEOPLE - 5) as i64), "{status:?}");
        assert_eq!(fake.count(), 0);

        t.write("news.html.hbs", "<p>Hello {{first_name}}</p>");
        let (record, requeued) = lifecycle::retry(&app, "spring").await.unwrap();
        assert_eq!((requeued, record.state), (5, CampaignState::Running));
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.faults, status.state), (PEOPLE as i64, 0, 0, CampaignState::Completed));
        assert!(recipients(&fake).values().all(|n| *n == 1), "{:?}", recipients(&fake));
    }

    async fn a_refused_connection_pauses_after_the_sample_and_retry_leaves_recipient_refusals(t) {
        let down = closed_port();
        let (_, file) = setup_at(&t, "127.0.0.1", down, &contacts(), "eve@example.com", "max_bounce_rate = 1.0\n").await;
        let config = with_small_sample(&t, down);
        let app = reopen(&t, &config, down).await;
        let status = send(&app, &file).await;
        assert_eq!(status.state, CampaignState::Paused, "{status:?}");
        assert!(status.reason.as_deref().unwrap_or("").starts_with("fault guard:"), "{status:?}");
        let tried = status.deferred + status.failed;
        assert!((5..PEOPLE as i64).contains(&tried), "paused after the sample, not after everyone: {status:?}");
        assert_eq!(status.faults, tried, "{status:?}");
        assert_eq!(status.hard_bounces + status.soft_bounces, 0, "no bounce is held against a recipient");

        // The relay is back; p3's mailbox does not exist (one hard bounce, which the
        // bounce guard is set to let pass: this is about faults, not bounces).
        let fake = FakeSmtp::start(Behaviour {
            rules: vec![Rule::rcpt(Matcher::Address("p3@example.com".into()), 550, "5.1.1 User unknown")],
            ..Default::default()
        })
        .await;
        let app = reopen(&t, &config, fake.port()).await;
        let (record, requeued) = lifecycle::retry(&app, "spring").await.unwrap();
        assert_eq!((requeued as i64, record.state), (tried, CampaignState::Running));
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.hard_bounces), (PEOPLE as i64 - 1, 1, 1), "{status:?}");

        // Nothing left that was Herald's or the relay's fault: the refusal and the sent stay.
        let (_, requeued) = lifecycle::retry(&app, "spring").await.unwrap();
        assert_eq!(requeued, 0);
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed), (PEOPLE as i64 - 1, 1));
        assert_eq!(fake.count(), PEOPLE - 1);
    }
}
