//! The unsubscribe link through the web surface (issue 13 point 1): the page a GET shows
//! and that it changes nothing, RFC 8058 one-click and its idempotence, "everything",
//! forged, expired, other-kind, other-contact and test tokens, the evidence in the
//! ledger, and a withdrawal in the middle of a running campaign. On both backends.

use crate::engine_step::spring_workspace;
use crate::helpers::*;
use crate::on_both_backends;
use herald::campaign::{self, lifecycle};
use herald::contacts::token::{LinkKind, LinkToken};
use herald::domain::{CampaignState, ContactId, ListName, OptInStatus, SubscriptionStatus};
use herald::send::engine::{Deps, Engine, Verdict};
use herald::send::smtp::dns::Dns;
use herald::send::smtp::recording::RecordingTransport;

pub(crate) const ADA: &str = "ada@example.com";
pub(crate) const BOB: &str = "bob@example.org";
const ONE_CLICK: &[(&str, &str)] = &[("List-Unsubscribe", "One-Click")];

/// The spring workspace (Ada, Bob and Cy on `newsletter`), its campaign started (so its
/// lists are stored), served.
pub(crate) async fn served(t: TestDb) -> TestApp {
    let file = spring_workspace(&t, "batch_size = 1\nmin_sample = 1000\n").await;
    let web = TestApp::on(t, &[]).await;
    let text = std::fs::read_to_string(&file).unwrap();
    let c = campaign::parse(&file, &text, &web.app.config.policy).unwrap();
    let (record, _) = lifecycle::record(&web.app, &c, &text, CampaignState::Running).await.unwrap();
    lifecycle::materialise(&web.app, &record, &c).await.unwrap();
    web
}

pub(crate) async fn id_of(web: &TestApp, email: &str) -> ContactId {
    web.db.contact(email).await.unwrap().id.unwrap()
}

/// A message token of `kind` for `contact`, sent for the spring campaign, expiring
/// `days` from now (negative: expired), signed with the test key.
pub(crate) fn token_for(contact: ContactId, kind: LinkKind, days: i64, test: bool) -> String {
    LinkToken {
        kind,
        contact_id: contact,
        campaign: "spring".into(),
        purpose: None,
        expires: chrono::Utc::now() + chrono::Duration::days(days),
        test,
    }
    .sign(LINK_KEY.as_bytes())
}

pub(crate) async fn message_token(web: &TestApp, email: &str) -> String {
    token_for(id_of(web, email).await, LinkKind::Message, 30, false)
}

fn newsletter() -> ListName {
    ListName::parse("newsletter").unwrap()
}

pub(crate) async fn ledger_len(web: &TestApp, email: &str) -> usize {
    web.app.store.ledger(id_of(web, email).await).await.unwrap().len()
}

/// The newest ledger event of `email`'s contact, as JSON.
pub(crate) async fn last_event(web: &TestApp, email: &str) -> serde_json::Value {
    let entries = web.app.store.ledger(id_of(web, email).await).await.unwrap();
    serde_json::to_value(entries.last().unwrap().event().unwrap()).unwrap()
}

on_both_backends! {
    async fn the_page_names_the_lists_and_a_get_changes_nothing(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let before = web.db.contact(ADA).await.unwrap();
        let events = ledger_len(&web, ADA).await;
        for _ in 0..2 {
            let page = web.get(&format!("/u/{token}")).await;
            assert_eq!(page.status, 200, "{page:?}");
            assert!(page.body.contains("<strong>Newsletter</strong>"), "{}", page.body);
            assert!(page.body.contains(r#"<input type="hidden" name="List-Unsubscribe" value="One-Click">"#), "{}", page.body);
            assert!(page.body.contains(r#"id="unsubscribe""#) && page.body.contains(r#"id="unsubscribe-all""#), "{}", page.body);
            assert!(page.header("content-security-policy").contains("form-action 'self'"), "{page:?}");
        }
        let after = web.db.contact(ADA).await.unwrap();
        assert_eq!((after.lists, after.opt_in), (before.lists, before.opt_in), "a GET changes nothing");
        assert_eq!(ledger_len(&web, ADA).await, events);
    }

    async fn one_click_unsubscribes_at_once_and_twice_is_one_event_with_its_evidence(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let events = ledger_len(&web, ADA).await;
        let request = || {
            web.client
                .post(web.url(&format!("/u/{token}")))
                .header("User-Agent", "Mail-Client/1.0")
                .form(ONE_CLICK)
        };
        for _ in 0..2 {
            let r = request().send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "no redirect, no error");
            assert!(r.headers().get("set-cookie").is_none(), "no cookie");
            let body = r.text().await.unwrap();
            assert!(body.contains(r#"id="unsubscribed""#) && body.contains("<strong>Newsletter</strong>"), "{body}");
            assert!(body.contains(&format!(r#"<a id="preferences" href="https://news.acme.example/p/{token}">"#)), "{body}");
            assert!(body.contains(&format!(r#"action="https://news.acme.example/u/{token}/undo""#)) && body.contains(r#"id="undo""#), "{body}");
        }
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!(ada.lists[&newsletter()], SubscriptionStatus::Unsubscribed);
        assert_eq!(ada.opt_in, OptInStatus::DoubleOptIn, "one list, not everything");
        assert_eq!(ledger_len(&web, ADA).await, events + 1, "the second click wrote nothing");
        let event = last_event(&web, ADA).await;
        assert_eq!(event["actor"], "contact");
        assert_eq!(event["changes"]["list.newsletter"], serde_json::json!(["confirmed", "unsubscribed"]));
        assert_eq!(event["evidence"]["page"], "unsubscribe");
        assert_eq!(event["evidence"]["campaign"], "spring");
        assert_eq!(event["evidence"]["ip"], "127.0.0.1");
        assert_eq!(event["evidence"]["user_agent"], "Mail-Client/1.0");
    }

    async fn a_one_click_body_sent_as_multipart_still_unsubscribes(t) {
        let web = served(t).await;
        let token = message_token(&web, BOB).await;
        let body = "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0undary--\r\n";
        let r = web.post_raw(&format!("/u/{token}"), &[("Content-Type", "multipart/form-data; boundary=b0undary")], body).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(web.db.contact(BOB).await.unwrap().lists[&newsletter()], SubscriptionStatus::Unsubscribed);
    }

    async fn everything_opts_the_person_out_and_leaves_the_list_in_one_event(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let events = ledger_len(&web, ADA).await;
        let r = web.post_form(&format!("/u/{token}"), &[("scope", "everything")]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("unsubscribed from everything"), "{}", r.body);
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.opt_in, ada.lists[&newsletter()]), (OptInStatus::OptedOutContact, SubscriptionStatus::Unsubscribed));
        assert_eq!(ledger_len(&web, ADA).await, events + 1);
        let event = last_event(&web, ADA).await;
        assert_eq!(event["changes"]["opt_in_status"], serde_json::json!(["double_opt_in", "opted_out_contact"]));
        assert_eq!(event["changes"]["list.newsletter"], serde_json::json!(["confirmed", "unsubscribed"]));
        // A second time is answered the same and writes nothing.
        assert_eq!(web.post_form(&format!("/u/{token}"), &[("scope", "everything")]).await.status, 200);
        assert_eq!(ledger_len(&web, ADA).await, events + 1);
    }

    async fn an_expired_token_still_unsubscribes_but_offers_no_undo(t) {
        let web = served(t).await;
        let token = token_for(id_of(&web, ADA).await, LinkKind::Message, -400, false);
        assert_eq!(web.get(&format!("/u/{token}")).await.status, 200);
        let r = web.post_form(&format!("/u/{token}"), ONE_CLICK).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(!r.body.contains(r#"id="undo""#), "{}", r.body);
        assert_eq!(web.db.contact(ADA).await.unwrap().lists[&newsletter()], SubscriptionStatus::Unsubscribed);
    }

    async fn forged_other_kind_and_unknown_contact_tokens_are_the_plain_404_and_change_nothing(t) {
        let web = served(t).await;
        let ada = id_of(&web, ADA).await;
        let not_found = web.get("/nowhere").await.body;
        let forged = LinkToken {
            kind: LinkKind::Message,
            contact_id: ada,
            campaign: "spring".into(),
            purpose: None,
            expires: chrono::Utc::now() + chrono::Duration::days(30),
            test: false,
        }
        .sign(b"not-the-link-key-0123456789abcdef0123");
        let mut tokens = vec![forged, "junk".to_owned(), token_for(ContactId::new(999_999), LinkKind::Message, 30, false)];
        for kind in [LinkKind::Open, LinkKind::Click, LinkKind::Confirm] {
            tokens.push(token_for(ada, kind, 30, false));
        }
        let events = ledger_len(&web, ADA).await;
        for token in &tokens {
            let get = web.get(&format!("/u/{token}")).await;
            assert_eq!((get.status, get.body.as_str()), (404, not_found.as_str()), "GET {token}");
            let post = web.post_form(&format!("/u/{token}"), ONE_CLICK).await;
            assert_eq!((post.status, post.body.as_str()), (404, not_found.as_str()), "POST {token}");
        }
        assert_eq!(web.db.contact(ADA).await.unwrap().lists[&newsletter()], SubscriptionStatus::Confirmed);
        assert_eq!(ledger_len(&web, ADA).await, events);
    }

    async fn a_token_for_one_contact_never_changes_another(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        assert_eq!(web.post_form(&format!("/u/{token}"), &[("scope", "everything")]).await.status, 200);
        let bob = web.db.contact(BOB).await.unwrap();
        assert_eq!((bob.opt_in, bob.lists[&newsletter()]), (OptInStatus::DoubleOptIn, SubscriptionStatus::Confirmed));
        assert_eq!(web.db.contact(ADA).await.unwrap().opt_in, OptInStatus::OptedOutContact, "the test can fail");
    }

    async fn a_test_sends_link_says_so_and_changes_nothing(t) {
        let web = served(t).await;
        let token = token_for(id_of(&web, ADA).await, LinkKind::Message, 30, true);
        let events = ledger_len(&web, ADA).await;
        let page = web.get(&format!("/u/{token}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(r#"id="test-link""#), "{}", page.body);
        for form in [ONE_CLICK, &[("scope", "everything")]] {
            let r = web.post_form(&format!("/u/{token}"), form).await;
            assert_eq!(r.status, 200, "{r:?}");
            assert!(r.body.contains(r#"id="test-link""#) && r.body.contains("nothing was changed"), "{}", r.body);
        }
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.opt_in, ada.lists[&newsletter()]), (OptInStatus::DoubleOptIn, SubscriptionStatus::Confirmed));
        assert_eq!(ledger_len(&web, ADA).await, events);
    }

    async fn a_withdrawal_between_batches_stops_that_persons_unsent_message(t) {
        let web = served(t).await;
        let record = web.app.store.campaign_by_name("spring").await.unwrap().unwrap();
        // One connection, one message at a time: a step claims two sends.
        let deps = Deps {
            transport: RecordingTransport::new(1, 1),
            throttle: herald::send::throttle_from_config(&web.app.config).unwrap(),
            dns: Dns::from_config(&web.app.config).unwrap(),
        };
        let engine = Engine::new(web.app.clone(), deps);
        let first = engine.step(Some(record.id)).await.unwrap();
        assert_eq!(first.len(), 2, "{first:?}");
        let mut waiting = None;
        for email in ["ada@example.com", "bob@example.org", "cy@example.net"] {
            let id = id_of(&web, email).await;
            if !first.iter().any(|f| f.claim.contact_id == id) {
                waiting = Some((email, id));
            }
        }
        let (email, id) = waiting.expect("one send left for the next batch");
        let token = token_for(id, LinkKind::Message, 30, false);
        assert_eq!(web.post_form(&format!("/u/{token}"), ONE_CLICK).await.status, 200);
        let second = engine.step(Some(record.id)).await.unwrap();
        let theirs = second.iter().find(|f| f.claim.contact_id == id).expect("their send was claimed");
        assert_eq!(theirs.verdict, Verdict::Skipped("not_subscribed".into()));
        assert_eq!(engine.transport().transmitted_to(email), 0, "nothing reached the transport");
        assert_eq!(engine.transport().records().len(), 2, "the two others were sent");
    }
}
