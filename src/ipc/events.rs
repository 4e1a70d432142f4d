//! The lifecycle events of the protocol's `events` answer: what `events --json` prints and what
//! hooks read on stdin.

use crate::record::Cause;
use serde::{Deserialize, Serialize};

/// What happened to an instance (or, for `deployment`, to the daemon's apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A run's process was started (`pid`).
    Spawn,
    /// The run is online (started, or ready when the app has a readiness method).
    Online,
    /// A run ended: `cause`, `exit_code` or `signal`.
    Exit,
    /// A restart was scheduled after `delay_ms`.
    RestartScheduled,
    /// Too many unstable exits (or a program that cannot run): no more restarts.
    Errored,
    /// The memory guard is stopping the run: its tree passed `max_memory_restart`.
    MemoryLimit,
    /// The health check or watchdog failed enough times: the run is being restarted.
    Unhealthy,
    /// The instance is stopped and stays so.
    Stop,
    /// A deployment (`apply`, `start FILE`, `reload FILE`, `rollback`) ended (`message`).
    Deployment,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawn => "spawn",
            EventKind::Online => "online",
            EventKind::Exit => "exit",
            EventKind::RestartScheduled => "restart_scheduled",
            EventKind::Errored => "errored",
            EventKind::MemoryLimit => "memory_limit",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Stop => "stop",
            EventKind::Deployment => "deployment",
        }
    }
}

/// One lifecycle event, as `events --json` prints it and hooks read it on stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Unix ms.
    pub at_ms: i64,
    pub event: EventKind,
    /// The app (empty for a deployment of several apps).
    pub app: String,
    pub namespace: String,
    pub instance: u32,
    pub run: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Restarts of the instance so far (PM2's ↺).
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Details: the OS error of a failed spawn, the RSS against the limit, a deployment's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last lines of the run's stderr (exits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}
