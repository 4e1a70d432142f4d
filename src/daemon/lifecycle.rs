//! Owns the life of one instance: the only place that assigns its [`Status`].
//!
//! Pure: `step(instance, policy, event, now_ms) -> Vec<Effect>`. No clock, no tokio, no I/O; the
//! supervisor performs the effects and feeds their outcome back as events. Every event carries
//! the run number it belongs to, so a late exit or timer of an earlier run is ignored.
//!
//! `online` is reported as soon as the program was executed (as PM2 does); `min_uptime` does not
//! delay it but classifies the exit: a run shorter than `min_uptime` is *unstable*, and
//! `max_restarts` consecutive unstable exits end in `errored`. A run that lasts `min_uptime`
//! resets that count, so a crash loop can never restart forever.

use crate::daemon::backoff::{self, DelayPolicy};
use crate::record::Cause;

pub use crate::record::Status;

/// What made a spawn happen (the store's word for it too).
pub use crate::record::SpawnTrigger as Trigger;

/// The restart policy of an app, as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub autorestart: bool,
    pub stop_exit_codes: Vec<i32>,
    pub delay: DelayPolicy,
    pub min_uptime_ms: u64,
    pub max_restarts: u32,
    pub kill_timeout_ms: u64,
}

impl Policy {
    pub fn from_spec(spec: &crate::config::AppSpec) -> Policy {
        Policy {
            autorestart: spec.autorestart,
            stop_exit_codes: spec.stop_exit_codes.clone(),
            delay: DelayPolicy {
                restart_delay_ms: spec.restart_delay_ms,
                exp_backoff_ms: spec.exp_backoff_restart_delay_ms,
            },
            min_uptime_ms: spec.min_uptime_ms,
            max_restarts: spec.max_restarts,
            kill_timeout_ms: spec.kill_timeout_ms,
        }
    }
}

/// What happens once the process of a stopping instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Stop,
    Start,
    Restart(Cause),
    Delete,
}

/// The state of one instance. Fields are read by the supervisor; only [`step`] changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub status: Status,
    /// The current (or last) run number; the next spawn uses `run + 1`.
    pub run: u64,
    /// Every respawn (automatic or manual), shown as ↺.
    pub restarts: u32,
    /// Consecutive unstable exits.
    pub unstable: u32,
    /// When the current run was spawned (ms on the supervisor's monotonic clock).
    pub started_at_ms: Option<u64>,
    /// Exponential backoff state (0 = none).
    pub backoff_ms: u64,
    /// When the waiting restart is due.
    pub restart_due_ms: Option<u64>,
    /// Set while stopping: why, and what comes next.
    pub stopping: Option<(Cause, AfterStop)>,
    /// SIGKILL was sent to this run after `kill_timeout`.
    pub kill_sent: bool,
}

impl Instance {
    pub fn new() -> Instance {
        Instance {
            status: Status::Stopped,
            run: 0,
            restarts: 0,
            unstable: 0,
            started_at_ms: None,
            backoff_ms: 0,
            restart_due_ms: None,
            stopping: None,
            kill_sent: false,
        }
    }

    /// An instance restored from the database: stopped, with its counters.
    pub fn restored(run: u64, restarts: u32, unstable: u32) -> Instance {
        Instance {
            run,
            restarts,
            unstable,
            ..Instance::new()
        }
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The user wants it running.
    Start,
    /// Stop it (user stop, shutdown: cause `stopped`).
    Stop(Cause),
    /// Stop it, and remove it once stopped.
    Delete,
    /// Restart it (user: `restarted`; also `memory_limit`, `cron`, `watch`).
    Restart(Cause),
    /// The spawn effect for `run` succeeded.
    Spawned { run: u64 },
    /// The spawn effect for `run` failed (ENOENT, EACCES…).
    SpawnFailed { run: u64 },
    /// The main process of `run` ended. `natural` is the cause when svctl did not ask for it
    /// (`exited`, `signaled` or `oom_killed`); `code` is the exit code if it exited.
    Exited {
        run: u64,
        natural: Cause,
        code: Option<i32>,
    },
    /// The delay before restarting `run`'s successor is over.
    RestartDue { run: u64 },
    /// `kill_timeout` after the stop signal of `run` has passed.
    KillDeadline { run: u64 },
}

/// Which signal to send to the instance's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The app's `kill_signal`.
    Graceful,
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    RestartDue,
    KillDeadline,
}

/// What the supervisor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Spawn run `run`, then feed back `Spawned` or `SpawnFailed`.
    Spawn { run: u64, trigger: Trigger },
    /// Signal the process group of `run`.
    Signal { run: u64, signal: Signal },
    /// Feed back the matching event at `at_ms`.
    Timer {
        run: u64,
        kind: TimerKind,
        at_ms: u64,
    },
    /// Record the end of `run` with this cause.
    RecordExit {
        run: u64,
        cause: Cause,
        unstable: bool,
        sigkill_needed: bool,
        next_delay_ms: Option<u64>,
    },
    /// The instance is stopped and was asked to be deleted: forget it.
    Forget,
}

/// Applies one event. Returns the effects to perform, in order.
pub fn step(inst: &mut Instance, policy: &Policy, event: Event, now_ms: u64) -> Vec<Effect> {
    use Status::*;
    match event {
        Event::Start => match inst.status {
            Stopped | Errored => {
                inst.unstable = 0;
                inst.backoff_ms = 0;
                spawn(inst, Trigger::Start)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Start);
                vec![]
            }
            Launching | Online | WaitingRestart => vec![],
        },
        Event::Restart(cause) => match inst.status {
            Stopped | Errored | WaitingRestart => {
                inst.restart_due_ms = None;
                if cause == Cause::Restarted {
                    inst.unstable = 0;
                    inst.backoff_ms = 0;
                }
                inst.restarts = inst.restarts.saturating_add(1);
                spawn(inst, trigger_for(cause))
            }
            Launching | Online => {
                begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Restart(cause));
                vec![]
            }
        },
        Event::Stop(cause) => match inst.status {
            Launching | Online => begin_stop(inst, policy, cause, AfterStop::Stop, now_ms),
            WaitingRestart => {
                inst.restart_due_ms = None;
                inst.status = Stopped;
                vec![]
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Stop);
                vec![]
            }
            Stopped | Errored => vec![],
        },
        Event::Delete => match inst.status {
            Launching | Online => {
                begin_stop(inst, policy, Cause::Stopped, AfterStop::Delete, now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Delete);
                vec![]
            }
            WaitingRestart | Stopped | Errored => {
                inst.restart_due_ms = None;
                inst.status = Stopped;
                vec![Effect::Forget]
            }
        },
        Event::Spawned { run } => {
            if run == inst.run && inst.status == Launching {
                inst.status = Online;
            }
            vec![]
        }
        Event::SpawnFailed { run } => {
            if run != inst.run || inst.status != Launching {
                return vec![];
            }
            // A program that cannot be executed will not start by retrying: errored at once,
            // with the OS error in the record.
            inst.status = Errored;
            inst.started_at_ms = None;
            let mut effects = vec![Effect::RecordExit {
                run,
                cause: Cause::SpawnFailed,
                unstable: true,
                sigkill_needed: false,
                next_delay_ms: None,
            }];
            if let Some((_, after)) = inst.stopping.take() {
                effects.extend(finish_stop(inst, after));
            }
            effects
        }
        Event::Exited { run, natural, code } => {
            if run != inst.run || !inst.status.has_process() {
                return vec![];
            }
            let uptime = inst.started_at_ms.map_or(0, |s| now_ms.saturating_sub(s));
            inst.started_at_ms = None;
            let sigkill_needed = std::mem::take(&mut inst.kill_sent);
            if let Some((cause, after)) = inst.stopping.take() {
                let mut effects = vec![Effect::RecordExit {
                    run,
                    cause,
                    unstable: false,
                    sigkill_needed,
                    next_delay_ms: None,
                }];
                effects.extend(finish_stop(inst, after));
                return effects;
            }
            crashed(inst, policy, run, natural, code, uptime, now_ms)
        }
        Event::RestartDue { run } => {
            if run != inst.run || inst.status != WaitingRestart {
                return vec![];
            }
            inst.restart_due_ms = None;
            inst.restarts = inst.restarts.saturating_add(1);
            spawn(inst, Trigger::AutoRestart)
        }
        Event::KillDeadline { run } => {
            if run != inst.run || inst.status != Stopping || inst.kill_sent {
                return vec![];
            }
            inst.kill_sent = true;
            vec![Effect::Signal {
                run,
                signal: Signal::Kill,
            }]
        }
    }
}

fn trigger_for(cause: Cause) -> Trigger {
    if cause == Cause::Restarted {
        Trigger::ManualRestart
    } else {
        Trigger::AutoRestart
    }
}

fn spawn(inst: &mut Instance, trigger: Trigger) -> Vec<Effect> {
    inst.run += 1;
    inst.status = Status::Launching;
    inst.stopping = None;
    inst.kill_sent = false;
    vec![Effect::Spawn {
        run: inst.run,
        trigger,
    }]
}

/// `svctl reset`: the counters start again from zero; the state and run number stay.
pub fn reset_counters(inst: &mut Instance) {
    inst.restarts = 0;
    inst.unstable = 0;
    inst.backoff_ms = 0;
}

/// Called by the supervisor right before it performs a `Spawn` effect, so uptime is measured
/// from the real spawn.
pub fn mark_started(inst: &mut Instance, now_ms: u64) {
    inst.started_at_ms = Some(now_ms);
}

fn begin_stop(
    inst: &mut Instance,
    policy: &Policy,
    cause: Cause,
    after: AfterStop,
    now_ms: u64,
) -> Vec<Effect> {
    inst.status = Status::Stopping;
    inst.stopping = Some((cause, after));
    inst.kill_sent = false;
    vec![
        Effect::Signal {
            run: inst.run,
            signal: Signal::Graceful,
        },
        Effect::Timer {
            run: inst.run,
            kind: TimerKind::KillDeadline,
            at_ms: now_ms.saturating_add(policy.kill_timeout_ms),
        },
    ]
}

/// A later request while stopping replaces what comes next, except that a delete always wins.
fn set_after_stop(inst: &mut Instance, after: AfterStop) {
    if let Some((cause, current)) = inst.stopping
        && current != AfterStop::Delete
    {
        inst.stopping = Some((cause, after));
    }
}

fn finish_stop(inst: &mut Instance, after: AfterStop) -> Vec<Effect> {
    match after {
        AfterStop::Stop => {
            inst.status = Status::Stopped;
            vec![]
        }
        AfterStop::Delete => {
            inst.status = Status::Stopped;
            vec![Effect::Forget]
        }
        AfterStop::Start => {
            inst.unstable = 0;
            inst.backoff_ms = 0;
            spawn(inst, Trigger::Start)
        }
        AfterStop::Restart(cause) => {
            if cause == Cause::Restarted {
                inst.unstable = 0;
                inst.backoff_ms = 0;
            }
            inst.restarts = inst.restarts.saturating_add(1);
            spawn(inst, trigger_for(cause))
        }
    }
}

fn crashed(
    inst: &mut Instance,
    policy: &Policy,
    run: u64,
    natural: Cause,
    code: Option<i32>,
    uptime: u64,
    now_ms: u64,
) -> Vec<Effect> {
    let unstable = uptime < policy.min_uptime_ms;
    inst.unstable = if unstable {
        inst.unstable.saturating_add(1)
    } else {
        0
    };
    let record = |next_delay_ms| Effect::RecordExit {
        run,
        cause: natural,
        unstable,
        sigkill_needed: false,
        next_delay_ms,
    };
    let wanted_stop = code.is_some_and(|c| policy.stop_exit_codes.contains(&c));
    if !policy.autorestart || wanted_stop {
        inst.status = Status::Stopped;
        return vec![record(None)];
    }
    if inst.unstable >= policy.max_restarts {
        inst.status = Status::Errored;
        return vec![record(None)];
    }
    let (delay, state) = backoff::next_delay(policy.delay, inst.backoff_ms, uptime);
    inst.backoff_ms = state;
    if delay == 0 {
        inst.restarts = inst.restarts.saturating_add(1);
        let mut effects = vec![record(Some(0))];
        effects.extend(spawn(inst, Trigger::AutoRestart));
        return effects;
    }
    inst.status = Status::WaitingRestart;
    let at_ms = now_ms.saturating_add(delay);
    inst.restart_due_ms = Some(at_ms);
    vec![
        record(Some(delay)),
        Effect::Timer {
            run,
            kind: TimerKind::RestartDue,
            at_ms,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn policy() -> Policy {
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
        }
    }

    fn at(status: Status, run: u64) -> Instance {
        Instance {
            status,
            run,
            started_at_ms: status.has_process().then_some(0),
            ..Instance::new()
        }
    }

    fn exited(run: u64, code: i32) -> Event {
        Event::Exited {
            run,
            natural: Cause::Exited,
            code: Some(code),
        }
    }

    fn record(run: u64, cause: Cause, unstable: bool, delay: Option<u64>) -> Effect {
        Effect::RecordExit {
            run,
            cause,
            unstable,
            sigkill_needed: false,
            next_delay_ms: delay,
        }
    }

    fn spawn(run: u64, trigger: Trigger) -> Effect {
        Effect::Spawn { run, trigger }
    }

    fn graceful_stop(run: u64, at_ms: u64) -> Vec<Effect> {
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
                Event::SpawnFailed { run: 1 },
                0,
                Errored,
                vec![record(1, Cause::SpawnFailed, true, None)],
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
            // signal death
            (
                at(Online, 1),
                Event::Exited {
                    run: 1,
                    natural: Cause::Signaled,
                    code: None,
                },
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
            (
                at(Stopped, 1),
                Event::Restart(Cause::Restarted),
                0,
                Launching,
                vec![spawn(2, Trigger::ManualRestart)],
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

    fn run_to_online(inst: &mut Instance, p: &Policy, now: u64) {
        let effects = step(inst, p, Event::Start, now);
        let Some(Effect::Spawn { run, .. }) = effects.first() else {
            panic!("expected a spawn, got {effects:?}");
        };
        mark_started(inst, now);
        step(inst, p, Event::Spawned { run: *run }, now);
        assert_eq!(inst.status, Online);
    }

    /// Crash at `now`, then perform the spawn the machine asks for, at `now` too.
    fn crash(inst: &mut Instance, p: &Policy, now: u64) -> Vec<Effect> {
        crash_then_spawn_at(inst, p, now, now)
    }

    fn crash_then_spawn_at(
        inst: &mut Instance,
        p: &Policy,
        now: u64,
        spawn_at: u64,
    ) -> Vec<Effect> {
        let run = inst.run;
        let effects = step(inst, p, exited(run, 1), now);
        if let Some(Effect::Spawn { run, .. }) = effects.last() {
            mark_started(inst, spawn_at);
            step(inst, p, Event::Spawned { run: *run }, spawn_at);
        }
        effects
    }

    #[test]
    fn consecutive_unstable_exits_end_in_errored_with_no_time_window() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        // Even a crash loop spread over a long time errors: what counts is consecutive short
        // runs, not how many fit in a window.
        let mut start = 0;
        for n in 1..=3 {
            let next_start = start + 999 + 100_000;
            crash_then_spawn_at(&mut inst, &p, start + 999, next_start);
            assert_eq!(inst.unstable, n);
            start = next_start;
        }
        assert_eq!(inst.status, Errored);
        assert_eq!(inst.restarts, 2, "3 runs after the first start: 2 respawns");
    }

    #[test]
    fn a_stable_run_resets_the_unstable_count() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        crash(&mut inst, &p, 10);
        crash(&mut inst, &p, 20);
        assert_eq!(inst.unstable, 2);
        crash(&mut inst, &p, 20 + 1000);
        assert_eq!(inst.unstable, 0);
        assert_eq!(inst.status, Online);
    }

    #[test]
    fn autorestart_false_leaves_it_stopped() {
        let p = Policy {
            autorestart: false,
            ..policy()
        };
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        let effects = crash(&mut inst, &p, 5000);
        assert_eq!(inst.status, Stopped);
        assert_eq!(inst.restarts, 0);
        assert_eq!(effects, vec![record(1, Cause::Exited, false, None)]);
    }

    #[test]
    fn restart_delay_waits_then_restarts() {
        let p = Policy {
            delay: DelayPolicy {
                restart_delay_ms: 500,
                exp_backoff_ms: None,
            },
            ..policy()
        };
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        let effects = crash(&mut inst, &p, 2000);
        assert_eq!(inst.status, WaitingRestart);
        assert_eq!(inst.restart_due_ms, Some(2500));
        assert_eq!(
            effects,
            vec![
                record(1, Cause::Exited, false, Some(500)),
                Effect::Timer {
                    run: 1,
                    kind: TimerKind::RestartDue,
                    at_ms: 2500
                }
            ]
        );
        let effects = step(&mut inst, &p, Event::RestartDue { run: 1 }, 2500);
        assert_eq!(effects, vec![spawn(2, Trigger::AutoRestart)]);
        assert_eq!(inst.restarts, 1);
    }

    #[test]
    fn exponential_backoff_grows_across_crashes() {
        let p = Policy {
            delay: DelayPolicy {
                restart_delay_ms: 0,
                exp_backoff_ms: Some(100),
            },
            max_restarts: 100,
            ..policy()
        };
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..4 {
            now += 10;
            let run = inst.run;
            let effects = step(&mut inst, &p, exited(run, 1), now);
            let Some(Effect::Timer { at_ms, run, .. }) = effects.last().cloned() else {
                panic!("{effects:?}");
            };
            delays.push(at_ms - now);
            now = at_ms;
            let effects = step(&mut inst, &p, Event::RestartDue { run }, now);
            assert_eq!(effects.len(), 1);
            mark_started(&mut inst, now);
            let run = inst.run;
            step(&mut inst, &p, Event::Spawned { run }, now);
        }
        assert_eq!(delays, vec![100, 150, 225, 337]);
    }

    #[test]
    fn stop_escalates_to_sigkill_and_records_it() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        step(&mut inst, &p, Event::Stop(Cause::Stopped), 100);
        let effects = step(&mut inst, &p, Event::KillDeadline { run: 1 }, 1700);
        assert_eq!(
            effects,
            vec![Effect::Signal {
                run: 1,
                signal: Signal::Kill
            }]
        );
        // A second deadline does not signal again.
        assert!(step(&mut inst, &p, Event::KillDeadline { run: 1 }, 1800).is_empty());
        let effects = step(
            &mut inst,
            &p,
            Event::Exited {
                run: 1,
                natural: Cause::Signaled,
                code: None,
            },
            1710,
        );
        assert_eq!(
            effects,
            vec![Effect::RecordExit {
                run: 1,
                cause: Cause::Stopped,
                unstable: false,
                sigkill_needed: true,
                next_delay_ms: None
            }]
        );
        assert_eq!(inst.status, Stopped);
        assert_eq!(inst.unstable, 0, "a requested stop is not a crash");
    }

    #[test]
    fn restart_while_online_records_the_cause_then_respawns() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        for cause in [
            Cause::Restarted,
            Cause::MemoryLimit,
            Cause::Cron,
            Cause::Watch,
        ] {
            let run = inst.run;
            step(&mut inst, &p, Event::Restart(cause), 10);
            let effects = step(&mut inst, &p, exited(run, 0), 20);
            let trigger = if cause == Cause::Restarted {
                Trigger::ManualRestart
            } else {
                Trigger::AutoRestart
            };
            assert_eq!(
                effects,
                vec![record(run, cause, false, None), spawn(run + 1, trigger)]
            );
            mark_started(&mut inst, 20);
            step(&mut inst, &p, Event::Spawned { run: run + 1 }, 20);
        }
        assert_eq!(inst.restarts, 4);
    }

    #[test]
    fn requests_while_stopping_replace_what_comes_next_but_delete_wins() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        step(&mut inst, &p, Event::Restart(Cause::Restarted), 0);
        step(&mut inst, &p, Event::Stop(Cause::Stopped), 0);
        assert_eq!(inst.stopping, Some((Cause::Restarted, AfterStop::Stop)));
        step(&mut inst, &p, Event::Delete, 0);
        step(&mut inst, &p, Event::Start, 0);
        assert_eq!(inst.stopping, Some((Cause::Restarted, AfterStop::Delete)));
        let effects = step(&mut inst, &p, exited(1, 0), 5);
        assert_eq!(
            effects,
            vec![record(1, Cause::Restarted, false, None), Effect::Forget]
        );
    }

    #[test]
    fn a_user_restart_gives_an_errored_app_fresh_chances() {
        let p = policy();
        let mut inst = Instance::new();
        run_to_online(&mut inst, &p, 0);
        for t in 1..=3 {
            crash(&mut inst, &p, t);
        }
        assert_eq!(inst.status, Errored);
        step(&mut inst, &p, Event::Restart(Cause::Restarted), 10);
        assert_eq!(inst.unstable, 0);
        assert_eq!(inst.status, Launching);
    }
}
