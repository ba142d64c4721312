//! Secrets, resolved once when the [`crate::app::App`] is built and read from it
//! afterwards (nothing reads a secret from the environment later): the link-signing key
//! and the suppression key, the DKIM key (`HERALD_DKIM_KEY`), the relay credentials
//! `[[smtp]]` names (`username_env`, `password_env`, `client_key_env`) and the webhook
//! keys. A malformed one is refused at start-up with an error that names its variable.
//!
//! The two keys are read from the environment only; with `[secrets] source = "generate"` (what `herald init` writes) a key missing
//! from the environment is generated once and kept in `<data>/secrets.toml`, readable
//! by its owner only.
//!
//! A key must be strong: at least 32 bytes with at least 16 different byte values, or a
//! hex / base64 encoding of such bytes (`openssl rand -hex 32` gives 256 bits). 32
//! spaces or 11 × `€` are long enough but guessable, and a guessed suppression key turns
//! the suppression list back into addresses.

use super::{Config, Loaded, SecretSource};
use crate::error::{Error, Result};
use crate::feedback::webhooks::WebhookKeys;
use crate::render::DkimKey;
use rand::RngCore;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Bytes a key needs (after decoding, when it is hex or base64).
const MIN_KEY_BYTES: usize = 32;
/// Different byte values a key needs among them.
const MIN_DISTINCT_BYTES: usize = 16;
/// What the errors tell the operator to do.
const HOW_TO_MAKE_ONE: &str = "make one with `openssl rand -hex 32`";

/// Why a key is refused; `None` when it is strong enough. A key is used as it is
/// written (its bytes, not decoded), so an encoded key is judged by what it encodes.
fn weakness(key: &str) -> Option<String> {
    use base64::Engine as _;
    let strong = |bytes: &[u8]| {
        let distinct = bytes.iter().collect::<std::collections::BTreeSet<_>>().len();
        bytes.len() >= MIN_KEY_BYTES && distinct >= MIN_DISTINCT_BYTES
    };
    let decoded = [
        hex::decode(key).ok(),
        base64::engine::general_purpose::STANDARD.decode(key).ok(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key).ok(),
    ];
    if strong(key.as_bytes()) || decoded.iter().flatten().any(|b| strong(b)) {
        return None;
    }
    Some(if key.len() < MIN_KEY_BYTES {
        format!("too short ({} bytes): a key needs at least {MIN_KEY_BYTES} random bytes", key.len())
    } else {
        format!(
            "too weak: a key needs at least {MIN_KEY_BYTES} bytes with at least {MIN_DISTINCT_BYTES} different values, \
             or a hex / base64 key of 256 bits"
        )
    })
}

/// The keys Herald signs and hashes with. Never printed, never logged.
#[derive(Clone)]
pub struct Secrets {
    /// HMAC key of unsubscribe / preference link tokens.
    pub link_key: Vec<u8>,
    /// HMAC key of the suppression list.
    pub suppression_key: Vec<u8>,
    /// The link key before a rotation (`HERALD_LINK_KEY_PREVIOUS`, optional): links,
    /// VERP addresses and Message-IDs of mail sent under it still verify (DESIGN §11).
    pub link_key_previous: Option<Vec<u8>>,
    /// `HERALD_DKIM_KEY` (a PKCS#8 PEM), when `[dkim]` is configured; it parsed at start-up.
    dkim_pem: Option<String>,
    /// The variables `[[smtp]]` names for its credentials, those that are set.
    relay_env: Vec<(String, String)>,
    /// The providers' webhook keys (`HERALD_*_WEBHOOK*`, `HERALD_MAILGUN_SIGNING_KEY`).
    pub webhooks: WebhookKeys,
    /// The keys of sensitive fields (`HERALD_FIELD_KEY`, `HERALD_FIELD_KEY_PREVIOUS`).
    pub field_keys: crate::privacy::field_key::FieldKeys,
    /// The outbound webhooks' HMAC keys (the variables `[[webhooks.out]] secret_env` names).
    pub outbound: crate::outbound::OutboundKeys,
    /// The events and contacts API's bearer keys (`HERALD_API_KEY`); none: the API is off.
    pub api_keys: super::ApiKeys,
}

const PREVIOUS_LINK_KEY: &str = "HERALD_LINK_KEY_PREVIOUS";
const DKIM_KEY: &str = "HERALD_DKIM_KEY";

/// The variables the `[[smtp]]` sections name that are set in `env`.
fn relay_env(config: &Config, env: &[(String, String)]) -> Vec<(String, String)> {
    let named: Vec<&String> =
        config.smtp.iter().flat_map(|s| [&s.username_env, &s.password_env, &s.client_key_env]).flatten().collect();
    env.iter().filter(|(k, _)| named.contains(&k)).cloned().collect()
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// (config-file name, environment variable)
const KEYS: [(&str, &str); 2] = [("link_key", "HERALD_LINK_KEY"), ("suppression_key", "HERALD_SUPPRESSION_KEY")];

impl Secrets {
    pub fn resolve(loaded: &Loaded, env: &[(String, String)]) -> Result<Secrets> {
        let from_env = |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, var) in KEYS {
            match from_env(var) {
                Some(v) => {
                    if let Some(why) = weakness(&v) {
                        return Err(Error::Invalid(format!("{var} is {why}; {HOW_TO_MAKE_ONE}")));
                    }
                    values.insert(name, v);
                }
                None => missing.push((name, var)),
            }
        }
        if !missing.is_empty() {
            match loaded.secret_source() {
                SecretSource::Env => {
                    let vars: Vec<&str> = missing.iter().map(|(_, v)| *v).collect();
                    return Err(Error::Invalid(format!(
                        "missing secret{} {}: set {} in the environment (a random key of 256 bits: {HOW_TO_MAKE_ONE}), \
                         or set [secrets] source = \"generate\" to keep generated keys in the data folder",
                        if vars.len() > 1 { "s" } else { "" },
                        vars.join(" and "),
                        if vars.len() > 1 { "them" } else { "it" },
                    )));
                }
                SecretSource::Generate => {
                    let mut stored = load_or_generate(&loaded.config.data.dir.join("secrets.toml"))?;
                    for (name, _) in missing {
                        values.insert(name, stored.remove(name).unwrap_or_default());
                    }
                }
            }
        }
        // The previous key is held only to the length rule keys had before the strength
        // rule: rotating away from a weak key is how an operator fixes one, and links signed
        // with it must keep working meanwhile.
        let link_key_previous = match from_env(PREVIOUS_LINK_KEY) {
            Some(v) if v.len() < MIN_KEY_BYTES => {
                return Err(Error::Invalid(format!(
                    "{PREVIOUS_LINK_KEY} is too short: a key needs at least {MIN_KEY_BYTES} characters"
                )));
            }
            Some(v) => Some(v.into_bytes()),
            None => None,
        };
        let mut secrets = Secrets::new(
            values.remove("link_key").unwrap_or_default().into_bytes(),
            values.remove("suppression_key").unwrap_or_default().into_bytes(),
            link_key_previous,
        );
        secrets.relay_env = relay_env(&loaded.config, env);
        secrets.webhooks = WebhookKeys::from_env(env);
        secrets.field_keys = crate::privacy::field_key::FieldKeys::from_env(env)?;
        secrets.outbound = crate::outbound::OutboundKeys::from_env(&loaded.config.webhooks.out, env);
        if let Some(v) = from_env(super::API_KEY_VAR) {
            secrets.api_keys = super::ApiKeys::parse(&v).map_err(Error::Invalid)?;
        }
        if loaded.config.dkim.is_some()
            && let Some(pem) = from_env(DKIM_KEY)
        {
            secrets.dkim_pem = Some(pem);
            secrets.dkim_key(&loaded.config).map_err(|e| Error::Invalid(format!("{DKIM_KEY}: {e}")))?;
        }
        Ok(secrets)
    }

    /// The signing and hashing keys alone, with no DKIM key, relay credential or
    /// webhook key (for tests, and commands that need nothing else).
    pub fn new(link_key: Vec<u8>, suppression_key: Vec<u8>, link_key_previous: Option<Vec<u8>>) -> Secrets {
        Secrets {
            link_key,
            suppression_key,
            link_key_previous,
            dkim_pem: None,
            relay_env: Vec::new(),
            webhooks: WebhookKeys::default(),
            field_keys: Default::default(),
            outbound: Default::default(),
            api_keys: Default::default(),
        }
    }

    /// The DKIM key of the config's `[dkim]` section; an error when `[dkim]` is
    /// configured and `HERALD_DKIM_KEY` is not set.
    pub fn dkim_key(&self, config: &Config) -> Result<Option<DkimKey>> {
        let Some(d) = &config.dkim else { return Ok(None) };
        let pem = self.dkim_pem.as_deref().ok_or_else(|| {
            Error::Invalid(format!("[dkim] is configured but {DKIM_KEY} (the PKCS#8 PEM private key) is not set"))
        })?;
        DkimKey::from_pem(&d.domain, &d.selector, &d.algorithm, pem).map(Some)
    }

    /// The values of the environment variables `[[smtp]]` names, as (name, value): what
    /// [`crate::send::mailer::Mailer::from_config`] reads the relay credentials from.
    pub fn relay_env(&self) -> &[(String, String)] {
        &self.relay_env
    }

    /// The keys a link token, VERP address or Message-ID is checked against: the current
    /// link key first, then the previous one during a rotation. New ones are always made
    /// with the current key.
    pub fn link_keys(&self) -> Vec<&[u8]> {
        std::iter::once(self.link_key.as_slice()).chain(self.link_key_previous.as_deref()).collect()
    }
}

impl Secrets {
    /// The link key when it is already set (environment or the key file), without
    /// generating one: for commands that open no database (`bounces classify`).
    pub fn link_key_if_present(loaded: &Loaded, env: &[(String, String)]) -> Option<Vec<u8>> {
        if let Some((_, v)) = env.iter().find(|(k, _)| k == "HERALD_LINK_KEY") {
            return weakness(v).is_none().then(|| v.clone().into_bytes());
        }
        let path = loaded.config.data.dir.join("secrets.toml");
        if matches!(loaded.secret_source(), SecretSource::Generate) && path.exists() {
            return load_or_generate(&path).ok()?.remove("link_key").map(String::into_bytes);
        }
        None
    }
}

fn load_or_generate(path: &Path) -> Result<BTreeMap<&'static str, String>> {
    let io = |e: std::io::Error| Error::Internal(anyhow::anyhow!("key file {}: {e}", path.display()));
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let mut out = BTreeMap::new();
        for (name, _) in KEYS {
            let value = table
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| Error::Invalid(format!("{}: '{name}' is missing; {HOW_TO_MAKE_ONE}", path.display())))?;
            if let Some(why) = weakness(value) {
                return Err(Error::Invalid(format!("{}: '{name}' is {why}; {HOW_TO_MAKE_ONE}", path.display())));
            }
            out.insert(name, value.to_owned());
        }
        return Ok(out);
    }
    if let Some(dir) = path.parent() {
        crate::private_files::create_dir(dir).map_err(io)?;
    }
    let mut out = BTreeMap::new();
    let mut text = String::from(
        "# Generated by Herald. Keep this file: without the suppression key, the suppression list\n# cannot be matched. In production, set HERALD_LINK_KEY and HERALD_SUPPRESSION_KEY instead.\n",
    );
    for (name, _) in KEYS {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = hex::encode(bytes);
        text.push_str(&format!("{name} = \"{key}\"\n"));
        out.insert(name, key);
    }
    let mut file = crate::private_files::file_options().write(true).create_new(true).open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(out)
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
