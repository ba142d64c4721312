//! `[flows]`: where the automation flow files are (DESIGN §13).
//!
//! ```toml
//! [flows]
//! dir = "flows"     # relative to the workspace, like `[templates] dir`
//! ```

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    /// The folder of flow files (`*.toml`); their templates are looked up beside them,
    /// then in `[templates] dir`.
    #[serde(default = "default_flows_dir")]
    pub dir: PathBuf,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig { dir: default_flows_dir() }
    }
}

fn default_flows_dir() -> PathBuf {
    PathBuf::from("flows")
}
