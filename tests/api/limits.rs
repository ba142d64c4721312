//! Issue 12, point 7: what clients may hold of the daemon's servers is bounded. A flood
//! of idle or half-sent HTTP connections is cut down to the caps (the oldest idle ones
//! make room) while `/healthz` keeps answering; the bounce listener refuses sessions
//! above its caps with `421`, a second message at once with `452`, and drops an idle
//! session.

use crate::daemon::{herald, logs, sigterm};
use crate::helpers::*;
use crate::on_both_backends;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;

/// Starts `herald daemon --json` with `extra` config; returns it with its HTTP address
/// and its bounce listener's address (when `[bounces] listen` is set).
async fn daemon_with(t: &TestDb, extra: &str) -> (Child, String, Option<String>) {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n{extra}")).unwrap();
    let mut child = herald(t, &["daemon", "--listen", "127.0.0.1:0", "--json"], "daemon.log").spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line)).await.expect("daemon start").unwrap();
    let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}{}", logs(t)));
    let web = started["listening"].as_str().unwrap().trim_start_matches("http://").to_owned();
    let mx = started["bounces"].as_str().map(|s| s.trim_start_matches("smtp://").to_owned());
    (child, web, mx)
}

async fn stop(t: &TestDb, mut child: Child) {
    sigterm(&child).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits in time").unwrap();
    assert!(exit.success(), "exit {exit:?}{}", logs(t));
}

/// True when the server has closed `stream` (or does within `wait`).
async fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn healthz(web: &str) -> u16 {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    client.get(format!("http://{web}/healthz")).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// A line-at-a-time SMTP client.
struct Smtp(BufReader<TcpStream>);

impl Smtp {
    /// Connects and returns the greeting's code with the session.
    async fn connect(addr: &str) -> (u16, Smtp) {
        let mut s = Smtp(BufReader::new(TcpStream::connect(addr).await.unwrap()));
        (s.reply().await, s)
    }

    /// The code of the next reply (0 when the server closed the session).
    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.0.read_line(&mut line)).await.expect("a reply");
            if n.unwrap_or(0) == 0 {
                return 0;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].parse().unwrap();
            }
        }
    }

    async fn say(&mut self, line: &str) -> u16 {
        self.0.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.reply().await
    }

    /// Opens a transaction up to DATA; returns DATA's reply.
    async fn start_message(&mut self) -> u16 {
        assert_eq!(self.say("EHLO mta.example").await, 250);
        assert_eq!(self.say("MAIL FROM:<>").await, 250);
        assert_eq!(self.say("RCPT TO:<bounces+1.x@bounces.acme.example>").await, 250);
        self.say("DATA").await
    }
}

on_both_backends! {
    async fn a_request_whose_headers_never_finish_is_dropped_after_the_header_timeout(t) {
        let (child, web, _) = daemon_with(&t, "[web]\nheader_timeout_seconds = 1\n").await;
        let mut slow = TcpStream::connect(&web).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        let mut silent = TcpStream::connect(&web).await.unwrap();
        let start = Instant::now();
        assert!(closed(&mut slow, Duration::from_secs(5)).await, "a half-sent request is held");
        assert!(closed(&mut silent, Duration::from_secs(5)).await, "a connection that sends nothing is held");
        assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
        assert_eq!(healthz(&web).await, 200);
        stop(&t, child).await;
    }

    async fn a_request_whose_body_stops_half_way_is_dropped_after_the_idle_timeout(t) {
        let (child, web, _) = daemon_with(&t, "[web]\nidle_timeout_seconds = 1\n").await;
        let mut stalled = TcpStream::connect(&web).await.unwrap();
        stalled
            .write_all(b"POST /hooks/generic HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"half\":")
            .await
            .unwrap();
        let start = Instant::now();
        assert!(closed(&mut stalled, Duration::from_secs(5)).await, "a stalled body holds its connection");
        assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
        assert_eq!(healthz(&web).await, 200);
        stop(&t, child).await;
    }

    async fn a_flood_of_idle_connections_is_cut_to_the_caps_and_healthz_keeps_answering(t) {
        let (child, web, _) =
            daemon_with(&t, "[web]\nmax_connections = 50\nmax_connections_per_ip = 20\n").await;
        let mut flood = Vec::new();
        for _ in 0..200 {
            flood.push(TcpStream::connect(&web).await.unwrap());
        }
        // The health check comes from the flood's own address, after it.
        assert_eq!(healthz(&web).await, 200, "{}", logs(&t));
        let mut open = 0;
        for stream in &mut flood {
            if !closed(stream, Duration::from_millis(20)).await {
                open += 1;
            }
        }
        assert!(open <= 20, "{open} of the flood's 200 connections are still held (cap 20 per address)");
        // The survivors are the newest: the oldest idle ones made room.
        assert!(closed(&mut flood[0], Duration::from_millis(20)).await, "the oldest connection is still held");
        stop(&t, child).await;
    }

    async fn when_every_place_is_taken_by_requests_in_hand_a_newcomer_gets_503_at_once(t) {
        let (child, web, _) = daemon_with(&t, "[web]\nmax_connections_per_ip = 2\n").await;
        let mut in_hand = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(&web).await.unwrap();
            c.write_all(b"POST /hooks/generic HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{").await.unwrap();
            in_hand.push(c);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut newcomer = TcpStream::connect(&web).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(2), newcomer.read_to_string(&mut answer))
            .await
            .expect("answered at once")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
        drop(in_hand);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(healthz(&web).await, 200, "places are free again");
        stop(&t, child).await;
    }

    async fn the_bounce_listener_refuses_sessions_above_its_per_address_cap_with_421(t) {
        let extra = "[bounces]\nlisten = \"127.0.0.1:0\"\nmax_connections_per_ip = 3\n";
        let (child, _, mx) = daemon_with(&t, extra).await;
        let mx = mx.expect("bounce listener");
        let mut sessions = Vec::new();
        for _ in 0..3 {
            let (code, s) = Smtp::connect(&mx).await;
            assert_eq!(code, 220);
            sessions.push(s);
        }
        let (code, _) = Smtp::connect(&mx).await;
        assert_eq!(code, 421, "a fourth session from one address");
        assert_eq!(sessions[0].say("QUIT").await, 221);
        sessions.remove(0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (code, _) = Smtp::connect(&mx).await;
        assert_eq!(code, 220, "a closed session frees its place");
        stop(&t, child).await;
    }

    async fn a_second_message_at_once_gets_452_and_goes_through_once_the_first_is_in(t) {
        let extra = "[bounces]\nlisten = \"127.0.0.1:0\"\nmax_concurrent_messages = 1\n";
        let (child, _, mx) = daemon_with(&t, extra).await;
        let mx = mx.expect("bounce listener");
        let (_, mut first) = Smtp::connect(&mx).await;
        let (_, mut second) = Smtp::connect(&mx).await;
        assert_eq!(first.start_message().await, 354);
        assert_eq!(second.start_message().await, 452, "only one message is received at a time");
        assert_eq!(first.say("Subject: hello\r\n\r\nNot a bounce.\r\n.").await, 250);
        assert_eq!(second.say("DATA").await, 354, "the place is free again");
        assert_eq!(second.say("Subject: hello\r\n\r\nNot a bounce.\r\n.").await, 250);
        stop(&t, child).await;
    }

    async fn an_idle_bounce_listener_session_is_closed(t) {
        let extra = "[bounces]\nlisten = \"127.0.0.1:0\"\nidle_timeout_seconds = 1\n";
        let (child, _, mx) = daemon_with(&t, extra).await;
        let (code, mut idle) = Smtp::connect(&mx.expect("bounce listener")).await;
        assert_eq!(code, 220);
        assert!(closed(idle.0.get_mut(), Duration::from_secs(4)).await, "an idle session is held");
        stop(&t, child).await;
    }
}
