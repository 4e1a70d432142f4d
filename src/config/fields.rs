//! Owns the vocabulary of an ecosystem file: every key svctl reads with its aliases (grouped by
//! the `load/` file that reads it), PM2's keys that svctl accepts and ignores, canonical names
//! (camelCase → snake_case) and "did you mean" suggestions for unknown keys.
//!
//! Adding a key: a row in [`FIELDS`], and its reading in the `load/` file of its section.

use std::collections::BTreeSet;

/// Every key svctl reads, with its aliases (PM2's `lib/API/schema.json` plus svctl's own).
pub(crate) const FIELDS: &[(&str, &[&str])] = &[
    // load/identity.rs
    ("script", &["exec"]),
    ("name", &[]),
    ("append_env_to_name", &[]),
    ("namespace", &[]),
    ("cwd", &[]),
    ("args", &[]),
    ("interpreter", &["exec_interpreter"]),
    ("interpreter_args", &["node_args", "interpreterArgs"]),
    // load/environment.rs (and `env_<name>` blocks)
    ("env", &[]),
    ("env_file", &[]),
    ("port", &[]),
    // load/instances.rs
    ("instances", &[]),
    ("instance_var", &[]),
    ("increment_var", &[]),
    ("exec_mode", &[]),
    // load/restart.rs
    ("autostart", &[]),
    ("autorestart", &[]),
    ("stop_exit_codes", &[]),
    ("restart_delay", &[]),
    ("exp_backoff_restart_delay", &[]),
    ("min_uptime", &[]),
    ("max_restarts", &[]),
    ("kill_timeout", &[]),
    ("kill_signal", &[]),
    ("treekill", &[]),
    // load/memory.rs
    ("max_memory_restart", &[]),
    ("memory_check_interval", &[]),
    ("max_memory_samples", &[]),
    // load/triggers.rs
    ("cron_restart", &["cron"]),
    ("watch", &[]),
    ("ignore_watch", &[]),
    ("watch_delay", &[]),
    // load/readiness.rs
    ("wait_ready", &[]),
    ("ready_log_line", &[]),
    ("ready", &[]),
    ("listen_timeout", &[]),
    ("health", &[]),
    ("watchdog", &[]),
    ("listen", &[]),
    ("reload_signal", &[]),
    // load/logs.rs
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
    ("pid_file", &["pid"]),
    // load/user.rs
    ("uid", &["user"]),
    ("gid", &[]),
];

/// PM2 options that only mean something to Node.js or to PM2's own services; accepted and
/// reported once per file.
pub(crate) const IGNORED: &[(&str, &str)] = &[
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
    ("shutdown_with_message", "needs Node's IPC channel"),
    ("windowsHide", "Windows only"),
    (
        "kill_retry_time",
        "svctl waits for the exit instead of polling",
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
    ("name_prefix", "not supported: names stay as written"),
    ("watch_options", "chokidar (Node.js) options"),
];

/// Top-level keys: `apps` (or PM2's other name for it, `pm2`) and `deploy`.
pub(crate) const TOP_LEVEL: &[&str] = &["apps", "pm2", "deploy"];

/// The canonical name of a key svctl reads (an alias or a camelCase spelling resolved).
pub(crate) fn canonical(key: &str) -> Option<&'static str> {
    let find = |k: &str| {
        FIELDS
            .iter()
            .find(|(name, aliases)| *name == k || aliases.contains(&k))
            .map(|(name, _)| *name)
    };
    // PM2 also takes camelCase keys (`maxRestarts`), turning them into snake_case.
    find(key).or_else(|| find(&snake_case(key)))
}

/// Why a PM2 key is accepted but ignored, if it is one.
pub(crate) fn ignored(key: &str) -> Option<(&'static str, &'static str)> {
    IGNORED.iter().find(|(n, _)| *n == key).copied()
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

/// The closest known name, if it is close enough to be a likely typo.
pub fn suggest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&lower, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Every key an app may have: names, aliases and ignored PM2 keys (for suggestions).
pub(crate) fn all_known_keys() -> impl Iterator<Item = &'static str> {
    FIELDS
        .iter()
        .flat_map(|(n, a)| std::iter::once(*n).chain(a.iter().copied()))
        .chain(IGNORED.iter().map(|(n, _)| *n))
}

/// Keys of every field svctl knows (for the docs test).
pub fn known_fields() -> BTreeSet<&'static str> {
    FIELDS.iter().map(|(n, _)| *n).collect()
}
