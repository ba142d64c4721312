//! Issue 15 end to end: the parts of the flows TOGETHER, in the daemon's own loop
//! (`herald::daemon::run`, what `herald daemon` runs: the web surface, the trigger
//! watchers and the flow scheduler once a second, the engine, the outbound webhooks), on
//! a workspace made by `herald init` with its scaffolded flows and templates unchanged,
//! sending through maildev. The daemon runs in-process because its clock must be fixed
//! and moved by the test (days between steps, and the trigger watcher's `SETTLE`); the
//! CLI (`flows status|pause|resume`) is the real binary on the same database.
//! Skipped without maildev (`scripts/test.sh` starts it). Both backends.

use crate::helpers::*;
use crate::maildev::{Maildev, recipients, tagged};
use crate::webhook_receiver::Receiver;
use herald::app::App;
use herald::clock::{Clock, FixedClock, SystemClock};
use herald::config::{self, Secrets};
use herald::send::engine::Deps;
use herald::store::Store;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BASE: &str = "https://news.acme.example";
const API_KEY: &str = "e2e-api-key-0123456789abcdef0123456789";
const WEBHOOK_KEY: &str = "e2e-webhook-key-0123456789abcdef";

/// A `herald init` workspace served by an in-process daemon on a fixed clock.
struct Running {
    ws: PathBuf,
    clock: Arc<FixedClock>,
    app: Arc<App>,
    /// The daemon's web surface, `http://127.0.0.1:PORT`.
    url: String,
    http: reqwest::Client,
    maildev: Maildev,
    tag: String,
    stop: tokio::sync::watch::Sender<bool>,
    daemon: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `herald init` in `t`'s folder, its config pointed at `t`'s database, maildev and
    /// `extra` (appended), and the daemon started over it.
    async fn start(t: &TestDb, maildev: Maildev, extra: &str) -> Running {
        let ws = t.dir.path().join("ws");
        let out = herald_at(t.dir.path(), &["init", ws.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let path = ws.join("config/herald.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text
            .replace("url = \"sqlite://data/herald.db\"", &format!("url = \"{}\"", t.url))
            .replace("check_domains = true", "check_domains = false")
            .replace("signup_per_ip_per_minute = 5", "signup_per_ip_per_minute = 100");
        let smtp = format!(
            "\n[[smtp]]\nhost = \"{}\"\nport = {}\ntls = \"none\"\nmax_connections = 2\n{extra}",
            maildev.smtp_host, maildev.smtp_port
        );
        std::fs::write(&path, format!("{text}{smtp}")).unwrap();
        let mut env = env();
        env.push(("HERALD_API_KEY".into(), API_KEY.into()));
        env.push(("HERALD_CRM_WEBHOOK_SECRET".into(), WEBHOOK_KEY.into()));
        let loaded = config::load(Some(&path), &env).expect("config");
        let secrets = Secrets::resolve(&loaded, &env).expect("secrets");
        let store = Store::connect(&loaded.config.database.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let app = Arc::new(App::with_store(&loaded, store, secrets, clock.clone()).await.expect("app"));
        let deps = Deps::from_config(&app).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runs = app.clone();
        let daemon = tokio::spawn(async move {
            herald::daemon::run(runs, deps, "127.0.0.1:0", stopped, move |at| {
                let _ = tx.send(at.web);
            })
            .await
            .expect("the daemon runs");
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), rx).await.expect("listening").unwrap();
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Running { ws, clock, app, url: format!("http://{addr}"), http, maildev, tag, stop, daemon }
    }

    fn address(&self, local: &str) -> String {
        tagged(&format!("{local}@example.com"), &self.tag)
    }

    /// The real `herald` binary on this workspace, awaited: the daemon runs on this
    /// test's runtime, and a command run blocking would freeze it, perhaps in the middle of
    /// a write transaction, so that the command waited out its busy timeout on a lock
    /// nobody could release ("database is locked").
    async fn herald(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::from(herald_command(&self.ws, &self.ws.join("config/herald.toml"), args))
            .output()
            .await
            .expect("run herald")
    }

    async fn flows_status(&self, flow: &str) -> Value {
        let out = self.herald(&["flows", "status", flow, "--json"]).await;
        assert!(
            out.status.success(),
            "{:?}; stderr: {}; stdout: {}",
            out.status,
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
        json(&out)["flows"][0].clone()
    }

    fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// The messages maildev holds for this test, in arrival order.
    async fn messages(&self) -> Vec<Value> {
        self.maildev.messages(&self.http, &self.tag).await
    }

    /// Waits until `to` has `n` messages (30 s at most) and returns their subjects.
    async fn wait_for(&self, to: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = subjects(&self.messages().await, to);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What `to` got after a few of the daemon's passes (one a second) with nothing new
    /// coming: for "nothing arrives" checks.
    async fn after_a_few_passes(&self, to: &str) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        subjects(&self.messages().await, to)
    }

    /// The last message to `to`.
    async fn last_to(&self, to: &str) -> Value {
        self.messages().await.into_iter().rev().find(|m| recipients(m).contains(&to.to_owned())).expect("a message")
    }

    /// POSTs `path` (a link of a message, on `public_url`) to the daemon.
    async fn post_link(&self, link: &str, form: &[(&str, &str)]) -> u16 {
        let path = link.trim_start_matches(BASE);
        self.http.post(format!("{}{path}", self.url)).form(form).send().await.unwrap().status().as_u16()
    }

    async fn api(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(API_KEY).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.daemon).await.expect("the daemon stops").unwrap();
    }
}

/// The subjects of the messages to `to`, in arrival order.
fn subjects(messages: &[Value], to: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| recipients(m).contains(&to.to_owned()))
        .map(|m| m["subject"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The first `BASE/<kind>/TOKEN` link in `text`.
fn link(text: &str, kind: &str) -> String {
    let at = text.find(&format!("{BASE}/{kind}/")).unwrap_or_else(|| panic!("no /{kind}/ link in {text}"));
    text[at..].split(|c: char| c.is_whitespace() || "\"<>".contains(c)).next().unwrap().to_owned()
}

/// The footer no marketing message goes without (DESIGN §4), in both parts.
fn assert_footer(m: &Value) {
    for part in ["html", "text"] {
        let body = m[part].as_str().unwrap_or("");
        assert!(body.contains("Acme Ltd, 1 Main St, Springfield"), "no postal address in the {part} part: {body}");
        assert!(body.contains(&format!("{BASE}/u/")), "no unsubscribe link in the {part} part: {body}");
    }
    let headers = &m["headers"];
    assert_eq!(headers["list-unsubscribe-post"].as_str(), Some("List-Unsubscribe=One-Click"), "{headers}");
}

/// Signs `email` up to the newsletter through the form and confirms through the link
/// of the confirmation message the daemon sent.
async fn sign_up_and_confirm(d: &Running, email: &str, first_name: &str) {
    let form = [
        ("email", email),
        ("list", "newsletter"),
        ("first_name", first_name),
        ("purpose", "newsletter"),
        ("policy_version", "1"),
        ("form", "e2e"),
    ];
    let r = d.http.post(format!("{}/subscribe", d.url)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got = d.wait_for(email, 1).await;
    assert_eq!(got, ["Please confirm your subscription"], "{email}");
    let confirm = link(d.last_to(email).await["text"].as_str().unwrap(), "confirm");
    assert_eq!(d.post_link(&confirm, &[]).await, 200);
}

crate::on_both_backends! {
    async fn a_welcome_series_from_a_sign_up_arrives_on_time_stops_at_an_unsubscribe_and_tells_the_crm(t) {
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let crm = Receiver::down().await;
        crm.up(0).await;
        let webhook = format!(
            "[[webhooks.out]]\nname = \"crm\"\nurl = \"{}\"\nevents = [\"subscribed\", \"confirmed\", \"unsubscribed\"]\n\
             backoff = \"50ms\"\nmax_backoff = \"200ms\"\n",
            crm.url("/crm")
        );
        let d = Running::start(&t, maildev, &webhook).await;
        let (ada, bob) = (d.address("ada"), d.address("bob"));
        sign_up_and_confirm(&d, &ada, "Ada").await;
        sign_up_and_confirm(&d, &bob, "Bob").await;
        // The watcher reads the ledger `SETTLE` (60 s) behind the clock.
        assert_eq!(d.after_a_few_passes(&ada).await.len(), 1, "not enrolled before the ledger settled");
        d.advance(chrono::Duration::seconds(61));
        for (to, name) in [(&ada, "Ada"), (&bob, "Bob")] {
            assert_eq!(d.wait_for(to, 2).await[1], format!("Welcome, {name}"), "step 1 at once");
            assert_footer(&d.last_to(to).await);
        }

        // Ada unsubscribes with the one-click link of step 1 (RFC 8058).
        let step1 = d.last_to(&ada).await;
        let one_click = link(step1["headers"]["list-unsubscribe"].as_str().unwrap(), "u");
        assert_eq!(d.post_link(&one_click, &[("List-Unsubscribe", "One-Click")]).await, 200);

        // Step 2 is due 3 days after step 1: a minute before, nothing.
        d.advance(chrono::Duration::days(3) - chrono::Duration::minutes(1));
        assert_eq!(d.after_a_few_passes(&bob).await.len(), 2, "nothing early");
        // Paused while the step comes due: nothing; resumed: it goes.
        let out = d.herald(&["flows", "pause", "welcome"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        d.advance(chrono::Duration::minutes(1));
        assert_eq!(d.after_a_few_passes(&bob).await.len(), 2, "nothing while paused");
        let s = d.flows_status("welcome").await;
        assert_eq!((s["paused"].as_bool(), &s["states"]["active"], &s["states"]["exited"]), (Some(true), &Value::from(1), &Value::from(1)), "{s}");
        let out = d.herald(&["flows", "resume", "welcome"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(d.wait_for(&bob, 3).await[2], "Getting the most out of Acme");
        assert_footer(&d.last_to(&bob).await);

        d.advance(chrono::Duration::days(7) - chrono::Duration::minutes(1));
        assert_eq!(d.after_a_few_passes(&bob).await.len(), 3, "nothing early");
        d.advance(chrono::Duration::minutes(1));
        assert_eq!(d.wait_for(&bob, 4).await[3], "What our readers like best");
        assert_footer(&d.last_to(&bob).await);

        let got = d.after_a_few_passes(&ada).await;
        assert_eq!(got, ["Please confirm your subscription", "Welcome, Ada"], "nothing after the unsubscribe");
        assert_eq!(subjects(&d.messages().await, &bob).len(), 4, "each step once");
        let s = d.flows_status("welcome").await;
        assert_eq!((&s["states"]["completed"], &s["states"]["exited"]), (&Value::from(1), &Value::from(1)), "{s}");
        assert!(s["states"].get("active").is_none_or(|n| n == 0), "{s}");

        // The CRM heard of both sign-ups, both confirmations and the unsubscribe, signed.
        let deadline = Instant::now() + Duration::from_secs(20);
        while crm.deduped("/crm").0.len() < 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (hits, repeats) = crm.deduped("/crm");
        assert_eq!(repeats, 0);
        assert!(hits.iter().all(|h| h.signature_verifies(WEBHOOK_KEY.as_bytes())), "signed");
        let events_of = |who: &str| -> Vec<String> {
            hits.iter()
                .map(|h| h.json())
                .filter(|j| j.to_string().contains(who))
                .map(|j| j["event"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(events_of(&ada), ["subscribed", "confirmed", "unsubscribed"], "{hits:?}");
        assert_eq!(events_of(&bob), ["subscribed", "confirmed"], "{hits:?}");
        d.stop().await;
    }
}

crate::on_both_backends! {
    async fn an_abandoned_cart_posted_to_the_api_lists_its_items_and_a_purchase_ends_the_flow(t) {
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let d = Running::start(&t, maildev, "").await;
        // Carol will buy; Dan will not (the control: without `purchased`, the last call goes).
        let (carol, dan) = (d.address("carol"), d.address("dan"));
        for (email, name) in [(&carol, "Carol"), (&dan, "Dan")] {
            let contact = serde_json::json!({"email": email, "first_name": name, "opt_in_status": "double_opt_in",
                "legal_basis": "consent", "consent_date": "2025-01-01", "consent_purposes": ["product_updates"],
                "lists": ["customers:confirmed"]});
            let (status, report) = d.api("/api/contacts", contact).await;
            assert_eq!((status, &report["created"]), (200, &Value::from(1)), "{report}");
            let cart = serde_json::json!({"email": email, "event": "cart_abandoned", "properties": {"items": [
                {"name": "Blue kettle", "quantity": 1}, {"name": "Oolong sampler", "quantity": 3}]}});
            assert_eq!(d.api("/api/events", cart).await.0, 202);
        }
        // Enrolled at the event; the reminder is due an hour later, not before.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = d.flows_status("abandoned-cart").await;
            if s["states"]["active"] == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "not enrolled: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        d.advance(chrono::Duration::minutes(59));
        assert!(d.after_a_few_passes(&carol).await.is_empty(), "nothing early");
        d.advance(chrono::Duration::minutes(1));
        for to in [&carol, &dan] {
            assert_eq!(d.wait_for(to, 1).await, ["You left something in your cart"]);
            let m = d.last_to(to).await;
            for part in ["html", "text"] {
                let body = m[part].as_str().unwrap_or("");
                assert!(body.contains("1 × Blue kettle") || body.contains("1 x Blue kettle"), "{part}: {body}");
                assert!(body.contains("3 × Oolong sampler") || body.contains("3 x Oolong sampler"), "{part}: {body}");
            }
            assert_footer(&m);
        }

        // Carol buys before the last call (due a day after the reminder).
        let bought = serde_json::json!({"email": carol, "event": "purchased", "properties": {"order": "A-1"}});
        assert_eq!(d.api("/api/events", bought).await.0, 202);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = d.flows_status("abandoned-cart").await;
            if s["states"]["exited"] == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no exit: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        d.advance(chrono::Duration::days(1));
        assert_eq!(d.wait_for(&dan, 2).await[1], "Your cart is still waiting", "the control gets the last call");
        assert_eq!(d.after_a_few_passes(&carol).await.len(), 1, "nothing after the purchase");
        let s = d.flows_status("abandoned-cart").await;
        assert_eq!((&s["states"]["completed"], &s["states"]["exited"]), (&Value::from(1), &Value::from(1)), "{s}");
        assert!(d.app.store.custom_events_after(0, 10).await.unwrap().len() == 3, "every event recorded");
        d.stop().await;
    }
}
