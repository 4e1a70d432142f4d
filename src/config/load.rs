//! Owns validation: the located YAML tree → `AppSpec`s, collecting every problem of the file
//! (unknown keys with suggestions, wrong types, bad values) instead of stopping at the first.

use super::node::{Located, Node};
use super::spec::{AppSpec, LogTarget};
use super::{Problem, units};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every key svctl reads, with its aliases (PM2's `lib/API/schema.json` plus svctl's own).
const FIELDS: &[(&str, &[&str])] = &[
    ("script", &["exec"]),
    ("name", &[]),
    ("namespace", &[]),
    ("cwd", &[]),
    ("args", &[]),
    ("interpreter", &["exec_interpreter"]),
    ("interpreter_args", &["node_args", "interpreterArgs"]),
    ("env", &[]),
    ("env_file", &[]),
    ("port", &[]),
    ("instances", &[]),
    ("instance_var", &[]),
    ("increment_var", &[]),
    ("exec_mode", &[]),
    ("autostart", &[]),
    ("autorestart", &[]),
    ("stop_exit_codes", &[]),
    ("restart_delay", &[]),
    ("exp_backoff_restart_delay", &[]),
    ("min_uptime", &[]),
    ("max_restarts", &[]),
    ("kill_timeout", &[]),
    ("kill_signal", &[]),
    ("max_memory_restart", &[]),
    ("memory_check_interval", &[]),
    ("max_memory_samples", &[]),
    ("cron_restart", &["cron"]),
    ("watch", &[]),
    ("ignore_watch", &[]),
    ("watch_delay", &[]),
    ("out_file", &["out", "output", "out_log"]),
    ("error_file", &["error", "err", "err_file", "err_log"]),
    ("log_file", &["log"]),
    ("merge_logs", &["combine_logs"]),
    ("log_date_format", &[]),
    ("time", &[]),
    ("log_type", &[]),
    ("disable_logs", &[]),
    ("log_max_size", &[]),
    ("log_retain", &[]),
    ("treekill", &[]),
    ("uid", &["user"]),
    ("gid", &[]),
];

/// PM2 options that only mean something to Node.js or to PM2's own services; accepted and
/// reported once per file.
const IGNORED: &[(&str, &str)] = &[
    ("vizion", "git metadata of PM2's dashboard"),
    ("pmx", "PM2's Node.js instrumentation"),
    ("automation", "PM2's Node.js instrumentation"),
    ("io", "PM2 Plus (keymetrics) settings"),
    ("source_map_support", "Node.js source maps"),
    ("disable_source_map_support", "Node.js source maps"),
    ("trace", "PM2 Plus transaction tracing"),
    ("disable_trace", "PM2 Plus transaction tracing"),
    ("v8", "PM2 Plus V8 metrics"),
    ("event_loop_inspector", "PM2 Plus Node.js metrics"),
    ("deep_monitoring", "PM2 Plus Node.js metrics"),
    ("wait_ready", "needs Node's process.send('ready')"),
    ("listen_timeout", "goes with wait_ready and cluster reloads"),
    ("shutdown_with_message", "needs Node's IPC channel"),
    ("windowsHide", "Windows only"),
    (
        "kill_retry_time",
        "svctl waits for the exit instead of polling",
    ),
    (
        "treekill",
        "svctl always stops the whole process group and tree",
    ),
    ("force", "svctl never duplicates an app"),
    ("write", "PM2-internal"),
    ("username", "PM2-internal (set by PM2 itself)"),
    ("post_update", "PM2 Plus deploy hooks"),
    ("install_url", "PM2 module installs"),
    ("execute_command", "PM2-internal"),
    (
        "filter_env",
        "svctl passes the caller's environment as PM2 does by default",
    ),
    ("append_env_to_name", "not supported: names stay as written"),
    ("name_prefix", "not supported: names stay as written"),
    (
        "pid_file",
        "svctl keeps pids in its database (`svctl list --json`)",
    ),
    (
        "pid",
        "svctl keeps pids in its database (`svctl list --json`)",
    ),
    ("watch_options", "chokidar (Node.js) options"),
];

/// Top-level keys besides `apps`.
const TOP_LEVEL: &[&str] = &["apps", "deploy"];

fn canonical(key: &str) -> Option<&'static str> {
    let find = |k: &str| {
        FIELDS
            .iter()
            .find(|(name, aliases)| *name == k || aliases.contains(&k))
            .map(|(name, _)| *name)
    };
    // PM2 also takes camelCase keys (`maxRestarts`), turning them into snake_case.
    find(key).or_else(|| find(&snake_case(key)))
}

/// `maxMemoryRestart` → `max_memory_restart`.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Damerau-free Levenshtein distance, small inputs only.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known name, if it is close enough to be a likely typo.
pub fn suggest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (distance(&lower, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn all_known_keys() -> impl Iterator<Item = &'static str> {
    FIELDS
        .iter()
        .flat_map(|(n, a)| std::iter::once(*n).chain(a.iter().copied()))
        .chain(IGNORED.iter().map(|(n, _)| *n))
}

pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub dir: PathBuf,
    pub env_name: Option<&'a str>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    ignored: BTreeMap<String, &'static str>,
    env_name_seen: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, env_name: Option<&'a str>) -> Ctx<'a> {
        let dir = file
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    crate::paths::absolute(Path::new("."))
                } else {
                    crate::paths::absolute(d)
                }
            })
            .unwrap_or_else(|| crate::paths::absolute(Path::new(".")));
        Ctx {
            file,
            dir,
            env_name,
            problems: Vec::new(),
            warnings: Vec::new(),
            ignored: BTreeMap::new(),
            env_name_seen: false,
        }
    }

    fn problem(&mut self, at: &Located, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            line: at.line,
            column: at.column,
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
            hint: None,
        });
    }

    fn problem_hint(
        &mut self,
        at: &Located,
        field: &str,
        message: impl Into<String>,
        hint: String,
    ) {
        self.problem(at, field, message);
        if let Some(p) = self.problems.last_mut() {
            p.hint = Some(hint);
        }
    }

    /// Adds the warnings gathered over the whole file.
    pub fn finish_warnings(&mut self) {
        if !self.ignored.is_empty() {
            let list: Vec<String> = self
                .ignored
                .iter()
                .map(|(k, why)| format!("`{k}` ({why})"))
                .collect();
            self.warnings.push(format!(
                "{}: ignored PM2 options that do not apply to svctl: {}",
                self.file.display(),
                list.join(", ")
            ));
        }
        if let Some(env) = self.env_name
            && !self.env_name_seen
        {
            self.warnings.push(format!(
                "{}: no app has an `env_{env}` block; --env {env} changes nothing",
                self.file.display()
            ));
        }
    }
}

/// The app mappings of a file in any of the shapes PM2 accepts.
pub(crate) fn app_nodes<'t>(root: &'t Located, ctx: &mut Ctx) -> Vec<(String, &'t Located)> {
    match &root.node {
        Node::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("[{i}]"), n))
            .collect(),
        Node::Map(entries) => {
            let has = |k: &str| {
                entries
                    .iter()
                    .any(|(key, _)| key.node == Node::Str(k.into()))
            };
            if !has("apps") && (has("script") || has("exec") || has("name")) {
                return vec![("app".to_string(), root)];
            }
            let mut apps = Vec::new();
            for (k, v) in entries {
                let key = k.node.scalar_text().unwrap_or_default();
                match key.as_str() {
                    "apps" => match &v.node {
                        Node::Seq(items) => apps.extend(
                            items
                                .iter()
                                .enumerate()
                                .map(|(i, n)| (format!("apps[{i}]"), n)),
                        ),
                        Node::Map(_) => apps.push(("apps".to_string(), v)),
                        other => ctx.problem(
                            v,
                            "apps",
                            format!("expected a list of apps, found {}", other.kind()),
                        ),
                    },
                    "deploy" => ctx.warnings.push(format!(
                        "{}: `deploy` is PM2's deployment tool; svctl ignores it",
                        ctx.file.display()
                    )),
                    // A near miss of `apps` is a typo; other keys are commonly anchors for
                    // `<<:` merges, which PM2 ignores too.
                    _ => match suggest(&key, TOP_LEVEL.iter().copied()) {
                        Some(s) => ctx.problem_hint(
                            k,
                            &key,
                            "unknown top-level key",
                            format!("did you mean `{s}`?"),
                        ),
                        None => ctx.warnings.push(format!(
                            "{}:{}:{}: top-level key `{key}` is not an app setting and is ignored (fine for YAML anchors)",
                            ctx.file.display(),
                            k.line,
                            k.column
                        )),
                    },
                }
            }
            if !has("apps") && apps.is_empty() && ctx.problems.is_empty() {
                ctx.problem(root, "", "no `apps:` list in this file");
            }
            apps
        }
        Node::Null => {
            ctx.problem(root, "", "the file is empty: it needs an `apps:` list");
            Vec::new()
        }
        other => {
            ctx.problem(
                root,
                "",
                format!("expected an `apps:` list, found {}", other.kind()),
            );
            Vec::new()
        }
    }
}

/// A value getter that records a problem when the type is wrong.
struct Field<'n> {
    path: String,
    at: &'n Located,
}

impl Field<'_> {
    fn str(&self, ctx: &mut Ctx) -> Option<String> {
        match &self.at.node {
            Node::Str(s) => Some(s.clone()),
            Node::Int(_) | Node::Float(_) => self.at.node.scalar_text(),
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!("expected a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn bool(&self, ctx: &mut Ctx) -> Option<bool> {
        match &self.at.node {
            Node::Bool(b) => Some(*b),
            Node::Str(s) if s == "true" || s == "false" => Some(s == "true"),
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!("expected true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn u64_in(&self, ctx: &mut Ctx, min: u64, max: u64) -> Option<u64> {
        let n = match &self.at.node {
            Node::Int(i) => *i,
            Node::Str(s)
                if !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()) =>
            {
                s.trim().parse::<i128>().unwrap_or(i128::MAX)
            }
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!("expected a whole number, found {}", describe(other)),
                );
                return None;
            }
        };
        if n < i128::from(min) || n > i128::from(max) {
            ctx.problem(
                self.at,
                &self.path,
                format!("{n} is out of range ({min} to {max})"),
            );
            return None;
        }
        Some(n as u64)
    }

    fn duration(&self, ctx: &mut Ctx) -> Option<u64> {
        match &self.at.node {
            Node::Int(i) if *i >= 0 => u64::try_from(*i).ok().or_else(|| {
                ctx.problem(self.at, &self.path, "too large a duration");
                None
            }),
            Node::Int(i) => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!("{i} is negative: a duration is 0 or more milliseconds"),
                );
                None
            }
            Node::Str(s) => match units::duration_ms(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.problem(self.at, &self.path, e);
                    None
                }
            },
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!(
                        "expected a duration (1500, 30s, 5m), found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn size(&self, ctx: &mut Ctx) -> Option<u64> {
        match &self.at.node {
            Node::Int(i) if *i >= 0 => u64::try_from(*i).ok(),
            Node::Str(s) => match units::size_bytes(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.problem(self.at, &self.path, e);
                    None
                }
            },
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!(
                        "expected a size (300M, 1G, or bytes), found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A string or a list of strings (args, interpreter_args, ignore_watch).
    fn words(&self, ctx: &mut Ctx, split: bool) -> Option<Vec<String>> {
        match &self.at.node {
            Node::Str(s) if split => match split_args(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.problem(self.at, &self.path, e);
                    None
                }
            },
            Node::Str(s) => Some(vec![s.clone()]),
            Node::Int(_) | Node::Float(_) => self.at.node.scalar_text().map(|t| vec![t]),
            Node::Seq(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    match it.node.scalar_text() {
                        Some(t) if !matches!(it.node, Node::Null) => out.push(t),
                        _ => ctx.problem(
                            it,
                            &format!("{}[{i}]", self.path),
                            format!("expected a string, found {}", it.node.kind()),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                ctx.problem(
                    self.at,
                    &self.path,
                    format!(
                        "expected a string or a list of strings, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }
}

fn describe(n: &Node) -> String {
    match n {
        Node::Str(s) => format!("\"{s}\""),
        Node::Int(_) | Node::Float(_) | Node::Bool(_) => n.scalar_text().unwrap_or_default(),
        other => other.kind().to_string(),
    }
}

/// Splits an argument string as a shell would for words and quotes (no expansion).
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed ' quote in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err(format!("unclosed \" quote in `{s}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed \" quote in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Reads a `.env` file: KEY=VALUE lines, `export ` allowed, quotes stripped, comments skipped.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE, found `{raw}`", n + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: `{k}` is not a variable name", n + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // An unquoted value ends at an inline comment.
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn env_map(f: &Field, ctx: &mut Ctx) -> Option<BTreeMap<String, String>> {
    match &f.at.node {
        Node::Map(entries) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let Some(key) = k.node.scalar_text().filter(|k| !k.is_empty()) else {
                    ctx.problem(k, &f.path, "an environment variable needs a name");
                    continue;
                };
                if key.contains('=') || key.contains('\0') {
                    ctx.problem(
                        k,
                        &format!("{}.{key}", f.path),
                        "a variable name cannot contain `=` or NUL",
                    );
                    continue;
                }
                let value = match &v.node {
                    Node::Seq(_) | Node::Map(_) => v.node.to_json().to_string(),
                    other => other.scalar_text().unwrap_or_default(),
                };
                out.insert(key, value);
            }
            Some(out)
        }
        Node::Null => Some(BTreeMap::new()),
        other => {
            ctx.problem(
                f.at,
                &f.path,
                format!("expected a mapping of variables, found {}", other.kind()),
            );
            None
        }
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a name cannot be empty")
    } else if name == "all" {
        Some("`all` is a target word and cannot be an app name")
    } else if name.contains(['/', ':']) || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Some("a name cannot contain `/`, `:`, spaces or control characters")
    } else if name.len() > 128 {
        Some("a name is at most 128 characters")
    } else {
        None
    }
}

fn log_target(f: &Field, ctx: &mut Ctx, cwd: &Path) -> Option<LogTarget> {
    match &f.at.node {
        Node::Bool(false) | Node::Null => Some(LogTarget::Disabled),
        Node::Str(s) if s == "/dev/null" || s.eq_ignore_ascii_case("null") => {
            Some(LogTarget::Disabled)
        }
        Node::Str(s) if !s.trim().is_empty() => Some(LogTarget::File(cwd.join(expand_home(s)))),
        other => {
            ctx.problem(
                f.at,
                &f.path,
                format!("expected a file path, found {}", describe(other)),
            );
            None
        }
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// PM2 picks an interpreter by extension when the script has none of its own.
fn interpreter_for_extension(script: &str) -> Option<&'static str> {
    let ext = Path::new(script).extension()?.to_str()?;
    Some(match ext {
        "js" | "cjs" | "mjs" => "node",
        "py" => "python3",
        "sh" => "bash",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "ts" => "ts-node",
        "coffee" => "coffee",
        "ls" => "lsc",
        _ => return None,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter named by a script's `#!` line, with its arguments.
fn shebang(p: &Path) -> Option<Vec<String>> {
    use std::io::Read;
    let mut buf = [0u8; 256];
    let n = std::fs::File::open(p).ok()?.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    let line = head.strip_prefix("#!")?.lines().next()?;
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

/// Validates one app mapping.
pub(crate) fn app(path: &str, at: &Located, ctx: &mut Ctx) -> Option<AppSpec> {
    let Node::Map(entries) = &at.node else {
        ctx.problem(
            at,
            path,
            format!(
                "expected an app (a mapping with `script:`), found {}",
                at.node.kind()
            ),
        );
        return None;
    };
    let before = ctx.problems.len();
    let mut seen: BTreeMap<&'static str, &Located> = BTreeMap::new();
    let mut env_blocks: Vec<(String, &Located)> = Vec::new();
    for (k, v) in entries {
        let Some(key) = k.node.scalar_text() else {
            ctx.problem(k, path, "keys must be names");
            continue;
        };
        let fpath = format!("{path}.{key}");
        if let Some(c) = canonical(&key) {
            if let Some(first) = seen.get(c) {
                ctx.problem(
                    k,
                    &fpath,
                    format!(
                        "`{c}` is given twice (first at line {}, column {})",
                        first.line, first.column
                    ),
                );
                continue;
            }
            seen.insert(c, v);
            continue;
        }
        if let Some(env) = key.strip_prefix("env_") {
            env_blocks.push((env.to_string(), v));
            continue;
        }
        if let Some((name, why)) = IGNORED.iter().find(|(n, _)| *n == key) {
            ctx.ignored.insert((*name).to_string(), why);
            continue;
        }
        match suggest(&key, all_known_keys()) {
            Some(s) => ctx.problem_hint(k, &fpath, "unknown field", format!("did you mean `{s}`?")),
            None => ctx.problem(
                k,
                &fpath,
                "unknown field (see ecosystem.example.yaml for every supported key)",
            ),
        }
    }
    let field = |name: &'static str| {
        seen.get(name).map(|at| Field {
            path: format!("{path}.{name}"),
            at,
        })
    };

    // cwd first: other paths are relative to it.
    let cwd = match field("cwd").and_then(|f| f.str(ctx)) {
        Some(c) => crate::paths::normalize(&ctx.dir.join(expand_home(&c))),
        None => ctx.dir.clone(),
    };
    let script = match field("script") {
        Some(f) => f.str(ctx).filter(|s| {
            let ok = !s.trim().is_empty();
            if !ok {
                ctx.problem(f.at, &f.path, "the script cannot be empty");
            }
            ok
        }),
        None => {
            ctx.problem(
                at,
                path,
                "missing required field `script` (the program to run)",
            );
            None
        }
    };
    let name = match field("name") {
        Some(f) => f.str(ctx).filter(|n| match name_problem(n) {
            Some(why) => {
                ctx.problem(f.at, &f.path, why);
                false
            }
            None => true,
        }),
        None => script.as_ref().and_then(|s| {
            Path::new(s)
                .file_stem()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        }),
    };
    let mut spec = AppSpec::with_defaults(
        name.as_deref().unwrap_or("app"),
        script.as_deref().unwrap_or(""),
        cwd.clone(),
    );
    spec.source = Some(crate::paths::absolute(ctx.file));

    if let Some(f) = field("namespace")
        && let Some(ns) = f.str(ctx)
    {
        match name_problem(&ns) {
            Some(why) => ctx.problem(f.at, &f.path, why),
            None => spec.namespace = ns,
        }
    }
    if let Some(f) = field("args")
        && let Some(a) = f.words(ctx, true)
    {
        spec.args = a;
    }
    let mut interpreter_given = false;
    if let Some(f) = field("interpreter")
        && let Some(i) = f.str(ctx)
    {
        interpreter_given = true;
        spec.interpreter = (i != "none" && !i.is_empty()).then_some(i);
    }
    if let Some(f) = field("interpreter_args")
        && let Some(a) = f.words(ctx, true)
    {
        spec.interpreter_args = a;
    }
    if let Some(f) = field("env")
        && let Some(env) = env_map(&f, ctx)
    {
        spec.env = env;
    }
    if let Some(f) = field("port")
        && let Some(p) = f.u64_in(ctx, 1, 65535)
    {
        spec.env.insert("PORT".into(), p.to_string());
    }
    for (env, at) in &env_blocks {
        let f = Field {
            path: format!("{path}.env_{env}"),
            at,
        };
        let Some(map) = env_map(&f, ctx) else {
            continue;
        };
        if ctx.env_name == Some(env.as_str()) {
            ctx.env_name_seen = true;
            spec.env.extend(map);
            spec.env_name = Some(env.clone());
        }
    }
    if let Some(f) = field("env_file")
        && let Some(p) = f.str(ctx)
    {
        let file = cwd.join(expand_home(&p));
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_env_file(&text) {
                // Merged under `env`: the file's own values win.
                Ok(vars) => {
                    for (k, v) in vars {
                        spec.env.entry(k).or_insert(v);
                    }
                }
                Err(e) => ctx.problem(f.at, &f.path, format!("{}: {e}", file.display())),
            },
            Err(e) => ctx.problem(
                f.at,
                &f.path,
                format!("cannot read {}: {e}", file.display()),
            ),
        }
    }
    if let Some(f) = field("instances") {
        match &f.at.node {
            Node::Str(s) if s == "max" => spec.instances = cpus(),
            Node::Int(0 | -1) => spec.instances = cpus(),
            Node::Int(i) if *i < -1 => {
                // PM2: -N means "all CPUs but N".
                let n = i64::try_from(*i).unwrap_or(i64::MIN).unsigned_abs();
                spec.instances = (u64::from(cpus()).saturating_sub(n)).max(1) as u32;
            }
            _ => {
                if let Some(n) = f.u64_in(ctx, 1, 10_000) {
                    spec.instances = n as u32;
                }
            }
        }
    }
    if let Some(f) = field("instance_var")
        && let Some(v) = f.str(ctx)
    {
        spec.instance_var = v;
    }
    if let Some(f) = field("increment_var")
        && let Some(v) = f.str(ctx)
    {
        spec.increment_var = Some(v);
    }
    if let Some(f) = field("exec_mode")
        && let Some(m) = f.str(ctx)
    {
        match m.as_str() {
            "fork" | "fork_mode" => {}
            "cluster" | "cluster_mode" => {
                ctx.ignored.insert(
                    "exec_mode: cluster".into(),
                    "Node's cluster module; svctl runs `instances` separate processes",
                );
            }
            _ => ctx.problem(
                f.at,
                &f.path,
                format!("`{m}` is not an exec mode: use fork or cluster"),
            ),
        }
    }
    if let Some(f) = field("autostart")
        && let Some(b) = f.bool(ctx)
    {
        spec.autostart = b;
    }
    if let Some(f) = field("autorestart")
        && let Some(b) = f.bool(ctx)
    {
        spec.autorestart = b;
    }
    if let Some(f) = field("treekill")
        && let Some(b) = f.bool(ctx)
    {
        spec.treekill = b;
    }
    if let Some(f) = field("stop_exit_codes") {
        let items: Vec<&Located> = match &f.at.node {
            Node::Seq(v) => v.iter().collect(),
            _ => vec![f.at],
        };
        let mut codes = Vec::new();
        for (i, it) in items.into_iter().enumerate() {
            let sub = Field {
                path: format!("{}[{i}]", f.path),
                at: it,
            };
            if let Some(c) = sub.u64_in(ctx, 0, 255) {
                codes.push(c as i32);
            }
        }
        spec.stop_exit_codes = codes;
    }
    if let Some(f) = field("restart_delay")
        && let Some(d) = f.duration(ctx)
    {
        spec.restart_delay_ms = d;
    }
    if let Some(f) = field("exp_backoff_restart_delay")
        && let Some(d) = f.duration(ctx)
    {
        spec.exp_backoff_restart_delay_ms = (d > 0).then_some(d);
    }
    if let Some(f) = field("min_uptime")
        && let Some(d) = f.duration(ctx)
    {
        spec.min_uptime_ms = d;
    }
    if let Some(f) = field("max_restarts")
        && let Some(n) = f.u64_in(ctx, 0, u64::from(u32::MAX))
    {
        spec.max_restarts = n as u32;
    }
    if let Some(f) = field("kill_timeout")
        && let Some(d) = f.duration(ctx)
    {
        spec.kill_timeout_ms = d;
    }
    if let Some(f) = field("kill_signal")
        && let Some(s) = f.str(ctx)
    {
        match crate::record::parse_signal(&s) {
            Some(sig) => spec.kill_signal = sig.as_str().to_string(),
            None => ctx.problem(
                f.at,
                &f.path,
                format!("`{s}` is not a signal (e.g. SIGINT, SIGTERM, SIGQUIT)"),
            ),
        }
    }
    if let Some(f) = field("max_memory_restart")
        && let Some(b) = f.size(ctx)
    {
        if b < 1 << 20 {
            ctx.warnings.push(format!(
                "{}:{}:{}: {}: {b} bytes is under 1 MiB — a bare number is bytes; did you mean {b}M?",
                ctx.file.display(),
                f.at.line,
                f.at.column,
                f.path
            ));
        }
        spec.max_memory_restart = (b > 0).then_some(b);
    }
    if let Some(f) = field("memory_check_interval")
        && let Some(d) = f.duration(ctx)
    {
        if d < 100 {
            ctx.problem(f.at, &f.path, "at least 100 ms");
        } else {
            spec.memory_check_interval_ms = Some(d);
        }
    }
    if let Some(f) = field("max_memory_samples")
        && let Some(n) = f.u64_in(ctx, 1, 1000)
    {
        spec.max_memory_samples = n as u32;
    }
    if let Some(f) = field("cron_restart") {
        let pattern = match &f.at.node {
            Node::Int(0) => None,
            Node::Bool(false) | Node::Null => None,
            _ => f
                .str(ctx)
                .filter(|p| p.trim() != "0" && !p.trim().is_empty()),
        };
        if let Some(p) = pattern {
            match check_cron(&p) {
                Ok(()) => spec.cron_restart = Some(p.trim().to_string()),
                Err(e) => ctx.problem(f.at, &f.path, e),
            }
        }
    }
    if let Some(f) = field("watch") {
        spec.watch = match &f.at.node {
            Node::Bool(true) => vec![cwd.clone()],
            Node::Bool(false) | Node::Null => Vec::new(),
            _ => f
                .words(ctx, false)
                .unwrap_or_default()
                .into_iter()
                .map(|p| cwd.join(expand_home(&p)))
                .collect(),
        };
    }
    if let Some(f) = field("ignore_watch")
        && let Some(v) = f.words(ctx, false)
    {
        spec.ignore_watch = v;
    }
    if let Some(f) = field("watch_delay")
        && let Some(d) = f.duration(ctx)
    {
        spec.watch_delay_ms = d;
    }
    if let Some(f) = field("out_file")
        && let Some(t) = log_target(&f, ctx, &cwd)
    {
        spec.out_file = t;
    }
    if let Some(f) = field("error_file")
        && let Some(t) = log_target(&f, ctx, &cwd)
    {
        spec.error_file = t;
    }
    if let Some(f) = field("log_file") {
        spec.log_file = match &f.at.node {
            // PM2: `log_file: true` means the default combined file.
            Node::Bool(true) => LogTarget::File(cwd.join(format!("{}.log", spec.name))),
            _ => log_target(&f, ctx, &cwd).unwrap_or_default(),
        };
    }
    if let Some(f) = field("disable_logs")
        && f.bool(ctx) == Some(true)
    {
        spec.out_file = LogTarget::Disabled;
        spec.error_file = LogTarget::Disabled;
        spec.log_file = LogTarget::Disabled;
    }
    if let Some(f) = field("merge_logs")
        && let Some(b) = f.bool(ctx)
    {
        spec.merge_logs = b;
    }
    if let Some(f) = field("time")
        && f.bool(ctx) == Some(true)
        && spec.log_date_format.is_none()
    {
        spec.log_date_format = Some("YYYY-MM-DDTHH:mm:ss.SSSZ".into());
    }
    if let Some(f) = field("log_date_format")
        && let Some(fmt) = f.str(ctx)
    {
        spec.log_date_format = Some(fmt);
    }
    if let Some(f) = field("log_type")
        && let Some(t) = f.str(ctx)
    {
        match t.as_str() {
            "json" => spec.log_json = true,
            "raw" | "" => {}
            _ => ctx.problem(
                f.at,
                &f.path,
                format!("`{t}` is not a log type: use json (or leave it out)"),
            ),
        }
    }
    if let Some(f) = field("log_max_size")
        && let Some(b) = f.size(ctx)
    {
        // 0 turns rotation off (as supervisord's `logfile_maxbytes=0`).
        if b != 0 && b < 4096 {
            ctx.problem(f.at, &f.path, "at least 4K (or 0: no rotation)");
        } else {
            spec.log_max_size = Some(b);
        }
    }
    if let Some(f) = field("log_retain")
        && let Some(n) = f.u64_in(ctx, 0, 1000)
    {
        spec.log_retain = Some(n as u32);
    }
    if let Some(f) = field("uid") {
        match &f.at.node {
            Node::Int(_) => spec.uid = f.u64_in(ctx, 0, u64::from(u32::MAX)).map(|v| v as u32),
            _ => {
                if let Some(u) = f.str(ctx) {
                    match nix::unistd::User::from_name(&u) {
                        Ok(Some(user)) => {
                            spec.uid = Some(user.uid.as_raw());
                            spec.gid = spec.gid.or(Some(user.gid.as_raw()));
                        }
                        _ => ctx.problem(f.at, &f.path, format!("no user `{u}` on this host")),
                    }
                }
            }
        }
    }
    if let Some(f) = field("gid") {
        match &f.at.node {
            Node::Int(_) => spec.gid = f.u64_in(ctx, 0, u64::from(u32::MAX)).map(|v| v as u32),
            _ => {
                if let Some(g) = f.str(ctx) {
                    match nix::unistd::Group::from_name(&g) {
                        Ok(Some(group)) => spec.gid = Some(group.gid.as_raw()),
                        _ => ctx.problem(f.at, &f.path, format!("no group `{g}` on this host")),
                    }
                }
            }
        }
    }

    // The program: absolute when it names a file, kept for PATH lookup when a bare word.
    if let Some(s) = &script {
        let candidate = cwd.join(expand_home(s));
        if s.contains('/') || candidate.is_file() {
            spec.script = crate::paths::normalize(&candidate).display().to_string();
        }
        if !interpreter_given {
            let p = Path::new(&spec.script);
            if p.is_file() {
                match shebang(p) {
                    Some(_) if is_executable(p) => {}
                    Some(words) => {
                        // Not executable: run its shebang's interpreter, as PM2 does.
                        spec.interpreter = words.first().cloned();
                        let mut rest: Vec<String> = words[1..].to_vec();
                        rest.append(&mut spec.interpreter_args);
                        spec.interpreter_args = rest;
                    }
                    None => {
                        spec.interpreter = interpreter_for_extension(s).map(str::to_string);
                    }
                }
            } else if s.contains('/') {
                spec.interpreter = interpreter_for_extension(s).map(str::to_string);
            }
        }
    }
    (ctx.problems.len() == before && script.is_some() && name.is_some()).then_some(spec)
}

fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// A cron pattern of 5 fields (minute…) or 6 (second first), as PM2 accepts.
pub fn check_cron(p: &str) -> Result<(), String> {
    let fields = p.split_whitespace().count();
    if !p.trim().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "`{p}` has {fields} fields: a cron pattern has 5 (minute hour day month weekday) or 6 (second first)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(p)
        .map(|_| ())
        .map_err(|e| format!("`{p}` is not a valid cron pattern: {e}"))
}

/// Names must be unique in a file.
pub(crate) fn check_unique(apps: &[(String, &Located, AppSpec)], ctx: &mut Ctx) {
    let mut seen: BTreeMap<&str, &Located> = BTreeMap::new();
    for (path, at, spec) in apps {
        if let Some(first) = seen.get(spec.name.as_str()) {
            ctx.problem(
                at,
                path,
                format!(
                    "a second app named `{}` (the first is at line {}); names must be unique",
                    spec.name, first.line
                ),
            );
        } else {
            seen.insert(&spec.name, at);
        }
    }
}

/// Keys of every field svctl knows (for the docs test).
pub fn known_fields() -> BTreeSet<&'static str> {
    FIELDS.iter().map(|(n, _)| *n).collect()
}
