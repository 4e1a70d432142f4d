//! Owns reading ecosystem files: YAML or JSON text → validated [`AppSpec`] list, or every problem
//! in the file at once, each with its file, line, column and field, in the style of a compiler.
//! Every shape PM2 accepts works: `apps:` as a list or a single mapping, a bare list of apps, a
//! single app object; anchors and `<<:` merge keys; JSON files through the same parser.
//!
//! JavaScript and JSON5 files go through `js` (evaluated by node, or read as a plain literal by
//! `js_literal`) into JSON, then the same loader; `js_text` finds where their keys are written,
//! so problems point at the JS lines.
//!
//! `node` parses the text into a located tree (its syntax errors written for users), `fields`
//! is the vocabulary of keys, `load` validates each app section by section, `spec` is the
//! validated form, `units` reads durations and sizes.

pub(crate) mod fields;
pub mod hooks;
mod js;
mod js_literal;
mod js_text;
pub mod load;
pub mod node;
pub mod probe;
pub mod spec;
pub mod units;

pub use load::name_problem;
pub use spec::{AppSpec, LogTarget};

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--env NAME`: merge each app's `env_NAME` over its `env`.
    pub env_name: Option<String>,
}

/// A loaded file: its apps and the warnings to show.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub file: PathBuf,
    pub apps: Vec<AppSpec>,
    pub warnings: Vec<String>,
}

/// One problem, at a place in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    /// The field's path, e.g. `apps[1].max_restarts`.
    pub field: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read it: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file is {size} bytes; ecosystem files are limited to {MAX_FILE_BYTES}", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    /// A JS file that is more than a literal, and node is not installed.
    #[error("{} needs node to be evaluated ({why}); install node or convert it to YAML", path.display())]
    NeedsNode { path: PathBuf, why: String },
    /// A JS file that node could not evaluate, or whose value holds no apps.
    #[error("{}: {why}", path.display())]
    Evaluation { path: PathBuf, why: String },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render_problems(file: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.render(file));
    }
    let n = problems.len();
    out.push_str(&format!(
        "\n{n} problem{} in {}; nothing was started",
        if n == 1 { "" } else { "s" },
        file.display()
    ));
    out
}

impl Problem {
    /// `FILE:LINE:COLUMN: field: message` and its hint; a problem without a place in the
    /// file (line 0: a JS file that builds the key in code) is `FILE: field: message`.
    pub fn render(&self, file: &Path) -> String {
        let mut s = if self.line == 0 {
            format!("{}: ", file.display())
        } else {
            format!("{}:{}:{}: ", file.display(), self.line, self.column)
        };
        if let Some(f) = &self.field {
            s.push_str(f);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        if let Some(h) = &self.hint {
            s.push_str("\n  hint: ");
            s.push_str(h);
        }
        s
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Whether the path looks like an ecosystem file (by its name).
pub fn is_ecosystem_path(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "yaml" | "yml" | "json" | "json5")
        || name.ends_with(".config.js")
        || name.ends_with(".config.cjs")
        || name.ends_with(".config.mjs")
}

/// Reads and validates an ecosystem file: YAML or JSON; JavaScript (`.js`, `.cjs`, `.mjs`)
/// evaluated with node, or read as a plain literal without it; JSON5. Runs node as a child
/// process for JavaScript files, so it belongs to the CLI, never to the daemon.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let before = &e.as_bytes()[..at];
            let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
            let column = (at
                - before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1)) as u64
                + 1;
            return Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                problems: vec![Problem {
                    line,
                    column,
                    field: None,
                    message: "the file is not valid UTF-8 text".into(),
                    hint: None,
                }],
            });
        }
    };
    // A byte-order mark some editors write is not part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if js::handles(path) {
        return js::load(path, text, opts);
    }
    load_str(text, path, opts)
}

pub fn load_str(text: &str, file: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let root = node::parse(text).map_err(|e| {
        invalid(vec![Problem {
            line: e.line,
            column: e.column,
            field: None,
            message: e.message,
            hint: None,
        }])
    })?;
    let mut ctx = load::Ctx::new(file, opts.env_name.as_deref());
    let nodes = load::app_nodes(&root, &mut ctx);
    let mut apps = Vec::new();
    for (path, at) in &nodes {
        if let Some(spec) = load::app(path, at, &mut ctx) {
            apps.push((path.clone(), *at, spec));
        }
    }
    load::check_unique(&apps, &mut ctx);
    if !nodes.is_empty() {
        ctx.check_env_name(&root);
    }
    if nodes.is_empty() && ctx.problems.is_empty() {
        ctx.problems.push(Problem {
            line: root.line,
            column: root.column,
            field: Some("apps".into()),
            message: "the file declares no app".into(),
            hint: None,
        });
    }
    if !ctx.problems.is_empty() {
        let mut problems = std::mem::take(&mut ctx.problems);
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(invalid(problems));
    }
    ctx.finish_warnings();
    Ok(Loaded {
        file: crate::paths::absolute(file),
        apps: apps.into_iter().map(|(_, _, s)| s).collect(),
        warnings: ctx.warnings,
    })
}

#[cfg(test)]
mod tests;
