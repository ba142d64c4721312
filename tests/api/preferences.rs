//! The preference centre through the web surface (issue 13 point 2) and the undo of an
//! unsubscribe: the page, withdrawals at once, grants only once confirmed by email, CSRF,
//! escaping, expired / forged / other-contact / test tokens, stop processing and erasure
//! requests with their evidence, a locked record. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use crate::unsubscribe::{ADA, BOB, id_of, last_event, ledger_len, message_token, served, token_for};
use herald::consent::{Authority, ContactPatch, IdentityPatch};
use herald::contacts::confirm::{self, Confirmed};
use herald::contacts::token::LinkKind;
use herald::domain::{ContactId, EmailAddress, ListName, OptInStatus, Processing, Purpose, SubscriptionStatus};
use herald::store::confirmations::ConfirmationRow;

fn list(name: &str) -> ListName {
    ListName::parse(name).unwrap()
}

fn purpose(name: &str) -> Purpose {
    Purpose::parse(name).unwrap()
}

/// The CSRF token of the first form on `page`.
fn csrf_of(page: &str) -> String {
    let (_, rest) = page.split_once(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no CSRF field: {page}"));
    rest.split('"').next().unwrap().to_owned()
}

async fn csrf_for(web: &TestApp, token: &str) -> String {
    let page = web.get(&format!("/p/{token}")).await;
    assert_eq!(page.status, 200, "{page:?}");
    csrf_of(&page.body)
}

/// The confirmation requests of `contact` (ids count from 1 in a fresh database).
async fn confirmations_of(web: &TestApp, contact: ContactId) -> Vec<ConfirmationRow> {
    let mut rows = Vec::new();
    for id in 1..=20 {
        if let Some(row) = web.app.store.confirmation(id).await.unwrap()
            && row.contact_id == contact
        {
            rows.push(row);
        }
    }
    rows
}

/// Confirms `row` as the person following the emailed link would.
async fn confirm_row(web: &TestApp, row: &ConfirmationRow) {
    let token = confirm::request_token(row).sign(LINK_KEY.as_bytes());
    let done = confirm::confirm(&web.app, &token, &Authority::contact(false)).await.unwrap();
    assert_eq!(done, Confirmed::Applied { contact_id: row.contact_id });
}

on_both_backends! {
    async fn the_page_shows_lists_purposes_and_the_persons_history_in_words(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        assert_eq!(web.post_form(&format!("/u/{token}"), &[("List-Unsubscribe", "One-Click")]).await.status, 200);
        let page = web.get(&format!("/p/{token}")).await;
        assert_eq!(page.status, 200, "{page:?}");
        let body = &page.body;
        assert!(body.contains("Hello Ada"), "{body}");
        assert!(body.contains(r#"<form id="preferences-form" method="post""#), "{body}");
        assert!(body.contains(r#"name="list" value="newsletter" id="list-newsletter">"#), "unsubscribed, so unticked: {body}");
        assert!(body.contains(r#"name="purpose" value="newsletter" id="purpose-newsletter" checked>"#), "granted: {body}");
        assert!(body.contains(r#"name="purpose" value="tracking" id="purpose-tracking">"#), "never granted: {body}");
        assert!(body.contains("which links you click"), "tracking in plain words: {body}");
        for id in ["save", "restrict", "erase", "download"] {
            assert!(body.contains(&format!(r#"id="{id}""#)), "{id}: {body}");
        }
        let (_, history) = body.split_once(r#"<section id="history">"#).unwrap();
        assert!(history.contains("You unsubscribed from Newsletter"), "{history}");
        assert!(history.contains("You were subscribed to Newsletter; your confirmation by email was recorded; your consent for Newsletter was recorded (imported)"), "{history}");
        assert!(!history.contains("127.0.0.1") && !history.contains('{') && !history.contains("contacts.csv"), "{history}");
    }

    async fn unticking_applies_at_once_and_ticking_waits_for_the_emailed_confirmation(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let csrf = csrf_for(&web, &token).await;
        let ada = id_of(&web, ADA).await;
        // Newsletter list and purpose unticked, tracking ticked.
        let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "save"), ("purpose", "tracking")]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains(r#"<p id="saved">"#) && r.body.contains("You left Newsletter"), "{}", r.body);
        assert!(r.body.contains(r#"id="pending""#) && r.body.contains("which links you click"), "{}", r.body);
        let now = web.db.contact(ADA).await.unwrap();
        assert_eq!(now.lists[&list("newsletter")], SubscriptionStatus::Unsubscribed, "withdrawn at once");
        assert!(!now.granted(&purpose("newsletter")), "withdrawn at once");
        assert!(!now.granted(&purpose("tracking")), "a grant does not apply before it is confirmed");
        let event = last_event(&web, ADA).await;
        assert_eq!(event["actor"], "contact");
        assert_eq!((event["evidence"]["page"].as_str(), event["evidence"]["ip"].as_str()), (Some("preferences"), Some("127.0.0.1")));
        let rows = confirmations_of(&web, ada).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(rows[0].send_id.is_some(), "a confirmation message is queued");
        assert_eq!(rows[0].request["purposes"], serde_json::json!(["tracking"]));
        confirm_row(&web, &rows[0]).await;
        assert!(web.db.contact(ADA).await.unwrap().granted(&purpose("tracking")), "applies once confirmed");
    }

    async fn a_form_without_this_pages_csrf_token_is_refused_and_changes_nothing(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let bobs = csrf_for(&web, &message_token(&web, BOB).await).await;
        let events = ledger_len(&web, ADA).await;
        for form in [
            vec![("action", "save")],
            vec![("csrf", "20000.AAAAAAAAAAAAAAAAAAAAAA"), ("action", "save")],
            vec![("csrf", bobs.as_str()), ("action", "save")],
            vec![("csrf", bobs.as_str()), ("action", "restrict")],
        ] {
            let r = web.post_form(&format!("/p/{token}"), &form).await;
            assert_eq!(r.status, 403, "{form:?}: {r:?}");
            assert!(r.body.contains(r#"id="form-refused""#), "{}", r.body);
        }
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.lists[&list("newsletter")], ada.processing), (SubscriptionStatus::Confirmed, Processing::Active));
        assert_eq!(ledger_len(&web, ADA).await, events);
        // The same form with the page's own token does change it (the test can fail).
        let csrf = csrf_for(&web, &token).await;
        assert_eq!(web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "save")]).await.status, 200);
        assert_eq!(web.db.contact(ADA).await.unwrap().lists[&list("newsletter")], SubscriptionStatus::Unsubscribed);
    }

    async fn a_name_and_a_list_description_are_rendered_inert(t) {
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        let payload = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
        std::fs::write(t.config_path(), format!("{config}\n[lists.offers]\ndescription = '{payload}'\n")).unwrap();
        let web = served(t).await;
        let ada = EmailAddress::parse(ADA).unwrap();
        let patch = ContactPatch { identity: IdentityPatch { first_name: Some(payload.into()), ..Default::default() }, ..Default::default() };
        herald::contacts::edit::set(&web.app, &ada, &patch, &Authority::staff("test", None)).await.unwrap();
        let page = web.get(&format!("/p/{}", message_token(&web, ADA).await)).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<script>") && !page.body.contains("<img"), "{}", page.body);
        assert_eq!(page.body.matches("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;").count(), 2, "{}", page.body);
    }

    async fn an_expired_link_asks_for_a_newer_email_and_changes_nothing(t) {
        let web = served(t).await;
        let fresh = message_token(&web, ADA).await;
        let csrf = csrf_for(&web, &fresh).await;
        let expired = token_for(id_of(&web, ADA).await, LinkKind::Message, -1, false);
        let page = web.get(&format!("/p/{expired}")).await;
        assert_eq!(page.status, 410, "{page:?}");
        assert!(page.body.contains(r#"id="link-expired""#) && !page.body.contains("Ada"), "{}", page.body);
        let r = web.post_form(&format!("/p/{expired}"), &[("csrf", &csrf), ("action", "save")]).await;
        assert_eq!(r.status, 410);
        assert_eq!(web.db.contact(ADA).await.unwrap().lists[&list("newsletter")], SubscriptionStatus::Confirmed);
    }

    async fn bad_tokens_are_the_plain_404_and_a_token_shows_only_its_own_contact(t) {
        let web = served(t).await;
        let ada = id_of(&web, ADA).await;
        let not_found = web.get("/nowhere").await.body;
        for token in ["junk".to_owned(), token_for(ada, LinkKind::Open, 30, false), token_for(ada, LinkKind::Confirm, 30, false), token_for(ContactId::new(999_999), LinkKind::Message, 30, false)] {
            let r = web.get(&format!("/p/{token}")).await;
            assert_eq!((r.status, r.body.as_str()), (404, not_found.as_str()), "{token}");
            let csrf = herald::web::csrf::token(LINK_KEY.as_bytes(), &token, chrono::Utc::now());
            let post = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "save")]).await;
            assert_eq!(post.status, 404, "{token}");
        }
        let token = message_token(&web, ADA).await;
        let page = web.get(&format!("/p/{token}")).await;
        assert!(page.body.contains("Hello Ada") && !page.body.contains("Bob"), "{}", page.body);
        let csrf = csrf_of(&page.body);
        assert_eq!(web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "restrict")]).await.status, 200);
        assert_eq!(web.db.contact(BOB).await.unwrap().processing, Processing::Active, "Bob untouched");
        assert_eq!(web.db.contact(ADA).await.unwrap().processing, Processing::Restricted, "the test can fail");
    }

    async fn a_test_sends_link_shows_no_one_and_changes_nothing(t) {
        let web = served(t).await;
        let token = token_for(id_of(&web, ADA).await, LinkKind::Message, 30, true);
        let page = web.get(&format!("/p/{token}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(r#"id="test-link""#) && !page.body.contains("Ada") && !page.body.contains("csrf"), "{}", page.body);
        let csrf = herald::web::csrf::token(LINK_KEY.as_bytes(), &token, chrono::Utc::now());
        let events = ledger_len(&web, ADA).await;
        for action in ["save", "restrict", "erase"] {
            let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", action)]).await;
            assert!(r.body.contains(r#"id="test-link""#), "{action}: {}", r.body);
        }
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.lists[&list("newsletter")], ada.processing), (SubscriptionStatus::Confirmed, Processing::Active));
        assert_eq!(ledger_len(&web, ADA).await, events);
        assert!(confirmations_of(&web, id_of(&web, ADA).await).await.is_empty());
    }

    async fn stop_processing_locks_the_record_and_the_page_offers_nothing_that_edits_it(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let csrf = csrf_for(&web, &token).await;
        let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "restrict")]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("stopped processing"), "{}", r.body);
        assert_eq!(web.db.contact(ADA).await.unwrap().processing, Processing::Restricted);
        let event = last_event(&web, ADA).await;
        assert_eq!(event["changes"]["processing"], serde_json::json!(["active", "restricted"]));
        assert_eq!((event["actor"].as_str(), event["evidence"]["page"].as_str()), (Some("contact"), Some("preferences")));
        let page = web.get(&format!("/p/{token}")).await;
        // Its one form is "download my data", which edits nothing (access is still the person's right).
        let forms = page.body.matches("<form").count();
        assert!(page.body.contains(r#"id="locked""#) && forms == 1 && page.body.contains(r#"<form id="download-form""#), "{}", page.body);
        assert!(page.body.contains("You asked us to stop processing your data"), "history: {}", page.body);
        let events = ledger_len(&web, ADA).await;
        let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "save"), ("list", "newsletter")]).await;
        assert_eq!(r.status, 409, "{r:?}");
        assert_eq!(ledger_len(&web, ADA).await, events);
        assert!(confirmations_of(&web, id_of(&web, ADA).await).await.is_empty());
    }

    async fn an_erasure_request_is_recorded_and_locks_the_record(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let csrf = csrf_for(&web, &token).await;
        let r = web.post_form(&format!("/p/{token}"), &[("csrf", &csrf), ("action", "erase")]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(web.db.contact(ADA).await.unwrap().processing, Processing::ErasureRequested);
        assert_eq!(last_event(&web, ADA).await["evidence"]["page"], "preferences");
        let page = web.get(&format!("/p/{token}")).await;
        assert!(page.body.contains(r#"id="locked""#) && page.body.contains("erase"), "{}", page.body);
    }

    async fn undo_asks_for_the_lists_back_by_email_and_applies_once_confirmed(t) {
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let done = web.post_form(&format!("/u/{token}"), &[("scope", "everything")]).await;
        let csrf = csrf_of(&done.body);
        let refused = web.post_form(&format!("/u/{token}/undo"), &[]).await;
        assert_eq!(refused.status, 403, "no CSRF token: {refused:?}");
        let r = web.post_form(&format!("/u/{token}/undo"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains(r#"id="undo-requested""#), "{}", r.body);
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.opt_in, ada.lists[&list("newsletter")]), (OptInStatus::OptedOutContact, SubscriptionStatus::Unsubscribed), "not before confirmation");
        let rows = confirmations_of(&web, ada.id.unwrap()).await;
        assert_eq!(rows.len(), 1, "one request, after the refused one: {rows:?}");
        confirm_row(&web, &rows[0]).await;
        let ada = web.db.contact(ADA).await.unwrap();
        assert_eq!((ada.opt_in, ada.lists[&list("newsletter")]), (OptInStatus::DoubleOptIn, SubscriptionStatus::Confirmed));
    }
}

on_both_backends! {
    async fn download_my_data_serves_the_persons_own_export_and_closes_an_access_request(t) {
        use herald::domain::{RequestKind, RequestSource};
        use herald::store::privacy_requests::RequestFilter;
        let web = served(t).await;
        let token = message_token(&web, ADA).await;
        let csrf = csrf_for(&web, &token).await;
        let path = format!("/p/{token}/download");
        let registered = async || web.app.store.privacy_requests(RequestFilter::All).await.unwrap();

        // Refused: no CSRF token, Ada's CSRF token on Bob's page, a forged link.
        let no_csrf = web.post_form(&path, &[]).await;
        assert_eq!(no_csrf.status, 403, "{no_csrf:?}");
        let bob = message_token(&web, BOB).await;
        let other = web.post_form(&format!("/p/{bob}/download"), &[("csrf", &csrf)]).await;
        assert_eq!(other.status, 403, "another page's CSRF token: {other:?}");
        assert_eq!(web.post_form("/p/AAforgedQ7xZ9pL2mK8vN4wR6yT3/download", &[("csrf", &csrf)]).await.status, 404);
        for refused in [&no_csrf, &other] {
            assert!(!refused.body.contains(ADA) && !refused.body.contains(BOB), "{}", refused.body);
        }
        assert!(registered().await.is_empty(), "a refused download registers nothing");

        let r = web.post_form(&path, &[("csrf", &csrf)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-disposition"), r#"attachment; filename="herald-export.json""#);
        assert!(r.header("content-type").starts_with("application/json"), "{r:?}");
        let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let ada = id_of(&web, ADA).await;
        assert_eq!((doc["email"].as_str(), doc["contact_id"].as_i64()), (Some(ADA), Some(ada.get())));
        assert!(!doc["ledger"].as_array().unwrap().is_empty(), "{doc}");
        assert_eq!(doc["sends"][0]["campaign"], "spring", "{doc}");
        for other in [BOB, "cy@example.net"] {
            assert!(!r.body.contains(other), "{other} is in Ada's download: {}", r.body);
        }
        // The same document as `herald privacy export` (but for the time of export).
        let cli = web.db.herald(&["privacy", "export", ADA]);
        assert!(cli.status.success(), "{}", stderr(&cli));
        let mut cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
        let mut doc = doc;
        for d in [&mut cli, &mut doc] {
            d.as_object_mut().unwrap().remove("exported_at");
        }
        assert_eq!(doc, cli);

        let rows = registered().await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!((row.contact_id, row.kind, row.source), (ada, RequestKind::Access, RequestSource::Web));
        assert!(row.closed_at.is_some(), "{row:?}");
        assert_eq!(row.outcome.as_deref(), Some("exported via preference centre"));

        // A few downloads an hour, then 429.
        let statuses: Vec<u16> = download_statuses(&web, &path, &csrf, 5).await;
        assert_eq!(statuses, [200, 200, 200, 200, 429], "{statuses:?}");
    }
}

async fn download_statuses(web: &TestApp, path: &str, csrf: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(web.post_form(path, &[("csrf", csrf)]).await.status);
    }
    out
}
