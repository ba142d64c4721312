use super::*;
use crate::config::{Config, Loaded};

fn loaded(dir: &Path, source: SecretSource) -> Loaded {
    let mut config: Config = toml::from_str("").unwrap();
    config.data.dir = dir.to_path_buf();
    config.secrets.source = Some(source);
    Loaded { config, path: "herald.toml".into() }
}

#[test]
fn production_mode_requires_the_keys_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let err = Secrets::resolve(&loaded(dir.path(), SecretSource::Env), &[]).unwrap_err().to_string();
    assert!(err.contains("HERALD_LINK_KEY") && err.contains("HERALD_SUPPRESSION_KEY"), "{err}");
    let env = vec![("HERALD_LINK_KEY".to_owned(), "short".to_owned())];
    assert!(Secrets::resolve(&loaded(dir.path(), SecretSource::Env), &env).is_err());
}

#[test]
fn a_previous_link_key_is_optional_held_to_the_length_rule_and_checked_second() {
    let dir = tempfile::tempdir().unwrap();
    let current = "0123456789abcdef".repeat(4);
    let keys = |previous: Option<&str>| {
        let mut env = vec![
            ("HERALD_LINK_KEY".to_owned(), current.clone()),
            ("HERALD_SUPPRESSION_KEY".to_owned(), STRONG.to_owned()),
        ];
        env.extend(previous.map(|p| (PREVIOUS_LINK_KEY.to_owned(), p.to_owned())));
        Secrets::resolve(&loaded(dir.path(), SecretSource::Env), &env)
    };
    assert_eq!(keys(None).unwrap().link_keys(), [current.as_bytes()]);
    // A long but weak old key is still accepted as the previous one: rotating away from
    // it is how an operator replaces it, and its links must keep working meanwhile.
    let rotated = keys(Some(&"o".repeat(40))).unwrap();
    assert_eq!(rotated.link_keys(), [current.as_bytes(), b"o".repeat(40).as_slice()]);
    let err = keys(Some("tiny-value")).expect_err("a short previous key is refused").to_string();
    assert!(err.contains(PREVIOUS_LINK_KEY) && !err.contains("tiny-value"), "the value is never shown: {err}");
}

#[test]
fn the_embedded_default_generates_keys_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Secrets::resolve(&loaded(dir.path(), SecretSource::Generate), &[]).unwrap();
    let second = Secrets::resolve(&loaded(dir.path(), SecretSource::Generate), &[]).unwrap();
    assert_eq!(first.suppression_key, second.suppression_key);
    assert_eq!(first.link_key.len(), 64);
    assert_ne!(first.link_key, first.suppression_key);
    let env = vec![("HERALD_SUPPRESSION_KEY".to_owned(), STRONG.to_owned())];
    assert_eq!(
        Secrets::resolve(&loaded(dir.path(), SecretSource::Generate), &env).unwrap().suppression_key,
        STRONG.as_bytes()
    );
}

const STRONG: &str = "correct-horse-battery-staple-0123456789";

fn refusal(key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let env =
        vec![("HERALD_LINK_KEY".to_owned(), key.to_owned()), ("HERALD_SUPPRESSION_KEY".to_owned(), STRONG.to_owned())];
    match Secrets::resolve(&loaded(dir.path(), SecretSource::Env), &env) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn long_but_guessable_keys_are_refused_with_how_to_make_one() {
    for weak in [" ".repeat(32), "€".repeat(11), "ab".repeat(20), "0".repeat(64), "short".to_owned()] {
        let err = refusal(&weak);
        assert!(err.contains("HERALD_LINK_KEY") && err.contains("openssl rand -hex 32"), "{weak:?}: {err:?}");
    }
}

#[test]
fn random_keys_are_accepted_raw_hex_or_base64() {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    for strong in [
        STRONG.to_owned(),
        hex::encode(bytes),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ] {
        assert_eq!(refusal(&strong), "", "{strong}");
    }
}

#[test]
fn a_weak_key_in_the_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secrets.toml"),
        format!("link_key = \"{}\"\nsuppression_key = \"{STRONG}\"\n", " ".repeat(40)),
    )
    .unwrap();
    let err = Secrets::resolve(&loaded(dir.path(), SecretSource::Generate), &[]).unwrap_err().to_string();
    assert!(err.contains("secrets.toml") && err.contains("link_key") && err.contains("openssl rand -hex 32"), "{err}");
}

/// A config read from `toml`, with the production source of secrets.
fn loaded_with(dir: &Path, toml_text: &str) -> Loaded {
    let mut config: Config = toml::from_str(toml_text).unwrap();
    config.data.dir = dir.to_path_buf();
    config.secrets.source = Some(SecretSource::Env);
    Loaded { config, path: "herald.toml".into() }
}

fn keys_and(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("HERALD_LINK_KEY".to_owned(), STRONG.to_owned()),
        ("HERALD_SUPPRESSION_KEY".to_owned(), STRONG.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

const DKIM: &str = "[dkim]\ndomain = \"acme.example\"\nselector = \"s1\"\nalgorithm = \"ed25519-sha256\"\n";

fn ed25519_pem() -> String {
    use base64::Engine as _;
    let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

#[test]
fn a_malformed_dkim_key_is_refused_when_the_app_is_built_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = loaded_with(dir.path(), DKIM);
    let env = keys_and(&[("HERALD_DKIM_KEY", "-----BEGIN PRIVATE KEY-----\nnot a key\n")]);
    let err = Secrets::resolve(&loaded, &env).expect_err("a malformed key is refused").to_string();
    assert!(err.contains("HERALD_DKIM_KEY") && !err.contains("not a key"), "{err}");
    // Without [dkim] the variable is not read at all.
    assert!(Secrets::resolve(&loaded_with(dir.path(), ""), &env).is_ok());
}

#[test]
fn the_dkim_key_is_resolved_once_and_a_missing_one_is_named_when_needed() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = loaded_with(dir.path(), DKIM);
    let secrets = Secrets::resolve(&loaded, &keys_and(&[("HERALD_DKIM_KEY", &ed25519_pem())])).unwrap();
    assert!(secrets.dkim_key(&loaded.config).unwrap().is_some());
    // Commands that sign nothing still run without it; signing names what is missing.
    let without = Secrets::resolve(&loaded, &keys_and(&[])).unwrap();
    let err = without.dkim_key(&loaded.config).err().expect("no key").to_string();
    assert!(err.contains("HERALD_DKIM_KEY"), "{err}");
    assert!(without.dkim_key(&loaded_with(dir.path(), "").config).unwrap().is_none());
}

#[test]
fn only_the_variables_smtp_names_are_kept_as_relay_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = loaded_with(
        dir.path(),
        "[[smtp]]\nhost = \"relay.acme.example\"\nport = 587\ntls = \"starttls\"\n\
         username_env = \"RELAY_USER\"\npassword_env = \"RELAY_PASS\"\n",
    );
    let env = keys_and(&[("RELAY_USER", "u"), ("RELAY_PASS", "p"), ("OTHER", "x")]);
    let secrets = Secrets::resolve(&loaded, &env).unwrap();
    let mut kept = secrets.relay_env().to_vec();
    kept.sort();
    assert_eq!(kept, [("RELAY_PASS".to_owned(), "p".to_owned()), ("RELAY_USER".to_owned(), "u".to_owned())]);
}

#[test]
fn webhook_keys_are_resolved_with_the_other_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = loaded_with(dir.path(), "");
    let env = keys_and(&[("HERALD_WEBHOOK_SECRET", "a-webhook-secret-of-length")]);
    let configured = Secrets::resolve(&loaded, &env).unwrap().webhooks.configured();
    assert_eq!(configured, [crate::feedback::webhooks::Provider::Generic]);
    assert!(Secrets::resolve(&loaded, &keys_and(&[])).unwrap().webhooks.configured().is_empty());
}

#[cfg(unix)]
#[test]
fn the_generated_key_file_and_its_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    Secrets::resolve(&loaded(&data, SecretSource::Generate), &[]).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&data), mode(&data.join("secrets.toml"))), (0o700, 0o600));
}
