//! The flow files of a workspace: every `*.toml` in `[flows] dir`, each parsed on its
//! own (one broken file does not hide the others), flow names unique across files.

use super::Flow;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One flow file and what reading it gave.
#[derive(Debug)]
pub struct Entry {
    pub file: PathBuf,
    pub flow: Result<Flow>,
}

/// Every flow file in `dir`, sorted by file name; none when the folder does not exist.
pub fn read_dir(dir: &Path) -> Result<Vec<Entry>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Invalid(format!("cannot read the flows folder {}: {e}", dir.display()))),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut read: Vec<Entry> = Vec::with_capacity(files.len());
    for file in files {
        let mut flow = super::load(&file);
        if let Ok(f) = &flow
            && let Some(first) = read.iter().find(|e| e.flow.as_ref().is_ok_and(|other| other.name == f.name))
        {
            let why = format!(
                "flow name '{}' is also the name of {}: flow names must be unique",
                f.name,
                first.file.display()
            );
            flow = Err(f.places.error(&f.path, f.places.name, &why));
        }
        read.push(Entry { file, flow });
    }
    Ok(read)
}

/// The entries `flows validate NAME|FILE` means: a file given by its path, else the file
/// in `dir` whose flow has that name (or whose file name, without `.toml`, is it).
pub fn select(dir: &Path, wanted: &str) -> Result<Vec<Entry>> {
    let as_path = Path::new(wanted);
    if as_path.is_file() {
        let all = read_dir(dir)?;
        // The folder's reading, when the file is in it: it knows about duplicate names.
        let same = |e: &Entry| std::fs::canonicalize(&e.file).ok() == std::fs::canonicalize(as_path).ok();
        return Ok(match all.into_iter().find(same) {
            Some(entry) => vec![entry],
            None => vec![Entry { file: as_path.to_path_buf(), flow: super::load(as_path) }],
        });
    }
    let all = read_dir(dir)?;
    let names: Vec<String> = all.iter().filter_map(|e| e.flow.as_ref().ok().map(|f| f.name.clone())).collect();
    let hit =
        |e: &Entry| e.flow.as_ref().is_ok_and(|f| f.name == wanted) || e.file.file_stem().is_some_and(|s| s == wanted);
    let chosen: Vec<Entry> = all.into_iter().filter(hit).collect();
    if chosen.is_empty() {
        let known = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        return Err(Error::NotFound(format!(
            "no flow file or flow named '{wanted}' in {} (flows: {known})",
            dir.display()
        )));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = "name = \"NAME\"\nlists = [\"newsletter\"]\ntrigger = { event = \"custom\", name = \"x\" }\n\
                        [[steps]]\nafter = \"0m\"\nsubject = \"Hi\"\ntemplate = \"t\"\n";

    #[test]
    fn flow_names_are_unique_across_files_and_a_broken_file_hides_no_other() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), FLOW.replace("NAME", "welcome")).unwrap();
        std::fs::write(dir.path().join("b.toml"), FLOW.replace("NAME", "welcome")).unwrap();
        std::fs::write(dir.path().join("c.toml"), "name = ").unwrap();
        std::fs::write(dir.path().join("d.toml"), FLOW.replace("NAME", "cart")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a flow").unwrap();
        let read = read_dir(dir.path()).unwrap();
        let files: Vec<_> = read.iter().map(|e| e.file.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(files, ["a.toml", "b.toml", "c.toml", "d.toml"]);
        assert!(read[0].flow.is_ok() && read[3].flow.is_ok());
        let err = read[1].flow.as_ref().unwrap_err().to_string();
        assert!(err.contains("b.toml:1:8: flow name 'welcome' is also the name of") && err.contains("a.toml"), "{err}");
        assert!(read[2].flow.is_err());
    }

    #[test]
    fn a_flow_is_selected_by_name_file_name_or_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("first.toml"), FLOW.replace("NAME", "welcome")).unwrap();
        std::fs::write(dir.path().join("cart.toml"), FLOW.replace("NAME", "abandoned-cart")).unwrap();
        let name = |entries: Vec<Entry>| entries.into_iter().map(|e| e.flow.unwrap().name).collect::<Vec<_>>();
        assert_eq!(name(select(dir.path(), "welcome").unwrap()), ["welcome"]);
        assert_eq!(name(select(dir.path(), "cart").unwrap()), ["abandoned-cart"]);
        let path = dir.path().join("first.toml");
        assert_eq!(name(select(dir.path(), path.to_str().unwrap()).unwrap()), ["welcome"]);
        let err = select(dir.path(), "nope").unwrap_err();
        assert!(matches!(&err, Error::NotFound(m) if m.contains("abandoned-cart, welcome")), "{err}");
    }
}
