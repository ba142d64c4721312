//! Issue 19, point 9: Herald finds its workspace like git finds its repository, resolves
//! the config's relative paths against it, and outside any workspace refuses instead of
//! creating a database and keys in whatever folder it was run from.

use crate::helpers::*;

#[test]
fn outside_any_workspace_commands_refuse_with_a_hint_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = herald_at(dir.path(), &["suppression", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("herald init"), "{}", stderr(&out));
    let out = herald_at(dir.path(), &["contacts", "show", "a@example.com", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(json(&out)["error"].as_str().unwrap().contains("herald init"), "{}", stdout(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is created outside a workspace: {left:?}");
}

#[test]
fn from_a_subfolder_commands_use_the_workspace_config_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let out = herald_at(dir.path(), &["init", "ws"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sub = ws.join("campaigns");
    let out = herald_at(&sub, &["contacts", "import", "../contacts.example.csv", "--json", "--verbose"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(json(&out)["created"].as_u64().unwrap() > 0);
    let named = ws.join("config/herald.toml");
    assert!(stderr(&out).contains(&format!("using config {}", named.display())), "{}", stderr(&out));
    assert!(!sub.join("data").exists(), "no second database beside the subfolder");
    // The workspace root sees the contacts imported from the subfolder.
    let out = herald_at(&ws, &["contacts", "show", "ada@example.com", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["email"], "ada@example.com");
}

#[test]
fn commands_that_need_no_workspace_run_outside_one() {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("reply.eml");
    std::fs::write(&eml, "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n\r\nhi\r\n").unwrap();
    let out = herald_at(dir.path(), &["bounces", "classify", "reply.eml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)[0]["is_bounce"], false);
}
