//! The validated form of one app: what the daemon stores, sends over the socket and runs.
//! Every value here has been checked by the loader; durations are milliseconds and sizes bytes,
//! so the JSON form (stored in SQLite, sent over the socket) needs no units.

use super::probe::{ListenAddr, Probe};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// PM2's default `min_uptime`: a run shorter than this is unstable.
pub const DEFAULT_MIN_UPTIME_MS: u64 = 1000;
/// PM2's default `max_restarts`: this many consecutive unstable exits end in `errored`.
pub const DEFAULT_MAX_RESTARTS: u32 = 16;
/// PM2's default `kill_timeout`.
pub const DEFAULT_KILL_TIMEOUT_MS: u64 = 1600;
/// PM2 sends SIGINT first.
pub const DEFAULT_KILL_SIGNAL: &str = "SIGINT";

/// One app of an ecosystem file, validated.
///
/// Unknown fields are ignored when this is read back (no `deny_unknown_fields`): a spec stored
/// or sent by a newer svctl stays readable by an older daemon. Files are strict on their own:
/// the loader rejects keys it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Unique name; also the log file stem.
    pub name: String,
    /// The program to execute: an absolute path, or a bare name looked up in `PATH` at spawn.
    /// When `interpreter` is set this is the script handed to it.
    pub script: String,
    /// The interpreter to run `script` with (`python3`, `bash`, `node`…), or `None` to exec
    /// `script` itself (shebang honoured by the kernel).
    #[serde(default)]
    pub interpreter: Option<String>,
    /// Arguments placed between the interpreter and the script.
    #[serde(default)]
    pub interpreter_args: Vec<String>,
    /// Arguments after the script.
    #[serde(default)]
    pub args: Vec<String>,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Variables from the file (`env`, then `env_<name>` merged over it); values are strings.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The app's `env_file` (absolute), read again at every spawn (under `env`).
    #[serde(default)]
    pub env_file: Option<PathBuf>,
    /// The values `env_file` had when the app was loaded: used when the file cannot be read at
    /// a spawn.
    #[serde(default)]
    pub env_file_env: BTreeMap<String, String>,
    /// The caller's environment when the app was started (PM2 keeps it too); `env` wins over it.
    /// Shared: every app started from one shell has the same one, and the daemon keeps one
    /// copy of it for all of them (and for their runs' environments).
    #[serde(default)]
    pub base_env: Arc<BTreeMap<String, String>>,
    /// Number of copies, at least 1.
    pub instances: u32,
    /// Variable that carries the instance number (PM2: `NODE_APP_INSTANCE`).
    #[serde(default = "default_instance_var")]
    pub instance_var: String,
    /// Restart when the process exits by itself.
    pub autorestart: bool,
    /// Exit codes that mean "done, do not restart".
    #[serde(default)]
    pub stop_exit_codes: Vec<i32>,
    /// Fixed delay before an automatic restart.
    pub restart_delay_ms: u64,
    /// Exponential backoff start value; when set it replaces `restart_delay_ms`.
    #[serde(default)]
    pub exp_backoff_restart_delay_ms: Option<u64>,
    /// Runs shorter than this are unstable.
    pub min_uptime_ms: u64,
    /// Consecutive unstable exits before `errored`.
    pub max_restarts: u32,
    /// Grace period between `kill_signal` and SIGKILL.
    pub kill_timeout_ms: u64,
    /// Signal name sent first on stop, e.g. `SIGINT`, `SIGTERM`.
    pub kill_signal: String,
    /// Namespace, usable as a command target (PM2 default: `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Start the app when the file is started (PM2 `autostart`).
    #[serde(default = "default_true")]
    pub autostart: bool,
    /// The ecosystem file this app came from, if any.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// The `env_<name>` block applied over `env` (`--env NAME`), if any.
    #[serde(default)]
    pub env_name: Option<String>,
    /// A variable that counts up from its start value across instances (PM2 `increment_var`).
    #[serde(default)]
    pub increment_var: Option<String>,
    /// Restart when the tree's RSS passes this many bytes.
    #[serde(default)]
    pub max_memory_restart: Option<u64>,
    /// How often memory is checked, when not the daemon-wide default.
    #[serde(default)]
    pub memory_check_interval_ms: Option<u64>,
    /// Consecutive samples over the limit before a memory restart.
    #[serde(default = "one")]
    pub max_memory_samples: u32,
    /// Hard limits enforced by the kernel through the run's cgroup (`memory_max` in bytes,
    /// `pids_max`, `cpu_weight` 1–10000, `cpu_max` in percent of one CPU).
    #[serde(default)]
    pub memory_max: Option<u64>,
    #[serde(default)]
    pub pids_max: Option<u64>,
    #[serde(default)]
    pub cpu_weight: Option<u64>,
    #[serde(default)]
    pub cpu_max_percent: Option<u64>,
    /// A 5- or 6-field cron pattern; the app is restarted at each match.
    #[serde(default)]
    pub cron_restart: Option<String>,
    /// Paths whose changes restart the app (empty: no watching).
    #[serde(default)]
    pub watch: Vec<PathBuf>,
    /// Glob patterns of paths that do not trigger a restart.
    #[serde(default)]
    pub ignore_watch: Vec<String>,
    /// Quiet period after a change before the restart.
    #[serde(default)]
    pub watch_delay_ms: u64,
    #[serde(default)]
    pub out_file: LogTarget,
    #[serde(default)]
    pub error_file: LogTarget,
    /// Both streams together (PM2 `log_file`); `Default` means none.
    #[serde(default)]
    pub log_file: LogTarget,
    /// One log file for all instances instead of one per instance.
    #[serde(default)]
    pub merge_logs: bool,
    /// PM2's rule: with `instances` given (or cluster mode) and no `merge_logs: true`, every
    /// instance's log files get `-<n>`, even with one instance. Without it, only apps with more
    /// than one instance split their files.
    #[serde(default)]
    pub instance_log_suffix: bool,
    /// A file holding the main pid while the app runs (PM2 `pid_file`); `-<n>` per instance
    /// when there are several.
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Prefix each line with a timestamp in this dayjs-style format.
    #[serde(default)]
    pub log_date_format: Option<String>,
    /// One JSON object per line (PM2 `log_type: json`).
    #[serde(default)]
    pub log_json: bool,
    /// Rotate a log file when it would grow past this size (0: never; none: the daemon's default).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// Rotated files kept.
    #[serde(default)]
    pub log_retain: Option<u32>,
    /// Run as this user (only when the daemon runs as root).
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// Stop the whole tree, and kill what a crashed main process left (PM2 `treekill`).
    /// `false`: only the main process's group is signalled on stop; leftovers may outlive it.
    #[serde(default = "default_true")]
    pub treekill: bool,
    /// Neither `restart_delay` nor `exp_backoff_restart_delay` was given: a failed run that
    /// outlived `min_uptime` is restarted after an exponential backoff (from 100 ms, ×1.5, up
    /// to 15 s, reset after 30 s up); shorter runs restart at once, as PM2.
    #[serde(default = "default_true")]
    pub default_backoff: bool,
    /// `wait_ready`: ready when the app sends READY=1 on `$NOTIFY_SOCKET`.
    #[serde(default)]
    pub wait_ready: bool,
    /// Ready at the first line of output matching this regex.
    #[serde(default)]
    pub ready_log_line: Option<String>,
    /// Ready once this probe passes.
    #[serde(default)]
    pub ready: Option<Probe>,
    /// How long an instance may take to become ready (when a readiness method is set).
    #[serde(default)]
    pub listen_timeout_ms: Option<u64>,
    /// Restarted as `unhealthy` after `failures` consecutive failed checks.
    #[serde(default)]
    pub health: Option<Probe>,
    /// The app must send WATCHDOG=1 at least this often.
    #[serde(default)]
    pub watchdog_ms: Option<u64>,
    /// Commands run on lifecycle events (`hooks:`).
    #[serde(default, skip_serializing_if = "super::hooks::Hooks::is_empty")]
    pub hooks: super::hooks::Hooks,
    /// Sockets svctl opens and passes to every instance (fd 3 on).
    #[serde(default)]
    pub listen: Vec<ListenAddr>,
    /// `reload` sends this signal to the main process instead of replacing it.
    #[serde(default)]
    pub reload_signal: Option<String>,
}

/// Where one log stream goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogTarget {
    /// svctl's default file in its home (for `log_file`: none).
    #[default]
    Default,
    /// `/dev/null` or `NULL`: not written at all.
    Disabled,
    /// This file (absolute).
    File(PathBuf),
}

fn one() -> u32 {
    1
}

fn default_instance_var() -> String {
    "NODE_APP_INSTANCE".to_string()
}

fn default_namespace() -> String {
    "default".to_string()
}

fn default_true() -> bool {
    true
}

impl AppSpec {
    /// A spec with PM2's defaults for everything but the name, script and cwd.
    pub fn with_defaults(name: &str, script: &str, cwd: PathBuf) -> AppSpec {
        AppSpec {
            name: name.to_string(),
            script: script.to_string(),
            interpreter: None,
            interpreter_args: Vec::new(),
            args: Vec::new(),
            cwd,
            env: BTreeMap::new(),
            env_file: None,
            env_file_env: BTreeMap::new(),
            base_env: Arc::default(),
            instances: 1,
            instance_var: default_instance_var(),
            autorestart: true,
            stop_exit_codes: Vec::new(),
            restart_delay_ms: 0,
            exp_backoff_restart_delay_ms: None,
            min_uptime_ms: DEFAULT_MIN_UPTIME_MS,
            max_restarts: DEFAULT_MAX_RESTARTS,
            kill_timeout_ms: DEFAULT_KILL_TIMEOUT_MS,
            kill_signal: DEFAULT_KILL_SIGNAL.to_string(),
            namespace: default_namespace(),
            autostart: true,
            source: None,
            env_name: None,
            increment_var: None,
            max_memory_restart: None,
            memory_check_interval_ms: None,
            max_memory_samples: 1,
            memory_max: None,
            pids_max: None,
            cpu_weight: None,
            cpu_max_percent: None,
            cron_restart: None,
            watch: Vec::new(),
            ignore_watch: Vec::new(),
            watch_delay_ms: 0,
            out_file: LogTarget::Default,
            error_file: LogTarget::Default,
            log_file: LogTarget::Default,
            merge_logs: false,
            instance_log_suffix: false,
            pid_file: None,
            log_date_format: None,
            log_json: false,
            log_max_size: None,
            log_retain: None,
            uid: None,
            gid: None,
            treekill: true,
            default_backoff: true,
            wait_ready: false,
            ready_log_line: None,
            ready: None,
            listen_timeout_ms: None,
            health: None,
            hooks: Default::default(),
            watchdog_ms: None,
            listen: Vec::new(),
            reload_signal: None,
        }
    }

    /// The loader's bounds (name, instances, sizes, durations, kill_signal, cron, globs…),
    /// checked again by the daemon: a spec may also come from a raw client on the socket, which
    /// must not make it create four billion instances. The same code as the loader's checks.
    pub fn check(&self) -> Result<(), String> {
        super::load::check(self)
    }

    /// The signal an in-place `reload` sends (`reload_signal`; SIGHUP otherwise).
    pub fn reload_signal(&self) -> nix::sys::signal::Signal {
        self.reload_signal
            .as_deref()
            .and_then(crate::record::parse_signal)
            .unwrap_or(nix::sys::signal::Signal::SIGHUP)
    }

    /// Whether an instance is `launching` until it says or shows it is ready.
    pub fn has_readiness(&self) -> bool {
        self.wait_ready || self.ready_log_line.is_some() || self.ready.is_some()
    }

    /// The signal a stop sends first (`kill_signal`, checked at load; SIGINT as PM2 otherwise).
    pub fn stop_signal(&self) -> nix::sys::signal::Signal {
        crate::record::parse_signal(&self.kill_signal).unwrap_or(nix::sys::signal::Signal::SIGINT)
    }

    /// The program and its arguments, as they will be executed.
    pub fn argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(i) = &self.interpreter {
            v.push(i.clone());
            v.extend(self.interpreter_args.iter().cloned());
        }
        v.push(self.script.clone());
        v.extend(self.args.iter().cloned());
        v
    }

    /// The variables of `env_file`, read now (a small file, read at each spawn so an edited
    /// `.env` applies at the next start); the values it had at load when it cannot be read.
    pub fn env_file_vars(&self) -> BTreeMap<String, String> {
        let Some(path) = &self.env_file else {
            return self.env_file_env.clone();
        };
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| super::load::parse_env_file(&text));
        match read {
            Ok(vars) => vars,
            Err(e) => {
                tracing::warn!(
                    app = %self.name,
                    "env_file {}: {e}; using the values it had when the app was loaded",
                    path.display()
                );
                self.env_file_env.clone()
            }
        }
    }

    /// The full environment of instance `index`: caller's environment, then `env_file` (read
    /// afresh), then the file's `env`, then the instance variable.
    pub fn environment(&self, index: u32) -> BTreeMap<String, String> {
        self.environment_with(&self.env_file_vars(), index)
    }

    /// [`AppSpec::environment`] with the `env_file` variables already read, for callers that
    /// need the environment of several instances at once.
    pub fn environment_with(
        &self,
        file: &BTreeMap<String, String>,
        index: u32,
    ) -> BTreeMap<String, String> {
        let mut env = (*self.base_env).clone();
        env.extend(file.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.insert(self.instance_var.clone(), index.to_string());
        if let Some(var) = &self.increment_var {
            // PM2: the variable's value in env is the start, each instance adds its number.
            let start = self
                .env
                .get(var)
                .or_else(|| file.get(var))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            env.insert(var.clone(), (start + i64::from(index)).to_string());
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_from_a_newer_svctl_with_unknown_fields_is_readable() {
        let spec = AppSpec::with_defaults("a", "sleep", PathBuf::from("/tmp"));
        let mut json = serde_json::to_value(&spec).unwrap();
        json["health_check"] = serde_json::json!({"url": "http://localhost/"});
        json["future_flag"] = serde_json::json!(true);
        let back: AppSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn check_uses_the_loaders_bounds() {
        let ok = AppSpec::with_defaults("a", "sleep", PathBuf::from("/tmp"));
        assert_eq!(ok.check(), Ok(()));
        let with = |f: &dyn Fn(&mut AppSpec)| {
            let mut s = ok.clone();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert_eq!(
            with(&|s| s.instances = u32::MAX),
            "app `a`: instances: 4294967295 is out of range (1 to 10000)"
        );
        assert_eq!(
            with(&|s| s.name = "all".into()),
            "`all` is not a valid app name: `all` is a target word and cannot be an app name"
        );
        assert!(with(&|s| s.name = "a\tb".into()).contains("cannot contain control characters"));
        assert!(with(&|s| s.name = "web:1".into()).contains("reads as instance 1"));
        assert!(with(&|s| s.name = "42".into()).contains("only digits"));
        assert!(with(&|s| s.name = String::new()).contains("cannot be empty"));
        for fine in [
            "IPMI fan controller",
            "api.vtbs.moe/hawk",
            "@scope/pkg",
            "a:b",
            "ü",
        ] {
            let mut s = AppSpec::with_defaults(fine, "sleep", "/tmp".into());
            s.namespace = "my team".into();
            assert_eq!(s.check(), Ok(()), "{fine}");
        }
        assert!(with(&|s| s.name = "x".repeat(129)).contains("at most 128"));
        assert_eq!(
            with(&|s| s.kill_signal = "SIGNOPE".into()),
            "app `a`: kill_signal: `SIGNOPE` is not a signal (e.g. SIGINT, SIGTERM, SIGQUIT)"
        );
        assert_eq!(
            with(&|s| s.memory_check_interval_ms = Some(5)),
            "app `a`: memory_check_interval: at least 100 ms"
        );
        assert_eq!(
            with(&|s| s.log_max_size = Some(100)),
            "app `a`: log_max_size: at least 4K (or 0: no rotation)"
        );
        assert!(
            with(&|s| s.max_memory_samples = 0).contains("max_memory_samples: 0 is out of range")
        );
        assert!(with(&|s| s.log_retain = Some(5000)).contains("log_retain: 5000 is out of range"));
        assert!(with(&|s| s.stop_exit_codes = vec![0, 256]).contains("stop_exit_codes[1]"));
        assert!(
            with(&|s| s.cron_restart = Some("61 * * * *".into()))
                .contains("cron_restart: `61 * * * *` is not a valid cron pattern")
        );
        assert!(
            with(&|s| s.ignore_watch = vec!["[oops".into()])
                .starts_with("app `a`: ignore_watch[0]: `[oops` is not a valid glob")
        );
        assert!(with(&|s| s.script = String::new()).contains("script: the script cannot be empty"));
        assert!(
            with(&|s| s.namespace = "a\nb".into()).contains("namespace: a name cannot contain")
        );
        assert!(
            with(&|s| {
                s.env.insert("A=B".into(), "x".into());
            })
            .contains("env.A=B: a variable name cannot contain")
        );
    }
}
