//! Readiness, health, the watchdog and reloads.

use super::scenarios::run_to_online;
use super::*;

fn ready_policy() -> Policy {
    Policy {
        readiness: true,
        listen_timeout_ms: 3000,
        ..policy()
    }
}

fn timer(run: u64, kind: TimerKind, at_ms: u64) -> Effect {
    Effect::Timer { run, kind, at_ms }
}

#[test]
fn with_a_readiness_method_an_instance_is_launching_until_ready() {
    let p = ready_policy();
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 0);
    let effects = step(&mut inst, &p, Event::Spawned { run: 1 }, 5);
    assert_eq!(effects, vec![timer(1, TimerKind::ReadyDeadline, 3005)]);
    assert_eq!(inst.status, Launching);
    // A ready of another run changes nothing.
    step(&mut inst, &p, Event::Ready { run: 0 }, 10);
    assert_eq!(inst.status, Launching);
    step(&mut inst, &p, Event::Ready { run: 1 }, 100);
    assert_eq!(inst.status, Online);
    // The deadline after ready is nothing.
    assert!(step(&mut inst, &p, Event::ReadyDeadline { run: 1 }, 3005).is_empty());
    assert_eq!(inst.status, Online);
}

#[test]
fn a_missed_listen_timeout_ends_the_run_as_not_ready_an_unstable_exit() {
    let p = Policy {
        min_uptime_ms: 100,
        ..ready_policy()
    };
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 0);
    step(&mut inst, &p, Event::Spawned { run: 1 }, 0);
    let effects = step(&mut inst, &p, Event::ReadyDeadline { run: 1 }, 3000);
    assert_eq!(effects, graceful_stop(1, 4600));
    // Up 3 s, longer than min_uptime: still unstable, because it never became ready.
    let effects = step(&mut inst, &p, exited(1, 0), 3010);
    assert_eq!(
        effects,
        vec![
            record(1, Cause::NotReady, true, Some(0)),
            spawn(2, Trigger::AutoRestart)
        ]
    );
    assert_eq!(inst.unstable, 1);
}

#[test]
fn failed_health_checks_restart_an_online_instance_as_unhealthy() {
    let p = Policy {
        health_failures: Some(3),
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    let health = |ok| Event::Health { run: 1, ok };
    assert!(step(&mut inst, &p, health(false), 10).is_empty());
    assert!(step(&mut inst, &p, health(false), 20).is_empty());
    assert!(
        step(&mut inst, &p, health(true), 30).is_empty(),
        "a pass resets the count"
    );
    assert!(step(&mut inst, &p, health(false), 40).is_empty());
    assert!(step(&mut inst, &p, health(false), 50).is_empty());
    assert_eq!(
        step(&mut inst, &p, health(false), 60),
        graceful_stop(1, 1660)
    );
    let effects = step(&mut inst, &p, exited(1, 0), 70);
    assert_eq!(
        effects,
        vec![
            record(1, Cause::Unhealthy, false, None),
            spawn(2, Trigger::AutoRestart)
        ]
    );
}

#[test]
fn a_missed_watchdog_is_unhealthy_and_keepalives_move_the_deadline() {
    let p = Policy {
        watchdog_ms: Some(1000),
        ..policy()
    };
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 0);
    let effects = step(&mut inst, &p, Event::Spawned { run: 1 }, 0);
    assert_eq!(effects, vec![timer(1, TimerKind::WatchdogDue, 1000)]);
    assert_eq!(inst.status, Online);
    // Keepalives only move the deadline while a timer is armed.
    assert!(step(&mut inst, &p, Event::Watchdog { run: 1 }, 500).is_empty());
    assert!(step(&mut inst, &p, Event::Watchdog { run: 1 }, 800).is_empty());
    // The timer finds the deadline moved: it waits again.
    assert_eq!(
        step(&mut inst, &p, Event::WatchdogDue { run: 1 }, 1000),
        vec![timer(1, TimerKind::WatchdogDue, 1800)]
    );
    assert_eq!(
        step(&mut inst, &p, Event::WatchdogDue { run: 1 }, 1800),
        graceful_stop(1, 3400)
    );
    let effects = step(&mut inst, &p, exited(1, 0), 1900);
    assert_eq!(
        effects[0],
        Effect::RecordExit(ExitSummary {
            watchdog_missed: true,
            ..summary(1, Cause::Unhealthy)
        })
    );
}

/// A surge reload: the new run starts beside the old, the old stops once the new is ready.
#[test]
fn a_surge_reload_replaces_the_run_once_its_successor_is_ready() {
    let p = ready_policy();
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 0);
    step(&mut inst, &p, Event::Spawned { run: 1 }, 0);
    step(&mut inst, &p, Event::Ready { run: 1 }, 10);
    assert_eq!(
        step(&mut inst, &p, Event::Reload, 5000),
        vec![spawn(2, Trigger::Reload)]
    );
    assert_eq!(
        (inst.status, inst.run),
        (Online, 1),
        "the old run keeps serving"
    );
    assert_eq!(inst.successor_run(), Some(2));
    assert_eq!(
        step(&mut inst, &p, Event::Spawned { run: 2 }, 5001),
        vec![timer(2, TimerKind::ReadyDeadline, 8001)]
    );
    // Ready: the old run is stopped gracefully.
    assert_eq!(
        step(&mut inst, &p, Event::Ready { run: 2 }, 5100),
        graceful_stop(1, 6700)
    );
    assert_eq!(inst.status, Stopping);
    let effects = step(&mut inst, &p, exited(1, 0), 5200);
    assert_eq!(
        effects,
        vec![
            record(1, Cause::Reload, false, None),
            Effect::Promote { run: 2 }
        ]
    );
    assert_eq!((inst.status, inst.run), (Online, 2));
    assert_eq!(inst.reload_outcome(), Some(Ok(())));
    assert_eq!((inst.restarts, inst.manual_restarts), (1, 1));
    assert_eq!(inst.successor_run(), None);
    // A late event of the old run is ignored.
    assert!(step(&mut inst, &p, exited(1, 0), 5300).is_empty());
}

#[test]
fn a_successor_that_fails_ends_the_reload_and_the_old_run_keeps_serving() {
    let p = ready_policy();
    let mut inst = Instance::new();
    run_to_online_ready(&mut inst, &p);
    step(&mut inst, &p, Event::Reload, 5000);
    step(&mut inst, &p, Event::Spawned { run: 2 }, 5000);
    // It exits at start: recorded, never restarted by itself.
    let effects = step(&mut inst, &p, exited(2, 1), 5050);
    assert_eq!(effects, vec![record(2, Cause::Exited, true, None)]);
    assert_eq!((inst.status, inst.run), (Online, 1));
    assert_eq!(inst.reload_outcome(), Some(Err((2, Cause::Exited))));
    assert_eq!(inst.successor_run(), None);
    // A second reload whose successor never gets ready: stopped at listen_timeout.
    step(&mut inst, &p, Event::Reload, 6000);
    assert_eq!(inst.successor_run(), Some(3));
    step(&mut inst, &p, Event::Spawned { run: 3 }, 6000);
    assert_eq!(
        step(&mut inst, &p, Event::ReadyDeadline { run: 3 }, 9000),
        graceful_stop(3, 10600)
    );
    let effects = step(&mut inst, &p, killed_by(3, libc::SIGINT), 9100);
    assert_eq!(effects, vec![record(3, Cause::NotReady, true, None)]);
    assert_eq!(inst.reload_outcome(), Some(Err((3, Cause::NotReady))));
    assert_eq!((inst.status, inst.run), (Online, 1));
}

fn run_to_online_ready(inst: &mut Instance, p: &Policy) {
    step(inst, p, Event::Start, 0);
    step(inst, p, Event::Spawned { run: 1 }, 0);
    step(inst, p, Event::Ready { run: 1 }, 0);
    assert_eq!(inst.status, Online);
}

#[test]
fn without_a_readiness_method_a_successor_must_stay_up_min_uptime() {
    let p = policy();
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    step(&mut inst, &p, Event::Reload, 5000);
    assert_eq!(
        step(&mut inst, &p, Event::Spawned { run: 2 }, 5000),
        vec![timer(2, TimerKind::Stable, 6000)]
    );
    assert_eq!(inst.successor_status(), Some(Launching));
    assert_eq!(
        step(&mut inst, &p, Event::Stable { run: 2 }, 6000),
        graceful_stop(1, 7600)
    );
}

#[test]
fn a_stop_during_a_reload_stops_the_successor_too() {
    let p = ready_policy();
    let mut inst = Instance::new();
    run_to_online_ready(&mut inst, &p);
    step(&mut inst, &p, Event::Reload, 5000);
    step(&mut inst, &p, Event::Spawned { run: 2 }, 5000);
    let effects = step(&mut inst, &p, Event::Stop(Cause::Stopped), 5100);
    let mut want = graceful_stop(1, 6700);
    want.extend(graceful_stop(2, 6700));
    assert_eq!(effects, want);
    assert_eq!(inst.reload_outcome(), Some(Err((2, Cause::Stopped))));
    step(&mut inst, &p, exited(2, 0), 5200);
    assert_eq!(inst.successor_run(), None);
    step(&mut inst, &p, exited(1, 0), 5300);
    assert_eq!(inst.status, Stopped);
}

#[test]
fn an_old_run_that_crashes_during_a_reload_hands_over_to_the_successor() {
    let p = ready_policy();
    let mut inst = Instance::new();
    run_to_online_ready(&mut inst, &p);
    step(&mut inst, &p, Event::Reload, 5000);
    step(&mut inst, &p, Event::Spawned { run: 2 }, 5000);
    let effects = step(&mut inst, &p, exited(1, 1), 5100);
    assert_eq!(
        effects,
        vec![
            record(1, Cause::Exited, false, None),
            Effect::Promote { run: 2 }
        ]
    );
    assert_eq!((inst.status, inst.run), (Launching, 2));
    step(&mut inst, &p, Event::Ready { run: 2 }, 5200);
    assert_eq!(inst.status, Online);
    assert_eq!(inst.reload_outcome(), Some(Ok(())));
}

#[test]
fn a_stop_first_reload_is_done_once_the_new_run_is_up() {
    let p = Policy {
        reload: ReloadMode::StopFirst,
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    assert_eq!(
        step(&mut inst, &p, Event::Reload, 5000),
        graceful_stop(1, 6600)
    );
    let effects = step(&mut inst, &p, exited(1, 0), 5100);
    assert_eq!(
        effects,
        vec![
            record(1, Cause::Reload, false, None),
            spawn(2, Trigger::Reload)
        ]
    );
    assert_eq!(
        step(&mut inst, &p, Event::Spawned { run: 2 }, 5100),
        vec![timer(2, TimerKind::Stable, 6100)]
    );
    assert_eq!(inst.reload_outcome(), None);
    step(&mut inst, &p, Event::Stable { run: 2 }, 6100);
    assert_eq!(inst.status, Online);
    assert_eq!(inst.reload_outcome(), Some(Ok(())));
}

#[test]
fn a_stop_first_reload_whose_new_run_crashes_fails() {
    let p = Policy {
        reload: ReloadMode::StopFirst,
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    step(&mut inst, &p, Event::Reload, 5000);
    step(&mut inst, &p, exited(1, 0), 5100);
    step(&mut inst, &p, Event::Spawned { run: 2 }, 5100);
    step(&mut inst, &p, exited(2, 3), 5200);
    assert_eq!(inst.reload_outcome(), Some(Err((2, Cause::Exited))));
}

#[test]
fn an_in_place_reload_signals_the_main_process_and_waits_for_the_app() {
    // Without the notify protocol: done if it is still up after min_uptime.
    let p = Policy {
        reload: ReloadMode::Signal,
        ..policy()
    };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    assert_eq!(
        step(&mut inst, &p, Event::Reload, 5000),
        vec![
            Effect::Signal {
                run: 1,
                signal: Signal::Reload
            },
            timer(1, TimerKind::Stable, 6000)
        ]
    );
    step(&mut inst, &p, Event::Stable { run: 1 }, 6000);
    assert_eq!(inst.reload_outcome(), Some(Ok(())));
    assert_eq!((inst.run, inst.restarts), (1, 0), "the same process");
    // With the notify protocol: RELOADING=1 then READY=1, before listen_timeout.
    let p = Policy {
        reload: ReloadMode::Signal,
        notify_reload: true,
        ..ready_policy()
    };
    let mut inst = Instance::new();
    run_to_online_ready(&mut inst, &p);
    step(&mut inst, &p, Event::Reload, 5000);
    step(&mut inst, &p, Event::Ready { run: 1 }, 5010);
    assert_eq!(
        inst.reload_outcome(),
        None,
        "READY before RELOADING is not the reload"
    );
    step(&mut inst, &p, Event::Reloading { run: 1 }, 5020);
    step(&mut inst, &p, Event::Ready { run: 1 }, 5030);
    assert_eq!(inst.reload_outcome(), Some(Ok(())));
    // One that never says ready again fails, and keeps running.
    step(&mut inst, &p, Event::Reload, 9000);
    step(&mut inst, &p, Event::ReadyDeadline { run: 1 }, 12000);
    assert_eq!(inst.reload_outcome(), Some(Err((1, Cause::NotReady))));
    assert_eq!(inst.status, Online);
}
