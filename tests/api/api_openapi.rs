//! `GET /api/openapi.json` is kept true (issue 15 point 5): every `/api` route the
//! router mounts is in the document with its method; every status each operation
//! declares is produced by a real request, and every answer's status is declared and its
//! body validates against the declared schema (a small validator of the subset of JSON
//! Schema the document uses: `$ref`, `type`, `nullable`, `required`, `properties`,
//! `additionalProperties`, `items`, `enum`, `oneOf`, `minimum`, `maxItems`). Both backends.

use crate::api_events::{KEY, api_with, call};
use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("a local $ref");
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => schema,
    }
}

/// Whether `value` validates against `schema`; the error names where it does not.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == true {
        return Ok(());
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = options.iter().filter(|o| validate(doc, o, value, at).is_ok()).count();
        return if ok == 1 { Ok(()) } else { Err(format!("{at}: {ok} of oneOf match {value}")) };
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let fits = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("type {other} not handled"),
        };
        if !fits {
            return Err(format!("{at}: {value} is not {t}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not in {allowed:?}"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        return Err(format!("{at}: {n} < {min}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !object.contains_key(name.as_str().unwrap()) {
                return Err(format!("{at}: required {name} missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (k, v) in object {
            match (properties.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                (Some(s), _) => validate(doc, s, v, &format!("{at}.{k}"))?,
                (None, Some(Value::Bool(false))) => return Err(format!("{at}: {k} not allowed")),
                (None, Some(s)) if s.is_object() => validate(doc, s, v, &format!("{at}.{k}"))?,
                _ => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            assert!(items.len() as u64 <= max, "{at}: more than {max} items");
        }
        if let Some(s) = schema.get("items") {
            for (i, v) in items.iter().enumerate() {
                validate(doc, s, v, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

/// The `/api` routes `src/web/api/mod.rs` mounts, with their methods.
fn mounted() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/api/mod.rs")).unwrap();
    let mut routes = BTreeSet::new();
    for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
        let path = line.split('"').nth(1).unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!("{method}(")) {
                routes.insert((format!("/api{path}"), method.to_owned()));
            }
        }
    }
    assert!(routes.len() >= 4, "{routes:?}");
    routes
}

on_both_backends! {
    async fn the_document_describes_every_route_and_every_answer(t) {
        let doc: Value = serde_json::from_str(herald::web::api::OPENAPI).expect("the document is JSON");
        let documented: BTreeSet<(String, String)> = doc["paths"].as_object().unwrap().iter()
            .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (p.clone(), m.clone())))
            .collect();
        assert_eq!(mounted(), documented, "every mounted /api route is documented, and nothing else");

        let web = api_with(t, "max_body_bytes = 200000\n").await;
        let served = web.get("/api/openapi.json").await;
        assert_eq!((served.status, served.json()), (200, doc.clone()), "the committed document is what is served");
        let off_db = TestDb::new(if web.db.url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite }).await.unwrap();
        let off = TestApp::on(off_db, &[]).await;
        let limited_db = TestDb::new(if web.db.url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite }).await.unwrap();
        let limited = api_with(limited_db, "requests_per_minute = 1\n").await;

        let event = r#"{"email":"ada@example.com","event":"cart_abandoned","properties":{"items":[]}}"#;
        let contact = r#"{"email":"ada@example.com","first_name":"Ada"}"#;
        let big = format!(r#"{{"email":"a@example.com","event":"x","properties":{{"p":"{}"}}}}"#, "x".repeat(250_000));
        let many = json!({"contacts": (0..1001).map(|i| json!({"email": format!("p{i}@example.com")})).collect::<Vec<_>>()}).to_string();
        type Probe<'a> = (&'a TestApp, &'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let probes: Vec<(&str, &str, Probe)> = vec![
            ("/api/events", "post", (&web, "POST", "/api/events", Some(KEY), Some(event), None)),
            ("/api/events", "post", (&web, "POST", "/api/events", Some(KEY), Some("{"), None)),
            ("/api/events", "post", (&web, "POST", "/api/events", None, Some(event), None)),
            ("/api/events", "post", (&web, "POST", "/api/events", Some(KEY), Some(&big), None)),
            ("/api/events", "post", (&web, "POST", "/api/events", Some(KEY), Some(event), Some("text/plain"))),
            ("/api/events", "post", (&web, "POST", "/api/events", Some(KEY), Some(r#"{"event":"x"}"#), None)),
            ("/api/events", "post", (&off, "POST", "/api/events", Some(KEY), Some(event), None)),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some(KEY), Some(contact), None)),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some(KEY), Some("[1,"), None)),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some("nope"), Some(contact), None)),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some(KEY), Some(&many), None)),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some(KEY), Some(contact), Some("application/xml"))),
            ("/api/contacts", "post", (&web, "POST", "/api/contacts", Some(KEY), Some("[]"), None)),
            ("/api/contacts", "post", (&off, "POST", "/api/contacts", Some(KEY), Some(contact), None)),
            ("/api/contacts/{email}", "get", (&web, "GET", "/api/contacts/ada@example.com", Some(KEY), None, None)),
            ("/api/contacts/{email}", "get", (&web, "GET", "/api/contacts/ada@example.com", None, None, None)),
            ("/api/contacts/{email}", "get", (&web, "GET", "/api/contacts/zed@example.com", Some(KEY), None, None)),
            ("/api/contacts/{email}", "get", (&web, "GET", "/api/contacts/zed", Some(KEY), None, None)),
            ("/api/contacts/{email}", "get", (&off, "GET", "/api/contacts/zed@example.com", Some(KEY), None, None)),
            ("/api/openapi.json", "get", (&web, "GET", "/api/openapi.json", None, None, None)),
            // The rate limit, one request a minute: the second of each is refused.
            ("/api/events", "post", (&limited, "POST", "/api/events", Some(KEY), Some(event), None)),
            ("/api/events", "post", (&limited, "POST", "/api/events", Some(KEY), Some(event), None)),
            ("/api/contacts", "post", (&limited, "POST", "/api/contacts", Some(crate::api_events::KEY2), Some(contact), None)),
            ("/api/contacts", "post", (&limited, "POST", "/api/contacts", Some(crate::api_events::KEY2), Some(contact), None)),
            ("/api/contacts/{email}", "get", (&limited, "GET", "/api/contacts/ada@example.com", Some(KEY), None, None)),
        ];
        let mut produced: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (path, method, (app, verb, url, key, body, content_type)) in probes {
            let r = match content_type {
                None => call(app, verb, url, key, body).await,
                Some(ct) => {
                    let response = app.client.request(verb.parse().unwrap(), app.url(url)).bearer_auth(key.unwrap())
                        .header("content-type", ct).body(body.unwrap().to_owned()).send().await.unwrap();
                    let (status, headers) = (response.status().as_u16(), response.headers().clone());
                    Reply { status, headers, body: response.text().await.unwrap() }
                }
            };
            let status = r.status.to_string();
            let declared = &doc["paths"][path][method]["responses"][&status];
            assert!(!declared.is_null(), "{verb} {url} answered {status}, which {path} {method} does not declare: {r:?}");
            let declared = resolve(&doc, declared);
            let schema = &declared["content"]["application/json"]["schema"];
            assert_eq!(r.header("content-type"), "application/json", "{verb} {url}: {r:?}");
            validate(&doc, schema, &r.json(), "$").unwrap_or_else(|e| panic!("{verb} {url} ({status}): {e}\n{}", r.body));
            for header in declared["headers"].as_object().into_iter().flatten().map(|(h, _)| h) {
                assert!(!r.header(header).is_empty(), "{verb} {url}: {header} missing");
            }
            produced.entry((path.to_owned(), method.to_owned())).or_default().insert(status);
        }
        for (path, method) in &documented {
            let declared: BTreeSet<String> = doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
            assert_eq!(produced.get(&(path.clone(), method.clone())), Some(&declared), "{method} {path}: every declared status is produced");
        }
    }
}
