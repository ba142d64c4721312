//! The web surface in a real browser (issue 13): headless Chromium, driven over WebDriver
//! (chromedriver), against the real `herald daemon` binary sending through maildev. One
//! person signs up on the form, confirms from the emailed link, gets a campaign, withdraws
//! a purpose in the preference centre and unsubscribes from the list; after every step the
//! database says what the person chose, with the browser's evidence in the ledger.
//!
//! `scripts/test.sh` starts chromedriver and maildev and exports `HERALD_TEST_WEBDRIVER`,
//! `HERALD_TEST_MAILDEV_SMTP` and `HERALD_TEST_MAILDEV_API`; without them the test is
//! skipped. A full-page screenshot of every page is saved under
//! `target/browser-artifacts/BACKEND/NN-name.png`.

use crate::daemon::{herald, logs, sigterm};
use crate::helpers::*;
use crate::maildev::{Maildev, recipients, tagged};
use crate::on_both_backends;
use fantoccini::{Client, ClientBuilder, Locator};
use herald::domain::{ConsentState, ListName, OptInStatus, Purpose, SubscriptionStatus};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const CAMPAIGN: &str = "name = \"autumn\"\nsubject = \"Autumn news for {{first_name}}\"\ntemplate = \"news\"\n\
    lists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

/// A headless Chromium session that saves a numbered full-page screenshot of each page.
struct Browser {
    client: Client,
    shots: PathBuf,
    taken: usize,
}

impl Browser {
    async fn start(webdriver: &str, shots: PathBuf) -> Browser {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1000,800"],
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(webdriver)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from {webdriver}: {e}"));
        std::fs::create_dir_all(&shots).unwrap();
        Browser { client, shots, taken: 0 }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("no {css} on {}: {e}\n{page}", self.url().await)
            }
        }
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn is_ticked(&self, css: &str) -> bool {
        self.find(css).await.is_selected().await.unwrap()
    }

    /// Waits (up to 20 s) for `css` on the page a click led to, and returns its text.
    async fn wait_for(&self, css: &str) -> String {
        let e =
            self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await.unwrap_or_else(
                |e| {
                    panic!("{css} did not appear: {e}");
                },
            );
        e.text().await.unwrap()
    }

    async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    /// Saves the whole page as `NN-name.png`: the window is fitted to the document's
    /// height first (a WebDriver screenshot shows the viewport only).
    async fn shot(&mut self, name: &str) {
        let _ = self.client.set_window_size(1000, 600).await;
        let size = self
            .client
            .execute("return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];", vec![])
            .await
            .ok()
            .and_then(|v| v.as_array().map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>()));
        if let Some([page, frame]) = size.as_deref() {
            let _ = self.client.set_window_size(1000, (*page as u32).clamp(600, 8000) + *frame as u32).await;
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        self.taken += 1;
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.taken)), png).unwrap();
    }
}

/// A loopback port nobody listens on now (the daemon binds it a moment later: its public
/// URL, which every link is built on, must name it before it starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The workspace: public_url and `[web] listen` on `port`, `[[smtp]]` at maildev, and a
/// campaign to the newsletter list for its purpose.
fn workspace(t: &TestDb, maildev: &Maildev, port: u16) -> PathBuf {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    let config = config
        .replace("public_url = \"https://news.acme.example\"", &format!("public_url = \"http://127.0.0.1:{port}\""));
    assert!(config.contains(&format!(":{port}\"")), "the test config names public_url");
    std::fs::write(
        t.config_path(),
        format!(
            "{config}\n[web]\nlisten = \"127.0.0.1:{port}\"\n[dns]\ncheck_domains = false\n\
             [[smtp]]\nhost = \"{}\"\nport = {}\ntls = \"none\"\nmax_connections = 2\n\
             [sending]\npoll_milliseconds = 50\ntimeout_seconds = 5\n",
            maildev.smtp_host, maildev.smtp_port
        ),
    )
    .unwrap();
    t.write("news.html.hbs", "<p>Hello {{first_name}}, the leaves are turning.</p>");
    t.write("autumn.toml", CAMPAIGN)
}

/// `herald daemon --listen 127.0.0.1:PORT --json`, once it says where it listens.
async fn start_daemon(t: &TestDb, port: u16) -> Child {
    let listen = format!("127.0.0.1:{port}");
    let mut child =
        herald(t, &["daemon", "--listen", &listen, "--json"], "daemon.log").spawn().expect("spawn herald daemon");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
        .await
        .unwrap_or_else(|_| panic!("the daemon did not start: {}", logs(t)))
        .unwrap();
    let said: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}{}", logs(t)));
    assert_eq!(said["listening"], format!("http://{listen}"), "{}", logs(t));
    tokio::spawn(async move {
        let mut sink = String::new();
        while reader.read_line(&mut sink).await.unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    child
}

fn list(name: &str) -> ListName {
    ListName::parse(name).unwrap()
}

fn purpose(name: &str) -> Purpose {
    Purpose::parse(name).unwrap()
}

/// The first link in `body` that starts with `prefix`.
fn link(body: &str, prefix: &str) -> String {
    let at = body.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in {body}"));
    body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || ":/.-_~%".contains(*c)).collect()
}

/// The ledger events of `email`'s contact as JSON bodies.
async fn ledger(t: &TestDb, email: &str) -> Vec<Value> {
    let id = t.contact(email).await.expect("the contact").id.unwrap();
    t.app.store.ledger(id).await.unwrap().iter().map(|e| serde_json::to_value(e.event().unwrap()).unwrap()).collect()
}

/// The one event among `events` that changed `field` to `to`; it must carry the browser's
/// evidence and name `page`.
fn event_with_evidence<'a>(events: &'a [Value], field: &str, to: &str, page: &str) -> &'a Value {
    let event = events
        .iter()
        .rev()
        .find(|e| e["changes"][field][1] == to)
        .unwrap_or_else(|| panic!("no ledger event sets {field} to {to}: {events:#?}"));
    let evidence = event["evidence"].as_object().expect("evidence");
    let says = |key: &str, what: &str| {
        evidence.iter().any(|(k, v)| k.contains(key) && v.as_str().is_some_and(|v| v.contains(what)))
    };
    assert!(says("user_agent", "Chrome"), "{field}: the browser's user agent is the evidence: {event:#}");
    assert!(says("page", page), "{field}: the evidence names the page {page:?}: {event:#}");
    assert!(says("ip", "127.0.0.1"), "{field}: the client's address is the evidence: {event:#}");
    event
}

/// The one message maildev holds for `to` whose subject starts with `subject`.
async fn message(maildev: &Maildev, http: &reqwest::Client, tag: &str, n: usize, subject: &str) -> Value {
    let messages = maildev.wait_for(http, tag, n).await;
    let found: Vec<&Value> =
        messages.iter().filter(|m| m["subject"].as_str().is_some_and(|s| s.starts_with(subject))).collect();
    assert_eq!(found.len(), 1, "one message {subject:?} expected: {messages:#?}");
    found[0].clone()
}

on_both_backends! {
    async fn a_person_signs_up_confirms_withdraws_a_purpose_and_unsubscribes_in_a_real_browser(t) {
        let Some(webdriver) = std::env::var("HERALD_TEST_WEBDRIVER").ok().filter(|v| !v.is_empty()) else {
            eprintln!("skipped: HERALD_TEST_WEBDRIVER is not set (scripts/test.sh starts chromedriver)");
            return;
        };
        let Some(maildev) = Maildev::from_env() else {
            eprintln!("skipped: HERALD_TEST_MAILDEV_API is not set (scripts/test.sh starts maildev)");
            return;
        };
        let backend = if t.url.starts_with("postgres") { "postgres" } else { "sqlite" };
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts").join(backend);
        let _ = std::fs::remove_dir_all(&shots);
        let browser = Browser::start(&webdriver, shots).await;
        let session = browser.client.clone();
        // In a task of its own, so that the browser is closed whether it passes or fails.
        let outcome = tokio::spawn(person_in_a_browser(t, maildev, browser, backend)).await;
        let _ = session.close().await;
        if let Err(failed) = outcome {
            std::panic::resume_unwind(failed.into_panic());
        }
    }
}

/// The scenario of the module's docs, in `b`, against a daemon on `t`.
async fn person_in_a_browser(t: TestDb, maildev: Maildev, mut b: Browser, backend: &'static str) {
    let started = Instant::now();
    let tag = hex::encode(rand::random::<[u8; 6]>());
    let email = tagged("ada@example.com", &tag);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let campaign = workspace(&t, &maildev, port);
    let mut daemon = start_daemon(&t, port).await;
    let http = reqwest::Client::new();

    // 1. The sign-up form: nothing ticked for the person.
    b.goto(&format!("{base}/subscribe/form?list=newsletter")).await;
    assert!(!b.is_ticked("#purpose-newsletter").await, "purposes start unticked");
    assert!(!b.is_ticked("#purpose-tracking").await, "purposes start unticked");
    b.type_into("#email", &email).await;
    b.type_into("#first_name", "Ada").await;
    b.type_into("#last_name", "Lovelace").await;
    b.click("#purpose-newsletter").await;
    b.shot("subscribe-form").await;
    b.click("#subscribe").await;
    b.wait_for("#check-inbox").await;
    b.shot("check-inbox").await;
    // The sign-up is processed after the answer (its timing says nothing): wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pending = loop {
        match t.contact(&email).await {
            Some(c) => break c,
            None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            None => panic!("the sign-up was not recorded: {}", logs(&t)),
        }
    };
    assert_ne!(pending.opt_in, OptInStatus::DoubleOptIn, "nothing is granted before the confirmation");
    assert_ne!(pending.lists.get(&list("newsletter")), Some(&SubscriptionStatus::Confirmed));
    let plan =
        herald(&t, &["campaign", "plan", campaign.to_str().unwrap(), "--json"], "plan.log").output().await.unwrap();
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap_or_else(|e| panic!("{e}{}", logs(&t)));
    assert_eq!((plan["audience"].as_i64(), plan["eligible"].as_i64()), (Some(1), Some(0)), "unconfirmed: {plan}");

    // 2. The confirmation email, its link opened: a GET confirms nothing; the button does.
    let confirmation = message(&maildev, &http, &tag, 1, "Please confirm").await;
    assert_eq!(recipients(&confirmation), vec![email.clone()]);
    let text = confirmation["text"].as_str().unwrap_or_default();
    let confirm_url = link(text, &format!("{base}/confirm/"));
    b.goto(&confirm_url).await;
    b.shot("confirm").await;
    assert_ne!(t.contact(&email).await.unwrap().opt_in, OptInStatus::DoubleOptIn, "a GET never confirms");
    b.click("#confirm").await;
    b.wait_for("#confirmed").await;
    b.shot("confirmed").await;
    let confirmed = t.contact(&email).await.unwrap();
    assert_eq!(confirmed.opt_in, OptInStatus::DoubleOptIn);
    assert_eq!(confirmed.lists.get(&list("newsletter")), Some(&SubscriptionStatus::Confirmed));
    assert_eq!(confirmed.purposes.get(&purpose("newsletter")).map(|p| p.state), Some(ConsentState::Granted));
    assert_eq!(
        confirmed.purposes.get(&purpose("tracking")).map(|p| p.state),
        None,
        "only the ticked purpose is granted"
    );
    let events = ledger(&t, &email).await;
    let event = event_with_evidence(&events, "opt_in_status", "double_opt_in", "confirm");
    assert_eq!(event["changes"]["list.newsletter"][1], "confirmed", "the confirmation confirms the list: {event:#}");
    let evidence = &event["evidence"];
    assert_eq!(
        (&evidence["requested_page"], &evidence["requested_form"]),
        (&"signup".into(), &"default".into()),
        "{event:#}"
    );
    assert!(evidence["requested_user_agent"].as_str().is_some_and(|ua| ua.contains("Chrome")), "{event:#}");
    // The sign-up itself: its own event, with the form named.
    let signup = event_with_evidence(&events, "opt_in_status", "single_opt_in_webform", "signup");
    assert_eq!(signup["evidence"]["form"], "default", "{signup:#}");

    // 3. A campaign reaches the confirmed person.
    let out =
        herald(&t, &["campaign", "send", campaign.to_str().unwrap(), "--json"], "send.log").output().await.unwrap();
    let status: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), logs(&t)));
    assert_eq!((status["sent"].as_i64(), status["failed"].as_i64()), (Some(1), Some(0)), "{status}");
    let news = message(&maildev, &http, &tag, 2, "Autumn news for Ada").await;
    let html = news["html"].as_str().unwrap_or_default();

    // 4. The preference centre: the purpose shows ticked; unticking it withdraws it at once.
    b.goto(&link(html, &format!("{base}/p/"))).await;
    b.shot("preferences").await;
    assert!(b.is_ticked("#purpose-newsletter").await, "a granted purpose shows ticked");
    assert!(b.is_ticked("#list-newsletter").await, "a confirmed list shows ticked");
    assert!(!b.is_ticked("#purpose-tracking").await, "a purpose never granted shows unticked");
    b.click("#purpose-newsletter").await;
    b.click("#save").await;
    b.wait_for("#saved").await;
    b.shot("preferences-saved").await;
    let withdrawn = t.contact(&email).await.unwrap();
    assert_eq!(withdrawn.purposes.get(&purpose("newsletter")).map(|p| p.state), Some(ConsentState::Withdrawn));
    assert_eq!(withdrawn.lists.get(&list("newsletter")), Some(&SubscriptionStatus::Confirmed), "the list stays");
    assert_eq!(withdrawn.opt_in, OptInStatus::DoubleOptIn);
    event_with_evidence(&ledger(&t, &email).await, "purpose.newsletter", "withdrawn", "preferences");

    // 5. The unsubscribe link: its page changes nothing, its button unsubscribes at once.
    b.goto(&link(html, &format!("{base}/u/"))).await;
    b.shot("unsubscribe").await;
    assert_eq!(t.contact(&email).await.unwrap().lists.get(&list("newsletter")), Some(&SubscriptionStatus::Confirmed));
    b.click("#unsubscribe").await;
    b.wait_for("#unsubscribed").await;
    b.shot("unsubscribed").await;
    let gone = t.contact(&email).await.unwrap();
    assert_eq!(gone.lists.get(&list("newsletter")), Some(&SubscriptionStatus::Unsubscribed));
    event_with_evidence(&ledger(&t, &email).await, "list.newsletter", "unsubscribed", "unsubscribe");

    // The ledger still verifies after the browser's changes.
    let verify = herald(&t, &["audit", "verify", "--json"], "verify.log").output().await.unwrap();
    assert!(verify.status.success(), "{}{}", String::from_utf8_lossy(&verify.stdout), logs(&t));

    sigterm(&daemon).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), daemon.wait()).await.expect("exits").unwrap();
    assert!(exit.success(), "{}", logs(&t));
    eprintln!("real-browser test on {backend}: {:.1} s, {} screenshots", started.elapsed().as_secs_f64(), b.taken);
}
