//! `FileOutbox`: complete files only, hook semantics, safe names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use herald::send::smtp::outbox::FileOutbox;
use herald::send::smtp::send_error::{Cause, Stage};

/// A fresh directory under the target dir (no tempfile dependency); removed at the start of each run.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outbox-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn writes_complete_files_and_nothing_else() {
    let dir = scratch_dir("complete");
    let outbox = FileOutbox::new(&dir).unwrap();
    let message = b"Subject: hi\r\n\r\nbody\r\n".repeat(10_000);
    let accepted = outbox.send("campaign-1/row-7", "news@herald.test", "a@example.com", &message, || async { true });
    let accepted = accepted.await.unwrap();
    let path = dir.join("campaign-1%2Frow-7.eml");
    assert_eq!(accepted.reply, path.display().to_string());
    assert_eq!(std::fs::read(&path).unwrap(), message);
    assert_eq!(entries(&dir), ["campaign-1%2Frow-7.eml"], "no temporary file left behind");

    // Same id again replaces the file (a retry after a crash is harmless).
    outbox.send("campaign-1/row-7", "", "a@example.com", b"v2", || async { true }).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"v2");
}

#[tokio::test]
async fn before_data_false_writes_nothing() {
    let dir = scratch_dir("aborted");
    let outbox = FileOutbox::new(&dir).unwrap();
    let err = outbox.send("m1", "news@herald.test", "a@example.com", b"x", || async { false }).await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Aborted, Cause::Aborted));
    assert!(entries(&dir).is_empty());
}

#[tokio::test]
async fn bad_input_is_a_permanent_local_error() {
    let dir = scratch_dir("bad");
    let outbox = FileOutbox::new(&dir).unwrap();
    let err = outbox.send("m1", "news@herald.test", "nope", b"x", || async { true }).await.unwrap_err();
    assert_eq!((err.stage, err.cause), (Stage::Rcpt, Cause::Local));
    assert!(err.is_permanent());
    let err = outbox.send("", "news@herald.test", "a@example.com", b"x", || async { true }).await.unwrap_err();
    assert!(err.is_permanent());
    assert!(entries(&dir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes() {
    let dir = scratch_dir("concurrent");
    let outbox = Arc::new(FileOutbox::new(&dir).unwrap());
    let mut tasks = Vec::new();
    for n in 0..50 {
        let outbox = Arc::clone(&outbox);
        tasks.push(tokio::spawn(async move {
            let body = format!("message {n}\r\n").repeat(1000);
            outbox.send(&format!("m{n}"), "", "a@example.com", body.as_bytes(), || async { true }).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let names = entries(&dir);
    assert_eq!(names.len(), 50);
    assert!(names.iter().all(|n| n.ends_with(".eml")));
    for n in 0..50 {
        let content = std::fs::read(dir.join(format!("m{n}.eml"))).unwrap();
        assert_eq!(content, format!("message {n}\r\n").repeat(1000).into_bytes());
    }
}
