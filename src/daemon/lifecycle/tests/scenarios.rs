//! Scenarios over several events: crash loops, delays, backoff, stops and restarts.

use super::*;

pub(super) fn run_to_online(inst: &mut Instance, p: &Policy, now: u64) {
    let effects = step(inst, p, Event::Start, now);
    let Some(Effect::Spawn { run, .. }) = effects.first() else {
        panic!("expected a spawn, got {effects:?}");
    };
    step(inst, p, Event::Spawned { run: *run }, now);
    assert_eq!(inst.status, Online);
}

/// Crash at `now`, then perform the spawn the machine asks for, at `now` too.
pub(super) fn crash(inst: &mut Instance, p: &Policy, now: u64) -> Vec<Effect> {
    let run = inst.run;
    let effects = step(inst, p, exited(run, 1), now);
    if let Some(Effect::Spawn { run, .. }) = effects.last() {
        step(inst, p, Event::Spawned { run: *run }, now);
    }
    effects
}

#[test]
fn consecutive_unstable_exits_end_in_errored_with_no_time_window() {
    // A long restart delay spreads the crash loop over minutes: what counts is consecutive
    // short runs, not how many fit in a window.
    let p = Policy {
        delay: DelayPolicy {
            restart_delay_ms: 100_000,
            exp_backoff_ms: None,
        },
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    let mut start = 0;
    for n in 1..=3 {
        let run = inst.run;
        let effects = step(&mut inst, &p, exited(run, 1), start + 999);
        assert_eq!(inst.unstable, n);
        if let Some(Effect::Timer { at_ms, .. }) = effects.last() {
            start = *at_ms;
            step(&mut inst, &p, Event::RestartDue { run }, start);
            step(&mut inst, &p, Event::Spawned { run: run + 1 }, start);
        }
    }
    assert_eq!(inst.status, Errored);
    assert_eq!(inst.restarts, 2, "3 runs after the first start: 2 respawns");
    assert_eq!(inst.auto_restarts, 2);
    assert_eq!(inst.manual_restarts, 0);
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

/// `times` runs that each crash (exit code 1) `uptime` ms after their start, each followed by
/// the delayed restart the machine asks for. Returns the delays and the time after the last.
fn crash_after_each_run(
    inst: &mut Instance,
    p: &Policy,
    times: usize,
    uptime: u64,
    mut now: u64,
) -> (Vec<u64>, u64) {
    let mut delays = Vec::new();
    for _ in 0..times {
        now += uptime;
        let run = inst.run;
        let effects = step(inst, p, exited(run, 1), now);
        let Some(Effect::Timer { at_ms, .. }) = effects.last().cloned() else {
            panic!("a delay, not {effects:?}");
        };
        delays.push(at_ms - now);
        now = at_ms;
        assert_eq!(step(inst, p, Event::RestartDue { run }, now).len(), 1);
        step(inst, p, Event::Spawned { run: run + 1 }, now);
    }
    (delays, now)
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
    let (delays, _) = crash_after_each_run(&mut inst, &p, 4, 10, 0);
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
    let effects = step(&mut inst, &p, killed_by(1, libc::SIGKILL), 1710);
    assert_eq!(
        effects,
        vec![Effect::RecordExit(ExitSummary {
            sigkill_needed: true,
            ..summary(1, Cause::Stopped)
        })]
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
    assert_eq!(
        inst.stopping,
        Some(StopPlan {
            cause: Cause::Restarted,
            after: AfterStop::Stop
        })
    );
    step(&mut inst, &p, Event::Delete, 0);
    step(&mut inst, &p, Event::Start, 0);
    assert_eq!(
        inst.stopping,
        Some(StopPlan {
            cause: Cause::Restarted,
            after: AfterStop::Delete
        })
    );
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

/// The crash loop `min_uptime` misses: gunicorn with an import error exits ~1.2 s after start,
/// over a `min_uptime` of 1 s. Without a configured delay it backs off instead of looping at
/// full speed; an instant crash still restarts at once and ends in errored.
#[test]
fn without_a_configured_delay_failed_runs_over_min_uptime_back_off() {
    let p = Policy {
        default_backoff: true,
        max_restarts: 100,
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    let (delays, mut now) = crash_after_each_run(&mut inst, &p, 5, 1200, 0);
    assert_eq!(delays, vec![100, 150, 225, 337, 505]);
    assert_eq!(inst.unstable, 0, "each run outlived min_uptime");
    // A clean exit restarts at once.
    now += 1200;
    let run = inst.run;
    let effects = step(&mut inst, &p, exited(run, 0), now);
    assert_eq!(effects.last(), Some(&spawn(run + 1, Trigger::AutoRestart)));
    // An instant crash keeps PM2's rule: at once, counted toward max_restarts.
    step(&mut inst, &p, Event::Spawned { run: run + 1 }, now);
    let effects = step(&mut inst, &p, exited(run + 1, 1), now + 50);
    assert_eq!(effects.last(), Some(&spawn(run + 2, Trigger::AutoRestart)));
    assert_eq!(inst.unstable, 1);
    // A configured delay wins.
    let set = Policy {
        default_backoff: false,
        ..p.clone()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &set, 0);
    let effects = step(&mut inst, &set, exited(1, 1), 1200);
    assert_eq!(effects.last(), Some(&spawn(2, Trigger::AutoRestart)));
}

#[test]
fn a_stop_while_the_spawn_is_carried_out_ends_with_the_spawn_whatever_its_outcome() {
    // Spawns run off the actor: a stop can come between the Spawn effect and its outcome.
    let p = policy();
    for errno in [Some(libc::EMFILE), Some(libc::ENOENT), None] {
        let mut inst = Instance::new();
        step(&mut inst, &p, Event::Start, 0);
        let run = inst.run;
        step(&mut inst, &p, Event::Stop(Cause::Stopped), 5);
        assert_eq!(inst.status, Stopping);
        // It never started: the run ends as a failed spawn, and the stop is done (no retry,
        // even for a shortage of the host).
        let effects = step(&mut inst, &p, Event::SpawnFailed { run, errno }, 10);
        assert!(
            effects.iter().any(|e| matches!(
                e,
                Effect::RecordExit(ExitSummary {
                    cause: Cause::SpawnFailed,
                    ..
                })
            )),
            "{errno:?}: {effects:?}"
        );
        assert!(
            !effects.iter().any(|e| matches!(
                e,
                Effect::Spawn { .. }
                    | Effect::Timer {
                        kind: TimerKind::RestartDue,
                        ..
                    }
            )),
            "{errno:?}: {effects:?}"
        );
        assert_eq!(inst.status, Stopped, "{errno:?}");
    }
    // It did start: the state machine waits for its exit, as for any stop.
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 0);
    let run = inst.run;
    step(&mut inst, &p, Event::Stop(Cause::Stopped), 5);
    assert_eq!(step(&mut inst, &p, Event::Spawned { run }, 10), vec![]);
    assert_eq!(inst.status, Stopping);
    step(&mut inst, &p, exited(run, 0), 20);
    assert_ne!(inst.status, Stopping);
}
