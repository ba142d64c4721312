//! The events API and the API's doors (issue 15 point 4, DESIGN §13): bearer keys from
//! `HERALD_API_KEY` (none: 503; missing or wrong: 401; a rotated second key works), the
//! per-key rate limit (429 with Retry-After), JSON errors for every refusal (415, 400,
//! 413, 422 naming the field), and `POST /api/events`: 202 only once the row is
//! readable by the flow trigger watcher's reader, an unknown address recorded without a
//! contact and never creating one, and a contact's events erased with it. Both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::Actor;

pub(crate) const KEY: &str = "test-api-key-0123456789abcdef0123456789";
pub(crate) const KEY2: &str = "test-api-key-rotated-9876543210fedcba98";

/// The web surface with both API keys set and `api` as the config's `[api]`.
pub(crate) async fn api_with(t: TestDb, api: &str) -> TestApp {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n[api]\n{api}")).unwrap();
    let keys = format!("{KEY}, {KEY2}");
    TestApp::on(t, &[("HERALD_API_KEY", keys.as_str())]).await
}

/// A request to the API with `key` as its bearer key (none when `None`).
pub(crate) async fn call(web: &TestApp, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Reply {
    let mut request = web.client.request(method.parse().unwrap(), web.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.expect("the test server answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    Reply { status, headers, body: response.text().await.unwrap() }
}

pub(crate) async fn post(web: &TestApp, path: &str, body: &serde_json::Value) -> Reply {
    call(web, "POST", path, Some(KEY), Some(&body.to_string())).await
}

fn error_of(reply: &Reply) -> String {
    assert_eq!(reply.header("content-type"), "application/json", "{reply:?}");
    reply.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {reply:?}")).to_owned()
}

async fn create(web: &TestApp, email: &str) -> herald::domain::ContactId {
    let body = serde_json::json!({"email": email, "opt_in_status": "double_opt_in", "lists": ["newsletter:confirmed"]});
    let r = post(web, "/api/contacts", &body).await;
    assert_eq!((r.status, &r.json()["created"]), (200, &serde_json::json!(1)), "{r:?}");
    web.db.contact(email).await.unwrap().id.unwrap()
}

on_both_backends! {
    async fn without_a_configured_key_every_api_route_answers_503(t) {
        let web = TestApp::on(t, &[]).await;
        for (method, path, body) in [
            ("POST", "/api/events", Some(r#"{"email":"a@example.com","event":"x"}"#)),
            ("POST", "/api/contacts", Some(r#"{"email":"a@example.com"}"#)),
            ("GET", "/api/contacts/a@example.com", None),
        ] {
            let r = call(&web, method, path, Some(KEY), body).await;
            assert_eq!(r.status, 503, "{path}: {r:?}");
            assert!(error_of(&r).contains("API key"), "{r:?}");
        }
        assert!(web.db.contact("a@example.com").await.is_none());
    }

    async fn a_missing_or_wrong_key_is_refused_and_a_rotated_second_key_works(t) {
        let web = api_with(t, "").await;
        let event = r#"{"email":"ada@example.com","event":"cart_abandoned"}"#;
        for key in [None, Some("wrong-key-0123456789abcdef0123456789"), Some(&KEY[..KEY.len() - 1])] {
            let r = call(&web, "POST", "/api/events", key, Some(event)).await;
            assert_eq!(r.status, 401, "{key:?}: {r:?}");
            assert!(r.header("www-authenticate").starts_with("Bearer"), "{r:?}");
            error_of(&r);
        }
        let basic = web.client.post(web.url("/api/events")).header("authorization", format!("Basic {KEY}"))
            .header("content-type", "application/json").body(event).send().await.unwrap();
        assert_eq!(basic.status().as_u16(), 401);
        assert!(web.app.store.custom_events_after(0, 10).await.unwrap().is_empty(), "nothing recorded");
        for key in [KEY, KEY2] {
            assert_eq!(call(&web, "POST", "/api/events", Some(key), Some(event)).await.status, 202, "{key}");
        }
        assert_eq!(web.app.store.custom_events_after(0, 10).await.unwrap().len(), 2);
    }

    async fn each_key_is_rate_limited_with_retry_after(t) {
        let web = api_with(t, "requests_per_minute = 3\n").await;
        let event = r#"{"email":"ada@example.com","event":"x"}"#;
        for _ in 0..3 {
            assert_eq!(call(&web, "POST", "/api/events", Some(KEY), Some(event)).await.status, 202);
        }
        let r = call(&web, "POST", "/api/events", Some(KEY), Some(event)).await;
        assert_eq!(r.status, 429, "{r:?}");
        assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1, "{r:?}");
        error_of(&r);
        assert_eq!(web.app.store.custom_events_after(0, 10).await.unwrap().len(), 3, "the refused one is not recorded");
        // The other key has its own budget.
        assert_eq!(call(&web, "POST", "/api/events", Some(KEY2), Some(event)).await.status, 202);
    }

    async fn malformed_requests_get_a_json_error_naming_what_is_wrong(t) {
        let web = api_with(t, "max_body_bytes = 4096\nmax_properties_bytes = 100\n").await;
        let send = |ct: &'static str, body: String| {
            let request = web.client.post(web.url("/api/events")).bearer_auth(KEY).header("content-type", ct).body(body);
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                Reply { status, headers, body: response.text().await.unwrap() }
            }
        };
        let cases: Vec<(&str, String, u16, &str)> = vec![
            ("text/plain", r#"{"email":"a@example.com","event":"x"}"#.into(), 415, "application/json"),
            ("application/json", "{not json".into(), 400, "not JSON"),
            ("application/json", format!(r#"{{"email":"a@example.com","event":"x","properties":{{"p":"{}"}}}}"#, "x".repeat(5000)), 413, "4096"),
            ("application/json", r#"{"event":"x"}"#.into(), 422, "email"),
            ("application/json", r#"{"email":"not an address","event":"x"}"#.into(), 422, "email"),
            ("application/json", r#"{"email":"a@example.com","event":"cart abandoned!"}"#.into(), 422, "event"),
            ("application/json", r#"{"email":"a@example.com","event":7}"#.into(), 422, "event"),
            ("application/json", r#"{"email":"a@example.com","event":"x","properties":[1]}"#.into(), 422, "properties"),
            ("application/json", format!(r#"{{"email":"a@example.com","event":"x","properties":{{"p":"{}"}}}}"#, "x".repeat(200)), 422, "properties"),
            ("application/json", r#"{"email":"a@example.com","event":"x","extra":1}"#.into(), 422, "extra"),
        ];
        for (ct, body, status, names) in cases {
            let r = send(ct, body.clone()).await;
            assert_eq!(r.status, status, "{body:.80}: {r:?}");
            let error = error_of(&r);
            assert!(error.contains(names), "{error} should name {names}");
        }
        assert!(web.app.store.custom_events_after(0, 10).await.unwrap().is_empty());
        let r = call(&web, "GET", "/api/nothing-here", Some(KEY), None).await;
        assert_eq!(r.status, 404);
        error_of(&r);
        let r = call(&web, "GET", "/api/events", Some(KEY), None).await;
        assert_eq!(r.status, 405);
        error_of(&r);
    }

    async fn an_event_is_answered_202_only_once_the_watcher_can_read_it(t) {
        let web = api_with(t, "").await;
        let ada = create(&web, "ada@example.com").await;
        let body = serde_json::json!({"email": "Ada@Example.com", "event": "cart_abandoned",
            "properties": {"items": [{"sku": "A1", "qty": 2}], "total": 19.5}});
        let r = post(&web, "/api/events", &body).await;
        assert_eq!(r.status, 202, "{r:?}");
        let answer = r.json();
        assert_eq!(answer["accepted"], true);
        let id = answer["id"].as_i64().unwrap();
        // Read through another connection pool: committed, not merely written.
        let seen = web.db.app.store.custom_events_after(0, 10).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].id, seen[0].contact_id, seen[0].name.as_str()), (id, Some(ada), "cart_abandoned"));
        assert_eq!(seen[0].properties["items"][0]["sku"], "A1");
        let r = post(&web, "/api/events", &serde_json::json!({"email": "ada@example.com", "event": "purchased"})).await;
        let second = r.json()["id"].as_i64().unwrap();
        assert!(second > id);
        let after = web.db.app.store.custom_events_after(id, 10).await.unwrap();
        assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), vec![second], "the cursor starts after its id");
        assert_eq!(after[0].properties, serde_json::json!({}), "no properties: an empty object");
        assert_eq!(web.db.app.store.custom_events_after(0, 1).await.unwrap().len(), 1, "the limit holds");
    }

    async fn an_event_for_an_unknown_address_is_recorded_without_a_contact_and_creates_none(t) {
        let web = api_with(t, "").await;
        let before = web.app.store.count_contacts().await.unwrap();
        let r = post(&web, "/api/events", &serde_json::json!({"email": "stranger@example.com", "event": "cart_abandoned",
            "properties": {"note": "left"}})).await;
        assert_eq!(r.status, 202, "{r:?}");
        let seen = web.app.store.custom_events_after(0, 10).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].contact_id, None);
        assert!(web.db.contact("stranger@example.com").await.is_none(), "no contact was created");
        assert_eq!(web.app.store.count_contacts().await.unwrap(), before);
        // The address is nowhere in what was stored.
        assert!(!format!("{seen:?}").contains("stranger"), "{seen:?}");
    }

    async fn a_contacts_events_are_part_of_its_privacy_export(t) {
        let web = api_with(t, "").await;
        create(&web, "ada@example.com").await;
        create(&web, "bob@example.com").await;
        for (email, event) in [("ada@example.com", "viewed"), ("bob@example.com", "other"), ("ada@example.com", "purchased")] {
            let body = serde_json::json!({"email": email, "event": event, "properties": {"sku": "A1"}});
            assert_eq!(post(&web, "/api/events", &body).await.status, 202);
        }
        let out = web.db.herald(&["privacy", "export", "ada@example.com", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc = json(&out);
        let events = doc["events"].as_array().unwrap_or_else(|| panic!("no events in {doc}"));
        let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["viewed", "purchased"], "hers only, in order");
        assert_eq!(events[0]["properties"]["sku"], "A1");
    }

    async fn erasing_a_contact_deletes_its_events(t) {
        let web = api_with(t, "").await;
        let ada = create(&web, "ada@example.com").await;
        create(&web, "bob@example.com").await;
        for email in ["ada@example.com", "bob@example.com", "ada@example.com"] {
            assert_eq!(post(&web, "/api/events", &serde_json::json!({"email": email, "event": "viewed"})).await.status, 202);
        }
        assert_eq!(web.app.store.contact_events(ada).await.unwrap().len(), 2);
        herald::privacy::erase::erase_contact(&web.app, ada, None, Actor::Cli("dpo".into())).await.unwrap();
        assert!(web.app.store.contact_events(ada).await.unwrap().is_empty());
        let left = web.app.store.custom_events_after(0, 10).await.unwrap();
        assert_eq!(left.len(), 1, "bob's event stays: {left:?}");
    }
}
