//! Owns the naming of an exit nobody asked for: `exited`, `signaled` or `oom_killed`, and how
//! sure svctl is of an OOM kill. Pure: the evidence (kernel counters, `/dev/kmsg`) is gathered
//! off the actor by the exit watcher and handed in as facts.

use crate::record::Cause;

/// How a main process ended, with the evidence about the kernel's OOM killer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitFacts {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    pub oom: OomEvidence,
    /// How long before it was reaped the process may already have ended unseen (the daemon
    /// itself was paused); 0 when the end is exact. Taken off the run's uptime.
    pub unseen_ms: u64,
}

/// Read only for a SIGKILL (only those can be the OOM killer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OomEvidence {
    /// The kernel's OOM-kill counter (host or cgroup) rose since the run started.
    pub counter_rose: bool,
    /// The counter of the run's own cgroup rose: the kill was in this run, whatever the kernel
    /// log says (it may have wrapped, or be unreadable).
    pub cgroup_oom_kill: bool,
    /// Whether `/dev/kmsg` names the pid as OOM-killed; `None` when it cannot be read.
    pub kmsg_names_pid: Option<bool>,
}

/// How sure svctl is that an `oom_killed` exit was the OOM killer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// The kernel log names the pid, or the run's own cgroup counted the kill.
    Confirmed,
    /// The counter rose and the kernel log cannot be read.
    Likely,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Confirmed => "confirmed",
            Confidence::Likely => "likely",
        }
    }
}

/// The cause of an exit svctl did not ask for. `kill_sent`: svctl itself sent SIGKILL to this
/// run (after `kill_timeout`), so a SIGKILL is not the kernel's.
///
/// The OOM counters are host- or cgroup-wide: when the kernel log is readable it decides
/// (another process's OOM kill does not make this one), else the kill is only "likely".
pub fn classify_exit(exit: &ExitFacts, kill_sent: bool) -> (Cause, Option<Confidence>) {
    match exit.signal {
        None => (Cause::Exited, None),
        Some(libc::SIGKILL) if !kill_sent && exit.oom.cgroup_oom_kill => {
            (Cause::OomKilled, Some(Confidence::Confirmed))
        }
        Some(libc::SIGKILL) if !kill_sent && exit.oom.counter_rose => {
            match exit.oom.kmsg_names_pid {
                Some(true) => (Cause::OomKilled, Some(Confidence::Confirmed)),
                Some(false) => (Cause::Signaled, None),
                None => (Cause::OomKilled, Some(Confidence::Likely)),
            }
        }
        Some(_) => (Cause::Signaled, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(code: Option<i32>, signal: Option<i32>, rose: bool, kmsg: Option<bool>) -> ExitFacts {
        ExitFacts {
            code,
            signal,
            core_dumped: false,
            oom: OomEvidence {
                counter_rose: rose,
                cgroup_oom_kill: false,
                kmsg_names_pid: kmsg,
            },
            unseen_ms: 0,
        }
    }

    fn in_cgroup(f: ExitFacts) -> ExitFacts {
        ExitFacts {
            oom: OomEvidence {
                cgroup_oom_kill: true,
                ..f.oom
            },
            ..f
        }
    }

    #[test]
    fn table() {
        use Cause::*;
        use Confidence::*;
        const KILL: Option<i32> = Some(libc::SIGKILL);
        const SEGV: Option<i32> = Some(libc::SIGSEGV);
        // (facts, svctl sent SIGKILL, expected)
        let rows: Vec<(ExitFacts, bool, (Cause, Option<Confidence>))> = vec![
            (facts(Some(0), None, false, None), false, (Exited, None)),
            (
                facts(Some(3), None, true, Some(true)),
                false,
                (Exited, None),
            ),
            (facts(None, SEGV, false, None), false, (Signaled, None)),
            (facts(None, SEGV, true, Some(true)), false, (Signaled, None)),
            (facts(None, KILL, false, None), false, (Signaled, None)),
            (
                facts(None, KILL, false, Some(true)),
                false,
                (Signaled, None),
            ),
            (
                facts(None, KILL, true, Some(true)),
                false,
                (OomKilled, Some(Confirmed)),
            ),
            (
                facts(None, KILL, true, None),
                false,
                (OomKilled, Some(Likely)),
            ),
            // Another process's OOM kill moved the counter; the log says it was not this one.
            (
                facts(None, KILL, true, Some(false)),
                false,
                (Signaled, None),
            ),
            // svctl's own SIGKILL after kill_timeout is never the kernel's.
            (facts(None, KILL, true, Some(true)), true, (Signaled, None)),
            // The run's own cgroup counted the kill: confirmed without (or despite) the log.
            (
                in_cgroup(facts(None, KILL, true, None)),
                false,
                (OomKilled, Some(Confirmed)),
            ),
            (
                in_cgroup(facts(None, KILL, true, Some(false))),
                false,
                (OomKilled, Some(Confirmed)),
            ),
            (
                in_cgroup(facts(None, KILL, true, None)),
                true,
                (Signaled, None),
            ),
            (
                in_cgroup(facts(None, SEGV, true, None)),
                false,
                (Signaled, None),
            ),
        ];
        for (i, (f, kill_sent, want)) in rows.into_iter().enumerate() {
            assert_eq!(classify_exit(&f, kill_sent), want, "row {i}: {f:?}");
        }
    }
}
