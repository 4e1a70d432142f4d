//! Owns the decision after a spawn that failed. A failure of the host (out of file descriptors,
//! processes or memory) passes: the run is retried with backoff, and the retries do not count
//! toward `max_restarts` since the app did nothing wrong. A failure of the app's own setup (no
//! such program, no permission, not an executable) will not pass by retrying: errored at once.

use super::backoff::{self, DelayPolicy};
use super::rules::{finish_stop, summary};
use super::{DEFAULT_BACKOFF_MS, Effect, ExitSummary, Instance, Policy, TimerKind};
use crate::record::{Cause, Status};

/// Whether a spawn error can pass by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnFailure {
    /// The host ran out of something (EMFILE, ENFILE, EAGAIN, ENOMEM…): retry with backoff.
    Transient,
    /// The app cannot be executed as configured (ENOENT, EACCES, ENOEXEC…), or the daemon
    /// refused it (a socket it cannot bind): errored at once.
    Permanent,
}

/// Classifies the OS error of a failed spawn; no error number means the daemon's own refusal.
pub fn classify(errno: Option<i32>) -> SpawnFailure {
    match errno {
        Some(
            libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM | libc::EINTR | libc::ENOBUFS,
        ) => SpawnFailure::Transient,
        _ => SpawnFailure::Permanent,
    }
}

/// `SpawnFailed` of the current run.
pub(super) fn spawn_failed(
    inst: &mut Instance,
    policy: &Policy,
    run: u64,
    errno: Option<i32>,
    now_ms: u64,
) -> Vec<Effect> {
    inst.started_at_ms = None;
    let retry =
        classify(errno) == SpawnFailure::Transient && policy.autorestart && inst.stopping.is_none();
    if !retry {
        inst.status = Status::Errored;
        let mut effects = vec![Effect::RecordExit(ExitSummary {
            unstable: true,
            ..summary(run, Cause::SpawnFailed)
        })];
        if let Some(s) = inst.stopping.take() {
            effects.extend(finish_stop(inst, s.after, now_ms));
        }
        return effects;
    }
    // The configured backoff when there is one, else the default one: never at full speed,
    // since the host's shortage lasts longer than a spawn.
    let delay_policy = match policy.delay {
        DelayPolicy {
            exp_backoff_ms: Some(b),
            ..
        } if b > 0 => policy.delay,
        _ => DelayPolicy {
            restart_delay_ms: 0,
            exp_backoff_ms: Some(DEFAULT_BACKOFF_MS.max(policy.delay.restart_delay_ms)),
        },
    };
    let (delay, state) = backoff::next_delay(delay_policy, inst.backoff_ms, 0);
    inst.backoff_ms = state;
    inst.status = Status::WaitingRestart;
    vec![
        Effect::RecordExit(ExitSummary {
            next_delay_ms: Some(delay),
            ..summary(run, Cause::SpawnFailed)
        }),
        Effect::Timer {
            run,
            kind: TimerKind::RestartDue,
            at_ms: now_ms.saturating_add(delay),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortages_pass_and_setup_errors_do_not() {
        let table = [
            (Some(libc::EMFILE), SpawnFailure::Transient),
            (Some(libc::ENFILE), SpawnFailure::Transient),
            (Some(libc::EAGAIN), SpawnFailure::Transient),
            (Some(libc::ENOMEM), SpawnFailure::Transient),
            (Some(libc::ENOENT), SpawnFailure::Permanent),
            (Some(libc::EACCES), SpawnFailure::Permanent),
            (Some(libc::ENOEXEC), SpawnFailure::Permanent),
            (Some(libc::ENOTDIR), SpawnFailure::Permanent),
            (None, SpawnFailure::Permanent),
        ];
        for (errno, want) in table {
            assert_eq!(classify(errno), want, "{errno:?}");
        }
    }
}
