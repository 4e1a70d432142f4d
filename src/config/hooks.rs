//! Owns the shape of `hooks:` (per app in an ecosystem file, and the daemon-wide default of
//! `svctl daemon --hook`): which command runs on which lifecycle event, under which timeout,
//! and how often at most per app.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a hook may run before its process group is killed.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// A hook of an app runs at most once per this interval; the events between are folded.
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;

/// The events a hook can run on, by their key in `hooks:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOn {
    /// A run ended (any cause).
    OnExit,
    /// The instance went `errored`: no more restarts.
    OnErrored,
    /// The memory guard is restarting it (`max_memory_restart`).
    OnMemoryLimit,
    /// The kernel's OOM killer ended it.
    OnOomKill,
    /// Its health check or watchdog failed: it is being restarted.
    OnUnhealthy,
    /// A run is online.
    OnStart,
}

impl HookOn {
    pub const ALL: [HookOn; 6] = [
        HookOn::OnExit,
        HookOn::OnErrored,
        HookOn::OnMemoryLimit,
        HookOn::OnOomKill,
        HookOn::OnUnhealthy,
        HookOn::OnStart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookOn::OnExit => "on_exit",
            HookOn::OnErrored => "on_errored",
            HookOn::OnMemoryLimit => "on_memory_limit",
            HookOn::OnOomKill => "on_oom_kill",
            HookOn::OnUnhealthy => "on_unhealthy",
            HookOn::OnStart => "on_start",
        }
    }

    pub fn parse(key: &str) -> Option<HookOn> {
        HookOn::ALL.into_iter().find(|h| h.as_str() == key)
    }
}

/// Commands (run with `sh -c`) per event; empty when the app has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(default)]
    pub commands: BTreeMap<HookOn, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The app's own hooks, each event falling back to the daemon-wide ones.
    pub fn or(&self, defaults: &Hooks) -> Hooks {
        let mut commands = defaults.commands.clone();
        commands.extend(self.commands.clone());
        Hooks {
            commands,
            timeout_ms: self.timeout_ms.or(defaults.timeout_ms),
            interval_ms: self.interval_ms.or(defaults.interval_ms),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    pub fn interval_ms(&self) -> u64 {
        self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS)
    }
}

/// Why a hook's command would not run, when that can be told before it runs: its program is
/// neither a path to an executable nor a name found in `PATH` (shell builtins and syntax are
/// not second-guessed: only the first word of a simple command is looked at).
pub fn command_problem(command: &str) -> Option<String> {
    let words = shlex::split(command)?;
    let first = words.iter().find(|w| !w.contains('='))?;
    if first.chars().any(|c| "|&;<>()$`\\\"'*?[]{}!".contains(c)) || is_builtin(first) {
        return None;
    }
    let found = if first.contains('/') {
        executable(std::path::Path::new(first))
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| executable(&d.join(first))))
            .unwrap_or(false)
    };
    (!found).then(|| format!("`{first}` is not an executable file or a command in PATH"))
}

fn executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn is_builtin(word: &str) -> bool {
    matches!(
        word,
        "exec" | "cd" | "export" | "set" | "true" | "false" | ":" | "." | "if" | "for" | "while"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_and_a_present_one_is_not() {
        assert!(command_problem("curl-that-does-not-exist -d x").is_some());
        assert!(command_problem("/no/such/hook.sh").is_some());
        assert_eq!(command_problem("sh -c 'echo hi'"), None);
        assert_eq!(command_problem("FOO=1 sh -c true"), None);
        assert_eq!(command_problem("echo $SVCTL_APP | cat"), None);
    }

    #[test]
    fn an_apps_hooks_win_over_the_daemon_wide_ones_per_event() {
        let mut app = Hooks::default();
        app.commands.insert(HookOn::OnExit, "a".into());
        let mut daemon = Hooks::default();
        daemon.commands.insert(HookOn::OnExit, "d".into());
        daemon.commands.insert(HookOn::OnErrored, "e".into());
        daemon.timeout_ms = Some(5);
        let merged = app.or(&daemon);
        assert_eq!(merged.commands[&HookOn::OnExit], "a");
        assert_eq!(merged.commands[&HookOn::OnErrored], "e");
        assert_eq!(merged.timeout_ms(), 5);
    }
}
