//! The records the store writes and reads back.

use crate::config::AppSpec;
use crate::record::Cause;
use serde::{Deserialize, Serialize};

pub use crate::record::SpawnTrigger;

/// One spawn: a run has begun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRecord {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: i32,
    /// The process's start time in clock ticks since boot: with the pid, its identity.
    pub pid_start_ticks: Option<u64>,
    pub started_at_ms: i64,
    /// The instance's restart counter after this spawn.
    pub restarts: u32,
    pub trigger: SpawnTrigger,
    /// The deployment that last changed the app (`runs.deployment_id`).
    #[serde(default)]
    pub deployment: Option<u64>,
}

/// A deployment as it begins: its id is given by the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentBegun {
    pub id: u64,
    pub started_at_ms: i64,
    pub meta: crate::deploy::DeploymentMeta,
    pub plan: crate::deploy::Plan,
    pub specs: Vec<AppSpec>,
}

/// One exit: a run has ended, with its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: Option<i32>,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub cause: Cause,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub core_dumped: bool,
    /// Shorter than `min_uptime`.
    pub unstable: bool,
    /// SIGKILL was needed after `kill_timeout`.
    pub sigkill_needed: bool,
    /// The delay chosen before the next start, when one follows.
    pub next_delay_ms: Option<u64>,
    /// The OS error of a failed spawn, or another detail.
    pub error: Option<String>,
    pub rss_last_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// `confirmed` or `likely` for `oom_killed`.
    pub oom_confidence: Option<String>,
    /// Processes of the app's group or tree killed after the main process ended.
    pub leftovers_killed: u32,
    /// The last lines of stderr (at most 20 lines / 4 KiB).
    pub stderr_tail: Option<String>,
    /// `ended_at_ms` is the earliest moment the run can have ended, not when it did: the
    /// daemon itself was stopped (SIGSTOP, a frozen host) when the run ended.
    #[serde(default)]
    pub end_approx: bool,
}

impl ExitRecord {
    /// A plain exit of `app:0` run `run` with `cause`, ended at `ended_at_ms` after `uptime_ms`
    /// (code 1 for `exited`); tests set what they look at.
    pub fn sample(app: &str, run: u64, cause: Cause, ended_at_ms: i64, uptime_ms: i64) -> Self {
        ExitRecord {
            app: app.to_string(),
            instance: 0,
            run,
            pid: Some(100),
            started_at_ms: ended_at_ms - uptime_ms,
            ended_at_ms,
            cause,
            exit_code: (cause == Cause::Exited).then_some(1),
            signal: None,
            core_dumped: false,
            unstable: false,
            sigkill_needed: false,
            next_delay_ms: None,
            error: None,
            rss_last_bytes: None,
            rss_peak_bytes: None,
            memory_limit_bytes: None,
            oom_confidence: None,
            leftovers_killed: 0,
            stderr_tail: None,
            end_approx: false,
        }
    }
}

/// An app as the previous daemon left it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApp {
    pub spec: AppSpec,
    pub should_run: bool,
    pub instances: Vec<InstanceCounters>,
    /// The deployment of the app's newest run that has one.
    pub deployment: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceCounters {
    pub index: u32,
    pub last_run: u64,
    pub restarts: u32,
    pub unstable_restarts: u32,
    pub auto_restarts: u32,
    pub manual_restarts: u32,
    pub last_exit: Option<ExitRecord>,
    /// The user stopped this instance: a new daemon leaves it stopped.
    pub held_stopped: bool,
}

/// A run with a spawn and no exit: the daemon died while it was alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRun {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: i32,
    pub pid_start_ticks: Option<u64>,
    pub started_at_ms: i64,
}

/// What the previous daemon left: read once at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub apps: Vec<StoredApp>,
    /// Exits per app, instance and cause in the kept history (the counters of `metrics`).
    pub exit_counts: Vec<ExitCount>,
    pub open_runs: Vec<OpenRun>,
    /// The highest deployment id so far (0: none): the next one is one more.
    pub last_deployment: u64,
}

/// How many runs of an instance ended with one cause, and how many of those were followed by
/// an automatic restart (a restart delay was chosen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitCount {
    pub app: String,
    pub instance: u32,
    pub cause: crate::record::Cause,
    pub exits: u64,
    pub restarts: u64,
}

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age_ms: i64,
    pub max_runs_per_app: u64,
    pub memory_max_age_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age_ms: 30 * 24 * 3600 * 1000,
            max_runs_per_app: 10_000,
            memory_max_age_ms: 7 * 24 * 3600 * 1000,
        }
    }
}
