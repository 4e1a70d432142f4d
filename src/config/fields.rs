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
    // load/limits.rs
    ("memory_max", &[]),
    ("pids_max", &[]),
    ("cpu_weight", &[]),
    ("cpu_max", &[]),
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
    // load/hooks.rs
    ("hooks", &[]),
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

/// The documentation of every key of [`FIELDS`], in its order: (key, type with its unit and
/// bounds, default, meaning). `svctl-ecosystem(5)` is generated from it; a test fails when a key
/// of FIELDS has no row here or a row names a key FIELDS does not know.
pub(crate) const DOCS: &[(&str, &str, &str, &str)] = &[
    (
        "script",
        "string",
        "required",
        "The program: a path (relative to cwd) or a command found in PATH.",
    ),
    (
        "name",
        "string, at most 128 characters; not `all`, not only digits, not ending in `:` and digits",
        "the script's file name without extension",
        "The app's unique name, usable as a target.",
    ),
    (
        "append_env_to_name",
        "boolean",
        "false",
        "With `--env NAME`, the app is named `APP-NAME`.",
    ),
    (
        "namespace",
        "string (a name)",
        "default",
        "A group of apps, usable as a target (`svctl restart NAMESPACE`).",
    ),
    (
        "cwd",
        "path",
        "the ecosystem file's folder",
        "Working directory; relative paths are relative to the file's folder.",
    ),
    (
        "args",
        "string (split as a shell would) or list of strings",
        "none",
        "Arguments of the program.",
    ),
    (
        "interpreter",
        "string",
        "by shebang or extension",
        "Runs the script with this program; `none` executes the script itself.",
    ),
    (
        "interpreter_args",
        "string (split as a shell would) or list of strings",
        "none",
        "Arguments for the interpreter.",
    ),
    (
        "env",
        "mapping of variables",
        "none",
        "Variables added to the environment `svctl` runs in; numbers and booleans become strings, lists and mappings their JSON text.",
    ),
    (
        "env_file",
        "path",
        "none",
        "A KEY=VALUE file (`export`, quotes and comments allowed) merged under `env`; read again at every start.",
    ),
    (
        "port",
        "whole number, 1 to 65535",
        "none",
        "PM2's shorthand for `env: {PORT: N}`.",
    ),
    (
        "instances",
        "whole number 1 to 10000, `max`, 0 or -1 (one per CPU), -N (all CPUs but N)",
        "1",
        "How many copies of the app run.",
    ),
    (
        "instance_var",
        "string",
        "NODE_APP_INSTANCE",
        "The variable that carries each instance's number (0, 1, …).",
    ),
    (
        "increment_var",
        "string (a variable name)",
        "none",
        "A variable that counts up across instances from its `env` value (`PORT`: a port each).",
    ),
    (
        "exec_mode",
        "`fork` or `cluster` (`fork_mode`, `cluster_mode`)",
        "fork",
        "Accepted for PM2 files; cluster mode runs `instances` separate processes (share a port with `listen`).",
    ),
    (
        "autostart",
        "boolean",
        "true",
        "Start the app with the file; false adds it stopped.",
    ),
    (
        "autorestart",
        "boolean",
        "true",
        "Restart the app when it exits by itself.",
    ),
    (
        "stop_exit_codes",
        "exit code (0 to 255) or list of them",
        "none",
        "Exit codes that mean done: no restart.",
    ),
    (
        "restart_delay",
        "duration (milliseconds, or 500ms, 30s, 5m, 1h)",
        "0",
        "A fixed delay before an automatic restart.",
    ),
    (
        "exp_backoff_restart_delay",
        "duration",
        "none",
        "Exponential backoff between automatic restarts: this delay, then x1.5 per restart up to 15 s, reset after 30 s up. Without it and `restart_delay`, a failed run that outlived `min_uptime` backs off from 100 ms.",
    ),
    (
        "min_uptime",
        "duration",
        "1000 ms",
        "A run shorter than this is unstable.",
    ),
    (
        "max_restarts",
        "whole number, 0 to 4294967295",
        "16",
        "Consecutive unstable exits before the app is `errored`.",
    ),
    (
        "kill_timeout",
        "duration",
        "1600 ms",
        "Grace period between `kill_signal` and SIGKILL on stop.",
    ),
    (
        "kill_signal",
        "signal name or number (SIGTERM, term, 15)",
        "SIGINT",
        "The first signal a stop sends, to the whole process group.",
    ),
    (
        "treekill",
        "boolean",
        "true",
        "Stop the whole process tree, and kill what a crashed main process left, before the next start.",
    ),
    (
        "max_memory_restart",
        "size (bytes, or 10K, 300M, 1G: binary units)",
        "none",
        "Restart when the whole process tree's memory passes this size; a bare number under 1 MiB is warned about.",
    ),
    (
        "memory_check_interval",
        "duration, at least 100 ms",
        "1 s (without max_memory_restart: once a minute, and when a view asks)",
        "How often the app's memory is sampled.",
    ),
    (
        "max_memory_samples",
        "whole number, 1 to 1000",
        "1",
        "Consecutive samples over `max_memory_restart` before a restart.",
    ),
    (
        "memory_max",
        "size, at least 1M",
        "none",
        "Hard memory cap the kernel enforces on the run's cgroup (v2 memory.max, v1 memory.limit_in_bytes; swap not allowed past it): a runaway is OOM-killed alone, recorded as oom_killed. Keep max_memory_restart below it for a graceful restart first. Without cgroups: a check warning and a describe line, not enforced.",
    ),
    (
        "pids_max",
        "whole number, 1 to 4194304",
        "none",
        "Most processes and threads the run's cgroup may hold (pids controller); a fork past it fails in the app.",
    ),
    (
        "cpu_weight",
        "whole number, 1 to 10000",
        "100",
        "The run's share of CPU under contention (v2 cpu.weight, v1 cpu.shares scaled), with the cpu controller.",
    ),
    (
        "cpu_max",
        "share of CPUs: 150% or 1.5",
        "none",
        "Most CPU time the run's cgroup may use (v2 cpu.max, v1 cfs quota), with the cpu controller.",
    ),
    (
        "cron_restart",
        "cron pattern (5 fields, or 6 with seconds first); 0 or false: off",
        "none",
        "Restart running instances at each match; a stopped app is not started.",
    ),
    (
        "watch",
        "boolean, path or list of paths",
        "false",
        "Restart when files change: true watches cwd.",
    ),
    (
        "ignore_watch",
        "glob or list of globs",
        "none",
        "Changes that do not restart; a bare name matches that file or folder anywhere.",
    ),
    (
        "watch_delay",
        "duration",
        "0",
        "Quiet period after a change before the restart.",
    ),
    (
        "wait_ready",
        "boolean",
        "false",
        "Ready when the app sends READY=1 on $NOTIFY_SOCKET (the systemd notify protocol).",
    ),
    (
        "ready_log_line",
        "regular expression",
        "none",
        "Ready at the first output line that matches.",
    ),
    (
        "ready",
        "probe: one of `http: URL` (http:// only), `tcp: HOST:PORT`, `exec: COMMAND`, with `interval` (500 ms), `timeout` (1 s), `initial_delay` (0)",
        "none",
        "Ready once the probe passes (http 2xx/3xx, tcp connect, exec exit 0).",
    ),
    (
        "listen_timeout",
        "duration, more than 0",
        "3000 ms when a readiness method is set",
        "The readiness deadline: missing it ends the run as `not_ready`, an unstable exit.",
    ),
    (
        "health",
        "probe as `ready`, with `interval` (10 s) and `failures` (1 to 1000, 3)",
        "none",
        "Liveness: restarted as `unhealthy` after `failures` failed checks in a row.",
    ),
    (
        "watchdog",
        "duration, more than 0",
        "none",
        "The app must send WATCHDOG=1 at least this often, or it is restarted as `unhealthy`.",
    ),
    (
        "listen",
        "address or list (tcp://HOST:PORT, unix:PATH; $VARS per instance)",
        "none",
        "Sockets svctl opens and passes to every instance as fd 3, 4, ... (LISTEN_FDS); a reload starts the new process beside the old one.",
    ),
    (
        "reload_signal",
        "signal name or number",
        "none",
        "`svctl reload` sends this signal instead of replacing the processes (reload in place).",
    ),
    (
        "hooks",
        "mapping of on_exit, on_errored, on_memory_limit, on_oom_kill, on_unhealthy, on_start to a shell command, with `timeout` (10 s) and `interval` (30 s)",
        "none (the daemon's --hook defaults)",
        "Commands run on lifecycle events with SVCTL_APP, SVCTL_EVENT, SVCTL_CAUSE… in their environment and the JSON event on stdin; at most once per interval per app and event (the events between are folded: SVCTL_EVENTS_FOLDED).",
    ),
    (
        "out_file",
        "path, or /dev/null",
        "~/.svctl/logs/NAME-out.log",
        "File for stdout.",
    ),
    (
        "error_file",
        "path, or /dev/null",
        "~/.svctl/logs/NAME-error.log",
        "File for stderr.",
    ),
    (
        "log_file",
        "path, or true (NAME.log in cwd)",
        "none",
        "One file for both streams.",
    ),
    (
        "merge_logs",
        "boolean",
        "true without `instances`, else false",
        "One log file for all instances; otherwise each instance's files get `-N`.",
    ),
    (
        "log_date_format",
        "time format (YYYY-MM-DD HH:mm:ss Z)",
        "none",
        "Prefix each log line with the time in this format.",
    ),
    (
        "time",
        "boolean",
        "false",
        "Prefix each log line with the time.",
    ),
    (
        "log_type",
        "`json` or `raw`",
        "raw",
        "`json` writes one JSON object per line (message, timestamp, type, process_id, app_name).",
    ),
    (
        "disable_logs",
        "boolean",
        "false",
        "Discard the app's output.",
    ),
    (
        "log_max_size",
        "size, 0 or at least 4K",
        "10M (the daemon's `SVCTL_LOG_MAX_SIZE`)",
        "Rotate a log file at this size; 0 never rotates.",
    ),
    (
        "log_retain",
        "whole number, 0 to 1000",
        "5 (the daemon's `SVCTL_LOG_RETAIN`)",
        "Rotated files kept.",
    ),
    (
        "pid_file",
        "path",
        "none",
        "Holds the main pid while the app runs (`-N` per instance with several).",
    ),
    (
        "uid",
        "user name or number",
        "the daemon's user",
        "Run as this user (the daemon must run as root); its group becomes the default `gid`.",
    ),
    (
        "gid",
        "group name or number",
        "the user's group",
        "Run with this group.",
    ),
];
