//! Owns what `list` and `describe` show of the app table (sample.rs owns when their figures
//! are sampled).

use super::app::{App, Inst};
use super::targets::{Key, Target};
use super::{ReplyTx, RequestError, Supervisor};
use crate::ipc::{AppDetail, ProcessInfo, Reloading, Request, Response};
use crate::logs;
use std::sync::atomic::Ordering::Relaxed;

impl Target for App {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn namespace(&self) -> &str {
        &self.spec.namespace
    }
    fn indexes(&self) -> Vec<u32> {
        self.insts.keys().copied().collect()
    }
    fn ids(&self) -> Vec<(u32, u32)> {
        self.insts.iter().map(|(i, inst)| (*i, inst.id)).collect()
    }
}

impl Supervisor {
    /// Answers a view (`list`, `describe`) from the figures as they are now (see
    /// [`Supervisor::view`] for when they are fresh).
    pub(super) fn answer_view(&mut self, req: Request, reply: ReplyTx) {
        let answer = match req {
            Request::List => Ok(Response::List {
                processes: self.list(None),
                warnings: self.warnings_now(),
            }),
            Request::Describe { target } => self.resolve(&target).map(|keys| {
                let mut names: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
                names.dedup();
                let apps = names.iter().filter_map(|n| self.describe(n)).collect();
                Response::Describe { apps }
            }),
            _ => Err(RequestError::Internal(
                "a request that is not a view".into(),
            )),
        };
        let _ = reply.send(answer);
    }

    pub(super) fn info(&self, a: &App, index: u32, inst: &Inst) -> ProcessInfo {
        let life = &inst.life;
        let running = life.status().has_process() && inst.run.pid.is_some();
        let now = self.now_ms();
        ProcessInfo {
            id: inst.id,
            name: a.spec.name.clone(),
            namespace: a.spec.namespace.clone(),
            instance: index,
            pid: if running { inst.run.pid } else { None },
            status: life.status(),
            run: life.run(),
            restarts: life.restarts(),
            auto_restarts: life.auto_restarts(),
            manual_restarts: life.manual_restarts(),
            unstable_restarts: life.unstable(),
            uptime_ms: if running {
                life.started_at_ms().map(|s| now.saturating_sub(s))
            } else {
                None
            },
            started_at_ms: if running {
                inst.run.started_wall_ms
            } else {
                None
            },
            log_bytes_lost: inst.out.lost.load(Relaxed) + inst.err.lost.load(Relaxed),
            processes: if running { inst.run.processes } else { None },
            log_bytes_written: inst.out.written.load(Relaxed) + inst.err.written.load(Relaxed),
            cpu_percent: inst.run.cpu,
            memory_bytes: inst.run.rss,
            last_exit: inst.last_exit.clone(),
            history_dropped: self.store.dropped_of(&a.spec.name),
            notify_status: inst.notify_status.clone(),
            probe_error: inst.last_probe_error.clone(),
            health: a.spec.health.as_ref().filter(|_| running).map(|h| {
                match (life.health_failures(), inst.run.health_seen) {
                    (0, true) => "ok".to_string(),
                    (0, false) => "pending".to_string(),
                    (n, _) => format!("failing {n}/{}", h.failures),
                }
            }),
            reloading: inst.life.successor_status().map(|status| Reloading {
                pid: inst.next.as_ref().and_then(|n| n.pid),
                status,
            }),
        }
    }

    pub(super) fn list(&self, only: Option<&str>) -> Vec<ProcessInfo> {
        self.apps
            .iter()
            .filter(|a| only.is_none_or(|n| a.spec.name == n))
            .flat_map(|a| a.insts.iter().map(move |(i, inst)| self.info(a, *i, inst)))
            .collect()
    }

    pub(super) fn processes_of(&self, keys: &[Key]) -> Vec<ProcessInfo> {
        keys.iter()
            .filter_map(|(name, i)| {
                let a = self.app(name)?;
                let inst = a.insts.get(i)?;
                Some(self.info(a, *i, inst))
            })
            .collect()
    }

    pub(super) fn describe(&self, name: &str) -> Option<AppDetail> {
        let a = self.app(name)?;
        let logs_of = |which: usize| {
            let mut v: Vec<String> = a
                .insts
                .keys()
                .filter_map(|i| logs::files(&self.paths, &a.spec, *i)[which].clone())
                .map(|p| p.display().to_string())
                .collect();
            // Merged files are shared by the instances: each path once.
            v.dedup();
            v
        };
        Some(AppDetail {
            spec: a.spec.clone(),
            should_run: a.desired.should_run(),
            instances: self.list(Some(name)),
            out_log: logs_of(0),
            err_log: logs_of(1),
            log_file: logs_of(2),
            pid_file: a
                .insts
                .keys()
                .filter_map(|i| crate::proc::pidfile::path(&a.spec, *i))
                .map(|p| p.display().to_string())
                .collect(),
            isolation: self.resources.isolation.describe(),
            unenforced: self.resources.isolation.unenforced(&a.spec),
        })
    }
}

impl Supervisor {
    /// How the daemon's own writing fares, for `ping`.
    pub(super) fn health(&self) -> crate::ipc::DaemonHealth {
        crate::ipc::DaemonHealth {
            history_held: self.store.held(),
            history_dropped: self.store.dropped(),
            history_error: self.store.failing(),
            history_recreated: self.store.recreated(),
            log_lines_dropped: crate::daemon::ownlog::dropped_lines(),
        }
    }

    /// The warnings of start-up, and what goes wrong with the history or the log now.
    pub(super) fn warnings_now(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        let h = self.health();
        if let Some(why) = h.history_error {
            w.push(format!(
                "the history is not being written ({why}); {} row(s) wait and will be written when the database takes them",
                h.history_held
            ));
        }
        if h.history_dropped > 0 {
            w.push(format!(
                "{} history row(s) were dropped since the daemon started (see the daemon log)",
                h.history_dropped
            ));
        }
        if h.log_lines_dropped > 0 {
            w.push(format!(
                "{} daemon log line(s) could not be written (disk full?)",
                h.log_lines_dropped
            ));
        }
        w
    }
}
