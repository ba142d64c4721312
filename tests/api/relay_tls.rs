//! `SmtpRelay` over TLS to a relay with a private CA (`ca_file`): STARTTLS and implicit TLS end to end,
//! certificates refused with an error naming the relay and the reason, and client certificates.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::fake_smtp::{Behaviour, FakeSmtp};
use herald::send::smtp::relay::{Cause, ClientIdentity, ClientKey, RelayConfig, SendError, SmtpRelay, Stage, TlsMode};

use self::test_ca::TestCa;

mod test_ca;

fn config(port: u16, tls: TlsMode, ca_file: Option<&Path>) -> RelayConfig {
    RelayConfig {
        host: "127.0.0.1".into(),
        port,
        tls,
        credentials: None,
        max_connections: 2,
        hello_name: Some("herald.test".into()),
        timeout: Duration::from_secs(5),
        ca_file: ca_file.map(Path::to_path_buf),
        client_identity: None,
    }
}

async fn send(relay: &SmtpRelay, rcpt: &str) -> Result<String, SendError> {
    let message = format!("From: news@herald.test\r\nTo: {rcpt}\r\nSubject: hi\r\n\r\nHello\r\n");
    relay.send("news@herald.test", rcpt, message.as_bytes(), || async { true }).await.map(|a| a.reply)
}

/// A fake relay presenting `cert` (issued by `ca`), speaking STARTTLS or implicit TLS as `tls` says.
async fn tls_relay(tls: TlsMode, server: Arc<rustls::ServerConfig>) -> FakeSmtp {
    match tls {
        TlsMode::StartTls => FakeSmtp::start(Behaviour { starttls: Some(server), ..Behaviour::default() }).await,
        TlsMode::Tls => FakeSmtp::start_tls(Behaviour::default(), server).await,
        TlsMode::None => unreachable!("a TLS relay"),
    }
}

#[tokio::test]
async fn starttls_to_a_relay_with_a_private_ca_in_ca_file_delivers_encrypted() {
    delivers_encrypted_with_ca_file(TlsMode::StartTls).await;
}

#[tokio::test]
async fn implicit_tls_to_a_relay_with_a_private_ca_in_ca_file_delivers_encrypted() {
    delivers_encrypted_with_ca_file(TlsMode::Tls).await;
}

async fn delivers_encrypted_with_ca_file(tls: TlsMode) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let fake = tls_relay(tls, ca.server_config(&ca.server(&["127.0.0.1", "localhost"]), None)).await;
    let relay = SmtpRelay::new(config(fake.port(), tls, Some(&ca.write(dir.path(), "relay-ca.pem")))).unwrap();

    for n in 0..3 {
        send(&relay, &format!("r{n}@example.com")).await.unwrap();
    }
    let received = fake.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.tls), "every message went over TLS");
    assert_eq!(fake.connections_total(), 1, "the TLS session is reused");
    assert_eq!(fake.tls_refused(), 0);
}

#[tokio::test]
async fn a_private_ca_without_ca_file_is_refused_as_an_unknown_authority() {
    for tls in [TlsMode::StartTls, TlsMode::Tls] {
        let ca = TestCa::new("Acme Relay CA");
        let fake = tls_relay(tls, ca.server_config(&ca.server(&["127.0.0.1"]), None)).await;
        let relay = SmtpRelay::new(config(fake.port(), tls, None)).unwrap();
        let err = send(&relay, "a@example.com").await.unwrap_err();
        assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Connection), "{err}");
        assert!(err.text.contains(&format!("127.0.0.1:{}", fake.port())), "{err}");
        assert!(err.text.contains("not signed by a trusted authority") && err.text.contains("ca_file"), "{err}");
        assert_eq!(fake.count(), 0);
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_name_is_refused_naming_host_port_and_reason() {
    for tls in [TlsMode::StartTls, TlsMode::Tls] {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Acme Relay CA");
        let fake = tls_relay(tls, ca.server_config(&ca.server(&["relay.other.example"]), None)).await;
        let relay = SmtpRelay::new(config(fake.port(), tls, Some(&ca.write(dir.path(), "ca.pem")))).unwrap();
        let err = send(&relay, "a@example.com").await.unwrap_err();
        assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Connection), "{err}");
        assert!(err.is_relay_level(), "{err:?}");
        assert!(err.text.contains(&format!("127.0.0.1:{}", fake.port())), "{err}");
        assert!(err.text.contains("not valid for this host name"), "{err}");
        assert_eq!(fake.count(), 0);
        assert!(!fake.commands().contains(&"MAIL".to_owned()), "nothing is sent to an unverified relay");
    }
}

#[tokio::test]
async fn an_expired_certificate_is_refused_naming_host_port_and_reason() {
    for tls in [TlsMode::StartTls, TlsMode::Tls] {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Acme Relay CA");
        let fake = tls_relay(tls, ca.server_config(&ca.expired_server(&["127.0.0.1"]), None)).await;
        let relay = SmtpRelay::new(config(fake.port(), tls, Some(&ca.write(dir.path(), "ca.pem")))).unwrap();
        let err = send(&relay, "a@example.com").await.unwrap_err();
        assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Connection), "{err}");
        assert!(err.text.contains(&format!("127.0.0.1:{}", fake.port())), "{err}");
        assert!(err.text.contains("has expired (on 2021-01-01)"), "{err}");
        assert_eq!(fake.count(), 0);
    }
}

#[tokio::test]
async fn a_relay_requiring_a_client_certificate_accepts_the_configured_one() {
    for tls in [TlsMode::StartTls, TlsMode::Tls] {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Acme Relay CA");
        let clients = TestCa::new("Acme Clients CA");
        let fake = tls_relay(tls, ca.server_config(&ca.server(&["127.0.0.1"]), Some(&clients))).await;
        let ca_file = ca.write(dir.path(), "ca.pem");
        let (cert_file, key_file) = clients.client("herald.acme.example").write(dir.path(), "herald");

        let without = SmtpRelay::new(config(fake.port(), tls, Some(&ca_file))).unwrap();
        let err = send(&without, "a@example.com").await.unwrap_err();
        assert_eq!(err.stage, Stage::Connect, "{err}");
        assert!(err.text.contains(&format!("127.0.0.1:{}", fake.port())), "{err}");
        assert!(err.text.contains("requires a client certificate"), "{err}");
        assert_eq!(fake.count(), 0);

        let identity = ClientIdentity { cert_file, key: ClientKey::File(key_file) };
        let with =
            SmtpRelay::new(RelayConfig { client_identity: Some(identity), ..config(fake.port(), tls, Some(&ca_file)) })
                .unwrap();
        send(&with, "a@example.com").await.unwrap();
        assert_eq!(fake.count(), 1);
    }
}

#[tokio::test]
async fn a_client_key_may_come_from_the_environment_and_never_shows_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let fake = tls_relay(TlsMode::Tls, ca.server_config(&ca.server(&["127.0.0.1"]), Some(&ca))).await;
    let client = ca.client("herald.acme.example");
    let (cert_file, _) = client.write(dir.path(), "herald");
    let key = ClientKey::Env { var: "HERALD_SMTP_CLIENT_KEY".into(), pem: client.key_pem.clone() };
    let relay = SmtpRelay::new(RelayConfig {
        client_identity: Some(ClientIdentity { cert_file, key }),
        ..config(fake.port(), TlsMode::Tls, Some(&ca.write(dir.path(), "ca.pem")))
    })
    .unwrap();
    send(&relay, "a@example.com").await.unwrap();
    assert_eq!(fake.count(), 1);
    let shown = format!("{:?}", relay.config());
    assert!(shown.contains("HERALD_SMTP_CLIENT_KEY") && !shown.contains("PRIVATE KEY"), "{shown}");
}

#[cfg(unix)]
#[test]
fn a_client_key_readable_by_others_is_refused_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let (cert_file, key_file) = ca.client("herald.acme.example").write(dir.path(), "herald");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let identity = ClientIdentity { cert_file, key: ClientKey::File(key_file.clone()) };
    let err = SmtpRelay::new(RelayConfig { client_identity: Some(identity), ..config(465, TlsMode::Tls, None) })
        .err()
        .expect("a key others can read is refused");
    let text = err.to_string();
    assert!(text.contains(&key_file.display().to_string()) && text.contains("chmod 600"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    for (path, reason) in [(&missing, "cannot be read"), (&not_pem, "holds no certificate")] {
        let err = SmtpRelay::new(config(587, TlsMode::StartTls, Some(path))).err().expect("refused");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()) && text.contains(reason), "{text}");
    }
}

#[test]
fn a_client_certificate_that_does_not_match_its_key_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let (cert_file, _) = ca.client("one.acme.example").write(dir.path(), "one");
    let (_, other_key) = ca.client("two.acme.example").write(dir.path(), "two");
    let identity = ClientIdentity { cert_file: cert_file.clone(), key: ClientKey::File(other_key.clone()) };
    let err = SmtpRelay::new(RelayConfig { client_identity: Some(identity), ..config(465, TlsMode::Tls, None) })
        .err()
        .expect("a mismatched key is refused");
    let text = err.to_string();
    assert!(text.contains(&cert_file.display().to_string()), "{text}");
    assert!(text.contains(&other_key.display().to_string()), "{text}");
}

/// Nagle's algorithm holds lettre's second write of a non-UTF-8 message (the final ".") until the relay's
/// delayed ACK (~40 ms on Linux): with `TCP_NODELAY` on the implicit-TLS socket, as on plain ones, a run of
/// such messages on one session does not wait 40 ms on each.
#[tokio::test]
async fn implicit_tls_sessions_do_not_wait_for_delayed_acks() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let behaviour = Behaviour { no_pipelining: true, ..Behaviour::default() };
    let fake = FakeSmtp::start_tls(behaviour, ca.server_config(&ca.server(&["127.0.0.1"]), None)).await;
    let relay = SmtpRelay::new(RelayConfig {
        max_connections: 1,
        ..config(fake.port(), TlsMode::Tls, Some(&ca.write(dir.path(), "ca.pem")))
    })
    .unwrap();
    // Latin-1, not UTF-8: lettre writes the content and the final "." separately.
    let latin1 = b"Subject: caf\xe9\r\n\r\nna\xefve\r\n";
    relay.send("news@herald.test", "warm@example.com", latin1, || async { true }).await.unwrap();
    let started = std::time::Instant::now();
    for n in 0..30 {
        let rcpt = format!("r{n}@example.com");
        relay.send("news@herald.test", &rcpt, latin1, || async { true }).await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!((fake.count(), fake.connections_total()), (31, 1));
    // 30 delayed ACKs are at least 1.2 s (measured: 1.46 s with Nagle on); without them about 0.2 s in
    // a debug build on a busy machine.
    assert!(elapsed < Duration::from_millis(1000), "30 messages took {elapsed:?}");
}

#[tokio::test]
async fn a_reply_sent_before_the_handshake_is_not_taken_for_an_encrypted_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Acme Relay CA");
    let server = ca.server_config(&ca.server(&["127.0.0.1"]), None);
    let injection = Some("250-fake.smtp\r\n250 AUTH PLAIN".to_owned());
    let behaviour = Behaviour { starttls: Some(server), starttls_injection: injection, ..Behaviour::default() };
    let fake = FakeSmtp::start(behaviour).await;
    let relay = SmtpRelay::new(config(fake.port(), TlsMode::StartTls, Some(&ca.write(dir.path(), "ca.pem")))).unwrap();
    let err = send(&relay, "a@example.com").await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Connect, Cause::Connection), "{err}");
    assert!(err.text.contains("data behind its reply to STARTTLS"), "{err}");
    assert_eq!(fake.count(), 0);
}
