//! Owns reading ecosystem files: YAML or JSON text → validated [`AppSpec`] list, or every problem
//! in the file at once, each with its file, line, column and field.

pub mod spec;

pub use spec::AppSpec;
// TEMP STUB
use std::path::{Path, PathBuf};
#[derive(Default)]
pub struct LoadOptions {
    pub env_name: Option<String>,
}
#[derive(Debug, serde::Serialize)]
pub struct Loaded {
    pub file: PathBuf,
    pub apps: Vec<AppSpec>,
    pub warnings: Vec<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct ConfigError;
pub fn load_file(_path: &Path, _opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    Err(ConfigError)
}
pub fn render_check(_l: &Loaded) -> String {
    String::new()
}
