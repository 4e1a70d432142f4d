//! The rules of `svctl reload` for one instance. Surge: a successor — an [`Instance`] stepped
//! by the same rules, which never restarts by itself — runs beside the instance until it is
//! ready, then the old run is stopped gracefully and the successor takes its place; if the
//! successor fails, it is dropped and the old run keeps serving. Stop-first: the old run is
//! stopped, the new one is launching until ready. In place: `reload_signal` to the main
//! process, done when the app says so (or stays up `min_uptime`).

use super::rules::{begin_stop, own_event, spawn};
use super::{
    AfterStop, Effect, Event, Instance, Policy, ReloadMode, ReloadState, Signal, TimerKind, Trigger,
};
use crate::record::{Cause, Status};

/// A user's `reload` of this instance.
pub(super) fn begin(inst: &mut Instance, policy: &Policy, now_ms: u64) -> Vec<Effect> {
    use Status::*;
    if inst.next.is_some() {
        // Already reloading: one successor at a time.
        return vec![];
    }
    match inst.status {
        // Nothing runs: a reload starts it, and is done once it is up.
        Stopped | Errored | WaitingRestart => {
            inst.reload = Some(ReloadState::InProgress);
            inst.gate_until_stable = true;
            inst.unstable = 0;
            inst.backoff_ms = 0;
            spawn(inst, Trigger::Start, now_ms)
        }
        Stopping => {
            inst.reload = Some(ReloadState::InProgress);
            own_event(inst, policy, Event::Restart(Cause::Reload), now_ms)
        }
        Launching | Online => match policy.reload {
            ReloadMode::Signal if inst.status == Online => {
                inst.reload = Some(ReloadState::InPlace {
                    reloading_seen: false,
                });
                let (kind, wait) = if policy.notify_reload {
                    (TimerKind::ReadyDeadline, policy.listen_timeout_ms)
                } else {
                    (TimerKind::Stable, policy.min_uptime_ms)
                };
                vec![
                    Effect::Signal {
                        run: inst.run,
                        signal: Signal::Reload,
                    },
                    Effect::Timer {
                        run: inst.run,
                        kind,
                        at_ms: now_ms.saturating_add(wait),
                    },
                ]
            }
            ReloadMode::Surge if inst.status == Online => {
                let mut next = Instance {
                    run: inst.last_run,
                    last_run: inst.last_run,
                    gate_until_stable: true,
                    ..Instance::new()
                };
                let effects = spawn(&mut next, Trigger::Reload, now_ms);
                inst.last_run = next.run;
                inst.next = Some(Box::new(next));
                inst.reload = Some(ReloadState::InProgress);
                effects
            }
            // Stop-first, or a run that is not up yet: replace it in place.
            _ => {
                inst.reload = Some(ReloadState::InProgress);
                inst.gate_until_stable = true;
                let cause = Cause::Reload;
                begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
            }
        },
    }
}

/// The successor never restarts by itself: its failure ends the reload.
fn successor_policy(policy: &Policy) -> Policy {
    Policy {
        autorestart: false,
        ..policy.clone()
    }
}

/// An event of the successor's run.
pub(super) fn successor_event(
    inst: &mut Instance,
    policy: &Policy,
    event: Event,
    now_ms: u64,
) -> Vec<Effect> {
    let Some(next) = inst.next.as_mut() else {
        return vec![];
    };
    let mut effects = own_event(next, &successor_policy(policy), event, now_ms);
    let (run, status) = (next.run, next.status);
    match status {
        Status::Online => {
            // Ready: the old run makes way, unless something else is already stopping it.
            if matches!(inst.status, Status::Online | Status::Launching) {
                let cause = Cause::Reload;
                effects.extend(begin_stop(inst, policy, cause, AfterStop::Promote, now_ms));
            }
        }
        Status::Stopped | Status::Errored => {
            let cause = effects
                .iter()
                .find_map(|e| match e {
                    Effect::RecordExit(s) if s.run == run => Some(s.cause),
                    _ => None,
                })
                .unwrap_or(Cause::Exited);
            inst.next = None;
            if inst.reload == Some(ReloadState::InProgress) {
                inst.reload = Some(ReloadState::Failed { run, cause });
            }
        }
        Status::Launching | Status::Stopping | Status::WaitingRestart => {}
    }
    effects
}

/// After an event of the instance's own run: a request that stops or restarts it aborts a
/// successor; a stop-first reload is done once its new run is up.
pub(super) fn after_own_event(
    inst: &mut Instance,
    policy: &Policy,
    mut effects: Vec<Effect>,
    now_ms: u64,
) -> Vec<Effect> {
    let aborted = inst
        .stopping
        .is_some_and(|s| !matches!(s.after, AfterStop::Promote | AfterStop::Policy))
        || matches!(inst.status, Status::Stopped | Status::Errored);
    if aborted
        && let Some(next) = inst.next.as_mut()
        && matches!(next.status, Status::Launching | Status::Online)
    {
        let run = next.run;
        effects.extend(own_event(
            next,
            &successor_policy(policy),
            Event::Stop(Cause::Stopped),
            now_ms,
        ));
        if inst.reload == Some(ReloadState::InProgress) {
            inst.reload = Some(ReloadState::Failed {
                run,
                cause: Cause::Stopped,
            });
        }
    }
    if inst.reload == Some(ReloadState::InProgress)
        && inst.next.is_none()
        && inst.status == Status::Online
    {
        inst.reload = Some(ReloadState::Done);
    }
    effects
}

/// The successor takes the instance's place, with the instance's counters (a reload counts
/// as a manual restart).
pub(super) fn promote(inst: &mut Instance) -> Vec<Effect> {
    let Some(next) = inst.next.take() else {
        return vec![];
    };
    let mut new = *next;
    new.restarts = inst.restarts.saturating_add(1);
    new.auto_restarts = inst.auto_restarts;
    new.manual_restarts = inst.manual_restarts.saturating_add(1);
    new.unstable = 0;
    new.backoff_ms = inst.backoff_ms;
    new.last_run = inst.last_run.max(new.run);
    new.reload = Some(if new.status == Status::Online {
        ReloadState::Done
    } else {
        ReloadState::InProgress
    });
    let run = new.run;
    *inst = new;
    vec![Effect::Promote { run }]
}
