//! A directory of `.eml` files standing in for a relay (dry runs, tests, hand-off to another system).
//!
//! [`FileOutbox::send`] mirrors `SmtpRelay::send`: it checks the envelope, calls the caller's `before_data`
//! hook, then writes the message. The file appears atomically: content goes to a hidden temporary file in
//! the same directory, is flushed to disk, and is then renamed to `<name>.eml`, so a crash leaves either no
//! `.eml` or a complete one (possibly a stray hidden `.tmp` file, which readers of `*.eml` never see).
//! Writing the same id again replaces the file, which makes a retry after a crash harmless.

use std::fs;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::send_error::{Accepted, Cause, SendError, Stage};
use super::wire::parse_envelope;

/// Longest encoded file name stem; leaves room for ".eml" and the temporary-file decorations under the
/// usual 255-byte file name limit.
const MAX_STEM: usize = 200;

/// Writes each message as `<dir>/<name>.eml`, where the name is derived from a caller-given id.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// Uses `dir`, creating it (and its parents) if needed.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        // Messages carry addresses and names: the folder is its owner's only.
        crate::private_files::create_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message with this id is written to.
    ///
    /// ASCII letters, digits, `-`, `_` and (except in first place) `.` are kept; every other byte becomes
    /// `%XX`. The mapping is one-to-one, so two ids never share a file, and no id can leave the directory.
    pub fn path_for(&self, id: &str) -> Result<PathBuf, SendError> {
        let mut stem = String::with_capacity(id.len());
        for (i, byte) in id.bytes().enumerate() {
            let keep = byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || (byte == b'.' && i > 0);
            if keep {
                stem.push(char::from(byte));
            } else {
                stem.push_str(&format!("%{byte:02X}"));
            }
        }
        if stem.is_empty() || stem.len() > MAX_STEM {
            let text = format!("message id must give a file name of 1 to {MAX_STEM} bytes, got {id:?}");
            return Err(SendError::new(Stage::Data, Cause::Local, None, text, false));
        }
        Ok(self.dir.join(format!("{stem}.eml")))
    }

    /// Writes `message` to the file for `id`, after checking the envelope like a relay would and after
    /// `before_data` agreed. Returns the file's path as the reply.
    pub async fn send<F, Fut>(
        &self,
        id: &str,
        envelope_from: &str,
        rcpt: &str,
        message: &[u8],
        before_data: F,
    ) -> Result<Accepted, SendError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        parse_envelope(envelope_from, rcpt)?;
        let path = self.path_for(id)?;
        if !before_data().await {
            return Err(SendError::new(Stage::Aborted, Cause::Aborted, None, "cancelled before writing", false));
        }
        let content = message.to_vec();
        let target = path.clone();
        // Blocking file I/O (including two fsyncs) stays off the async workers.
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &content)).await;
        match written {
            Ok(Ok(())) => Ok(Accepted { reply: path.display().to_string() }),
            Ok(Err(failure)) => Err(failure),
            Err(join) => Err(SendError::new(Stage::Data, Cause::Connection, None, join.to_string(), false)),
        }
    }
}

/// Temporary file, fsync, rename, fsync of the directory (so the rename itself survives a power cut).
fn write_atomically(target: &Path, content: &[u8]) -> Result<(), SendError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let io_error = |what: &str, err: std::io::Error, renamed: bool| {
        let text = format!("{what} {}: {err}", target.display());
        SendError::new(Stage::Data, Cause::Connection, None, text, renamed)
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Hidden and not ending in ".eml"; unique per process and call so concurrent writers never collide.
    let tmp = dir.join(format!(".{name}.tmp.{}.{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));

    if let Err(err) = write_new_file(&tmp, content) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("writing", err, false));
    }
    if let Err(err) = fs::rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("renaming into", err, false));
    }
    // The complete file is visible now; only its durability is in doubt if this fails, so report the
    // outcome as unknown rather than as "not written".
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|err| io_error("syncing directory of", err, true))
}

fn write_new_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = crate::private_files::file_options().write(true).create_new(true).open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        let outbox = FileOutbox { dir: PathBuf::from("/out") };
        let name = |id: &str| outbox.path_for(id).map(|p| p.file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(name("msg-42_a.b").unwrap(), "msg-42_a.b.eml");
        assert_eq!(name("../etc/passwd").unwrap(), "%2E.%2Fetc%2Fpasswd.eml");
        assert_eq!(name("a/b").unwrap(), "a%2Fb.eml");
        assert_eq!(name("a%2Fb").unwrap(), "a%252Fb.eml");
        assert_eq!(name("é").unwrap(), "%C3%A9.eml");
        assert!(name("").is_err());
        assert!(name(&"x".repeat(MAX_STEM + 1)).is_err());
    }
}
