//! `SmtpRelay` against `FakeSmtp`: pooling, error classification, faults, timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fake_smtp::{Behaviour, FakeSmtp, Matcher, Rule};
use herald::send::smtp::relay::{Cause, RelayConfig, SendError, SmtpRelay, Stage, TlsMode};

fn config(fake: &FakeSmtp, max_connections: usize) -> RelayConfig {
    RelayConfig {
        host: "127.0.0.1".into(),
        port: fake.port(),
        tls: TlsMode::None,
        credentials: None,
        max_connections,
        hello_name: Some("herald.test".into()),
        timeout: Duration::from_secs(5),
        ca_file: None,
        client_identity: None,
    }
}

fn relay(fake: &FakeSmtp, max_connections: usize) -> SmtpRelay {
    SmtpRelay::new(config(fake, max_connections)).expect("valid config")
}

fn message(n: usize) -> Vec<u8> {
    format!("From: news@herald.test\r\nTo: r{n}@example.com\r\nSubject: n{n}\r\n\r\nHello {n}\r\n.dot line\r\n")
        .into_bytes()
}

async fn send(relay: &SmtpRelay, rcpt: &str) -> Result<String, SendError> {
    relay.send("news@herald.test", rcpt, &message(0), || async { true }).await.map(|a| a.reply)
}

fn count(commands: &[String], verb: &str) -> usize {
    commands.iter().filter(|c| *c == verb).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_a_bounded_pool() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = Arc::new(relay(&fake, 4));
    let mut tasks = Vec::new();
    for task in 0..20 {
        let relay = Arc::clone(&relay);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let n = task * 10 + i;
                let rcpt = format!("r{n}@example.com");
                relay.send("news@herald.test", &rcpt, &message(n), || async { true }).await.expect("send");
                assert!(relay.open_connections() <= 4);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(fake.count(), 200);
    assert!(fake.connections_max() <= 4, "max concurrent {}", fake.connections_max());
    assert!(fake.connections_total() >= 2, "the 20 tasks should have needed more than one connection");
    assert!(fake.connections_total() <= 4, "connections opened {}", fake.connections_total());
    assert!(relay.open_connections() <= 4);
    let commands = fake.commands();
    assert_eq!(count(&commands, "NOOP"), 0, "no NOOP before reuse");
    // lettre's EHLO, and Herald's own to learn whether the relay offers PIPELINING.
    assert_eq!(count(&commands, "EHLO") as u64, 2 * fake.connections_total());
    // Dot-stuffing round trip, and the envelope as sent.
    let first = fake.received().into_iter().find(|r| r.to == ["r7@example.com"]).unwrap();
    assert_eq!(first.from, "news@herald.test");
    assert!(first.data.starts_with(&message(7)));
}

#[tokio::test]
async fn rcpt_550_is_permanent_and_keeps_the_connection() {
    let rule = Rule::rcpt(Matcher::Address("bad@example.com".into()), 550, "5.1.1 <bad@example.com> User unknown");
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let called = Arc::new(AtomicBool::new(false));
    let calling = called.clone();
    let err = relay
        .send("news@herald.test", "bad@example.com", &message(1), move || async move {
            calling.store(true, Ordering::SeqCst);
            true
        })
        .await
        .unwrap_err();
    assert_eq!((err.stage, err.cause, err.code), (Stage::Rcpt, Cause::Reply, Some(550)));
    assert!(err.is_permanent() && !err.is_transient() && !err.is_relay_level() && !err.reached_data);
    assert_eq!(err.enhanced_code(), Some("5.1.1"));
    assert!(err.text.contains("User unknown"), "{err}");
    assert!(!called.load(Ordering::SeqCst), "before_data must not run after a refused RCPT");
    assert_eq!(relay.open_connections(), 1);

    let reply = send(&relay, "good@example.com").await.unwrap();
    assert!(reply.contains("queued as"), "{reply}");
    assert_eq!(fake.connections_total(), 1);
    assert_eq!(fake.count(), 1);
    assert_eq!(count(&fake.commands(), "RSET"), 1);
}

#[tokio::test]
async fn rcpt_451_is_transient() {
    let rule = Rule::rcpt(Matcher::Domain("greylist.example".into()), 451, "4.7.1 Greylisted, try later").times(1);
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let err = send(&relay, "a@greylist.example").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Rcpt, Some(451)));
    assert!(err.is_transient() && !err.is_permanent());
    send(&relay, "a@greylist.example").await.expect("greylisting passed");
    assert_eq!(fake.connections_total(), 1);
}

#[tokio::test]
async fn rcpt_421_discards_the_connection() {
    let rule = Rule::rcpt(Matcher::Address("x@example.com".into()), 421, "4.7.0 Closing").times(1);
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let err = send(&relay, "x@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Rcpt, Some(421)));
    assert!(err.is_transient());
    assert_eq!(relay.open_connections(), 0);
    send(&relay, "x@example.com").await.unwrap();
    assert_eq!(fake.connections_total(), 2);
}

#[tokio::test]
async fn a_refused_pipelined_mail_leaves_the_session_usable() {
    // MAIL and RCPT go in one write; when MAIL is refused, the RCPT's reply (503) is read
    // and the session is kept.
    let blocked = Some((1, 550, "5.7.1 Sender blocked".to_owned()));
    let fake = FakeSmtp::start(Behaviour { fail_after: blocked, ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    send(&relay, "a@example.com").await.unwrap();
    for rcpt in ["b@example.com", "c@example.com"] {
        let err = send(&relay, rcpt).await.unwrap_err();
        assert_eq!((err.stage, err.code), (Stage::Mail, Some(550)), "{err:?}");
    }
    assert_eq!(fake.connections_total(), 1, "the session survived both refusals");
    assert_eq!(count(&fake.commands(), "RCPT"), 3, "RCPT was pipelined behind each MAIL");
    assert_eq!(fake.count(), 1);
}

#[tokio::test]
async fn without_pipelining_each_command_waits_for_its_reply() {
    let blocked = Some((1, 550, "5.7.1 Sender blocked".to_owned()));
    let rule = Rule::rcpt(Matcher::Address("bad@example.com".into()), 550, "5.1.1 <bad@example.com> User unknown");
    let fake = FakeSmtp::start(Behaviour {
        fail_after: blocked,
        rules: vec![rule],
        no_pipelining: true,
        ..Behaviour::default()
    })
    .await;
    let relay = relay(&fake, 1);
    let err = send(&relay, "bad@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Rcpt, Some(550)));
    send(&relay, "a@example.com").await.unwrap();
    let err = send(&relay, "b@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Mail, Some(550)));
    // No RCPT follows the refused MAIL: the client waited for MAIL's reply.
    assert_eq!(count(&fake.commands(), "RCPT"), 2);
    assert_eq!(fake.connections_total(), 1);
    let got = fake.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].data.starts_with(&message(0)), "dot-stuffed in one write, unstuffed by the server");
}

#[tokio::test]
async fn per_connection_limit_421_reconnects_transparently() {
    let limit = Some((3, 421, "4.7.0 Too many messages on this connection".to_owned()));
    let fake = FakeSmtp::start(Behaviour { fail_after: limit, ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    for n in 0..7 {
        send(&relay, &format!("r{n}@example.com")).await.unwrap();
    }
    assert_eq!(fake.count(), 7);
    // 3 + 3 + 1: each 421 at MAIL on a reused connection is retried once on a fresh one.
    assert_eq!(fake.connections_total(), 3);
    let per_connection: Vec<u64> = fake.received().iter().map(|r| r.connection).collect();
    assert_eq!(per_connection, [1, 1, 1, 2, 2, 2, 3]);
}

#[tokio::test]
async fn persistent_421_at_mail_is_transient_after_one_retry() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    send(&relay, "a@example.com").await.unwrap();
    fake.update(|b| b.fail_after = Some((0, 421, "4.3.2 Shutting down".into())));
    let err = send(&relay, "b@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Mail, Some(421)));
    assert!(err.is_transient() && err.is_relay_level());
    assert_eq!(fake.connections_total(), 2, "one retry on a fresh connection, no more");
    assert_eq!(relay.open_connections(), 0);
    fake.update(|b| b.fail_after = None);
    send(&relay, "b@example.com").await.unwrap();
}

#[tokio::test]
async fn drop_before_data_reply_is_transient_and_ambiguous() {
    let lost = Matcher::Address("lost@example.com".into());
    let fake = FakeSmtp::start(Behaviour { drop_before_data_reply: lost, ..Behaviour::default() }).await;
    let relay = relay(&fake, 2);
    let err = send(&relay, "lost@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.cause, err.code), (Stage::Data, Cause::Connection, None));
    assert!(err.reached_data && err.is_transient() && err.is_ambiguous() && !err.is_permanent());
    assert_eq!(fake.count(), 0);
    assert_eq!(relay.open_connections(), 0);
    send(&relay, "ok@example.com").await.unwrap();
    assert_eq!(fake.connections_total(), 2);
}

#[tokio::test]
async fn dead_idle_connection_is_replaced_at_mail() {
    let fake = FakeSmtp::start(Behaviour { drop_after_data_reply: Matcher::Everyone, ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    send(&relay, "a@example.com").await.unwrap();
    // The pooled connection was closed by the server after its 250; the next send notices at MAIL.
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&relay, "b@example.com").await.unwrap();
    assert_eq!(fake.count(), 2);
    assert_eq!(fake.connections_total(), 2);
}

#[tokio::test]
async fn negative_reply_after_data_is_definite_and_keeps_the_connection() {
    let rule = Rule::data(Matcher::Everyone, 554, "5.7.1 Message rejected as spam").times(1);
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Data, Some(554)));
    assert!(err.reached_data && err.is_permanent() && !err.is_ambiguous());
    send(&relay, "a@example.com").await.unwrap();
    assert_eq!(fake.connections_total(), 1);
}

#[tokio::test]
async fn before_data_false_sends_nothing() {
    // A pipelining relay has said 354 to DATA (sent with MAIL and RCPT) by the time the hook runs:
    // the only clean way out is to close the session without the final ".".
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    let err = relay.send("news@herald.test", "a@example.com", &message(1), || async { false }).await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Aborted, Cause::Aborted));
    assert!(!err.is_permanent() && !err.is_transient() && !err.reached_data);
    assert_eq!(relay.open_connections(), 0, "the session in the data phase is closed");
    send(&relay, "a@example.com").await.unwrap();
    assert_eq!(fake.count(), 1, "only the second message arrived");
    assert_eq!(fake.connections_total(), 2);
}

#[tokio::test]
async fn before_data_false_resets_a_session_that_does_not_pipeline() {
    let fake = FakeSmtp::start(Behaviour { no_pipelining: true, ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let err = relay.send("news@herald.test", "a@example.com", &message(1), || async { false }).await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Aborted, Cause::Aborted));
    assert_eq!(fake.count(), 0);
    let commands = fake.commands();
    assert_eq!(count(&commands, "DATA"), 0);
    assert_eq!(count(&commands, "RSET"), 1);
    send(&relay, "a@example.com").await.unwrap();
    assert_eq!(fake.connections_total(), 1, "the reset connection is reused");
}

#[tokio::test]
async fn slow_replies_hit_the_timeout() {
    let slow = Behaviour { reply_delay: Duration::from_millis(800), ..Behaviour::default() };
    let fake = FakeSmtp::start(slow).await;
    let relay = SmtpRelay::new(RelayConfig { timeout: Duration::from_millis(200), ..config(&fake, 1) }).unwrap();
    let started = Instant::now();
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(700), "took {:?}", started.elapsed());
    assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Timeout));
    assert!(err.is_transient() && err.is_relay_level());
    assert_eq!(relay.open_connections(), 0);
}

#[tokio::test]
async fn slow_data_reply_is_an_ambiguous_timeout() {
    let fake =
        FakeSmtp::start(Behaviour { data_reply_delay: Duration::from_millis(600), ..Behaviour::default() }).await;
    let relay = SmtpRelay::new(RelayConfig { timeout: Duration::from_millis(200), ..config(&fake, 1) }).unwrap();
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.cause, err.reached_data), (Stage::Data, Cause::Timeout, true));
    assert!(err.is_ambiguous() && err.is_transient());
    assert_eq!(relay.open_connections(), 0);
    // The relay never saw our disconnect in time: it did accept the message. This is the duplicate risk.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fake.count(), 1);
}

#[tokio::test]
async fn rate_limit_421_is_transient() {
    let limit = Some((5, 421, "4.7.0 Try again later".to_owned()));
    let fake = FakeSmtp::start(Behaviour { rate_limit: limit, ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let mut refused = 0;
    for n in 0..10 {
        match send(&relay, &format!("r{n}@example.com")).await {
            Ok(_) => {}
            Err(err) => {
                assert_eq!((err.stage, err.code), (Stage::Mail, Some(421)), "{err}");
                assert!(err.is_transient());
                refused += 1;
            }
        }
    }
    assert!(refused >= 1, "rate limit never hit");
    assert_eq!(fake.count(), 10 - refused);
}

#[tokio::test]
async fn server_connection_limit_refuses_at_connect() {
    let fake = FakeSmtp::start(Behaviour {
        max_connections: Some(1),
        data_reply_delay: Duration::from_millis(300),
        ..Behaviour::default()
    })
    .await;
    let relay = relay(&fake, 2);
    let (first, second) = tokio::join!(send(&relay, "a@example.com"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        send(&relay, "b@example.com").await
    });
    first.unwrap();
    let err = second.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Connect, Some(421)));
    assert!(err.is_transient() && err.is_relay_level());
    assert_eq!(fake.connections_refused(), 1);
}

#[tokio::test]
async fn auth_plain() {
    let fake =
        FakeSmtp::start(Behaviour { auth: Some(("herald".into(), "s3cret".into())), ..Behaviour::default() }).await;
    let good =
        SmtpRelay::new(RelayConfig { credentials: Some(("herald".into(), "s3cret".into())), ..config(&fake, 1) })
            .unwrap();
    send(&good, "a@example.com").await.unwrap();

    let bad = SmtpRelay::new(RelayConfig { credentials: Some(("herald".into(), "nope".into())), ..config(&fake, 1) })
        .unwrap();
    let err = send(&bad, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Connect, Some(535)));
    assert!(err.is_relay_level());
    assert!(!format!("{:?}", bad.config()).contains("nope"), "Debug must redact the password");

    let anonymous = relay(&fake, 1);
    let err = send(&anonymous, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Mail, Some(530)));
    assert!(err.is_relay_level());
}

#[tokio::test]
async fn starttls_is_required_when_configured() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = SmtpRelay::new(RelayConfig { tls: TlsMode::StartTls, ..config(&fake, 1) }).unwrap();
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Local), "{err}");
    assert_eq!(fake.count(), 0);
    assert_eq!(count(&fake.commands(), "MAIL"), 0);
}

#[tokio::test]
async fn invalid_addresses_fail_locally() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    let err = send(&relay, "not an address").await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Rcpt, Cause::Local));
    assert!(err.is_permanent());
    let err = relay.send("bad sender", "a@example.com", b"x", || async { true }).await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Mail, Cause::Local));
    assert_eq!(fake.connections_total(), 0);
}

#[tokio::test]
async fn null_sender_and_8bit_content() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    let body = "Subject: caf\u{e9}\r\n\r\nna\u{ef}ve\r\n".as_bytes();
    relay.send("", "a@example.com", body, || async { true }).await.unwrap();
    let received = fake.received();
    assert_eq!(received[0].from, "");
    assert!(received[0].data.starts_with(body));
}

#[tokio::test]
async fn close_quits_idle_connections() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 2);
    let (a, b) = tokio::join!(send(&relay, "a@example.com"), send(&relay, "b@example.com"));
    a.unwrap();
    b.unwrap();
    assert!(relay.open_connections() >= 1);
    relay.close().await;
    assert_eq!(relay.open_connections(), 0);
    assert_eq!(count(&fake.commands(), "QUIT") as u64, fake.connections_total());
}

#[tokio::test]
async fn implicit_tls_to_a_plain_server_fails_at_connect() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = SmtpRelay::new(RelayConfig { tls: TlsMode::Tls, ..config(&fake, 1) }).expect("rustls parameters build");
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert_eq!(err.stage, Stage::Connect, "{err}");
    assert!(err.is_transient() && err.is_relay_level(), "{err:?}");
    assert_eq!(fake.count(), 0);
}

/// The content of message `n`'s reply, and the recipient the server recorded for it.
fn queued_as(reply: &str) -> String {
    reply.rsplit(' ').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn waiting_senders_are_pipelined_behind_the_message_on_one_session() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    let send_n = |n: usize| {
        let relay = &relay;
        async move { relay.send("news@herald.test", &format!("r{n}@example.com"), &message(n), || async { true }).await }
    };
    // The first takes the one session; the other three wait in line and each has its MAIL, RCPT
    // and DATA written behind the previous message's final dot.
    let (a, b, c, d) = tokio::join!(send_n(1), send_n(2), send_n(3), send_n(4));
    let replies: Vec<String> = [a, b, c, d].into_iter().map(|r| queued_as(&r.expect("sent").reply)).collect();
    let received = fake.received();
    assert_eq!(received.len(), 4);
    assert_eq!(fake.connections_total(), 1);
    for (n, (reply, got)) in replies.iter().zip(&received).enumerate() {
        // Each sender read its own replies: the n-th message is the n-th sender's, and its
        // reply names the n-th queue id.
        assert_eq!(got.to, vec![format!("r{}@example.com", n + 1)]);
        assert!(String::from_utf8_lossy(&got.data).contains(&format!("Subject: n{}", n + 1)));
        assert_eq!(*reply, format!("FAKE{}", n + 1), "replies {replies:?}");
    }
    let commands = fake.commands();
    assert_eq!((count(&commands, "MAIL"), count(&commands, "DATA"), count(&commands, "RSET")), (4, 4, 0));
    assert_eq!(fake.pipelined_after_data(), 3, "the next transaction came with each message but the last");
}

#[tokio::test]
async fn a_refused_recipient_pipelined_behind_a_message_leaves_the_session_usable() {
    let rule = Rule::rcpt(Matcher::Address("bad@example.com".into()), 550, "5.1.1 <bad@example.com> User unknown");
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let (a, bad, c) =
        tokio::join!(send(&relay, "a@example.com"), send(&relay, "bad@example.com"), send(&relay, "c@example.com"));
    assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
    let err = bad.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Rcpt, Some(550)));
    assert_eq!(fake.count(), 2);
    assert_eq!(fake.connections_total(), 1, "the session carried on after the refusal");
}

#[tokio::test]
async fn a_waiting_senders_step_before_data_starts_when_the_message_ahead_is_answered() {
    // b's commands follow a's message; b's `before_data` is called as soon as a's reply is in,
    // before b's own replies are read. Here b's RCPT is refused: the step was called (the caller
    // must record the refusal after it), its future was never awaited, and nothing of b's went out.
    let rule = Rule::rcpt(Matcher::Address("bad@example.com".into()), 550, "5.1.1 <bad@example.com> User unknown");
    let fake = FakeSmtp::start(Behaviour { rules: vec![rule], ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    let called = Arc::new(AtomicBool::new(false));
    let calling = called.clone();
    let second = message(2);
    let (a, bad) = tokio::join!(
        send(&relay, "a@example.com"),
        relay.send("news@herald.test", "bad@example.com", &second, move || {
            // What the engine does here (the mark's request) happens when the step is called,
            // not when its future is awaited (it never is, after a refusal).
            calling.store(true, Ordering::SeqCst);
            async { true }
        })
    );
    a.expect("sent");
    let err = bad.unwrap_err();
    assert_eq!((err.stage, err.code), (Stage::Rcpt, Some(550)));
    assert_eq!(fake.pipelined_after_data(), 1, "bad's commands followed a's message");
    assert!(called.load(Ordering::SeqCst), "the step was started with a's reply");
    assert_eq!(fake.count(), 1, "only a's message went");
}

#[tokio::test]
async fn a_session_lost_after_the_dot_sends_the_next_in_line_to_a_new_one() {
    let behaviour =
        Behaviour { drop_before_data_reply: Matcher::Address("a@example.com".into()), ..Behaviour::default() };
    let fake = FakeSmtp::start(behaviour).await;
    let relay = relay(&fake, 1);
    let (a, b) = tokio::join!(send(&relay, "a@example.com"), send(&relay, "b@example.com"));
    let err = a.unwrap_err();
    assert!(err.reached_data && err.is_ambiguous(), "{err:?}");
    b.expect("the next sender opens a new session");
    assert_eq!(fake.count(), 1);
    assert_eq!(fake.connections_total(), 2);
    assert!(relay.open_connections() <= 1);
}

#[tokio::test]
async fn a_sender_that_stops_waiting_does_not_hold_up_the_line() {
    let fake = FakeSmtp::start(Behaviour::default()).await;
    let relay = relay(&fake, 1);
    // b gives up while a is still before its DATA: a's message goes alone, the session stays open.
    let slow_hook = || async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        true
    };
    let first = message(1);
    let (a, gave_up) = tokio::join!(
        relay.send("news@herald.test", "a@example.com", &first, slow_hook),
        tokio::time::timeout(Duration::from_millis(50), send(&relay, "b@example.com"))
    );
    a.expect("sent");
    assert!(gave_up.is_err(), "b stopped waiting");
    send(&relay, "c@example.com").await.expect("the session is free again");
    assert_eq!(fake.count(), 2);
    assert_eq!(fake.connections_total(), 1);
    assert_eq!(fake.pipelined_after_data(), 0, "nobody was waiting when a's message went");
}

#[tokio::test]
async fn a_sender_that_stops_waiting_after_its_commands_went_out_gets_nothing_sent() {
    let fake =
        FakeSmtp::start(Behaviour { data_reply_delay: Duration::from_millis(300), ..Behaviour::default() }).await;
    let relay = relay(&fake, 1);
    // b's MAIL, RCPT and DATA go out behind a's message, then b gives up: the session, in the
    // middle of b's transaction, is closed; b's message never went.
    let (a, gave_up) = tokio::join!(
        send(&relay, "a@example.com"),
        tokio::time::timeout(Duration::from_millis(100), send(&relay, "b@example.com"))
    );
    a.expect("sent");
    assert!(gave_up.is_err(), "b stopped waiting");
    send(&relay, "c@example.com").await.expect("a new session");
    let to: Vec<Vec<String>> = fake.received().into_iter().map(|r| r.to).collect();
    assert_eq!(to, vec![vec!["a@example.com".to_owned()], vec!["c@example.com".to_owned()]]);
    assert_eq!(fake.connections_total(), 2);
}
