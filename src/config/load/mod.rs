//! Owns validation: the located YAML tree → `AppSpec`s, collecting every problem of the file
//! (unknown keys with suggestions, wrong types, bad values) instead of stopping at the first.
//!
//! This file finds the apps in the file's shape and sorts each app's keys (known, `env_<name>`,
//! ignored, unknown); one file per section reads its keys and owns their bounds:
//!
//! | file | keys |
//! |---|---|
//! | `identity` | name, namespace, script, cwd, args, interpreter, interpreter_args |
//! | `environment` | `env`, `env_file`, `env_<name>`, `port` |
//! | `instances` | instances, instance_var, increment_var, exec_mode |
//! | `restart` | autostart, autorestart, stop_exit_codes, delays, min_uptime, max_restarts, kill_*, treekill |
//! | `memory` | max_memory_restart, memory_check_interval, max_memory_samples |
//! | `limits` | memory_max, pids_max, cpu_weight, cpu_max (enforced through cgroups) |
//! | `triggers` | cron_restart, watch, ignore_watch, watch_delay |
//! | `logs` | out/error/log files, merge_logs, formats, disable_logs, rotation |
//! | `user` | uid, gid |
//!
//! Each section's `check` applies the same bounds to a spec received over the socket
//! ([`AppSpec::check`]).

mod environment;
mod field;
mod hooks;
mod identity;
mod instances;
mod limits;
mod logs;
mod memory;
pub mod readiness;
mod restart;
mod triggers;
mod user;

pub use super::fields::{known_fields, suggest};
pub use environment::parse_env_file;
pub use field::split_args;
pub use identity::name_problem;
pub use triggers::{check_cron, watch_ignore_globs};

use super::Problem;
use super::fields::{self, TOP_LEVEL};
use super::node::{Located, Node};
use super::spec::AppSpec;
use field::Field;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What validating one file gathers: its place (for relative paths), the problems, the
/// warnings, and what is reported once per file.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub dir: PathBuf,
    pub env_name: Option<&'a str>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    ignored: BTreeMap<String, &'static str>,
    /// Every `env_<name>` block of the file, by name.
    env_blocks_seen: BTreeSet<String>,
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
            env_blocks_seen: BTreeSet::new(),
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
    }

    /// `--env NAME` with no `env_NAME` block anywhere in the file is a mistake (a typo deploys
    /// the default environment otherwise): a problem, with the closest block as a hint.
    pub fn check_env_name(&mut self, root: &Located) {
        let Some(env) = self.env_name else { return };
        if self.env_blocks_seen.contains(env) {
            return;
        }
        let blocks: Vec<String> = self
            .env_blocks_seen
            .iter()
            .map(|b| format!("env_{b}"))
            .collect();
        let wanted = format!("env_{env}");
        let hint = match suggest(&wanted, blocks.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}` (--env {})?", &s[4..]),
            None if blocks.is_empty() => "the file has no `env_<name>` block at all".to_string(),
            None => format!("the file has {}", blocks.join(", ")),
        };
        self.problem_hint(
            root,
            "",
            format!("--env {env}: no app of this file has an `{wanted}` block"),
            hint,
        );
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
            // PM2 also takes its apps under a top-level `pm2:` key.
            let listed = has("apps") || has("pm2");
            if !listed && (has("script") || has("exec") || has("name")) {
                return vec![("app".to_string(), root)];
            }
            let mut apps = Vec::new();
            for (k, v) in entries {
                let key = k.node.scalar_text().unwrap_or_default();
                match key.as_str() {
                    "apps" | "pm2" => match &v.node {
                        Node::Seq(items) => apps.extend(
                            items
                                .iter()
                                .enumerate()
                                .map(|(i, n)| (format!("{key}[{i}]"), n)),
                        ),
                        Node::Map(_) => apps.push((key.clone(), v)),
                        other => ctx.problem(
                            v,
                            &key,
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
            if !listed && apps.is_empty() && ctx.problems.is_empty() {
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

/// One app mapping, its keys sorted: known keys by canonical name, and `env_<name>` blocks.
pub(crate) struct AppKeys<'n> {
    path: &'n str,
    at: &'n Located,
    known: BTreeMap<&'static str, &'n Located>,
    env_blocks: Vec<(String, &'n Located)>,
}

impl<'n> AppKeys<'n> {
    /// Sorts the keys of an app mapping, reporting unknown and repeated ones.
    fn sort(
        path: &'n str,
        at: &'n Located,
        entries: &'n [(Located, Located)],
        ctx: &mut Ctx,
    ) -> Self {
        let mut keys = AppKeys {
            path,
            at,
            known: BTreeMap::new(),
            env_blocks: Vec::new(),
        };
        for (k, v) in entries {
            let Some(key) = k.node.scalar_text() else {
                ctx.problem(k, path, "keys must be names");
                continue;
            };
            let fpath = format!("{path}.{key}");
            if let Some(c) = fields::canonical(&key) {
                if let Some(first) = keys.known.get(c) {
                    ctx.problem(
                        k,
                        &fpath,
                        format!(
                            "`{c}` is given twice (first at line {}, column {})",
                            first.line, first.column
                        ),
                    );
                } else {
                    keys.known.insert(c, v);
                }
                continue;
            }
            if let Some(env) = key.strip_prefix("env_") {
                keys.env_blocks.push((env.to_string(), v));
                continue;
            }
            if let Some((name, why)) = fields::ignored(&key) {
                ctx.ignored.insert(name.to_string(), why);
                continue;
            }
            match suggest(&key, fields::all_known_keys()) {
                Some(s) => {
                    ctx.problem_hint(k, &fpath, "unknown field", format!("did you mean `{s}`?"))
                }
                None => ctx.problem(
                    k,
                    &fpath,
                    "unknown field (see ecosystem.example.yaml for every supported key)",
                ),
            }
        }
        keys
    }

    /// The value of a known key, by its canonical name.
    fn get(&self, name: &'static str) -> Option<Field<'n>> {
        self.known.get(name).map(|at| Field {
            path: format!("{}.{name}", self.path),
            at,
        })
    }
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
    let keys = AppKeys::sort(path, at, entries, ctx);
    let mut spec = AppSpec::with_defaults("app", "", ctx.dir.clone());
    spec.source = Some(crate::paths::absolute(ctx.file));
    // Identity first: later sections resolve paths against `cwd` and use the name.
    let identity = identity::read(&keys, &mut spec, ctx);
    environment::read(&keys, &mut spec, ctx);
    instances::read(&keys, &mut spec, ctx);
    restart::read(&keys, &mut spec, ctx);
    memory::read(&keys, &mut spec, ctx);
    // After memory: it warns when max_memory_restart cannot act before memory_max.
    limits::read(&keys, &mut spec, ctx);
    triggers::read(&keys, &mut spec, ctx);
    readiness::read(&keys, &mut spec, ctx);
    logs::read(&keys, &mut spec, ctx);
    user::read(&keys, &mut spec, ctx);
    hooks::read(&keys, &mut spec, ctx);
    // Last: a shebang's interpreter goes before the file's `interpreter_args`.
    identity.resolve_program(&mut spec);
    (ctx.problems.len() == before && identity.complete()).then_some(spec)
}

/// One section's bounds on a finished spec: the first field out of bounds, with its name.
type SectionCheck = fn(&AppSpec) -> Result<(), String>;

/// The bounds of every section, on a spec that did not come through the loader (the socket).
pub(crate) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(why) = name_problem(&spec.name) {
        return Err(format!("`{}` is not a valid app name: {why}", spec.name));
    }
    let sections: [SectionCheck; 10] = [
        identity::check,
        environment::check,
        instances::check,
        restart::check,
        memory::check,
        limits::check,
        triggers::check,
        readiness::check,
        logs::check,
        hooks::check,
    ];
    sections
        .iter()
        .try_for_each(|check| check(spec))
        .map_err(|e| format!("app `{}`: {e}", spec.name))
}
