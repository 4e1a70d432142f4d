//! Owns the supervisor's side of `metrics`: the snapshot it hands out (the same figures `list`
//! reads, taken as quickly), and the exit counters it keeps from the history.

use super::Supervisor;
use crate::daemon::metrics::{InstanceFigures, Snapshot};
use crate::record::Cause;
use crate::store::ExitCount;

impl Supervisor {
    pub(super) fn metrics_snapshot(&self) -> Snapshot {
        let ticks = crate::proc::stat::ticks_per_second() as f64;
        let mut instances = Vec::new();
        for a in &self.apps {
            for (index, inst) in &a.insts {
                let info = self.info(a, *index, inst);
                let running = info.pid.is_some();
                instances.push(InstanceFigures {
                    memory_limit: a.spec.max_memory_restart,
                    health_failures: a
                        .spec
                        .health
                        .as_ref()
                        .filter(|_| running)
                        .map(|_| inst.life.health_failures()),
                    cpu_seconds: inst
                        .run
                        .cpu_ticks
                        .filter(|_| running)
                        .map(|t| t as f64 / ticks),
                    info,
                });
            }
        }
        let (db_queue, db_write_errors) = self.store.queue_and_errors();
        Snapshot {
            instances,
            namespaces: (self.apps.iter())
                .map(|a| (a.spec.name.clone(), a.spec.namespace.clone()))
                .collect(),
            exits: self.exit_counts.clone(),
            db_queue,
            db_write_errors,
            daemon_started_ms: self.started_wall_ms,
        }
    }

    /// The counters as the history had them when the daemon started.
    pub(super) fn load_exit_counts(&mut self, counts: Vec<ExitCount>) {
        for c in counts {
            let e = self
                .exit_counts
                .entry((c.app, c.instance, c.cause))
                .or_default();
            e.exits += c.exits;
            e.restarts += c.restarts;
        }
    }

    /// One more exit recorded in the history.
    pub(super) fn count_exit(&mut self, app: &str, index: u32, cause: Cause, restarted: bool) {
        let e = (self.exit_counts)
            .entry((app.to_string(), index, cause))
            .or_default();
        e.exits += 1;
        e.restarts += u64::from(restarted);
    }
}
