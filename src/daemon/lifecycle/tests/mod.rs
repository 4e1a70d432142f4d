//! The transition table of every (state, event) pair worth a row, and the helpers the
//! scenario tests share.

use super::rules::summary;
use super::*;
use Status::*;

mod reload;
mod scenarios;
mod sweep;

pub(super) fn policy() -> Policy {
    Policy {
        autorestart: true,
        stop_exit_codes: vec![42],
        delay: DelayPolicy {
            restart_delay_ms: 0,
            exp_backoff_ms: None,
        },
        min_uptime_ms: 1000,
        max_restarts: 3,
        kill_timeout_ms: 1600,
        memory: None,
        treekill: false,
        readiness: false,
        listen_timeout_ms: 3000,
        health_failures: None,
        watchdog_ms: None,
        reload: ReloadMode::Surge,
        default_backoff: false,
        notify_reload: false,
    }
}

pub(super) fn at(status: Status, run: u64) -> Instance {
    Instance {
        status,
        run,
        started_at_ms: status.has_process().then_some(0),
        ..Instance::new()
    }
}

pub(super) fn exited(run: u64, code: i32) -> Event {
    Event::Exited {
        run,
        exit: ExitFacts {
            code: Some(code),
            ..ExitFacts::default()
        },
    }
}

pub(super) fn killed_by(run: u64, signal: i32) -> Event {
    Event::Exited {
        run,
        exit: ExitFacts {
            signal: Some(signal),
            ..ExitFacts::default()
        },
    }
}

pub(super) fn record(run: u64, cause: Cause, unstable: bool, delay: Option<u64>) -> Effect {
    Effect::RecordExit(ExitSummary {
        run,
        cause,
        unstable,
        sigkill_needed: false,
        next_delay_ms: delay,
        oom_confidence: None,
        breach: None,
        leftovers_killed: 0,
        watchdog_missed: false,
    })
}

pub(super) fn spawn(run: u64, trigger: Trigger) -> Effect {
    Effect::Spawn { run, trigger }
}

pub(super) fn graceful_stop(run: u64, at_ms: u64) -> Vec<Effect> {
    vec![
        Effect::Signal {
            run,
            signal: Signal::Graceful,
        },
        Effect::Timer {
            run,
            kind: TimerKind::KillDeadline,
            at_ms,
        },
    ]
}

/// (state before, event, now, expected status after, expected effects)
#[test]
fn transition_table() {
    let p = policy();
    let table: Vec<(Instance, Event, u64, Status, Vec<Effect>)> = vec![
        // start
        (
            at(Stopped, 0),
            Event::Start,
            0,
            Launching,
            vec![spawn(1, Trigger::Start)],
        ),
        (
            at(Errored, 4),
            Event::Start,
            0,
            Launching,
            vec![spawn(5, Trigger::Start)],
        ),
        (at(Online, 1), Event::Start, 0, Online, vec![]),
        (at(Launching, 1), Event::Start, 0, Launching, vec![]),
        (
            at(WaitingRestart, 1),
            Event::Start,
            0,
            WaitingRestart,
            vec![],
        ),
        // spawn outcome
        (
            at(Launching, 1),
            Event::Spawned { run: 1 },
            0,
            Online,
            vec![],
        ),
        (
            at(Launching, 2),
            Event::Spawned { run: 1 },
            0,
            Launching,
            vec![],
        ),
        (
            at(Launching, 1),
            Event::SpawnFailed {
                run: 1,
                errno: Some(libc::ENOENT),
            },
            0,
            Errored,
            vec![record(1, Cause::SpawnFailed, true, None)],
        ),
        (
            at(Launching, 1),
            Event::SpawnFailed {
                run: 1,
                errno: None,
            },
            0,
            Errored,
            vec![record(1, Cause::SpawnFailed, true, None)],
        ),
        // a shortage of the host (EMFILE): retried after a backoff, not counted as unstable
        (
            at(Launching, 1),
            Event::SpawnFailed {
                run: 1,
                errno: Some(libc::EMFILE),
            },
            0,
            WaitingRestart,
            vec![
                record(1, Cause::SpawnFailed, false, Some(DEFAULT_BACKOFF_MS)),
                Effect::Timer {
                    run: 1,
                    kind: TimerKind::RestartDue,
                    at_ms: DEFAULT_BACKOFF_MS,
                },
            ],
        ),
        // crash: unstable, immediate restart
        (
            at(Online, 1),
            exited(1, 1),
            10,
            Launching,
            vec![
                record(1, Cause::Exited, true, Some(0)),
                spawn(2, Trigger::AutoRestart),
            ],
        ),
        // crash after min_uptime: stable
        (
            at(Online, 1),
            exited(1, 1),
            5000,
            Launching,
            vec![
                record(1, Cause::Exited, false, Some(0)),
                spawn(2, Trigger::AutoRestart),
            ],
        ),
        // reaped 5 s in, but it may have ended 4.5 s earlier while the daemon was paused:
        // unstable
        (
            at(Online, 1),
            Event::Exited {
                run: 1,
                exit: ExitFacts {
                    code: Some(1),
                    unseen_ms: 4500,
                    ..ExitFacts::default()
                },
            },
            5000,
            Launching,
            vec![
                record(1, Cause::Exited, true, Some(0)),
                spawn(2, Trigger::AutoRestart),
            ],
        ),
        // signal death
        (
            at(Online, 1),
            killed_by(1, libc::SIGSEGV),
            5000,
            Launching,
            vec![
                record(1, Cause::Signaled, false, Some(0)),
                spawn(2, Trigger::AutoRestart),
            ],
        ),
        // stop exit code: done
        (
            at(Online, 1),
            exited(1, 42),
            10,
            Stopped,
            vec![record(1, Cause::Exited, true, None)],
        ),
        // a late exit of an older run is ignored
        (at(Online, 2), exited(1, 1), 10, Online, vec![]),
        (at(Stopped, 1), exited(1, 1), 10, Stopped, vec![]),
        // stop
        (
            at(Online, 1),
            Event::Stop(Cause::Stopped),
            100,
            Stopping,
            graceful_stop(1, 1700),
        ),
        (
            at(Launching, 1),
            Event::Stop(Cause::Stopped),
            0,
            Stopping,
            graceful_stop(1, 1600),
        ),
        (
            at(WaitingRestart, 1),
            Event::Stop(Cause::Stopped),
            0,
            Stopped,
            vec![],
        ),
        (
            at(Stopped, 1),
            Event::Stop(Cause::Stopped),
            0,
            Stopped,
            vec![],
        ),
        (
            at(Errored, 1),
            Event::Stop(Cause::Stopped),
            0,
            Errored,
            vec![],
        ),
        // restart
        (
            at(Online, 1),
            Event::Restart(Cause::Restarted),
            0,
            Stopping,
            graceful_stop(1, 1600),
        ),
        // restarting what does not run is a start: no restart is counted (PM2's restart_time)
        (
            at(Stopped, 1),
            Event::Restart(Cause::Restarted),
            0,
            Launching,
            vec![spawn(2, Trigger::Start)],
        ),
        (
            at(Errored, 3),
            Event::Restart(Cause::Restarted),
            0,
            Launching,
            vec![spawn(4, Trigger::Start)],
        ),
        (
            at(WaitingRestart, 1),
            Event::Restart(Cause::Restarted),
            0,
            Launching,
            vec![spawn(2, Trigger::ManualRestart)],
        ),
        // delete
        (
            at(Stopped, 1),
            Event::Delete,
            0,
            Stopped,
            vec![Effect::Forget],
        ),
        (
            at(Errored, 1),
            Event::Delete,
            0,
            Stopped,
            vec![Effect::Forget],
        ),
        (
            at(Online, 1),
            Event::Delete,
            0,
            Stopping,
            graceful_stop(1, 1600),
        ),
        // timers
        (
            at(WaitingRestart, 1),
            Event::RestartDue { run: 1 },
            0,
            Launching,
            vec![spawn(2, Trigger::AutoRestart)],
        ),
        (
            at(Stopped, 1),
            Event::RestartDue { run: 1 },
            0,
            Stopped,
            vec![],
        ),
        (
            at(Online, 1),
            Event::KillDeadline { run: 1 },
            0,
            Online,
            vec![],
        ),
    ];
    for (i, (mut inst, ev, now, want_status, want_effects)) in table.into_iter().enumerate() {
        let desc = format!("row {i}: {:?} + {ev:?}", inst.status);
        let got = step(&mut inst, &p, ev, now);
        assert_eq!(got, want_effects, "{desc}");
        assert_eq!(inst.status, want_status, "{desc}");
    }
}
