//! Issue 12, point 12: Herald's files hold personal data and keys, so what it creates is
//! its owner's only (the data folder 0700; the database, its -wal / -shm and the key
//! file 0600), and a key that is long but guessable is refused with how to make one.

use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[test]
fn a_workspace_with_generated_keys_creates_its_data_folder_and_files_for_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/herald.toml"), "[secrets]\nsource = \"generate\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(dir.path())
        .env_remove("HERALD_LINK_KEY")
        .env_remove("HERALD_SUPPRESSION_KEY")
        .args(["suppression", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data folder");
    assert_eq!(mode(&data.join("herald.db")), 0o600, "herald.db");
    assert_eq!(mode(&data.join("secrets.toml")), 0o600, "secrets.toml");
}

#[tokio::test]
async fn the_database_and_its_wal_and_shm_are_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new/herald.db");
    let store = herald::store::Store::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    store.migrate().await.unwrap();
    // While the store is open, SQLite keeps the write-ahead log and its index beside it.
    for file in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        assert_eq!(mode(&dir.path().join("new").join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    store.close().await;
}

#[test]
fn a_long_but_guessable_key_is_refused_with_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("herald.toml");
    std::fs::write(&cfg, "[database]\nurl = \"sqlite://h.db\"\n").unwrap();
    for weak in [" ".repeat(32), "€".repeat(11)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(dir.path())
            .env("HERALD_LINK_KEY", LINK_KEY)
            .env("HERALD_SUPPRESSION_KEY", &weak)
            .args(["--config", cfg.to_str().unwrap(), "contacts", "show", "a@example.com"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{weak:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("HERALD_SUPPRESSION_KEY") && err.contains("openssl rand -hex 32"), "{weak:?}: {err}");
        assert!(!err.contains(&weak), "the key itself is never printed: {err}");
    }
}
