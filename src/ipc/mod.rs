//! Owns the control-socket protocol between the CLI and the daemon. This doc is its spec.
//!
//! # Transport
//!
//! A Unix stream socket at `$SVCTL_HOME/svctl.sock` (mode 0600, in a 0700 home). Every
//! connection's peer uid (`SO_PEERCRED`) must be the daemon's uid or root; others are refused and
//! logged. Nothing listens on TCP for this protocol (the optional metrics endpoint,
//! `svctl daemon --metrics-addr`, is HTTP and read-only; the daemon's `http` module). A client on
//! another host (`-H ssh://…`) speaks the same frames over the stdio of `ssh`, which runs `svctl
//! bridge` here: it copies them to this socket, so the uid check applies to it as to any local
//! client.
//!
//! # Frames
//!
//! Each message is one frame: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
//! A frame longer than [`MAX_FRAME`] bytes is refused: the daemon answers with an error of kind
//! `bad_request` and closes the connection. A frame that is not valid JSON for [`Request`] gets
//! the same treatment. The daemon never panics on input.
//!
//! # Exchange
//!
//! 1. The client sends `{"type":"hello","protocol":1,"client_version":"0.1.0"}`. The daemon answers
//!    `{"type":"hello","protocol":1,"daemon_version":"0.1.0","pid":1234}`, or an error of kind
//!    `version_mismatch` when the protocol numbers differ, then closes. Any other first frame is
//!    a `bad_request`.
//! 2. Then any number of requests, each answered by exactly one response, in order.
//!
//! A `TARGET` is `all`, an app name, `NAME:INSTANCE`, an instance `id`, or a namespace; an
//! exact app name wins over an id, and `all` when no app is known is a `not_found` error for
//! the requests that act. Every request and what answers it (field `type`):
//!
//! | request | fields | answer |
//! |---|---|---|
//! | `ping` | | `pong`: version, pid, uptime, home, isolation (cgroup version and controllers, or process groups and why), `health` ([`DaemonHealth`]: history rows held and dropped, why the database refuses writes, whether its file was deleted and written again, daemon log lines dropped) |
//! | `list` | | `list`: every instance ([`ProcessInfo`], schema below) and the daemon's warnings |
//! | `describe` | `target` | `describe`: each named app's spec, desired state, instances, log paths, isolation and the hard limits it cannot enforce |
//! | `start` | `apps`: app specs from an ecosystem file (checked again against the loader's bounds), optional `meta` (as `apply`'s: the start is recorded as a deployment) | `done` once every started instance is settled (online, or failed to start) |
//! | `start_target` | `target` | `done` once settled |
//! | `stop` | `target` | `done` once every instance is down (after SIGKILL if `kill_timeout` passed) |
//! | `restart` | `target`, optional `update_env` (the caller's environment) | `done` once the new runs are up or have failed |
//! | `delete` | `target` (apps, not instances) | `done` once they are stopped and forgotten |
//! | `reset` | `target` | `done`: the restart counters are zero (the history stays) |
//! | `logs` | `target` (null: all), `lines`, `streams` (`both`, `out`, `err`), `follow` | `log_lines` with the last lines and the `sources` it covers; with `follow`, **a stream**: more `log_lines` frames as output comes (a slow reader gets a line saying what it skipped) until the client closes the connection or sends anything |
//! | `flush` | `target` (null: every app and the daemon log) | `done` once the files are emptied |
//! | `reload` | `target` or `apps` (specs from a file: they replace the running ones, new apps start), `parallel` (default 1), optional `update_env`, optional `meta` (as `apply`'s: recorded as a deployment) | `done` once every instance was replaced by a ready new process (or reloaded in place); an `error` of kind `refused` naming the instance, the cause and the stderr tail when a new process failed — the old processes that still run keep running |
//! | `plan` | `apps` (specs from a file), `prune` | `plan`: per app `add`, `change` (field diffs, secret env values as `***`, and `how`: `reload`, `scale`, `start`, `store` for a stopped `autostart: false` app, or `retry` when the rollout that set the same spec failed), `unchanged`, or `extra` (running, not in the file; `removed` with `prune`); nothing is touched |
//! | `apply` | `apps`, `prune`, `parallel`, `meta` (`file`, `sha256`, `env`, `uid`, `kind`: `apply`, `rollback`, `start` or `reload`, `rollback_of`) | the plan is computed again and recorded as a deployment (its id is given by the daemon; the row holds the plan and the specs); added and changed apps go through the rolling reload (`take_spec`, as `reload` with `apps`), unchanged apps are not touched, with `prune` the extra apps are stopped and deleted; `done` (message `applied deployment #N: …`) once all of that is over, or the reload's `refused` error; the result (`ok`/`failed`, message, duration) is recorded; every spawn of an app the deployment changed records its id |
//! | `reload_logs` | | `done` once every log file was reopened at its path (after logrotate) |
//! | `kill` | | `killed` once every app is stopped; then the daemon exits |
//! | `scale` | `app`, `to` (`{"exactly":N}`, `{"more":N}` or `{"fewer":N}`; the result must be 1..=10000) | the app's spec takes the new `instances` (stored, as any change); new instances get the next numbers (and `increment_var` values) and start when the app should run; the highest ones are stopped and deleted; `done` once they are settled or gone; `bad_request` for a count out of bounds, nothing changed |
//! | `signal` | `signal` (a name or number), `target`, `group` | `done` once sent to the main process (or its process group) of every running instance the target names; `bad_request` for an unknown signal, `refused` when none of them runs |
//! | `env` | `target` | `env`: `runs`, per instance that has run, its `name`, `instance`, `run`, `pid` and `env`, the variables the process was started with (unmasked: the CLI masks secrets) |
//! | `events` | `target` (null: all), `follow` | `events`: the recent lifecycle events the daemon still holds ([`LifecycleEvent`], oldest first); with `follow`, **a stream**: more `events` frames as events happen, until the client closes the connection or sends anything. A reader too slow for the daemon's bounded buffer gets a frame whose `dropped` says how many events it missed |
//! | `metrics` | | `metrics`: `text`, every metric in the Prometheus text format 0.0.4 (what `GET /metrics` serves) |
//!
//! Errors: `{"type":"error","kind":"not_found","message":"…","known":["api","worker"]}`. Error
//! kinds are [`ErrorKind`]; the CLI maps them to exit codes and hints without reading the
//! message. `hello` after the handshake is a `bad_request`.
//!
//! # The `list` schema (stable; also what `svctl list --json` prints)
//!
//! An array of [`ProcessInfo`] objects: `id` (a small number that names the instance as a
//! target, PM2's `pm_id`: given when the instance is created, never reused while the daemon
//! runs; restored apps are numbered in order when a daemon starts), `name`, `namespace`,
//! `instance` (0-based), `pid` (null
//! when not running), `status` (`launching`, `online`, `stopping`, `stopped`,
//! `waiting restart`, `errored`), `run` (spawn counter), `restarts` (every respawn, PM2's ↺),
//! `auto_restarts` and `manual_restarts` (the same split by who asked),
//! `unstable_restarts` (consecutive exits before `min_uptime`), `uptime_ms` (null when not
//! running), `started_at_ms` (unix ms, null when not running), `cpu_percent` and `memory_bytes`
//! (sampled for the asking view when older than 1 s; CPU over the time since the previous
//! sample, or since the start for the first; null before there is one), `last_exit` (null, or `{cause, exit_code, signal,
//! ended_at_ms}`); and, only when they apply: `health` (`ok`, `failing N/M`, `pending`: the app
//! has a `health:` check), `notify_status` (its last `STATUS=` on the notify socket),
//! `probe_error` (its last failed readiness or health check),
//! `reloading` (`{pid, status}` of a reload's new process running beside it). New fields may be
//! added; existing ones keep their meaning.

pub mod client;
pub mod codec;
pub mod remote;

mod events;
#[cfg(test)]
mod example;
pub use events::{EventKind, LifecycleEvent};

use crate::config::AppSpec;
pub use crate::deploy::{DeploymentMeta, Plan};
use crate::record::Cause;
use crate::record::Status;
use serde::{Deserialize, Serialize};

/// Bumped whenever a request or response changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest frame either side accepts (a start request for 1,000 apps is far below it).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Hello {
        protocol: u32,
        client_version: String,
    },
    Ping,
    /// Start (or restart, when already running) these apps; never duplicates them.
    Start {
        apps: Vec<AppSpec>,
        /// From `start FILE`: recorded as a deployment of kind `start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<DeploymentMeta>,
    },
    /// Start apps the daemon already knows.
    StartTarget {
        target: String,
    },
    Stop {
        target: String,
    },
    Restart {
        target: String,
        /// `--update-env`: the caller's environment replaces the apps' base environment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update_env: Option<std::collections::BTreeMap<String, String>>,
    },
    Delete {
        target: String,
    },
    List,
    Describe {
        target: String,
    },
    /// Zero the restart counters of the target's instances; the history stays.
    Reset {
        target: String,
    },
    /// The last `lines` lines of the target's logs (all apps when `None`); with `follow`, then
    /// every new line until the client closes the connection.
    Logs {
        target: Option<String>,
        lines: u32,
        follow: bool,
        streams: LogStreams,
    },
    /// Empty the target's log files (all apps and the daemon log when `None`).
    Flush {
        target: Option<String>,
    },
    /// Close and reopen every open log file at its path (PM2's `reloadLogs`; logrotate's
    /// `postrotate`). Answers `done`; a path that cannot be opened is named in the message and
    /// its output counted as lost until it can.
    ReloadLogs,
    /// Stop every app, then the daemon.
    Kill,
    /// Replace the target's instances without downtime, `parallel` at a time; with `apps`
    /// (from an ecosystem file), their specs first replace the running ones (new apps start).
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        apps: Vec<AppSpec>,
        #[serde(default = "one")]
        parallel: u32,
        /// `--update-env`: the caller's environment replaces the apps' base environment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update_env: Option<std::collections::BTreeMap<String, String>>,
        /// From `reload FILE`: recorded as a deployment of kind `reload`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<DeploymentMeta>,
    },
    /// What `apply` would do with these specs; nothing is touched.
    Plan {
        apps: Vec<AppSpec>,
        #[serde(default)]
        prune: bool,
    },
    /// Lifecycle events of the target (all apps when `None`): the recent ones, then with
    /// `follow` each new one as it happens.
    Events {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(default)]
        follow: bool,
    },
    /// Every metric, in the Prometheus text format.
    Metrics,
    /// Brings the running apps to these specs: a deployment (see the module doc).
    Apply {
        apps: Vec<AppSpec>,
        #[serde(default)]
        prune: bool,
        #[serde(default = "one")]
        parallel: u32,
        meta: DeploymentMeta,
    },
    /// Changes an app's number of instances (PM2's `scale`).
    Scale {
        app: String,
        to: ScaleTo,
    },
    /// Sends a signal to the target's running instances (PM2's `sendSignal`).
    Signal {
        /// A name as `record::parse_signal` reads it (`SIGUSR2`, `usr2`, `12`).
        signal: String,
        target: String,
        /// To the process group instead of the main process.
        #[serde(default)]
        group: bool,
    },
    /// The environment each of the target's instances was started with.
    Env {
        target: String,
    },
}

/// The most instances `scale` gives an app: the bound of `instances` in a file.
pub const MAX_INSTANCES: u32 = 10_000;

/// What `scale` asks for: a count, or a change of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleTo {
    Exactly(u32),
    More(u32),
    Fewer(u32),
}

impl ScaleTo {
    /// `3`, `+2` or `-1`; anything else is an error that says what is expected.
    pub fn parse(s: &str) -> Result<ScaleTo, String> {
        let t = s.trim();
        let number = |n: &str| {
            n.parse::<u32>()
                .map_err(|_| format!("`{s}` is not a count: expected N, +N or -N (a whole number)"))
        };
        match t.as_bytes().first() {
            Some(b'+') => number(&t[1..]).map(ScaleTo::More),
            Some(b'-') => number(&t[1..]).map(ScaleTo::Fewer),
            _ => number(t).map(ScaleTo::Exactly),
        }
    }

    /// The new count from `current`, or why there is none (below 1 or above [`MAX_INSTANCES`]).
    pub fn apply(self, current: u32) -> Result<u32, String> {
        let wanted = match self {
            ScaleTo::Exactly(n) => i64::from(n),
            ScaleTo::More(n) => i64::from(current) + i64::from(n),
            ScaleTo::Fewer(n) => i64::from(current) - i64::from(n),
        };
        if wanted < 1 {
            return Err(format!(
                "{wanted} instances: an app has at least 1 (`svctl stop` or `svctl delete` it instead)"
            ));
        }
        if wanted > i64::from(MAX_INSTANCES) {
            return Err(format!(
                "{wanted} instances: at most {MAX_INSTANCES} per app"
            ));
        }
        Ok(wanted as u32)
    }
}

/// The environment one run of an instance was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnv {
    pub name: String,
    pub instance: u32,
    pub run: u64,
    pub pid: Option<i32>,
    /// Every variable the process got, values as given (the CLI masks secrets).
    pub env: std::collections::BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// Which streams `logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStreams {
    Both,
    Out,
    Err,
}

impl LogStreams {
    pub fn includes(self, s: crate::logs::Stream) -> bool {
        matches!(
            (self, s),
            (LogStreams::Both, _)
                | (LogStreams::Out, crate::logs::Stream::Out)
                | (LogStreams::Err, crate::logs::Stream::Err)
        )
    }
}

/// One stream of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogSource {
    pub app: String,
    pub instance: u32,
    pub stream: crate::logs::Stream,
}

/// One line of an app's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub app: String,
    pub instance: u32,
    pub stream: crate::logs::Stream,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Malformed frame, JSON or request.
    BadRequest,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// The target names no app, instance or namespace.
    NotFound,
    /// The request is understood but cannot be done (e.g. the daemon is shutting down).
    Refused,
    /// A failure inside the daemon.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastExit {
    pub cause: Cause,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub ended_at_ms: i64,
    pub error: Option<String>,
}

/// One instance as `list` shows it. See the module doc for the stable schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// PM2's `pm_id`: a small number naming this instance as a target (`svctl restart 3`).
    #[serde(default)]
    pub id: u32,
    pub name: String,
    pub namespace: String,
    pub instance: u32,
    pub pid: Option<i32>,
    pub status: Status,
    pub run: u64,
    pub restarts: u32,
    /// Respawns svctl decided (crash, memory limit, cron, watch).
    #[serde(default)]
    pub auto_restarts: u32,
    /// Respawns a user asked for (`restart`, `start FILE` again).
    #[serde(default)]
    pub manual_restarts: u32,
    pub unstable_restarts: u32,
    pub uptime_ms: Option<u64>,
    pub started_at_ms: Option<i64>,
    /// Output bytes that could not be written to the log files (full disk…).
    #[serde(default)]
    pub log_bytes_lost: u64,
    /// Processes in the instance's tree at the last sample (the app's children count).
    #[serde(default)]
    pub processes: Option<u32>,
    /// Output bytes written to the log files since the daemon started.
    #[serde(default)]
    pub log_bytes_written: u64,
    pub cpu_percent: Option<f32>,
    pub memory_bytes: Option<u64>,
    pub last_exit: Option<LastExit>,
    /// With a `health:` check: `ok`, `failing N/M` (N failed checks in a row of the M that
    /// restart it) or `pending` (no check yet this run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// What the app last said with `STATUS=` on the notify socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_status: Option<String>,
    /// The last failed readiness or health check of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
    /// A reload's new process while it runs beside this one: its pid and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reloading: Option<Reloading>,
    /// History rows of this app (all its instances) dropped since the daemon started: the
    /// database could not take them and the queue waiting for it was full, or rejected them.
    #[serde(default)]
    pub history_dropped: u64,
}

/// How the daemon's own writing fares (`ping`): the history queue and its log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonHealth {
    /// History rows waiting for the database (busy, full disk…); written when it takes them.
    pub history_held: u64,
    /// History rows dropped for good since the daemon started.
    pub history_dropped: u64,
    /// Why the database does not take writes now, while it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// The database file was deleted while the daemon ran and written again from the
    /// daemon's open copy: when, and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_recreated: Option<String>,
    /// Lines of the daemon's own log that could not be written (full disk…).
    pub log_lines_dropped: u64,
}

/// A reload's new process, beside the instance it replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reloading {
    pub pid: Option<i32>,
    pub status: Status,
}

/// `describe`: an app's spec and its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppDetail {
    pub spec: AppSpec,
    pub should_run: bool,
    pub instances: Vec<ProcessInfo>,
    pub out_log: Vec<String>,
    pub err_log: Vec<String>,
    /// The combined files (`log_file`), one per instance unless merged.
    #[serde(default)]
    pub log_file: Vec<String>,
    /// The pid files (`pid_file`), one per instance.
    #[serde(default)]
    pub pid_file: Vec<String>,
    /// How the daemon keeps the app's runs together: `cgroup v1 (memory, …) under PATH`, or
    /// `process groups (no cgroups: WHY)`.
    #[serde(default)]
    pub isolation: String,
    /// The hard limits of the spec this daemon cannot enforce, and why (never silent).
    #[serde(default)]
    pub unenforced: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Hello {
        protocol: u32,
        daemon_version: String,
        pid: u32,
    },
    Pong {
        version: String,
        pid: u32,
        uptime_ms: u64,
        home: String,
        /// How runs are kept together: cgroups (which version and controllers, where) or
        /// process groups, and why.
        #[serde(default)]
        isolation: String,
        #[serde(default)]
        health: DaemonHealth,
    },
    Done {
        message: String,
        processes: Vec<ProcessInfo>,
    },
    List {
        processes: Vec<ProcessInfo>,
        warnings: Vec<String>,
    },
    Describe {
        apps: Vec<AppDetail>,
    },
    Killed {
        stopped: u32,
    },
    /// The plan of `plan` (what `apply` would do).
    Plan {
        plan: Plan,
    },
    /// Log lines: first the requested tail, then (with `follow`) more frames as lines come.
    LogLines {
        lines: Vec<LogLine>,
        /// In the first frame: the (app, instance, stream) the request named, followed after.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<LogSource>,
    },
    /// `env`: per instance of the target that has run, its last run's environment.
    Env {
        runs: Vec<RunEnv>,
    },
    /// Lifecycle events (oldest first); `dropped`: how many this reader missed before them.
    Events {
        events: Vec<LifecycleEvent>,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropped: u64,
    },
    /// `metrics`: the Prometheus text format.
    Metrics {
        text: String,
    },
    Error {
        kind: ErrorKind,
        message: String,
        #[serde(default)]
        known: Vec<String>,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Response {
    /// The protocol's name of this answer (its `type` tag), for messages about it.
    pub fn type_name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_else(|| "?".to_string())
    }

    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
            known: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_json_form() {
        let hello = Request::Hello {
            protocol: 1,
            client_version: "0.1.0".into(),
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"type":"hello","protocol":1,"client_version":"0.1.0"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Ping).unwrap(),
            r#"{"type":"ping"}"#
        );
        let stop: Request = serde_json::from_str(r#"{"type":"stop","target":"api:1"}"#).unwrap();
        assert_eq!(
            stop,
            Request::Stop {
                target: "api:1".into()
            }
        );
    }

    #[test]
    fn unknown_or_malformed_requests_are_errors_not_panics() {
        for bad in [
            r#"{"type":"explode"}"#,
            r#"{"type":"stop"}"#,
            r#"{"type":"stop","target":3}"#,
            r#"[]"#,
            r#"null"#,
            "",
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_responses_carry_kind_and_known_names() {
        let e = Response::Error {
            kind: ErrorKind::NotFound,
            message: "no app `x`".into(),
            known: vec!["api".into()],
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"type":"error","kind":"not_found","message":"no app `x`","known":["api"]}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&s).unwrap(), e);
    }

    #[test]
    fn status_words_are_pm2_words() {
        assert_eq!(
            serde_json::to_string(&Status::WaitingRestart).unwrap(),
            r#""waiting restart""#
        );
        assert_eq!(
            serde_json::to_string(&Status::Online).unwrap(),
            r#""online""#
        );
    }
}
