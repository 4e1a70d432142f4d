//! Owns taking over from the previous daemon: closing the runs it left open as `daemon_lost`
//! (killing their process groups when they are verifiably still the same processes, and
//! everything left in their cgroups), then
//! bringing back every app with its counters, its triggers armed, and started if it should run.

use super::Supervisor;
use super::app::{App, Inst, last_exit_of};
use crate::daemon::lifecycle::{Counters, Event, Instance};
use crate::ipc::LastExit;
use crate::proc;
use crate::record::Cause;
use crate::store::model::ExitRecord;
use crate::store::{Snapshot, Write};
use std::collections::{BTreeMap, HashMap};

impl Supervisor {
    /// Records whether the user's stop of one instance holds; stored only when it changes.
    pub(super) fn hold_stopped(&mut self, app: &str, index: u32, held: bool) {
        let Some(inst) = self.inst_mut(app, index) else {
            return;
        };
        if inst.held_stopped == held {
            return;
        }
        inst.held_stopped = held;
        self.store.send(Write::HoldStopped {
            app: app.to_string(),
            instance: index,
            held,
        });
    }

    /// Loads what the previous daemon left. Runs before the actor's loop starts.
    pub fn restore(&mut self, snapshot: Snapshot) {
        let now = crate::store::now_ms();
        self.next_deployment = snapshot.last_deployment + 1;
        self.load_exit_counts(snapshot.exit_counts);
        let mut lost: HashMap<(String, u32), LastExit> = HashMap::new();
        for open in snapshot.open_runs {
            let alive = open.pid > 1
                && open.pid_start_ticks.is_some()
                && proc::start_ticks(open.pid) == open.pid_start_ticks;
            if alive {
                tracing::warn!(
                    app = %open.app,
                    instance = open.instance,
                    pid = open.pid,
                    "a process of the previous daemon is still running: killing its group"
                );
                let _ = proc::signal_group(open.pid, nix::sys::signal::Signal::SIGKILL);
            }
            // Its cgroup (same home, same subtree) still holds whatever escaped the group.
            let swept = self
                .resources
                .sweep_stale(&open.app, open.instance, open.run);
            let alive = alive || swept > 0;
            let record = ExitRecord {
                app: open.app,
                instance: open.instance,
                run: open.run,
                pid: Some(open.pid),
                started_at_ms: open.started_at_ms,
                ended_at_ms: now,
                cause: Cause::DaemonLost,
                exit_code: None,
                signal: None,
                core_dumped: false,
                unstable: false,
                sigkill_needed: alive,
                next_delay_ms: None,
                error: Some("the daemon ended while this run was alive".to_string()),
                rss_last_bytes: None,
                rss_peak_bytes: None,
                memory_limit_bytes: None,
                oom_confidence: None,
                leftovers_killed: u32::from(alive),
                stderr_tail: None,
                end_approx: false,
            };
            self.count_exit(&record.app, record.instance, Cause::DaemonLost, false);
            lost.insert((record.app.clone(), record.instance), last_exit_of(&record));
            self.store.send(Write::Exit(record));
        }
        for stored in snapshot.apps {
            let mut insts = BTreeMap::new();
            for i in 0..stored.spec.instances {
                let c = stored.instances.iter().find(|c| c.index == i);
                let life = c.map_or_else(Instance::new, |c| {
                    Instance::restored(Counters {
                        run: c.last_run,
                        restarts: c.restarts,
                        auto_restarts: c.auto_restarts,
                        manual_restarts: c.manual_restarts,
                        unstable: c.unstable_restarts,
                    })
                });
                let mut inst = Inst::new(life);
                inst.held_stopped = c.is_some_and(|c| c.held_stopped);
                inst.last_exit = lost
                    .remove(&(stored.spec.name.clone(), i))
                    .or_else(|| c.and_then(|c| c.last_exit.as_ref()).map(last_exit_of));
                insts.insert(i, Box::new(inst));
            }
            let name = stored.spec.name.clone();
            let should_run = stored.should_run;
            let mut spec = stored.spec;
            spec.base_env = self.share_env(spec.base_env);
            let mut app = App::new(spec, should_run, insts);
            app.deployment = stored.deployment;
            self.apps.push(app);
            // Adopted processes are running: the next sampling moment is worked out anew.
            self.sample_due = None;
            // cron_restart and watch hold whatever path brought the app back.
            self.arm_triggers(&name);
            if should_run {
                // Except those the user stopped one by one (`stop app:1`).
                let indexes: Vec<u32> = self.app(&name).map_or_else(Vec::new, |a| {
                    a.insts
                        .iter()
                        .filter(|(_, inst)| !inst.held_stopped)
                        .map(|(i, _)| *i)
                        .collect()
                });
                for i in indexes {
                    self.dispatch(&name, i, Event::Start);
                }
            }
        }
    }
}
