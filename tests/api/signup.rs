//! Sign-up forms and double opt-in (issue 13 point 3, DESIGN §2, §10, §11) through the
//! web surface ([`TestApp`]): the form, `POST /subscribe` (the same answer for every
//! address, rate limits), the confirmation message the engine sends, `GET`/`POST
//! /confirm/{token}` (once, with evidence; expired, forged, other-kind and test tokens),
//! the person's own opt-out and a suppression lifted only by their confirmation, the
//! daily cap, and the expiry of what was never confirmed. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::app::App;
use herald::clock::FixedClock;
use herald::consent::{Actor, Authority, unsubscribe_from_everything};
use herald::contacts::change::{Selector, change_contact};
use herald::contacts::token::{LinkKind, LinkToken};
use herald::domain::{
    ConsentState, Contact, ContactId, EmailAddress, OptInStatus, Processing, Purpose, SubscriptionStatus,
};
use std::sync::Arc;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.org";
const BASE: &str = "https://news.acme.example";

/// A list whose description carries markup, a purpose with a wording, domain checks off,
/// and `web` as the config's `[web]`.
pub(crate) async fn web_with(t: TestDb, web: &str) -> TestApp {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    let extra = "\n[lists.weekly]\ndescription = \"<script>alert(1)</script> Weekly news\"\n\
                 [purposes.partner_offers]\ndescription = \"Offers from our partners\"\n\
                 [dns]\ncheck_domains = false\n[web]\n";
    std::fs::write(t.config_path(), format!("{config}{extra}{web}")).unwrap();
    TestApp::on(t, &[]).await
}

/// Limits high enough not to get in the way.
pub(crate) const ROOMY: &str =
    "signup_per_ip_per_minute = 100\nsignup_per_address_per_hour = 100\nconfirmations_per_day = 10\n";

/// Posts the sign-up form for `email` (list `newsletter`) and waits until it is processed.
pub(crate) async fn sign_up(web: &TestApp, email: &str, purposes: &[&str]) -> Reply {
    let mut form = vec![
        ("email", email),
        ("list", "newsletter"),
        ("first_name", "Ada"),
        ("policy_version", "1"),
        ("form", "footer"),
    ];
    form.extend(purposes.iter().map(|p| ("purpose", *p)));
    let reply = web.post_form("/subscribe", &form).await;
    web.state.signups.settled().await;
    reply
}

async fn contact(web: &TestApp, email: &str) -> Option<Contact> {
    web.app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap()
}

async fn id_of(web: &TestApp, email: &str) -> ContactId {
    contact(web, email).await.expect("a contact").id.unwrap()
}

/// Confirmation messages queued for `email`'s contact (any time).
pub(crate) async fn confirmations_for(web: &TestApp, email: &str) -> u64 {
    let Some(c) = contact(web, email).await else { return 0 };
    web.app.store.confirmations_since(c.id.unwrap(), chrono::DateTime::UNIX_EPOCH).await.unwrap()
}

/// Runs the engine over the queued messages and returns the path (`/confirm/TOKEN`) of
/// the last confirmation message delivered to `email`.
pub(crate) async fn delivered_confirm_path(web: &TestApp, email: &str) -> String {
    let engine = crate::engine_step::recording_engine(&web.app);
    engine.step_messages().await.unwrap();
    let records = engine.transport().records();
    let record = records
        .iter()
        .rev()
        .find(|r| r.transmitted && r.to.eq_ignore_ascii_case(email))
        .unwrap_or_else(|| panic!("no message to {email}: {records:?}"));
    let parsed = mail_parser::MessageParser::default().parse(&record.bytes).expect("a MIME message");
    let text = parsed.body_text(0).unwrap().into_owned();
    let html = parsed.body_html(0).unwrap().into_owned();
    let at = text.find(&format!("{BASE}/confirm/")).unwrap_or_else(|| panic!("no confirm URL: {text}"));
    let url = text[at..].split_whitespace().next().unwrap().to_owned();
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    url.trim_start_matches(BASE).to_owned()
}

async fn ledger_len(web: &TestApp, id: ContactId) -> usize {
    web.app.store.ledger(id).await.unwrap().len()
}

/// The id of the confirmation a `/confirm/TOKEN` path names, read off its token.
fn token_of(path: &str) -> LinkToken {
    let token = path.trim_start_matches("/confirm/");
    LinkToken::verify(token, LINK_KEY.as_bytes(), chrono::Utc::now()).unwrap()
}

on_both_backends! {
    async fn the_form_has_unticked_purposes_and_shows_a_list_description_inert(t) {
        let web = web_with(t, "").await;
        let r = web.get("/subscribe/form?list=weekly").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("<form id=\"signup\" method=\"post\" action=\"https://news.acme.example/subscribe\">"), "{}", r.body);
        for id in ["email", "first_name", "last_name", "purpose-newsletter", "purpose-partner_offers", "purpose-tracking", "subscribe"] {
            assert!(r.body.contains(&format!("id=\"{id}\"")), "{id}: {}", r.body);
        }
        assert!(r.body.contains("name=\"purpose\" value=\"partner_offers\""), "{}", r.body);
        assert!(r.body.contains("Offers from our partners"), "{}", r.body);
        assert!(!r.body.contains("checked"), "every purpose unticked: {}", r.body);
        assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Weekly news"), "{}", r.body);
        assert!(!r.body.contains("<script>"), "{}", r.body);
        assert!(r.header("content-security-policy").ends_with("frame-ancestors 'self'"), "{r:?}");
        assert_eq!(web.get("/subscribe/form?list=nope").await.status, 404);
    }

    async fn subscribe_answers_byte_for_byte_the_same_for_a_new_and_a_known_address(t) {
        let web = web_with(t, ROOMY).await;
        let new = sign_up(&web, ADA, &["newsletter"]).await;
        assert_eq!(new.status, 200, "{new:?}");
        assert!(new.body.contains("id=\"check-inbox\""), "{}", new.body);
        let known = sign_up(&web, ADA, &["newsletter"]).await;
        let other = sign_up(&web, BOB, &[]).await;
        assert_eq!((known.status, &known.body), (new.status, &new.body));
        assert_eq!((other.status, &other.body), (new.status, &new.body));
        // The sign-up alone: a single opt-in from the web form, the list unconfirmed.
        let ada = contact(&web, ADA).await.expect("created");
        assert_eq!(ada.opt_in, OptInStatus::SingleOptInWebform);
        assert_eq!(ada.lists[&"newsletter".parse().unwrap()], SubscriptionStatus::Unconfirmed);
        assert!(ada.granted(&Purpose::parse("newsletter").unwrap()));
        assert_eq!(confirmations_for(&web, ADA).await, 2, "one confirmation per sign-up");
        let event = web.app.store.ledger(ada.id.unwrap()).await.unwrap().remove(0);
        let event = serde_json::to_string(&event.event().unwrap()).unwrap();
        for key in ["\"ip\":\"127.0.0.1\"", "\"form\":\"footer\"", "\"policy_version\":\"1\"", "\"wording.newsletter\":", "\"page\":\"signup\""] {
            assert!(event.contains(key), "{key}: {event}");
        }
    }

    async fn sign_ups_are_rate_limited_per_client_and_per_address(t) {
        let web = web_with(t, "signup_per_ip_per_minute = 2\nsignup_per_address_per_hour = 100\n").await;
        assert_eq!(sign_up(&web, "a1@example.com", &[]).await.status, 200);
        assert_eq!(sign_up(&web, "a2@example.com", &[]).await.status, 200);
        let over = sign_up(&web, "a3@example.com", &[]).await;
        assert_eq!(over.status, 429, "{over:?}");
        assert!(!over.header("retry-after").is_empty(), "{over:?}");
        assert!(contact(&web, "a3@example.com").await.is_none(), "refused before anything is recorded");

        let web = web_with(TestDb::new(backend_of(&web)).await.unwrap(), "signup_per_ip_per_minute = 100\nsignup_per_address_per_hour = 1\n").await;
        assert_eq!(sign_up(&web, ADA, &[]).await.status, 200);
        assert_eq!(sign_up(&web, "ADA@Example.com", &[]).await.status, 429, "the same address, however written");
        assert_eq!(sign_up(&web, BOB, &[]).await.status, 200);
    }

    async fn the_confirmation_is_sent_and_only_a_post_confirms_it_once_with_its_evidence(t) {
        let web = web_with(t, ROOMY).await;
        sign_up(&web, ADA, &["newsletter", "partner_offers"]).await;
        let path = delivered_confirm_path(&web, ADA).await;
        let id = id_of(&web, ADA).await;
        let before = contact(&web, ADA).await.unwrap();
        let events = ledger_len(&web, id).await;

        let shown = web.get(&path).await;
        assert_eq!(shown.status, 200, "{shown:?}");
        assert!(shown.body.contains("id=\"confirm\"") && shown.body.contains("<form method=\"post\""), "{}", shown.body);
        assert_eq!(contact(&web, ADA).await.unwrap(), before, "a GET changes nothing");
        assert_eq!(ledger_len(&web, id).await, events);

        let done = web
            .client
            .post(web.url(&path))
            .header("user-agent", "TestBrowser/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("id=\"confirmed\""));
        let after = contact(&web, ADA).await.unwrap();
        assert_eq!(after.opt_in, OptInStatus::DoubleOptIn);
        assert_eq!(after.lists[&"newsletter".parse().unwrap()], SubscriptionStatus::Confirmed);
        assert!(after.granted(&Purpose::parse("partner_offers").unwrap()));
        assert!(after.consent_date > before.consent_date, "a fresh consent date");
        let ledger = web.app.store.ledger(id).await.unwrap();
        assert_eq!(ledger.len(), events + 1);
        let event = &serde_json::to_string(&ledger.last().unwrap().event().unwrap()).unwrap();
        for key in [
            "\"actor\":\"contact\"", "\"user_agent\":\"TestBrowser/1.0\"", "\"page\":\"confirm\"", "\"ip\":\"127.0.0.1\"",
            "\"requested_form\":\"footer\"", "\"requested_policy_version\":\"1\"", "\"requested_wording.partner_offers\":",
            "double_opt_in",
        ] {
            assert!(event.contains(key), "{key}: {event}");
        }

        let replay = web.post_form(&path, &[]).await;
        assert_eq!(replay.status, 200);
        assert!(replay.body.contains("id=\"confirmed\""), "{}", replay.body);
        assert_eq!(ledger_len(&web, id).await, events + 1, "a replay changes nothing");
        assert_eq!(contact(&web, ADA).await.unwrap(), after);
    }

    async fn an_expired_forged_other_kind_or_test_token_confirms_nothing(t) {
        let web = web_with(t, ROOMY).await;
        sign_up(&web, ADA, &["newsletter"]).await;
        let path = delivered_confirm_path(&web, ADA).await;
        let good = token_of(&path);
        let before = contact(&web, ADA).await.unwrap();
        let key = LINK_KEY.as_bytes();
        let forged = good.clone().sign(b"another-key-0123456789abcdef0123456789");
        let other_kind = LinkToken { kind: LinkKind::Message, ..good.clone() }.sign(key);
        let test = LinkToken { test: true, ..good.clone() }.sign(key);
        let other_contact = LinkToken { contact_id: ContactId::new(good.contact_id.get() + 1), ..good.clone() }.sign(key);
        let mut tampered = path.trim_start_matches("/confirm/").to_owned();
        tampered.insert(3, 'x');
        for token in [forged, other_kind, test, other_contact, tampered] {
            for r in [web.get(&format!("/confirm/{token}")).await, web.post_form(&format!("/confirm/{token}"), &[]).await] {
                assert_eq!(r.status, 404, "{token}: {r:?}");
            }
        }
        // Past the token's own expiry, and past the request's.
        let lapsed = LinkToken { expires: chrono::Utc::now() - chrono::Duration::seconds(5), ..good.clone() }.sign(key);
        let r = web.post_form(&format!("/confirm/{lapsed}"), &[]).await;
        assert_eq!(r.status, 410, "{r:?}");
        assert!(r.body.contains("id=\"expired\""), "{}", r.body);
        web.app.store.execute_raw("UPDATE confirmations SET expires_at = created_at").await.unwrap();
        assert_eq!(web.get(&path).await.status, 410);
        assert_eq!(web.post_form(&path, &[]).await.status, 410);
        assert_eq!(contact(&web, ADA).await.unwrap(), before, "nothing changed");
    }

    async fn only_the_persons_confirmation_lifts_their_own_opt_out_and_a_suppression(t) {
        let web = web_with(t, ROOMY).await;
        for email in [ADA, BOB] {
            sign_up(&web, email, &["newsletter"]).await;
            let path = delivered_confirm_path(&web, email).await;
            assert_eq!(web.post_form(&path, &[]).await.status, 200);
        }
        let ada = EmailAddress::parse(ADA).unwrap();
        let bob = EmailAddress::parse(BOB).unwrap();
        change_contact(&web.app, &Selector::Email(ada.clone()), &unsubscribe_from_everything(), &Authority::contact(false))
            .await
            .unwrap();
        herald::contacts::suppression::add(&web.app, &bob, "complaint", &Actor::System("complaint".into())).await.unwrap();
        let (ada_before, bob_before) = (contact(&web, ADA).await.unwrap(), contact(&web, BOB).await.unwrap());
        assert_eq!(ada_before.opt_in, OptInStatus::OptedOutContact);

        // The sign-up alone changes neither record, but each is asked to confirm.
        let mut paths = Vec::new();
        for email in [ADA, BOB] {
            sign_up(&web, email, &["partner_offers"]).await;
            paths.push(delivered_confirm_path(&web, email).await);
        }
        assert_eq!(contact(&web, ADA).await.unwrap(), ada_before);
        assert_eq!(contact(&web, BOB).await.unwrap(), bob_before);
        assert!(web.app.store.is_suppressed(&web.app.mac(&bob)).await.unwrap());

        for path in paths {
            assert_eq!(web.post_form(&path, &[]).await.status, 200);
        }
        let ada_after = contact(&web, ADA).await.unwrap();
        assert_eq!(ada_after.opt_in, OptInStatus::DoubleOptIn, "lifted by the person's confirmation");
        assert_eq!(ada_after.purposes[&Purpose::parse("partner_offers").unwrap()].state, ConsentState::Granted);
        assert!(!web.app.store.is_suppressed(&web.app.mac(&bob)).await.unwrap(), "lifted by the person's confirmation");
    }

    async fn confirmations_stop_at_the_daily_cap(t) {
        let web = web_with(t, "signup_per_ip_per_minute = 100\nsignup_per_address_per_hour = 100\nconfirmations_per_day = 2\n").await;
        for _ in 0..4 {
            assert_eq!(sign_up(&web, ADA, &[]).await.status, 200);
        }
        assert_eq!(confirmations_for(&web, ADA).await, 2);
    }

    async fn restricted_and_erased_contacts_are_sent_no_confirmation(t) {
        let web = web_with(t, ROOMY).await;
        for email in [ADA, BOB] {
            sign_up(&web, email, &[]).await;
        }
        web.app.store.execute_raw("DELETE FROM confirmations").await.unwrap();
        web.app.store.execute_raw("DELETE FROM sends").await.unwrap();
        let (ada, bob) = (id_of(&web, ADA).await, id_of(&web, BOB).await);
        for (id, state) in [(ada, Processing::Restricted), (bob, Processing::Erased)] {
            web.app
                .store
                .execute_raw(&format!("UPDATE contacts SET processing = '{state}' WHERE id = {}", id.get()))
                .await
                .unwrap();
        }
        for email in [ADA, BOB] {
            assert_eq!(sign_up(&web, email, &[]).await.status, 200);
            assert_eq!(confirmations_for(&web, email).await, 0, "{email}");
        }
    }

    async fn an_unconfirmed_sign_up_expires_with_its_contact_but_a_known_contact_stays(t) {
        let web = web_with(t, ROOMY).await;
        sign_up(&web, ADA, &["newsletter"]).await;
        sign_up(&web, BOB, &[]).await;
        let path = delivered_confirm_path(&web, BOB).await;
        web.post_form(&path, &[]).await;
        sign_up(&web, BOB, &["partner_offers"]).await;
        let later = Arc::new(FixedClock::new(chrono::Utc::now() + chrono::Duration::days(8)));
        let app: App = open_app(&web.db.config_path(), later).await;
        let (confirmations, contacts) = herald::contacts::confirm::expire(&app).await.unwrap();
        assert_eq!((confirmations, contacts), (2, 1));
        assert!(contact(&web, ADA).await.is_none(), "never confirmed: gone");
        assert_eq!(contact(&web, BOB).await.unwrap().opt_in, OptInStatus::DoubleOptIn, "confirmed before: kept");
        assert_eq!(herald::contacts::confirm::expire(&app).await.unwrap(), (0, 0));
    }
}

fn backend_of(web: &TestApp) -> Backend {
    if web.db.url.starts_with("sqlite") { Backend::Sqlite } else { Backend::Postgres }
}
