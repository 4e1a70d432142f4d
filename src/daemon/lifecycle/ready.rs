//! The rules of readiness and liveness: a run is `launching` until it is ready (or, for a
//! reload's new process without a readiness method, until it was up `min_uptime`); a missed
//! `listen_timeout` ends it as `not_ready`; failed health checks and a missed watchdog restart
//! an online instance as `unhealthy`; an in-place reload ends when the app says so.

use super::rules::begin_stop;
use super::{AfterStop, Effect, Event, Instance, Policy, ReloadState, TimerKind};
use crate::record::{Cause, Status};

fn timer(run: u64, kind: TimerKind, at_ms: u64) -> Effect {
    Effect::Timer { run, kind, at_ms }
}

/// The spawn of the current run succeeded.
pub(super) fn spawned(inst: &mut Instance, policy: &Policy, now_ms: u64) -> Vec<Effect> {
    let run = inst.run;
    let mut effects = Vec::new();
    if let Some(wd) = policy.watchdog_ms {
        inst.watchdog_due = Some(now_ms.saturating_add(wd));
        inst.watchdog_armed = true;
        effects.push(timer(
            run,
            TimerKind::WatchdogDue,
            now_ms.saturating_add(wd),
        ));
    }
    if policy.readiness {
        let at = now_ms.saturating_add(policy.listen_timeout_ms);
        effects.push(timer(run, TimerKind::ReadyDeadline, at));
    } else if inst.gate_until_stable {
        let at = now_ms.saturating_add(policy.min_uptime_ms);
        effects.push(timer(run, TimerKind::Stable, at));
    } else {
        inst.status = Status::Online;
    }
    effects
}

fn unhealthy(inst: &mut Instance, policy: &Policy, now_ms: u64) -> Vec<Effect> {
    let cause = Cause::Unhealthy;
    begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
}

/// Readiness, health, watchdog and in-place reload events of the current run.
pub(super) fn event(
    inst: &mut Instance,
    policy: &Policy,
    event: Event,
    now_ms: u64,
) -> Vec<Effect> {
    use Status::*;
    let current = |run: u64, inst: &Instance| run == inst.run && inst.main_alive();
    match event {
        Event::Ready { run } if current(run, inst) => {
            if inst.status == Launching && policy.readiness {
                inst.status = Online;
                inst.gate_until_stable = false;
            } else if inst.reload
                == Some(ReloadState::InPlace {
                    reloading_seen: true,
                })
            {
                inst.reload = Some(ReloadState::Done);
            }
            vec![]
        }
        Event::ReadyDeadline { run } if current(run, inst) => {
            if inst.status == Launching {
                return begin_stop(inst, policy, Cause::NotReady, AfterStop::Policy, now_ms);
            }
            if matches!(inst.reload, Some(ReloadState::InPlace { .. })) {
                // The app keeps running as it was; the reload failed.
                inst.reload = Some(ReloadState::Failed {
                    run,
                    cause: Cause::NotReady,
                });
            }
            vec![]
        }
        Event::Stable { run } if current(run, inst) => {
            if inst.status == Launching && inst.gate_until_stable && !policy.readiness {
                inst.status = Online;
                inst.gate_until_stable = false;
            } else if inst.status == Online
                && inst.reload
                    == Some(ReloadState::InPlace {
                        reloading_seen: false,
                    })
                && !policy.notify_reload
            {
                inst.reload = Some(ReloadState::Done);
            }
            vec![]
        }
        Event::Reloading { run } if current(run, inst) => {
            if let Some(ReloadState::InPlace { .. }) = inst.reload {
                inst.reload = Some(ReloadState::InPlace {
                    reloading_seen: true,
                });
            }
            vec![]
        }
        Event::Health { run, ok } if current(run, inst) && inst.status == Online => {
            let Some(limit) = policy.health_failures else {
                return vec![];
            };
            if ok {
                inst.health_failures = 0;
                return vec![];
            }
            inst.health_failures = inst.health_failures.saturating_add(1);
            if inst.health_failures >= limit.max(1) {
                return unhealthy(inst, policy, now_ms);
            }
            vec![]
        }
        Event::Watchdog { run } if current(run, inst) => {
            let Some(wd) = policy.watchdog_ms else {
                return vec![];
            };
            let due = now_ms.saturating_add(wd);
            inst.watchdog_due = Some(due);
            // One timer at a time: a keepalive only moves the deadline.
            if inst.watchdog_armed {
                return vec![];
            }
            inst.watchdog_armed = true;
            vec![timer(run, TimerKind::WatchdogDue, due)]
        }
        Event::WatchdogDue { run } if current(run, inst) => {
            inst.watchdog_armed = false;
            let Some(due) = inst.watchdog_due else {
                return vec![];
            };
            if now_ms < due {
                inst.watchdog_armed = true;
                return vec![timer(run, TimerKind::WatchdogDue, due)];
            }
            if matches!(inst.status, Launching | Online) {
                inst.watchdog_due = None;
                inst.watchdog_missed = true;
                return unhealthy(inst, policy, now_ms);
            }
            vec![]
        }
        _ => vec![],
    }
}
