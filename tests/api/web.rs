//! The web surface in-process ([`spawn_app`]): what every route answers when it cannot
//! do what was asked (a plain page, or plain text for machines), `/healthz` through a
//! real query, and a request log that carries the route template, never the path.

use crate::helpers::{TestApp, spawn_app};
use crate::on_both_backends;
use hmac::{KeyInit, Mac};

const WEBHOOK_SECRET: &str = "a-webhook-secret-for-the-web-tests";

fn signed(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

on_both_backends! {
    async fn healthz_answers_ok_while_the_database_answers_and_503_once_it_is_gone(t) {
        let web = TestApp::on(t, &[]).await;
        let ok = web.get("/healthz").await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.json()["status"], "ok");

        web.app.store.close().await;
        let down = web.get("/healthz").await;
        assert_eq!(down.status, 503, "{down:?}");
        assert_eq!(down.json()["status"], "error");
        // /metrics cannot read the database either: plain text, as for any machine.
        let metrics = web.get("/metrics").await;
        assert_eq!(metrics.status, 503);
        assert!(metrics.header("content-type").starts_with("text/plain"), "{metrics:?}");
    }

    async fn webhook_refusals_are_plain_text_with_the_status_a_provider_acts_on(t) {
        let web = TestApp::on(t, &[("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET)]).await;
        let body = r#"{"events":[{"recipient":"nobody@example.org","kind":"complaint","id":"evt-1"}]}"#;
        let unknown = web.post_raw("/hooks/no-such-provider", &[], body).await;
        assert_eq!(unknown.status, 404);
        let unconfigured = web.post_raw("/hooks/mailgun", &[], body).await;
        assert_eq!(unconfigured.status, 404);
        let forged = web.post_raw("/hooks/generic", &[("X-Herald-Signature", "sha256=00")], body).await;
        assert_eq!(forged.status, 401);
        assert!(forged.header("content-type").starts_with("text/plain"), "{forged:?}");
        assert!(!forged.body.contains('<'), "no page for a machine: {forged:?}");
        let accepted = web.post_raw("/hooks/generic", &[("X-Herald-Signature", &signed(body))], body).await;
        assert_eq!(accepted.status, 200, "{accepted:?}");
        assert_eq!(accepted.json()["received"], 1);
        assert!(web.db.contact("nobody@example.org").await.is_none(), "a complaint about a stranger adds no one");
    }
}

#[tokio::test]
async fn an_unknown_route_gets_the_plain_404_page_which_echoes_nothing() {
    let web = spawn_app().await;
    let r = web.get("/nowhere/%3Cscript%3Ealert(1)%3C%2Fscript%3E?x=%3Cb%3E").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert!(r.header("content-security-policy").starts_with("default-src 'none'"), "{r:?}");
    assert!(r.body.contains("<h1>Not found</h1>"), "{}", r.body);
    assert!(!r.body.contains("script") && !r.body.contains("nowhere") && !r.body.contains("<b>"), "{}", r.body);
    // A form post to a route that does not exist is the same page.
    let posted = web.post_form("/u/some-token", &[("list", "all")]).await;
    assert_eq!((posted.status, posted.body.as_str()), (404, r.body.as_str()));
    // Under /api (machines' routes, issue 15) the same 404 is JSON, and echoes nothing either.
    let api = web.post_json("/api/v1/contacts", &serde_json::json!({"email": "x@example.com"})).await;
    assert_eq!((api.status, api.header("content-type")), (404, "application/json"));
    assert_eq!(api.json(), serde_json::json!({"error": "no such API route"}));
}

#[tokio::test]
async fn a_wrong_method_gets_a_plain_405_page() {
    let web = spawn_app().await;
    let r = web.get("/subscribe").await;
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert!(r.header("content-security-policy").starts_with("default-src 'none'"), "{r:?}");
    assert!(r.body.contains("does not answer that kind of request"), "{}", r.body);
}
