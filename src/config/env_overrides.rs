//! The environment's overrides of the config file: `HERALD_<SECTION>__<KEY>` variables,
//! each read as a path of keys and a TOML value, set into the file's table before it is
//! deserialised (see [`super::load`]).

use crate::error::{Error, Result};

pub(super) type Override = (String, Vec<String>, toml::Value);

/// `HERALD_<SECTION>__<KEY>` (and deeper: `HERALD_LISTS__NEWS__DOUBLE_OPT_IN`). A value
/// that reads as a TOML value (`true`, `5`, `["a"]`) is taken as one; else as a string.
pub(super) fn read(env: &[(String, String)]) -> Result<Vec<Override>> {
    let mut out = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("HERALD_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(Error::Invalid(format!("environment variable {name}: empty section or key")));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        out.push((name.clone(), keys, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub(super) fn set_path(
    table: &mut toml::Table,
    keys: &[String],
    value: toml::Value,
) -> std::result::Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut here = table;
    for key in parents {
        here = here
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("'{key}' is not a section"))?;
    }
    here.insert(last.clone(), value);
    Ok(())
}
