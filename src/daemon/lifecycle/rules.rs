//! The rules of one run: start, stop, restart, the end of a run (sweep, record, restart policy)
//! and the counting of restarts. [`step`] routes events of a reload's new process to it and
//! readiness, health and reload events to their files.

use super::backoff::{self, DelayPolicy};
use super::classify::classify_exit;
use super::guard::MemoryGuard;
use super::{
    AfterStop, DEFAULT_BACKOFF_MS, Effect, Ended, Event, ExitSummary, Instance, Policy,
    ReloadState, Signal, StopPlan, TimerKind, Trigger,
};
use super::{ready, reload, spawn_failure};
use crate::record::{Cause, Status};

/// Applies one event. Returns the effects to perform, in order.
pub fn step(inst: &mut Instance, policy: &Policy, event: Event, now_ms: u64) -> Vec<Effect> {
    if let Some(run) = run_of(&event)
        && run != inst.run
        && inst.next.as_ref().is_some_and(|n| n.run == run)
    {
        return reload::successor_event(inst, policy, event, now_ms);
    }
    let effects = own_event(inst, policy, event, now_ms);
    reload::after_own_event(inst, policy, effects, now_ms)
}

/// The run an event belongs to, when it names one.
fn run_of(event: &Event) -> Option<u64> {
    match *event {
        Event::Spawned { run }
        | Event::SpawnFailed { run, .. }
        | Event::Exited { run, .. }
        | Event::LeftoversGone { run, .. }
        | Event::Sample { run, .. }
        | Event::RestartDue { run }
        | Event::KillDeadline { run }
        | Event::Ready { run }
        | Event::ReadyDeadline { run }
        | Event::Stable { run }
        | Event::Health { run, .. }
        | Event::Watchdog { run }
        | Event::WatchdogDue { run }
        | Event::Reloading { run } => Some(run),
        Event::Start
        | Event::Stop(_)
        | Event::Delete
        | Event::Restart(_)
        | Event::Reset
        | Event::Reload => None,
    }
}

/// An event of the instance's own (current) run, or a request.
pub(super) fn own_event(
    inst: &mut Instance,
    policy: &Policy,
    event: Event,
    now_ms: u64,
) -> Vec<Effect> {
    use Status::*;
    match event {
        Event::Start => match inst.status {
            Stopped | Errored => {
                fresh_chances(inst);
                spawn(inst, Trigger::Start, now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Start);
                vec![]
            }
            Launching | Online | WaitingRestart => vec![],
        },
        Event::Restart(cause) => match inst.status {
            // Nothing runs: a restart is a start, and counts as none (PM2's restart_time).
            Stopped | Errored => {
                fresh_chances(inst);
                spawn(inst, Trigger::Start, now_ms)
            }
            WaitingRestart => {
                if cause == Cause::Restarted {
                    fresh_chances(inst);
                }
                spawn(inst, trigger_for(cause), now_ms)
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
                inst.status = Stopped;
                vec![Effect::Forget]
            }
        },
        Event::Reset => {
            inst.restarts = 0;
            inst.auto_restarts = 0;
            inst.manual_restarts = 0;
            inst.unstable = 0;
            inst.backoff_ms = 0;
            vec![]
        }
        Event::Spawned { run } => {
            if run != inst.run || inst.status != Launching {
                return vec![];
            }
            ready::spawned(inst, policy, now_ms)
        }
        Event::SpawnFailed { run, errno } => {
            // Stopping too: a stop can come while the spawn is still being carried out (off
            // the actor), and then the failure is how that run ends.
            if run != inst.run || !matches!(inst.status, Launching | Stopping) {
                return vec![];
            }
            spawn_failure::spawn_failed(inst, policy, run, errno, now_ms)
        }
        Event::Exited { run, exit } => {
            if run != inst.run || !inst.main_alive() {
                return vec![];
            }
            let (natural, confidence) = classify_exit(&exit, inst.kill_sent);
            // A run that ended while the daemon was paused lasted less than it seems.
            let uptime_ms = inst.started_at_ms.map_or(0, |s| {
                now_ms.saturating_sub(s).saturating_sub(exit.unseen_ms)
            });
            inst.started_at_ms = None;
            inst.ended = Some(Ended {
                natural,
                code: exit.code,
                confidence,
                uptime_ms,
            });
            if !policy.treekill {
                return complete_exit(inst, policy, run, 0, now_ms);
            }
            // A stop already sent the stop signal to the whole tree: what is left gets SIGKILL.
            // A crash: the leftovers get the graceful signal first, and the instance shows
            // `stopping` until they are gone.
            let grace = inst.stopping.is_none();
            if grace {
                inst.status = Stopping;
                inst.stopping = Some(StopPlan {
                    cause: natural,
                    after: AfterStop::Policy,
                });
            }
            vec![Effect::SweepLeftovers { run, grace }]
        }
        Event::LeftoversGone { run, killed } => {
            if run != inst.run || inst.ended.is_none() {
                return vec![];
            }
            complete_exit(inst, policy, run, killed, now_ms)
        }
        Event::Sample { run, rss_bytes } => {
            let Some(limit) = policy.memory else {
                return vec![];
            };
            if run != inst.run || inst.status != Online {
                return vec![];
            }
            match inst.guard.observe(rss_bytes, limit) {
                Some(breach) => {
                    inst.breach = Some(breach);
                    let cause = Cause::MemoryLimit;
                    begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
                }
                None => vec![],
            }
        }
        Event::RestartDue { run } => {
            if run != inst.run || inst.status != WaitingRestart {
                return vec![];
            }
            spawn(inst, Trigger::AutoRestart, now_ms)
        }
        Event::KillDeadline { run } => {
            if run != inst.run || inst.status != Stopping || inst.kill_sent || !inst.main_alive() {
                return vec![];
            }
            inst.kill_sent = true;
            vec![Effect::Signal {
                run,
                signal: Signal::Kill,
            }]
        }
        Event::Ready { .. }
        | Event::ReadyDeadline { .. }
        | Event::Stable { .. }
        | Event::Health { .. }
        | Event::Watchdog { .. }
        | Event::WatchdogDue { .. }
        | Event::Reloading { .. } => ready::event(inst, policy, event, now_ms),
        Event::Reload => reload::begin(inst, policy, now_ms),
    }
}

pub(super) fn summary(run: u64, cause: Cause) -> ExitSummary {
    ExitSummary {
        run,
        cause,
        unstable: false,
        sigkill_needed: false,
        next_delay_ms: None,
        oom_confidence: None,
        breach: None,
        leftovers_killed: 0,
        watchdog_missed: false,
    }
}

/// A user's start or restart gives an app fresh chances: no unstable count, no backoff.
fn fresh_chances(inst: &mut Instance) {
    inst.unstable = 0;
    inst.backoff_ms = 0;
}

fn trigger_for(cause: Cause) -> Trigger {
    match cause {
        Cause::Restarted => Trigger::ManualRestart,
        Cause::Reload => Trigger::Reload,
        _ => Trigger::AutoRestart,
    }
}

/// Every spawn but the first of a start is a restart, counted by who asked for it.
pub(super) fn spawn(inst: &mut Instance, trigger: Trigger, now_ms: u64) -> Vec<Effect> {
    match trigger {
        Trigger::Start => {}
        Trigger::AutoRestart => {
            inst.restarts = inst.restarts.saturating_add(1);
            inst.auto_restarts = inst.auto_restarts.saturating_add(1);
        }
        Trigger::ManualRestart | Trigger::Reload => {
            inst.restarts = inst.restarts.saturating_add(1);
            inst.manual_restarts = inst.manual_restarts.saturating_add(1);
        }
    }
    inst.last_run = inst.last_run.max(inst.run) + 1;
    inst.run = inst.last_run;
    inst.status = Status::Launching;
    inst.started_at_ms = Some(now_ms);
    inst.stopping = None;
    inst.kill_sent = false;
    inst.ended = None;
    inst.guard = MemoryGuard::default();
    inst.breach = None;
    inst.health_failures = 0;
    inst.watchdog_due = None;
    inst.watchdog_armed = false;
    inst.watchdog_missed = false;
    vec![Effect::Spawn {
        run: inst.run,
        trigger,
    }]
}

pub(super) fn begin_stop(
    inst: &mut Instance,
    policy: &Policy,
    cause: Cause,
    after: AfterStop,
    now_ms: u64,
) -> Vec<Effect> {
    inst.status = Status::Stopping;
    inst.stopping = Some(StopPlan { cause, after });
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
    if let Some(s) = &mut inst.stopping
        && s.after != AfterStop::Delete
    {
        s.after = after;
    }
}

/// The run is over, leftovers included: record it, then stop, delete or restart.
fn complete_exit(
    inst: &mut Instance,
    policy: &Policy,
    run: u64,
    leftovers_killed: u32,
    now_ms: u64,
) -> Vec<Effect> {
    let Some(ended) = inst.ended.take() else {
        return vec![];
    };
    let sigkill_needed = std::mem::take(&mut inst.kill_sent);
    let base = ExitSummary {
        sigkill_needed,
        oom_confidence: ended.confidence,
        breach: inst.breach.take(),
        leftovers_killed,
        watchdog_missed: std::mem::take(&mut inst.watchdog_missed),
        ..summary(run, Cause::Exited)
    };
    // A reload in place, or a stop-first reload's new run, that ends before it was done failed.
    if matches!(
        inst.reload,
        Some(ReloadState::InProgress | ReloadState::InPlace { .. })
    ) && inst.next.is_none()
        && inst.stopping.is_none_or(|s| s.after == AfterStop::Policy)
    {
        inst.reload = Some(ReloadState::Failed {
            run,
            cause: ended.natural,
        });
    }
    match inst.stopping.take() {
        Some(StopPlan {
            after: AfterStop::Promote,
            ..
        }) => {
            let mut effects = vec![Effect::RecordExit(ExitSummary {
                cause: Cause::Reload,
                ..base
            })];
            effects.extend(reload::promote(inst));
            effects
        }
        Some(StopPlan {
            cause,
            after: AfterStop::Policy,
        }) => crashed(inst, policy, base, cause, ended, now_ms),
        Some(StopPlan { cause, after }) => {
            let mut effects = vec![Effect::RecordExit(ExitSummary { cause, ..base })];
            effects.extend(finish_stop(inst, after, now_ms));
            effects
        }
        // Without treekill the exit completes at once, with no sweep in between.
        None => crashed(inst, policy, base, ended.natural, ended, now_ms),
    }
}

pub(super) fn finish_stop(inst: &mut Instance, after: AfterStop, now_ms: u64) -> Vec<Effect> {
    match after {
        AfterStop::Stop | AfterStop::Policy | AfterStop::Promote => {
            inst.status = Status::Stopped;
            vec![]
        }
        AfterStop::Delete => {
            inst.status = Status::Stopped;
            vec![Effect::Forget]
        }
        AfterStop::Start => {
            fresh_chances(inst);
            spawn(inst, Trigger::Start, now_ms)
        }
        AfterStop::Restart(cause) => {
            if cause == Cause::Restarted {
                fresh_chances(inst);
            }
            spawn(inst, trigger_for(cause), now_ms)
        }
    }
}

/// The delay rule of one automatic restart. Without a configured delay, a failed run (non-zero
/// exit, a signal svctl did not send, not ready) that outlived `min_uptime` backs off: a crash
/// loop just above `min_uptime` slows down instead of restarting at full speed forever. A
/// clean exit or an unstable run restarts at once, as PM2 (unstable runs count toward
/// `max_restarts` instead).
fn delay_policy(policy: &Policy, cause: Cause, ended: Ended, unstable: bool) -> DelayPolicy {
    if !policy.default_backoff {
        return policy.delay;
    }
    let failed = match cause {
        Cause::Exited => ended.code != Some(0),
        Cause::Signaled | Cause::OomKilled | Cause::NotReady => true,
        _ => false,
    };
    DelayPolicy {
        restart_delay_ms: 0,
        exp_backoff_ms: (failed && !unstable).then_some(DEFAULT_BACKOFF_MS),
    }
}

/// An exit nobody asked for (or a run that never became ready): apply the restart policy.
fn crashed(
    inst: &mut Instance,
    policy: &Policy,
    base: ExitSummary,
    cause: Cause,
    ended: Ended,
    now_ms: u64,
) -> Vec<Effect> {
    // A reload's new process that replaced a crashed one takes over at once.
    if inst.next.is_some() {
        let mut effects = vec![Effect::RecordExit(ExitSummary { cause, ..base })];
        effects.extend(reload::promote(inst));
        return effects;
    }
    let unstable = ended.uptime_ms < policy.min_uptime_ms || cause == Cause::NotReady;
    inst.unstable = if unstable {
        inst.unstable.saturating_add(1)
    } else {
        0
    };
    let record = |next_delay_ms| {
        Effect::RecordExit(ExitSummary {
            cause,
            unstable,
            next_delay_ms,
            ..base
        })
    };
    let wanted_stop = ended
        .code
        .is_some_and(|c| policy.stop_exit_codes.contains(&c));
    if !policy.autorestart || wanted_stop {
        inst.status = Status::Stopped;
        return vec![record(None)];
    }
    if inst.unstable >= policy.max_restarts {
        inst.status = Status::Errored;
        return vec![record(None)];
    }
    let (delay, state) = backoff::next_delay(
        delay_policy(policy, cause, ended, unstable),
        inst.backoff_ms,
        ended.uptime_ms,
    );
    inst.backoff_ms = state;
    if delay == 0 {
        let mut effects = vec![record(Some(0))];
        effects.extend(spawn(inst, Trigger::AutoRestart, now_ms));
        return effects;
    }
    inst.status = Status::WaitingRestart;
    vec![
        record(Some(delay)),
        Effect::Timer {
            run: base.run,
            kind: TimerKind::RestartDue,
            at_ms: now_ms.saturating_add(delay),
        },
    ]
}
