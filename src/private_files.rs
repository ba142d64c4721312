//! Files that hold personal data (the SQLite database and its `-wal` / `-shm`, generated
//! keys, the outbox) are created readable by their owner only: the data folder `0700`,
//! files `0600`, whatever the umask. Existing files and folders keep their modes (an
//! operator may have chosen them).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of the folders Herald creates for its own files.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files Herald creates that hold personal data or keys.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode `0700`.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Options that create a new file with mode `0600` (the caller adds read/write/create).
pub fn file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Creates `path` empty with mode `0600` when it does not exist yet; an existing file is
/// left as it is. SQLite gives its `-wal` and `-shm` files the mode of the database
/// file, so creating the database this way covers them too.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    match file_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_are_created_0700_and_files_0600_whatever_the_umask() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!((mode(&root.path().join("a")), mode(&dir)), (0o700, 0o700));
        let file = dir.join("herald.db");
        ensure_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn an_existing_file_is_left_as_it_is() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("herald.db");
        std::fs::write(&file, b"kept").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        ensure_file(&file).unwrap();
        assert_eq!((mode(&file), std::fs::read(&file).unwrap()), (0o640, b"kept".to_vec()));
    }
}
