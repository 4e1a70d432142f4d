//! The shared vocabulary: an instance's status, why a run ended, what made it start, and signal
//! names. Shared by the lifecycle (which decides them), the store (which writes them), the
//! protocol and the CLI (which show them); it imports nothing of svctl.

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// PM2's status words, used on the wire and in `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Stopped,
    Launching,
    Online,
    Stopping,
    #[serde(rename = "waiting restart")]
    WaitingRestart,
    Errored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Launching => "launching",
            Status::Online => "online",
            Status::Stopping => "stopping",
            Status::WaitingRestart => "waiting restart",
            Status::Errored => "errored",
        }
    }

    /// Whether a process of this instance may be alive.
    pub fn has_process(self) -> bool {
        matches!(self, Status::Launching | Status::Online | Status::Stopping)
    }
}

/// Why a run ended. Every run ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Exited by itself; the exit code is recorded (0 or not).
    Exited,
    /// Killed by a signal svctl did not send.
    Signaled,
    /// SIGKILL svctl did not send while the kernel's OOM-kill counter moved.
    OomKilled,
    /// svctl stopped it because its tree's RSS passed `max_memory_restart`.
    MemoryLimit,
    /// A user's `restart`.
    Restarted,
    /// A user's `stop` or `delete`, or the daemon shutting down.
    Stopped,
    /// `cron_restart` fired.
    Cron,
    /// A watched file changed.
    Watch,
    /// The program could not be executed; the OS error is recorded.
    SpawnFailed,
    /// The daemon died while the run was alive; closed by the next daemon.
    DaemonLost,
    /// It did not become ready within `listen_timeout` (or its readiness probe never passed).
    NotReady,
    /// Its health check failed `failures` times in a row, or it missed its watchdog.
    Unhealthy,
    /// `svctl reload` replaced it with a new process that was ready.
    Reload,
}

impl Cause {
    pub const ALL: [Cause; 13] = [
        Cause::Exited,
        Cause::Signaled,
        Cause::OomKilled,
        Cause::MemoryLimit,
        Cause::Restarted,
        Cause::Stopped,
        Cause::Cron,
        Cause::Watch,
        Cause::SpawnFailed,
        Cause::DaemonLost,
        Cause::NotReady,
        Cause::Unhealthy,
        Cause::Reload,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Exited => "exited",
            Cause::Signaled => "signaled",
            Cause::OomKilled => "oom_killed",
            Cause::MemoryLimit => "memory_limit",
            Cause::Restarted => "restarted",
            Cause::Stopped => "stopped",
            Cause::Cron => "cron",
            Cause::Watch => "watch",
            Cause::SpawnFailed => "spawn_failed",
            Cause::DaemonLost => "daemon_lost",
            Cause::NotReady => "not_ready",
            Cause::Unhealthy => "unhealthy",
            Cause::Reload => "reload",
        }
    }

    /// Causes that come from a decision of the user or of svctl, as opposed to a crash.
    pub fn is_requested(self) -> bool {
        matches!(
            self,
            Cause::MemoryLimit
                | Cause::Restarted
                | Cause::Stopped
                | Cause::Cron
                | Cause::Watch
                | Cause::Unhealthy
                | Cause::Reload
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What made a spawn happen; the history splits automatic from manual restarts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpawnTrigger {
    Start,
    AutoRestart,
    ManualRestart,
    /// `svctl reload`: a new process beside (or instead of) the old one.
    Reload,
}

impl SpawnTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            SpawnTrigger::Start => "start",
            SpawnTrigger::AutoRestart => "auto_restart",
            SpawnTrigger::ManualRestart => "manual_restart",
            SpawnTrigger::Reload => "reload",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown cause `{0}`; known causes: exited, signaled, oom_killed, memory_limit, restarted, stopped, cron, watch, spawn_failed, daemon_lost, not_ready, unhealthy, reload"
)]
pub struct UnknownCause(pub String);

impl FromStr for Cause {
    type Err = UnknownCause;
    fn from_str(s: &str) -> Result<Cause, UnknownCause> {
        Cause::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCause(s.to_string()))
    }
}

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let t = name.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = t.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok()
}

/// The name of signal number `n` (`SIGSEGV`), or `SIG<n>` for one nix does not know.
pub fn signal_name(n: i32) -> String {
    Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for c in Cause::ALL {
            assert_eq!(c.as_str().parse::<Cause>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert!("crashed".parse::<Cause>().is_err());
    }
}
