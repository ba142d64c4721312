//! Flow benchmark (issue 15): N contacts (default 100 000) enrolled into a one-step flow
//! and that step sent by the daemon's two halves (the flow scheduler ticking every second,
//! the engine over every source), timed from the enrolment to the last message sent,
//! against an equal campaign (one message, the same template) to the same N contacts,
//! timed from its recording and materialisation to the last message sent, through the
//! same SMTP sink and engine settings, in the same process and run. Prints both rates and their ratio (the
//! target is 0.8 or more). The sink: `scripts/bench-flows.sh` starts Postfix's
//! smtp-sink on `BENCH_SMTP_PORT` (default 12525). Embedded SQLite, or
//! `BENCH_DATABASE_URL` (a PostgreSQL database is migrated first). Run: `cargo bench --bench flows -- [N]`. `BENCH_FLOW_TRACE=1` prints
//! the messages sent every half second while the flow runs (how the tick and the engine share SQLite's writer),
//! and each half's send time and CPU time. Diagnoses, not the measured figure:
//! `BENCH_FLOW_PHASES=1` ticks every step into the queue before the engine starts,
//! `BENCH_FLOW_NOTICK=1` (with it) runs no scheduler beside the engine, `BENCH_FLOW_FIRST=1`
//! runs the flow before the campaign, `BENCH_ONLY=flow` (or `campaign`) runs one half alone
//! (to profile it). Both halves run as `herald` runs them: one worker
//! thread, the engine awaited on the main task.

use herald::app::App;
use herald::campaign::{self, lifecycle};
use herald::domain::CampaignState;
use herald::flows::{enrolment, requests::EnrolRequest, scheduler::Scheduler};
use herald::send::engine::{Deps, Engine, Until};
use herald::store::Selection;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TEMPLATE: &str = "<!doctype html><html><body><h1>Hello {{default first_name \"there\"}},</h1>\
    <p>Welcome aboard. Here is what to do first.</p><p><a href=\"https://acme.example/start\">Start</a></p>\
    </body></html>\n";

fn env() -> Vec<(String, String)> {
    vec![
        ("HERALD_LINK_KEY".into(), "bench-link-key-0123456789abcdef0123456789".into()),
        ("HERALD_SUPPRESSION_KEY".into(), "bench-suppression-key-0123456789abcdef01".into()),
    ]
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let port: u16 = std::env::var("BENCH_SMTP_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(12525);
    // The runtime the `herald` binary runs (`cli/mod.rs`): one worker thread beside the
    // main one, unless TOKIO_WORKER_THREADS says otherwise.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = builder.enable_all().build().unwrap();
    rt.block_on(run(n, port));
}

async fn run(n: usize, port: u16) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url =
        std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}", d.join("herald.db").display()));
    std::fs::create_dir_all(d.join("flows")).unwrap();
    std::fs::write(
        d.join("herald.toml"),
        format!(
            "[database]\nurl = \"{url}\"\n[data]\ndir = \"{data}\"\n[templates]\ndir = \"{t}\"\n[flows]\ndir = \"{t}\"\n\
             [sender]\nfrom = \"Acme <news@acme.example>\"\npostal_address = \"Acme Ltd, 1 Main St\"\n\
             public_url = \"https://news.acme.example\"\nbounce_domain = \"bounces.acme.example\"\n\
             [lists.newsletter]\n[purposes.newsletter]\n[secrets]\nsource = \"env\"\n[dns]\ncheck_domains = false\n\
             [[smtp]]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nmax_connections = 20\n",
            data = d.join("data").display(),
            t = d.join("flows").display(),
        ),
    )
    .unwrap();
    std::fs::write(d.join("flows/welcome.html.hbs"), TEMPLATE).unwrap();
    std::fs::write(
        d.join("flows/welcome.toml"),
        "name = \"welcome\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n\
         trigger = { event = \"custom\", name = \"joined\" }\n\
         [[steps]]\nname = \"hello\"\nafter = \"0m\"\nsubject = \"Welcome, {{default first_name \\\"you\\\"}}\"\ntemplate = \"welcome\"\n",
    )
    .unwrap();
    let campaign_file = d.join("campaign.toml");
    std::fs::write(
        &campaign_file,
        "name = \"bench\"\nsubject = \"Welcome, {{default first_name \\\"you\\\"}}\"\ntemplate = \"welcome\"\n\
         lists = [\"newsletter\"]\npurpose = \"newsletter\"\n",
    )
    .unwrap();
    let mut csv = String::from("email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n");
    for i in 0..n {
        csv += &format!(
            "user{i}@example{}.com,First{i},double_opt_in,consent,2025-03-01,newsletter,newsletter:confirmed\n",
            i % 97
        );
    }
    std::fs::write(d.join("contacts.csv"), csv).unwrap();

    let loaded = herald::config::load(Some(&d.join("herald.toml")), &env()).unwrap();
    // A PostgreSQL database is migrated as `herald db migrate` does, before it is opened.
    herald::store::Store::connect(&url).await.unwrap().migrate().await.unwrap();
    let app = Arc::new(App::open(&loaded, &env()).await.unwrap());
    herald::contacts::import::import(&app, &d.join("contacts.csv"), &Default::default(), &|_, _| {}).await.unwrap();
    println!("{n} contacts; one message each; 20 connections; {}", app.store.backend_name());

    // BENCH_FLOW_FIRST=1 runs the flow before the campaign (a diagnosis: whether the
    // second to run is slowed by the first's rows); BENCH_ONLY=flow or =campaign runs one
    // half alone (a diagnosis: a profile of one half).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "flow" || only == "campaign" {
        if only == "flow" {
            flow(&app, n).await;
        } else {
            campaign(&app, &campaign_file, n).await;
        }
        return;
    }
    let (campaign_secs, (flow_secs, enrol_secs, send_secs)) =
        if std::env::var("BENCH_FLOW_FIRST").is_ok_and(|v| v == "1") {
            let f = flow(&app, n).await;
            (campaign(&app, &campaign_file, n).await, f)
        } else {
            let c = campaign(&app, &campaign_file, n).await;
            (c, flow(&app, n).await)
        };

    let (c_rate, f_rate) = (n as f64 / campaign_secs, n as f64 / flow_secs);
    println!("campaign: {n} sent in {campaign_secs:.2} s = {c_rate:.0} msg/s (record + materialise + send)");
    println!("flow first step: {n} sent in {flow_secs:.2} s = {f_rate:.0} msg/s (enrol + schedule + send)");
    println!("  of which enrolment: {n} contacts in {enrol_secs:.2} s = {:.0} contacts/s", n as f64 / enrol_secs);
    println!("  of which scheduler ticks + send: {send_secs:.2} s = {:.0} msg/s", n as f64 / send_secs);
    println!("ratio flow / campaign: {:.2} (target >= 0.8)", f_rate / c_rate);
}

/// The process's CPU time so far (user + system), from /proc (Linux), for the trace.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn campaign(app: &Arc<App>, campaign_file: &std::path::Path, n: usize) -> f64 {
    // The campaign: recorded, materialised and sent, as `campaign send` does.
    let start = Instant::now();
    let text = std::fs::read_to_string(campaign_file).unwrap();
    let c = campaign::parse(campaign_file, &text, &app.config.policy).unwrap();
    let (record, _) = lifecycle::record(app, &c, &text, CampaignState::Running).await.unwrap();
    lifecycle::materialise(app, &record, &c).await.unwrap();
    eprintln!("  campaign: recorded and materialised in {:.2} s", start.elapsed().as_secs_f64());
    let cpu = cpu_secs();
    let send_start = Instant::now();
    let engine = Engine::new(app.clone(), Deps::from_config(app).unwrap());
    let (_stop, rx) = tokio::sync::watch::channel(false);
    engine.run(Some(record.id), Until::Idle, rx, &|| {}).await.unwrap();
    engine.close().await;
    let campaign_secs = start.elapsed().as_secs_f64();
    eprintln!("  campaign send: {:.2} s, CPU {:.2} s", send_start.elapsed().as_secs_f64(), cpu_secs() - cpu);
    let status = lifecycle::status(app, &record).await.unwrap();
    assert_eq!(status.sent as usize, n, "the campaign sent {} of {n}", status.sent);
    campaign_secs
}

async fn flow(app: &Arc<App>, n: usize) -> (f64, f64, f64) {
    // The flow: every contact enrolled, then the daemon's scheduler and engine, timed
    // from the enrolment on (the issue: "enrols and schedules ... and sends their first
    // step"), as the campaign is timed from its recording and materialisation on.
    let (flows, _) = enrolment::valid_flows(app).unwrap();
    let start = Instant::now();
    let mut reqs = Vec::with_capacity(n);
    let mut after = Default::default();
    loop {
        let page = app.store.select(&Selection::List("newsletter".into()), after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        reqs.extend(page.iter().map(|c| EnrolRequest {
            flow: "welcome".into(),
            contact_id: c.id,
            trigger_key: "joined".into(),
            properties: serde_json::json!({}),
            at: app.clock.now(),
        }));
    }
    let selected_secs = start.elapsed().as_secs_f64();
    let enrolled = enrolment::enrol(app, &flows, &reqs).await.unwrap();
    eprintln!("  enrolment: requests built in {selected_secs:.2} s");
    let enrol_secs = start.elapsed().as_secs_f64();
    assert_eq!(enrolled.enrolled as usize, n, "{enrolled:?}");

    // BENCH_FLOW_PHASES=1: the scheduler advances every enrolment before the engine
    // starts, so the two halves are timed apart (a diagnosis, not the measured figure).
    if std::env::var("BENCH_FLOW_PHASES").is_ok_and(|v| v == "1") {
        let t = Instant::now();
        let mut unpaced = Scheduler::new().paced(1000, None, Duration::ZERO);
        let done = unpaced.tick(app).await.unwrap();
        eprintln!("  phases: the scheduler alone advanced {} in {:.2?}", done.advanced.claimed, t.elapsed());
    }
    let cpu = cpu_secs();
    let send_start = Instant::now();
    let engine = Engine::new(app.clone(), Deps::from_config(app).unwrap());
    let metrics = engine.metrics();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let notick = std::env::var("BENCH_FLOW_NOTICK").is_ok();
    // As `herald daemon` runs them (`daemon.rs`): the scheduler a task of its own, waking
    // the engine after each batch of steps queued; the engine awaited on the main task.
    let ticking = {
        let (app, mut rx, wake) = (app.clone(), rx.clone(), engine.waker());
        tokio::spawn(async move {
            let mut scheduler = Scheduler::new().waking(wake);
            while !*rx.borrow() && !notick {
                let t = Instant::now();
                let done = scheduler.tick(&app).await.unwrap();
                if done.advanced.claimed > 0 {
                    eprintln!("  tick: {} claimed in {:.2?}", done.advanced.claimed, t.elapsed());
                }
                if !done.more {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = rx.changed() => {}
                    }
                }
            }
        })
    };
    // Stops the engine once it has sent n, by its own count (an atomic): counting the sends
    // table every few milliseconds would take from the very database and cores being
    // measured. The engine's shutdown commits every outcome (as `Until::Idle` does for the
    // campaign); the rows are counted once, after.
    let watch = async {
        let trace = std::env::var("BENCH_FLOW_TRACE").is_ok();
        let mut last_print = Instant::now();
        while (metrics.sent.load(std::sync::atomic::Ordering::Relaxed) as usize) < n {
            if trace && last_print.elapsed() >= Duration::from_millis(500) {
                let sent = metrics.sent.load(std::sync::atomic::Ordering::Relaxed);
                eprintln!("  t={:.1}s sent={sent}", send_start.elapsed().as_secs_f64());
                last_print = Instant::now();
            }
            assert!(notick || !ticking.is_finished(), "the scheduler stopped (see above)");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
    };
    let (ran, ()) = tokio::join!(engine.run(None, Until::Shutdown, rx, &|| {}), watch);
    ran.unwrap();
    let flow_secs = start.elapsed().as_secs_f64();
    let send_secs = send_start.elapsed().as_secs_f64();
    eprintln!("  flow send: {send_secs:.2} s, CPU {:.2} s", cpu_secs() - cpu);
    ticking.await.unwrap();
    engine.close().await;
    let states = app.store.flow_send_states().await.unwrap();
    assert_eq!(states.get("sent").copied().unwrap_or(0) as usize, n, "flow sends: {states:?}");

    (flow_secs, enrol_secs, send_secs)
}
