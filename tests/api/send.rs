//! The sending engine against the fault-injecting SMTP server (issue #4): exactly one
//! message per eligible person, nothing for anyone excluded, resume without duplicates,
//! withdrawals mid-campaign, transient and permanent failures. On both backends.

use crate::fake_smtp::{Behaviour, FakeSmtp, Matcher, Rule};
use crate::helpers::*;
use crate::on_both_backends;
use herald::app::App;
use herald::campaign::{self, lifecycle, plan};
use herald::clock::SystemClock;
use herald::consent::Actor;
use herald::domain::ExclusionReason;
use herald::domain::{CampaignState, EmailAddress};
use herald::send::engine::{Deps, Engine, Until};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub(crate) const CONTACTS: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    bob@example.org,Bob,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    cy@example.net,Cy,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    carl@example.com,Carl,opted_out_contact,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    dana@example.com,Dana,double_opt_in,consent,2025-01-01,newsletter,newsletter:unsubscribed\n\
    eve@example.com,Eve,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    fay@example.com,Fay,single_opt_in_user,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    gus@example.com,Gus,double_opt_in,consent,2025-01-01,,newsletter:confirmed\n";

const ELIGIBLE: [&str; 3] = ["ada@example.com", "bob@example.org", "cy@example.net"];

pub(crate) const CAMPAIGN: &str = "name = \"spring\"\nsubject = \"Spring news for {{first_name}}\"\ntemplate = \"news\"\n\
    lists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

/// Imports the fixture (Eve then suppressed), writes the campaign and its template, and
/// reopens the app with `[[smtp]]` pointing at `fake`.
async fn setup(t: &TestDb, fake: &FakeSmtp, extra: &str) -> (Arc<App>, PathBuf) {
    setup_with(t, fake, CONTACTS, extra).await
}

/// [`setup`] with other contacts (the same CSV columns; Eve, if present, is suppressed).
pub(crate) async fn setup_with(t: &TestDb, fake: &FakeSmtp, contacts: &str, extra: &str) -> (Arc<App>, PathBuf) {
    setup_at(t, "127.0.0.1", fake.port(), contacts, "eve@example.com", extra).await
}

/// Imports `contacts`, suppresses `suppressed`, writes the campaign and its template, and
/// reopens the app with `[[smtp]]` pointing at `host:port`.
pub(crate) async fn setup_at(
    t: &TestDb,
    host: &str,
    port: u16,
    contacts: &str,
    suppressed: &str,
    extra: &str,
) -> (Arc<App>, PathBuf) {
    let path = t.write("contacts.csv", contacts);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    let eve = EmailAddress::parse(suppressed).unwrap();
    herald::contacts::suppression::add(&t.app, &eve, "complaint", &Actor::Cli("test".into())).await.unwrap();
    t.write("news.html.hbs", "<p>Hello {{first_name}}</p>");
    let campaign = t.write("spring.toml", CAMPAIGN);
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(
        t.config_path(),
        format!(
            "{config}\n[dns]\ncheck_domains = false\n[[smtp]]\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\n\
             max_connections = 4\n[sending]\nlease_seconds = 3\npoll_milliseconds = 50\nretry_base_seconds = 1\n\
             timeout_seconds = 5\nmin_sample = 1000\n{extra}"
        ),
    )
    .unwrap();
    (Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await), campaign)
}

/// Starts (or resumes) the campaign and runs the engine until nothing is due.
pub(crate) async fn send(app: &Arc<App>, file: &PathBuf) -> lifecycle::Status {
    let text = std::fs::read_to_string(file).unwrap();
    let c = campaign::parse(file, &text, &app.config.policy).unwrap();
    let (record, _) = lifecycle::record(app, &c, &text, CampaignState::Running).await.unwrap();
    lifecycle::materialise(app, &record, &c).await.unwrap();
    let engine = Engine::new(app.clone(), Deps::from_config(app).unwrap());
    let (_stop, rx) = watch::channel(false);
    engine.run(Some(record.id), Until::Idle, rx, &|| {}).await.unwrap();
    engine.close().await;
    let record = lifecycle::find(app, &c.name).await.unwrap();
    lifecycle::status(app, &record).await.unwrap()
}

pub(crate) fn recipients(fake: &FakeSmtp) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in fake.received() {
        for to in m.to {
            *out.entry(to).or_default() += 1;
        }
    }
    out
}

on_both_backends! {
    async fn every_eligible_person_gets_exactly_one_message_and_the_excluded_nothing(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup(&t, &fake, "").await;
        let status = send(&app, &file).await;
        let got = recipients(&fake);
        assert_eq!(got.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut e = ELIGIBLE.to_vec();
            e.sort();
            e
        });
        assert!(got.values().all(|n| *n == 1), "{got:?}");
        assert_eq!((status.sent, status.failed, status.state), (3, 0, CampaignState::Completed));
        for m in fake.received() {
            let text = String::from_utf8_lossy(&m.data);
            assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{text}");
            assert!(text.contains("/u/") && text.contains("Acme Ltd, 1 Main St"), "footer missing: {text}");
            assert!(m.from.starts_with("bounces+"), "VERP envelope sender: {}", m.from);
            let name = if m.to[0].starts_with("ada") { "Ada" } else if m.to[0].starts_with("bob") { "Bob" } else { "Cy" };
            assert!(text.contains(&format!("Hello {name}")), "personalised: {text}");
        }
    }

    async fn sending_the_same_file_again_resumes_and_never_sends_twice(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup(&t, &fake, "").await;
        send(&app, &file).await;
        let again = send(&app, &file).await;
        assert_eq!(again.sent, 3);
        assert_eq!(fake.count(), 3, "a second run sent again: {:?}", recipients(&fake));
    }

    async fn a_changed_file_under_a_started_name_is_refused_naming_what_changed(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup(&t, &fake, "").await;
        send(&app, &file).await;
        std::fs::write(&file, CAMPAIGN.replace("Spring news", "Summer news")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
        let err = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap_err().to_string();
        assert!(err.contains("subject") && err.contains("new `name`"), "{err}");
    }

    async fn a_withdrawal_committed_mid_campaign_stops_messages_not_yet_transmitted(t) {
        // Every SMTP reply takes 150 ms, so the batch is loaded and re-checked long
        // before any DATA; the withdrawals land in between.
        let fake = FakeSmtp::start(Behaviour { reply_delay: Duration::from_millis(150), ..Default::default() }).await;
        let (app, file) = setup(&t, &fake, "").await;
        let sending = {
            let (app, file) = (app.clone(), file.clone());
            tokio::spawn(async move { send(&app, &file).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        for email in ELIGIBLE {
            let e = EmailAddress::parse(email).unwrap();
            herald::contacts::suppression::add(&t.app, &e, "asked by phone", &Actor::Cli("test".into())).await.unwrap();
        }
        let status = sending.await.unwrap();
        assert_eq!(fake.count(), 0, "sent after the withdrawal: {:?}", recipients(&fake));
        assert_eq!(status.skipped.get("suppressed"), Some(&3), "{status:?}");
    }

    async fn transient_failures_are_deferred_and_address_errors_fail_as_hard_bounces(t) {
        let fake = FakeSmtp::start(Behaviour {
            rules: vec![
                Rule::rcpt(Matcher::Address("bob@example.org".into()), 451, "4.7.1 Greylisted, try again later"),
                Rule::rcpt(Matcher::Address("cy@example.net".into()), 550, "5.1.1 <cy@example.net>: Recipient address rejected: User unknown"),
            ],
            ..Default::default()
        })
        .await;
        let (app, file) = setup(&t, &fake, "").await;
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.deferred), (1, 1, 1), "{status:?}");
        assert_eq!((status.hard_bounces, status.soft_bounces), (1, 0));
        assert!(status.next_retry.is_some());
        let failed = status.failures.iter().find(|f| f.smtp_code == Some(550)).expect("the 550 is kept");
        assert!(failed.smtp_text.as_deref().unwrap_or("").contains("User unknown"));
        assert_eq!(recipients(&fake).keys().collect::<Vec<_>>(), ["ada@example.com"]);
    }

    async fn refusals_behind_a_message_on_one_session_are_recorded_after_their_early_marks(t) {
        // One session: Bob's and Cy's commands go out behind the message before theirs, and
        // their marks are committed before their refused RCPTs are read. The refusals must
        // still be recorded (nothing left transmitting, nothing in doubt), and only Ada gets
        // a message.
        let fake = FakeSmtp::start(Behaviour {
            rules: vec![
                Rule::rcpt(Matcher::Address("bob@example.org".into()), 451, "4.7.1 Greylisted, try again later"),
                Rule::rcpt(Matcher::Address("cy@example.net".into()), 550, "5.1.1 <cy@example.net>: User unknown"),
            ],
            ..Default::default()
        })
        .await;
        let (_, file) = setup(&t, &fake, "").await;
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(t.config_path(), config.replace("max_connections = 4", "max_connections = 1")).unwrap();
        let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.deferred, status.in_doubt), (1, 1, 1, 0), "{status:?}");
        assert_eq!((status.hard_bounces, status.soft_bounces), (1, 0));
        assert_eq!(recipients(&fake).keys().collect::<Vec<_>>(), ["ada@example.com"]);
        assert!(fake.pipelined_after_data() >= 1, "a refused recipient's commands followed a message");
        assert_eq!(fake.connections_total(), 1);
    }

    async fn a_claim_whose_lease_ran_out_is_refused_its_mark(t) {
        // A process that stalled past its heartbeat may have its claims taken back by recovery
        // at any moment: such a claim must not become `transmitting` (it would then be counted
        // in doubt, or sent twice with on_doubt = "resend").
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_, file) = setup(&t, &fake, "").await;
        let clock = Arc::new(herald::clock::FixedClock::new(chrono::Utc::now()));
        let app = Arc::new(open_app(&t.config_path(), clock.clone()).await);
        let text = std::fs::read_to_string(&file).unwrap();
        let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
        let (record, _) = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        let lease = Duration::from_secs(3);
        let (writer, _task) =
            herald::send::engine::writer::Writer::spawn(app.store.clone(), "test/1/owner".into(), clock.clone(), lease);
        let now = app.clock.now();
        let claims = writer.claim(record.id, 10, now + chrono::Duration::seconds(3), now).await.unwrap();
        assert!(claims.len() >= 2, "{claims:?}");
        let ids: Vec<herald::domain::ContactId> = claims.iter().map(|c| c.contact_id).collect();
        let seqs: BTreeMap<herald::domain::ContactId, i64> =
            app.store.contacts_for_send(&ids).await.unwrap().into_iter().map(|k| (k.contact.id.unwrap(), k.ledger_seq)).collect();
        let mark = |i: usize| herald::store::Mark { send_id: claims[i].send_id, ledger_seq: seqs[&claims[i].contact_id] };
        assert!(writer.mark(mark(0)).await.unwrap(), "within its lease, a claim is marked");
        clock.advance(chrono::Duration::seconds(4));
        assert!(!writer.mark(mark(1)).await.unwrap(), "a claim whose lease ran out is not");
    }

    async fn the_frequency_cap_and_the_unengaged_rule_read_the_delivery_history(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        // Ada agreed to tracking; Bob and Cy did not (so they are never judged unengaged).
        let contacts = CONTACTS.replace(
            "ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,",
            "ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;tracking,",
        );
        let (app, file) = setup_with(&t, &fake, &contacts, "").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        let load = |name: &str, policy: &str| {
            let path = t.write(&format!("{name}.toml"), format!("{}[policy]\n{policy}\n", CAMPAIGN.replace("spring", name)));
            campaign::load(&path, &app.config.policy).unwrap()
        };
        let ada = EmailAddress::parse("ada@example.com").unwrap();

        // One marketing message in the last 30 days is the cap: nobody gets a second.
        let capped = load("capped", "frequency_cap = { max = 1, days = 30 }");
        let report = plan::plan(&app, &capped).await.unwrap();
        assert_eq!((report.eligible, report.excluded.get(ExclusionReason::FrequencyCap)), (0, 3), "{report:?}");
        assert_eq!(plan::explain(&app, &capped, &ada).await.unwrap().verdict, "frequency_cap");
        let roomy = load("roomy", "frequency_cap = { max = 2, days = 30 }");
        assert_eq!(plan::plan(&app, &roomy).await.unwrap().eligible, 3);
        // Sending the capped campaign sends nothing more.
        let capped_file = t.dir.path().join("capped.toml");
        let status = send(&app, &capped_file).await;
        assert_eq!((status.sent, status.total), (0, 0), "{status:?}");
        assert_eq!(fake.count(), 3);

        // Ada's last delivered message was not opened: unengaged. Bob and Cy gave no
        // tracking consent, so they are never judged.
        let quiet = load("quiet", "exclude_unengaged = 1");
        let report = plan::plan(&app, &quiet).await.unwrap();
        assert_eq!((report.eligible, report.excluded.get(ExclusionReason::Unengaged)), (2, 1), "{report:?}");
        assert_eq!(plan::explain(&app, &quiet, &ada).await.unwrap().verdict, "unengaged");
        // Once she opens it she is engaged again.
        t.app.store.execute_raw("UPDATE sends SET opened_at = sent_at WHERE state = 'sent'").await.unwrap();
        assert_eq!(plan::plan(&app, &quiet).await.unwrap().eligible, 3);
        assert_eq!(plan::explain(&app, &quiet, &ada).await.unwrap().verdict, "eligible");
    }

    async fn per_domain_rate_limits_hold_per_domain(t) {
        // example.com is limited to 4/s (burst 4), every other domain to 8/s (burst 8).
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let mut csv = CONTACTS.lines().next().unwrap().to_owned() + "\n";
        for i in 0..12 {
            for domain in ["example.com", "example.org"] {
                csv += &format!("r{i}@{domain},R{i},double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n");
            }
        }
        let limits = "[limits]\n[limits.domains]\n\"example.com\" = \"4/s\"\ndefault = \"8/s\"\n";
        let (app, file) = setup_with(&t, &fake, &csv, limits).await;
        assert_eq!(send(&app, &file).await.sent, 24);
        let times = |domain: &str| {
            let mut at: Vec<std::time::Instant> =
                fake.received().iter().filter(|m| m.to[0].ends_with(domain)).map(|m| m.at).collect();
            at.sort();
            at
        };
        let (com, org) = (times("@example.com"), times("@example.org"));
        assert_eq!((com.len(), org.len()), (12, 12));
        // 12 messages at 4/s after a burst of 4 take at least (12 - 4) / 4 = 2 s; a little
        // slack for the time between the throttle's grant and the server's receipt.
        let span = |at: &[std::time::Instant]| at[at.len() - 1] - at[0];
        assert!(span(&com) >= Duration::from_millis(1800), "example.com: 12 messages in {:?}", span(&com));
        // In any one-second window: at most the burst plus one second's rate.
        for (i, start) in com.iter().enumerate() {
            let within = com[i..].iter().take_while(|t| **t - *start < Duration::from_secs(1)).count();
            assert!(within <= 8, "{within} messages to example.com within one second");
        }
        // example.org is not held to example.com's limit.
        assert!(span(&org) < span(&com), "example.org took {:?}, example.com {:?}", span(&org), span(&com));
    }
}

#[test]
fn the_demo_sends_the_example_campaign_to_the_outbox_and_nothing_to_the_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(dir.path())
            .args(["demo", "ws", "--json"])
            .env_remove("HERALD_DATABASE__URL")
            .output()
            .expect("run herald demo")
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!((report["sent"].as_i64(), report["state"].as_str()), (Some(2), Some("completed")), "{report}");
    assert!(stderr(&out).contains("0 got a message"), "{}", stderr(&out));
    let files = std::fs::read_dir(dir.path().join("ws/data/outbox")).unwrap().count();
    assert_eq!(files, 2);
    // Running it again resumes the completed campaign: nothing is sent twice.
    let again = run();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_dir(dir.path().join("ws/data/outbox")).unwrap().count(), 2);
}
