//! The app config: `config/herald.toml` (or `--config PATH`), every key overridable by
//! `HERALD_<SECTION>__<KEY>` environment variables, and the secrets, which only ever
//! come from the environment (or, in the embedded default, a key file Herald generates
//! once in the data folder).
//!
//! Without `--config`, the nearest `config/herald.toml` in the current folder or above
//! it is read (see [`workspace`]); outside any workspace, commands refuse with a hint.

use crate::consent::policy::{AcceptLevel, FrequencyCap};
use crate::domain::{ListName, Purpose};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod api;
mod bounces;
mod env_overrides;
mod flows;
mod import;
mod privacy;
mod retention;
mod secrets;
mod sending;
mod web;
mod webhooks;
pub mod workspace;
pub use api::{API_KEY_VAR, ApiConfig, ApiKey, ApiKeys};
pub use bounces::BouncesConfig;
pub use flows::FlowsConfig;
pub use import::ImportConfig;
pub use privacy::PrivacyConfig;
pub use retention::{RetentionConfig, show_duration};
pub use secrets::Secrets;
pub use sending::{LimitsConfig, OnDoubt, SendingConfig};
pub use web::WebConfig;
pub(crate) use web::parse_duration;
pub use webhooks::{DEFAULT_SECRET_ENV, OutboundWebhook, WebhooksConfig};

pub const DEFAULT_PATH: &str = "config/herald.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub sender: SenderConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    #[serde(default)]
    pub policy: PolicyDefaults,
    #[serde(default)]
    pub lists: BTreeMap<ListName, ListConfig>,
    #[serde(default)]
    pub purposes: BTreeMap<Purpose, PurposeConfig>,
    #[serde(default)]
    pub dns: DnsConfig,
    #[serde(default)]
    pub smtp: Vec<SmtpConfig>,
    #[serde(default)]
    pub sending: SendingConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub bounces: BouncesConfig,
    #[serde(default)]
    pub import: ImportConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    pub dkim: Option<DkimConfig>,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub flows: FlowsConfig,
    /// `[webhooks]`: outbound consent webhooks (`[[webhooks.out]]`).
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub api: ApiConfig,
}

/// DKIM signing of every message. The private key (PKCS#8 PEM) comes from the
/// environment variable `HERALD_DKIM_KEY`, never from this file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    pub domain: String,
    pub selector: String,
    /// `rsa-sha256` or `ed25519-sha256`.
    #[serde(default = "default_dkim_algorithm")]
    pub algorithm: String,
}

fn default_dkim_algorithm() -> String {
    "rsa-sha256".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://user@host/db`; secrets belong in the environment
    /// (`HERALD_DATABASE__URL`), not in this file.
    #[serde(default = "default_database_url")]
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: default_database_url() }
    }
}

fn default_database_url() -> String {
    "sqlite://data/herald.db".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Where Herald keeps its own files: the embedded database, generated keys, the outbox.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { dir: default_data_dir() }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// Required for marketing mail (CAN-SPAM, ePrivacy practice).
    pub postal_address: Option<String>,
    /// Base of unsubscribe and preference links.
    pub public_url: Option<String>,
    /// Domain of the VERP envelope senders.
    pub bounce_domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    #[serde(default = "default_templates_dir")]
    pub dir: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        TemplatesConfig { dir: default_templates_dir() }
    }
}

fn default_templates_dir() -> PathBuf {
    PathBuf::from("templates")
}

/// Defaults for every campaign's `[policy]` (DESIGN §3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefaults {
    #[serde(default)]
    pub accept: AcceptLevel,
    #[serde(default)]
    pub legitimate_interest_purposes: Vec<Purpose>,
    pub frequency_cap: Option<FrequencyCap>,
    pub exclude_unengaged: Option<u32>,
    /// Open and click tracking (only ever for contacts who granted the `tracking` purpose).
    #[serde(default)]
    pub tracking: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    #[serde(default)]
    pub double_opt_in: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeConfig {
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    #[serde(default = "yes")]
    pub check_domains: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig { check_domains: true }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Names of the environment variables holding the credentials.
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    pub rate: Option<String>,
    /// Extra trusted roots (PEM) for a relay whose certificate comes from a private CA.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM, with its chain) for relays that require one, and its
    /// private key: from a file only its owner may read (0600), or from an environment variable.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub client_key_env: Option<String>,
}

fn default_max_connections() -> u32 {
    4
}

/// Where the secrets come from. `env`: only from the environment, and a missing one is
/// an error (production). `generate`: from the environment if set, else from a key file
/// generated once in the data folder (what `herald init` writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    Env,
    Generate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Defaults to `env`; `herald init` writes `generate`.
    pub source: Option<SecretSource>,
}

/// A config as loaded, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read.
    pub path: PathBuf,
}

impl Loaded {
    pub fn secret_source(&self) -> SecretSource {
        self.config.secrets.source.unwrap_or(SecretSource::Env)
    }
}

/// Loads the config. `explicit`: the `--config` flag, which must exist. Without it, the
/// nearest `config/herald.toml` in the current folder or above it; none is an error
/// naming `herald init`. `env`: the process environment (passed in so tests control it).
pub fn load(explicit: Option<&Path>, env: &[(String, String)]) -> Result<Loaded> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Internal(anyhow::anyhow!("cannot read the current folder: {e}")))?;
    load_from(explicit, &cwd, env)
}

/// [`load`], discovering the config from `start` instead of the current folder.
pub fn load_from(explicit: Option<&Path>, start: &Path, env: &[(String, String)]) -> Result<Loaded> {
    let path = match explicit {
        Some(p) if !p.exists() => {
            return Err(Error::Invalid(format!("config file {} does not exist", p.display())));
        }
        Some(p) => p.to_path_buf(),
        None => workspace::discover(start).ok_or_else(|| workspace::none_found(start))?,
    };
    let mut config = read(&path, env)?;
    if let Some(root) = workspace::root_of(&path) {
        workspace::resolve_paths(&mut config, &root);
    }
    Ok(Loaded { config, path })
}

fn read(path: &Path, env: &[(String, String)]) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read config file {}: {e}", path.display())))?;
    let shown = path.display();
    // Parse the file alone first, so errors point at its line and column.
    let config: Config = toml::from_str(&text).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let overrides = env_overrides::read(env)?;
    if overrides.is_empty() {
        return Ok(config);
    }
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let mut names = Vec::new();
    for (name, keys, value) in overrides {
        env_overrides::set_path(&mut table, &keys, value)
            .map_err(|why| Error::Invalid(format!("environment variable {name}: {why}")))?;
        names.push(name);
    }
    Config::deserialize(table)
        .map_err(|e| Error::Invalid(format!("{shown} with overrides from {}: {e}", names.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("herald.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "[database]\nurl = \"sqlite://x.db\"\n\n[sender]\nfrom = \"a@b.co\"\npostal_adress = \"typo\"\n",
        );
        let err = load(Some(&p), &[]).unwrap_err().to_string();
        assert!(err.contains("herald.toml") && err.contains("line 6") && err.contains("postal_adress"), "{err}");
    }

    #[test]
    fn env_overrides_replace_keys_and_parse_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "[database]\nurl = \"sqlite://x.db\"\n[dns]\ncheck_domains = true\n");
        let env = vec![
            ("HERALD_DATABASE__URL".to_owned(), "postgres://u@h/db".to_owned()),
            ("HERALD_DNS__CHECK_DOMAINS".to_owned(), "false".to_owned()),
            ("HERALD_LISTS__NEWS__DOUBLE_OPT_IN".to_owned(), "true".to_owned()),
            ("HERALD_LINK_KEY".to_owned(), "not a config key".to_owned()),
        ];
        let loaded = load(Some(&p), &env).unwrap();
        assert_eq!(loaded.config.database.url, "postgres://u@h/db");
        assert!(!loaded.config.dns.check_domains);
        assert!(loaded.config.lists[&ListName::parse("news").unwrap()].double_opt_in);
        assert_eq!(loaded.secret_source(), SecretSource::Env);
    }

    #[test]
    fn a_bad_override_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "");
        let env = vec![("HERALD_DNS__CHECK_DOMAINS".to_owned(), "\"perhaps\"".to_owned())];
        let err = load(Some(&p), &env).unwrap_err().to_string();
        assert!(err.contains("HERALD_DNS__CHECK_DOMAINS"), "{err}");
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/herald.toml")), &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
