//! The sweep of leftovers, OOM naming, the memory guard, and restart counting.

use super::scenarios::{crash, run_to_online};
use super::*;

fn treekill() -> Policy {
    Policy {
        treekill: true,
        ..policy()
    }
}

fn sweep(run: u64, grace: bool) -> Vec<Effect> {
    vec![Effect::SweepLeftovers { run, grace }]
}

/// (state before, event, now, expected status after, expected effects), with `treekill`.
#[test]
fn leftovers_are_swept_before_the_exit_counts() {
    let p = treekill();
    let stopping = |cause, after| {
        let mut i = at(Stopping, 1);
        i.stopping = Some(StopPlan { cause, after });
        i
    };
    let swept = |cause, after, code| {
        let mut i = stopping(cause, after);
        i.ended = Some(Ended {
            natural: Cause::Exited,
            code,
            confidence: None,
            uptime_ms: 5000,
        });
        i
    };
    let gone = |killed| Event::LeftoversGone { run: 1, killed };
    let table: Vec<(Instance, Event, u64, Status, Vec<Effect>)> = vec![
        // a crash: the leftovers get the graceful signal, the instance shows stopping
        (at(Online, 1), exited(1, 1), 5000, Stopping, sweep(1, true)),
        // a stop already signalled the tree: what is left gets SIGKILL at once
        (
            stopping(Cause::Stopped, AfterStop::Stop),
            exited(1, 0),
            10,
            Stopping,
            sweep(1, false),
        ),
        // swept after a crash: the policy decides, and the record counts what was killed
        (
            swept(Cause::Exited, AfterStop::Policy, Some(1)),
            gone(2),
            5000,
            Launching,
            vec![
                Effect::RecordExit(ExitSummary {
                    leftovers_killed: 2,
                    next_delay_ms: Some(0),
                    ..summary(1, Cause::Exited)
                }),
                spawn(2, Trigger::AutoRestart),
            ],
        ),
        // a stop exit code is honoured after the sweep too
        (
            swept(Cause::Exited, AfterStop::Policy, Some(42)),
            gone(0),
            5000,
            Stopped,
            vec![record(1, Cause::Exited, false, None)],
        ),
        // the user stopped it while its leftovers were swept: the crash is recorded as the
        // crash it was, and it stays stopped
        (
            swept(Cause::Exited, AfterStop::Stop, Some(1)),
            gone(0),
            5000,
            Stopped,
            vec![record(1, Cause::Exited, false, None)],
        ),
        // a stop's sweep ends the stop
        (
            swept(Cause::Stopped, AfterStop::Delete, Some(0)),
            gone(1),
            5000,
            Stopped,
            vec![
                Effect::RecordExit(ExitSummary {
                    leftovers_killed: 1,
                    ..summary(1, Cause::Stopped)
                }),
                Effect::Forget,
            ],
        ),
        // the kill deadline of a stop whose main process is gone sends nothing more
        (
            swept(Cause::Stopped, AfterStop::Stop, Some(0)),
            Event::KillDeadline { run: 1 },
            5000,
            Stopping,
            vec![],
        ),
        // a second exit or a late sweep of another run is ignored
        (
            swept(Cause::Exited, AfterStop::Policy, Some(1)),
            exited(1, 1),
            5000,
            Stopping,
            vec![],
        ),
        (
            at(Online, 2),
            Event::LeftoversGone { run: 1, killed: 0 },
            5000,
            Online,
            vec![],
        ),
        (at(Online, 1), gone(0), 5000, Online, vec![]),
    ];
    for (i, (mut inst, ev, now, want_status, want_effects)) in table.into_iter().enumerate() {
        let desc = format!("row {i}: {:?} + {ev:?}", inst.status);
        let got = step(&mut inst, &p, ev, now);
        assert_eq!(got, want_effects, "{desc}");
        assert_eq!(inst.status, want_status, "{desc}");
    }
}

#[test]
fn a_user_stop_during_a_crash_sweep_wins_over_the_restart_policy() {
    let p = treekill();
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    assert_eq!(step(&mut inst, &p, exited(1, 1), 50), sweep(1, true));
    assert!(step(&mut inst, &p, Event::Stop(Cause::Stopped), 60).is_empty());
    let effects = step(
        &mut inst,
        &p,
        Event::LeftoversGone { run: 1, killed: 0 },
        70,
    );
    assert_eq!(effects, vec![record(1, Cause::Exited, false, None)]);
    assert_eq!(inst.status, Stopped);
}

#[test]
fn an_oom_kill_is_named_in_the_record() {
    let p = policy();
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    let exit = ExitFacts {
        signal: Some(libc::SIGKILL),
        oom: OomEvidence {
            counter_rose: true,
            cgroup_oom_kill: false,
            kmsg_names_pid: Some(true),
        },
        ..ExitFacts::default()
    };
    let effects = step(&mut inst, &p, Event::Exited { run: 1, exit }, 5000);
    assert_eq!(
        effects.first(),
        Some(&Effect::RecordExit(ExitSummary {
            oom_confidence: Some(Confidence::Confirmed),
            next_delay_ms: Some(0),
            ..summary(1, Cause::OomKilled)
        }))
    );
}

#[test]
fn the_memory_guard_restarts_an_online_run_and_records_the_breach() {
    let p = Policy {
        memory: Some(MemoryLimit {
            limit_bytes: 1000,
            samples: 2,
        }),
        ..policy()
    };
    let sample = |run, rss_bytes| Event::Sample { run, rss_bytes };
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    assert!(step(&mut inst, &p, sample(1, 2000), 10).is_empty());
    // A sample of an older run is not this run's memory.
    assert!(step(&mut inst, &p, sample(0, 2000), 10).is_empty());
    assert_eq!(
        step(&mut inst, &p, sample(1, 3000), 20),
        graceful_stop(1, 1620)
    );
    assert_eq!(inst.status, Stopping);
    // While it stops, more samples change nothing.
    assert!(step(&mut inst, &p, sample(1, 5000), 30).is_empty());
    let effects = step(&mut inst, &p, exited(1, 0), 40);
    assert_eq!(
        effects,
        vec![
            Effect::RecordExit(ExitSummary {
                breach: Some(Breach {
                    rss_bytes: 3000,
                    limit_bytes: 1000
                }),
                ..summary(1, Cause::MemoryLimit)
            }),
            spawn(2, Trigger::AutoRestart),
        ]
    );
    // The new run starts with a fresh count.
    step(&mut inst, &p, Event::Spawned { run: 2 }, 40);
    assert!(step(&mut inst, &p, sample(2, 2000), 50).is_empty());
    // Without a limit, samples decide nothing.
    let mut plain = Instance::new();
    run_to_online(&mut plain, &policy(), 0);
    for t in 0..10 {
        assert!(step(&mut plain, &policy(), sample(1, u64::MAX), t).is_empty());
    }
}

#[test]
fn restarts_are_counted_by_who_asked_and_reset_clears_them() {
    let p = policy();
    let mut inst = Instance::new();
    run_to_online(&mut inst, &p, 0);
    crash(&mut inst, &p, 5000);
    step(&mut inst, &p, Event::Restart(Cause::Restarted), 5010);
    step(&mut inst, &p, exited(2, 0), 5020);
    step(&mut inst, &p, Event::Spawned { run: 3 }, 5020);
    step(&mut inst, &p, Event::Restart(Cause::Cron), 9000);
    step(&mut inst, &p, exited(3, 0), 9010);
    assert_eq!(
        (inst.restarts, inst.auto_restarts, inst.manual_restarts),
        (3, 2, 1)
    );
    let run = inst.run;
    assert!(step(&mut inst, &p, Event::Reset, 9020).is_empty());
    assert_eq!(
        (
            inst.restarts,
            inst.auto_restarts,
            inst.manual_restarts,
            inst.unstable
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(inst.run, run, "reset keeps the run number");
    assert_eq!(inst.status, Launching, "reset keeps the state");
}

#[test]
fn uptime_is_measured_from_the_spawn() {
    let p = policy();
    let mut inst = Instance::new();
    step(&mut inst, &p, Event::Start, 100);
    assert_eq!(inst.started_at_ms(), Some(100));
    step(&mut inst, &p, Event::Spawned { run: 1 }, 105);
    // 999 ms after the spawn: unstable.
    step(&mut inst, &p, exited(1, 1), 1099);
    assert_eq!(inst.unstable, 1);
}
