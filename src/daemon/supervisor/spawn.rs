//! Owns starting and signalling processes: spawning a run in its own process group with its
//! pipes wired to the log files, the task that waits for its exit (and gathers the OOM
//! evidence off the actor), and sending stop signals to the run's tree.

use super::spawner::SpawnContext;
use super::{Internal, Supervisor};
use crate::daemon::lifecycle::{Event, ExitFacts, OomEvidence, Signal, Trigger};
use crate::logs;
use crate::proc;
use crate::proc::oom::{self, OomCounters};
use crate::store::Write;
use crate::store::model::SpawnRecord;
use nix::sys::signal::Signal as NixSignal;
use std::time::Duration;

/// How old the OOM-kill counters may be when used as a new run's baseline.
const OOM_FRESH_MS: u64 = 100;

/// How long an exit waits for the end of its stderr before it is handled.
const STDERR_GRACE: Duration = Duration::from_millis(50);

impl Supervisor {
    /// Carries out a `Spawn` effect; the outcome is the event fed back to the state machine.
    pub(super) fn spawn(&mut self, app: &str, index: u32, run: u64, trigger: Trigger) -> Event {
        let now = self.now_ms();
        // Reading /proc/vmstat on every spawn would cost a crash storm dearly; a reading at
        // most OOM_FRESH_MS old is as good a baseline.
        if self
            .oom_read_at
            .is_none_or(|at| now.saturating_sub(at) > OOM_FRESH_MS)
        {
            self.oom_seen = OomCounters::read();
            self.oom_read_at = Some(now);
        }
        let oom_base = self.oom_seen;
        let Some(a) = self.app_mut(app) else {
            return Event::SpawnFailed { run, errno: None };
        };
        let spec = a.spec.clone();
        let Some(inst) = a.insts.get_mut(&index) else {
            return Event::SpawnFailed { run, errno: None };
        };
        inst.begin_run(run, crate::store::now_ms());
        // Once per spawn: it reads the app's env_file, and the sockets, the command and the
        // probes all use it.
        let env = spec.environment(index);
        let sockets = match self.resources.sockets(&spec, &env) {
            Ok(s) => s,
            Err(msg) => {
                tracing::warn!(app, index, "{msg}");
                if let Some(r) = self.inst_mut(app, index).and_then(|i| i.facts(run)) {
                    r.spawn_error = Some(msg);
                }
                return Event::SpawnFailed { run, errno: None };
            }
        };
        let wants_notify = spec.wait_ready || spec.watchdog_ms.is_some();
        let ctx = SpawnContext {
            env: &env,
            sockets: &sockets,
            notify_socket: wants_notify.then_some(self.paths.notify.as_path()),
        };
        let spawned = match self.spawner.spawn(&spec, index, run, &ctx) {
            Ok(c) => c,
            Err(e) => {
                let argv0 = spec.argv().first().cloned().unwrap_or_default();
                let errno = e.raw_os_error();
                // The errno's name first: what `history` shows and what decides a retry.
                let name = errno.map_or(String::new(), |n| {
                    format!("{:?}: ", nix::errno::Errno::from_raw(n))
                });
                let msg = format!(
                    "cannot execute `{argv0}` in {}: {name}{e}",
                    spec.cwd.display()
                );
                tracing::warn!(app, index, "{msg}");
                if let Some(r) = self.inst_mut(app, index).and_then(|i| i.facts(run)) {
                    r.spawn_error = Some(msg);
                }
                return Event::SpawnFailed { run, errno };
            }
        };
        let deployment = self.app(app).and_then(|a| a.deployment);
        let Some(inst) = self.inst_mut(app, index) else {
            return Event::SpawnFailed { run, errno: None };
        };
        let restarts = inst.life.restarts();
        let counters = (inst.out.clone(), inst.err.clone());
        let Some(facts) = inst.facts(run) else {
            return Event::SpawnFailed { run, errno: None };
        };
        let pid = spawned.pid;
        facts.pid = pid;
        facts.pid_ticks = pid.and_then(proc::start_ticks);
        let tail = facts.tail.clone();
        if let Some(pid) = pid {
            proc::pidfile::written(&spec, index, pid);
        }
        let record = SpawnRecord {
            app: app.to_string(),
            instance: index,
            run,
            pid: pid.unwrap_or(0),
            pid_start_ticks: facts.pid_ticks,
            started_at_ms: facts.started_wall_ms.unwrap_or(0),
            restarts,
            trigger,
            deployment,
        };
        let ready_line = self.ready_line(&spec, index, run);
        let (out_sink, err_sink) = self.logs.outputs(&spec, index, counters, tail, ready_line);
        let rt = self
            .log_rt
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        if let Some(out) = spawned.stdout {
            rt.spawn(logs::capture(out, out_sink));
        }
        let stderr_done = spawned
            .stderr
            .map(|err| rt.spawn(logs::capture(err, err_sink)));
        let probes = self.start_probes(&spec, index, run, &env);
        if let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run)) {
            facts.probes = probes;
        }
        self.store.send(Write::Spawn(record));
        // It runs again: a stop the user gave it no longer holds.
        self.hold_stopped(app, index, false);
        let tx = self.internal_tx.clone();
        let name = app.to_string();
        let wait = spawned.exit;
        tokio::spawn(async move {
            let info = wait.await;
            let reaped_ms = crate::store::now_ms();
            let unseen_ms = crate::daemon::stall::unseen_ms(reaped_ms);
            // What the process wrote just before it died is usually still in the pipe: give the
            // reader a moment to reach end of file so the stderr tail is complete. Processes
            // that keep the pipe open (left-over children) cost at most this pause.
            if let Some(done) = stderr_done {
                let _ = tokio::time::timeout(STDERR_GRACE, done).await;
            }
            let oom = if info.signal == Some(libc::SIGKILL) {
                oom_evidence(pid, oom_base).await
            } else {
                OomEvidence::default()
            };
            let exit = ExitFacts {
                code: info.code,
                signal: info.signal,
                core_dumped: info.core_dumped,
                oom,
                unseen_ms,
            };
            let ended_wall_ms = reaped_ms - unseen_ms.min(i64::MAX as u64) as i64;
            let _ = tx.send(Internal::Exited {
                app: name,
                index,
                run,
                exit,
                ended_wall_ms,
            });
        });
        Event::Spawned { run }
    }

    /// Carries out a `Signal` effect: to the process group, and to the descendants that left it
    /// (found by a fresh walk of the tree, off the actor), or to the main process only.
    pub(super) fn signal(&mut self, app: &str, index: u32, run: u64, signal: Signal) {
        let Some(a) = self.app(app) else { return };
        let (sig, tree) = match signal {
            Signal::Kill => (NixSignal::SIGKILL, a.spec.treekill),
            Signal::Graceful => (a.spec.stop_signal(), a.spec.treekill),
            // An in-place reload is the main process's job: it alone gets the signal.
            Signal::Reload => (a.spec.reload_signal(), false),
        };
        let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run)) else {
            return;
        };
        let Some(pid) = facts.pid else { return };
        let known = facts.members.clone();
        self.spawner.signal(pid, sig, tree, known);
    }
}

/// Whether the kernel's OOM killer took `pid`: the counters since the run started, and the
/// kernel log (which can hold up to 100,000 records to read) — on the blocking pool.
async fn oom_evidence(pid: Option<i32>, base: OomCounters) -> OomEvidence {
    let read = tokio::task::spawn_blocking(move || {
        let counter_rose = OomCounters::read().rose_since(&base);
        OomEvidence {
            counter_rose,
            kmsg_names_pid: if counter_rose {
                pid.and_then(oom::kmsg_confirms)
            } else {
                None
            },
        }
    });
    read.await.unwrap_or_default()
}
