//! Where the config is when `--config` is not given, and what its relative paths are
//! relative to (issue 19, point 9).
//!
//! Like git finds its repository, Herald looks for `config/herald.toml` in the current
//! folder and then in each folder above it; the folder holding `config/` is the
//! workspace. Outside any workspace the commands that need one refuse with a hint:
//! creating a database and keys in whatever folder one happens to be in would scatter
//! personal data and secrets around the disk.

use super::{Config, DEFAULT_PATH};
use crate::error::Error;
use std::path::{Path, PathBuf};

/// The nearest `config/herald.toml` in `start` or a folder above it.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(DEFAULT_PATH)).find(|p| p.is_file())
}

/// The workspace a config file belongs to: the folder above its `config/` folder. A file
/// anywhere else (`--config /etc/herald.toml`) belongs to no workspace, and its relative
/// paths stay relative to the current folder, as they always were.
pub fn root_of(config_file: &Path) -> Option<PathBuf> {
    let file = std::path::absolute(config_file).ok()?;
    let folder = file.parent()?;
    if folder.file_name()? != "config" {
        return None;
    }
    folder.parent().map(Path::to_path_buf)
}

/// Makes the config's relative paths (the SQLite file, the data, templates and flows folders)
/// absolute against the workspace root, so a command run from a subfolder uses the
/// workspace's database, not a new one beside it.
pub fn resolve_paths(config: &mut Config, root: &Path) {
    if let Some(rel) = config.database.url.strip_prefix("sqlite://")
        && !rel.is_empty()
        && !rel.starts_with(':')
        && Path::new(rel).is_relative()
    {
        config.database.url = format!("sqlite://{}", root.join(rel).display());
    }
    for dir in [&mut config.data.dir, &mut config.templates.dir, &mut config.flows.dir] {
        if dir.is_relative() {
            *dir = root.join(&*dir);
        }
    }
}

/// The refusal outside any workspace.
pub fn none_found(start: &Path) -> Error {
    Error::Invalid(format!(
        "no Herald workspace here: there is no {DEFAULT_PATH} in {} or any folder above it. Run `herald init` to \
         create a workspace in this folder (or `herald init DIR`, or `herald demo` for a guided tour), cd into an \
         existing one, or pass --config PATH",
        start.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_config_above_the_start_is_found() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("config")).unwrap();
        std::fs::create_dir_all(root.path().join("campaigns/2026/spring")).unwrap();
        std::fs::write(root.path().join(DEFAULT_PATH), "").unwrap();
        let found = discover(&root.path().join("campaigns/2026/spring")).unwrap();
        assert_eq!(found, root.path().join(DEFAULT_PATH));
        assert_eq!(root_of(&found).unwrap(), root.path());
    }

    #[test]
    fn a_file_outside_a_config_folder_belongs_to_no_workspace() {
        assert_eq!(root_of(Path::new("/etc/herald.toml")), None);
        assert_eq!(root_of(Path::new("/srv/acme/config/herald.toml")), Some(PathBuf::from("/srv/acme")));
    }

    #[test]
    fn relative_paths_resolve_against_the_root_and_absolute_ones_stay() {
        let mut config: Config = toml::from_str("[templates]\ndir = \"/opt/templates\"").unwrap();
        resolve_paths(&mut config, Path::new("/srv/acme"));
        assert_eq!(config.database.url, "sqlite:///srv/acme/data/herald.db");
        assert_eq!(config.data.dir, Path::new("/srv/acme/data"));
        assert_eq!(config.templates.dir, Path::new("/opt/templates"));
        let mut config: Config = toml::from_str("[database]\nurl = \"postgres://u@h/db\"").unwrap();
        resolve_paths(&mut config, Path::new("/srv/acme"));
        assert_eq!(config.database.url, "postgres://u@h/db");
    }

    #[test]
    fn outside_any_workspace_loading_is_refused_with_a_hint_naming_herald_init() {
        let dir = tempfile::tempdir().unwrap();
        let err = crate::config::load_from(None, dir.path(), &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("herald init"), "{err}");
    }

    #[test]
    fn from_a_subfolder_the_workspace_config_is_found_and_its_paths_are_the_workspaces() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
        std::fs::write(dir.path().join(DEFAULT_PATH), "[database]\nurl = \"sqlite://data/herald.db\"\n").unwrap();
        let loaded = crate::config::load_from(None, &dir.path().join("campaigns"), &[]).unwrap();
        assert_eq!(loaded.path, dir.path().join(DEFAULT_PATH));
        assert_eq!(loaded.config.database.url, format!("sqlite://{}", dir.path().join("data/herald.db").display()));
        assert_eq!(loaded.config.templates.dir, dir.path().join("templates"));
        assert_eq!(loaded.config.flows.dir, dir.path().join("flows"));
        assert_eq!(loaded.config.data.dir, dir.path().join("data"));
    }
}
