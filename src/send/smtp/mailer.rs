//! Where messages go: the configured `[[smtp]]` relays (several share the load), or, with
//! none configured, the outbox folder of the embedded default.

use super::outbox::FileOutbox;
use super::relay::{ClientIdentity, ClientKey, RelayConfig, SmtpRelay, TlsMode};
use super::send_error::{Accepted, SendError};
use super::transport::{Outgoing, Sent, Transport};
use crate::config::{self, Config};
use crate::error::{Error, Result};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

enum Kind {
    Relays(Vec<(String, SmtpRelay)>),
    Outbox { outbox: FileOutbox, slots: Semaphore, concurrency: usize },
}

/// The transport of one engine, built once from the config and reused for every message.
pub struct Mailer {
    kind: Kind,
    next: AtomicUsize,
}

impl Mailer {
    /// Relays from `[[smtp]]` (credentials from the environment variables they name), or
    /// the outbox `<data dir>/outbox` when there are none.
    pub fn from_config(config: &Config, env: &[(String, String)]) -> Result<Mailer> {
        let timeout = Duration::from_secs(config.sending.timeout_seconds.max(1));
        if config.smtp.is_empty() {
            return Mailer::outbox(config.data.dir.join("outbox"), config.sending.outbox_concurrency);
        }
        let mut relays = Vec::new();
        for (i, smtp) in config.smtp.iter().enumerate() {
            let var = |name: &Option<String>| -> Result<Option<String>> {
                let Some(name) = name else { return Ok(None) };
                match env.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => Ok(Some(v.clone())),
                    None => Err(Error::Invalid(format!(
                        "[[smtp]] #{} ({}): the environment variable {name} is not set",
                        i + 1,
                        smtp.host
                    ))),
                }
            };
            let credentials = match (var(&smtp.username_env)?, var(&smtp.password_env)?) {
                (Some(u), Some(p)) => Some((u, p)),
                (None, None) => None,
                _ => {
                    return Err(Error::Invalid(format!(
                        "[[smtp]] #{} ({}): give both username_env and password_env, or neither",
                        i + 1,
                        smtp.host
                    )));
                }
            };
            let client_identity = client_identity(smtp, var(&smtp.client_key_env)?)
                .map_err(|e| Error::Invalid(format!("[[smtp]] #{} ({}): {e}", i + 1, smtp.host)))?;
            if smtp.tls == config::TlsMode::None && (smtp.ca_file.is_some() || client_identity.is_some()) {
                return Err(Error::Invalid(format!(
                    "[[smtp]] #{} ({}): ca_file and client certificates need tls = \"starttls\" or \"tls\"",
                    i + 1,
                    smtp.host
                )));
            }
            let relay = SmtpRelay::new(RelayConfig {
                host: smtp.host.clone(),
                port: smtp.port,
                tls: match smtp.tls {
                    config::TlsMode::None => TlsMode::None,
                    config::TlsMode::Starttls => TlsMode::StartTls,
                    config::TlsMode::Tls => TlsMode::Tls,
                },
                credentials,
                max_connections: smtp.max_connections as usize,
                hello_name: None,
                timeout,
                ca_file: smtp.ca_file.clone(),
                client_identity,
            })
            .map_err(|e| Error::Invalid(format!("[[smtp]] #{} ({}): {e}", i + 1, smtp.host)))?;
            relays.push((format!("{}:{}", smtp.host, smtp.port), relay));
        }
        Ok(Mailer { kind: Kind::Relays(relays), next: AtomicUsize::new(0) })
    }

    pub fn outbox(dir: PathBuf, concurrency: usize) -> Result<Mailer> {
        let outbox = FileOutbox::new(&dir)
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot create the outbox {}: {e}", dir.display())))?;
        let concurrency = concurrency.max(1);
        Ok(Mailer {
            kind: Kind::Outbox { outbox, slots: Semaphore::new(concurrency), concurrency },
            next: AtomicUsize::new(0),
        })
    }

    pub fn relay_count(&self) -> usize {
        match &self.kind {
            Kind::Relays(relays) => relays.len(),
            Kind::Outbox { .. } => 1,
        }
    }

    /// The relays that do not accept a TCP connection within the SMTP timeout, each as
    /// `host:port` and the error; empty for the outbox. Checked before a campaign is sent
    /// in the foreground, so that a relay that is down is named at once.
    pub async fn unreachable(&self, timeout: Duration) -> Vec<(String, String)> {
        let Kind::Relays(relays) = &self.kind else { return Vec::new() };
        let mut down = Vec::new();
        for (name, relay) in relays {
            let c = relay.config();
            let probe = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((c.host.as_str(), c.port)));
            match probe.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => down.push((name.clone(), e.to_string())),
                Err(_) => down.push((name.clone(), format!("no answer within {} s", timeout.as_secs()))),
            }
        }
        down
    }

    /// Where the outbox writes, if this mailer is one.
    pub fn outbox_dir(&self) -> Option<PathBuf> {
        match &self.kind {
            Kind::Outbox { outbox, .. } => Some(outbox.dir().to_path_buf()),
            Kind::Relays(_) => None,
        }
    }

    /// Politely closes idle SMTP connections (QUIT).
    pub async fn close(&self) {
        if let Kind::Relays(relays) = &self.kind {
            for (_, r) in relays {
                r.close().await;
            }
        }
    }
}

impl Transport for Mailer {
    fn concurrency(&self) -> usize {
        match &self.kind {
            Kind::Relays(relays) => relays.iter().map(|(_, r)| r.config().max_connections).sum(),
            Kind::Outbox { concurrency, .. } => *concurrency,
        }
    }

    /// The relay with the most free connections, ties broken round-robin.
    fn pick(&self) -> usize {
        let Kind::Relays(relays) = &self.kind else { return 0 };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..relays.len())
            .map(|k| (start + k) % relays.len())
            .max_by_key(|i| {
                let r = &relays[*i].1;
                (r.config().max_connections.saturating_sub(r.open_connections()), usize::MAX - *i)
            })
            .unwrap_or(0)
    }

    fn route_name(&self, route: usize) -> String {
        match &self.kind {
            Kind::Relays(relays) => relays.get(route).map(|(n, _)| n.clone()).unwrap_or_default(),
            Kind::Outbox { .. } => "outbox".into(),
        }
    }

    /// Through relay `route` (see [`SmtpRelay::send_and_then`]), or to the outbox file
    /// named by the message's id.
    async fn send<B, Fut, A, R>(&self, route: usize, m: Outgoing<'_>, before_data: B, replied: A) -> Sent<R>
    where
        B: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
        A: FnOnce(std::result::Result<Accepted, SendError>) -> R + Send,
        R: Send,
    {
        match &self.kind {
            Kind::Relays(relays) => {
                relays[route % relays.len()].1.send_and_then(m.envelope_from, m.to, m.bytes, before_data, replied).await
            }
            Kind::Outbox { outbox, slots, .. } => {
                let _slot = slots.acquire().await.expect("the outbox semaphore is never closed");
                let written = std::sync::atomic::AtomicBool::new(false);
                let result = outbox
                    .send(m.id, m.envelope_from, m.to, m.bytes, || async {
                        let go = before_data().await;
                        written.store(go, Ordering::SeqCst);
                        go
                    })
                    .await;
                match result {
                    Err(err) if !written.load(Ordering::SeqCst) => Sent::NotSent(err),
                    result => Sent::Replied(replied(result)),
                }
            }
        }
    }

    async fn close(&self) {
        Mailer::close(self).await;
    }
}

/// The client certificate of one `[[smtp]]`: its file, with the key from `client_key_file` or from the
/// variable named by `client_key_env` (whose value is `key_from_env`).
fn client_identity(
    smtp: &config::SmtpConfig,
    key_from_env: Option<String>,
) -> std::result::Result<Option<ClientIdentity>, &'static str> {
    let (cert, file, var) = (&smtp.client_cert_file, &smtp.client_key_file, &smtp.client_key_env);
    let key = match (file, var, key_from_env) {
        (None, None, _) if cert.is_none() => return Ok(None),
        (Some(_), Some(_), _) => return Err("give client_key_file or client_key_env, not both"),
        (Some(path), None, _) => ClientKey::File(path.clone()),
        (None, Some(var), Some(pem)) => ClientKey::Env { var: var.clone(), pem },
        _ => return Err("client_cert_file needs its private key: client_key_file or client_key_env"),
    };
    match cert {
        Some(cert_file) => Ok(Some(ClientIdentity { cert_file: cert_file.clone(), key })),
        None => Err("client_key_file and client_key_env need client_cert_file"),
    }
}

#[cfg(test)]
mod tests {
    use super::Mailer;
    use crate::config::Config;

    /// The error `Mailer::from_config` gives for one `[[smtp]]` section, with `env` as the environment.
    fn refusal(smtp: &str, env: &[(&str, &str)]) -> String {
        let config: Config = toml::from_str(&format!("[[smtp]]\nhost = \"relay.acme.example\"\n{smtp}")).unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        match Mailer::from_config(&config, &env) {
            Ok(_) => panic!("accepted: {smtp}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_missing_ca_file_is_refused_naming_the_relay_and_the_file() {
        let err = refusal("port = 587\ntls = \"starttls\"\nca_file = \"certs/absent-ca.pem\"\n", &[]);
        assert!(err.contains("[[smtp]] #1 (relay.acme.example): ca_file certs/absent-ca.pem: cannot be read"), "{err}");
    }

    #[test]
    fn ca_file_and_client_certificates_need_tls() {
        let err = refusal("port = 25\ntls = \"none\"\nca_file = \"certs/relay-ca.pem\"\n", &[]);
        assert!(err.contains("#1 (relay.acme.example)") && err.contains("need tls"), "{err}");
    }

    #[test]
    fn a_client_certificate_needs_exactly_one_source_for_its_key() {
        let base = "port = 465\ntls = \"tls\"\nclient_cert_file = \"certs/herald.pem\"\n";
        let err = refusal(base, &[]);
        assert!(err.contains("client_key_file or client_key_env"), "{err}");
        let both =
            format!("{base}client_key_file = \"certs/herald.key\"\nclient_key_env = \"HERALD_SMTP_CLIENT_KEY\"\n");
        assert!(refusal(&both, &[("HERALD_SMTP_CLIENT_KEY", "x")]).contains("not both"));
        let key_alone = "port = 465\ntls = \"tls\"\nclient_key_file = \"certs/herald.key\"\n";
        assert!(refusal(key_alone, &[]).contains("need client_cert_file"));
        let unset = format!("{base}client_key_env = \"HERALD_SMTP_CLIENT_KEY\"\n");
        assert!(refusal(&unset, &[]).contains("HERALD_SMTP_CLIENT_KEY is not set"));
    }
}
