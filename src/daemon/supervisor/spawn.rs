//! Owns starting and signalling processes: spawning a run in its own process group with its
//! pipes wired to the log files, the task that waits for its exit (and gathers the OOM
//! evidence off the actor), and sending stop signals to the run's tree.

use super::spawner::{Launched, SpawnContext, SpawnPool, Spawned};
use super::{Internal, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::{Event, ExitFacts, OomEvidence, Signal, Trigger};
use crate::logs;
use crate::proc;
use crate::proc::cgroup::Group;
use crate::proc::oom::{self, OomCounters};
use crate::record::Status;
use crate::store::Write;
use crate::store::model::SpawnRecord;
use nix::sys::signal::Signal as NixSignal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How old the OOM-kill counters may be when used as a new run's baseline.
const OOM_FRESH_MS: u64 = 100;

/// How long an exit waits for the end of its stderr before it is handled.
const STDERR_GRACE: Duration = Duration::from_millis(50);

/// How many spawns are prepared and handed to the spawn threads at once; the others wait as a
/// name and a run number. A start of 1,000 apps handed over all at once held 1,000 prepared
/// commands (each with its environment, twice) and left the daemon's heap at 28 MiB for good
/// instead of 11.
pub const MAX_IN_FLIGHT: usize = 8;

/// What a spawn carries from the actor to the spawn threads and back.
pub(super) struct Pending {
    app: String,
    index: u32,
    run: u64,
    trigger: Trigger,
    spec: AppSpec,
    env: BTreeMap<String, String>,
    oom_base: OomCounters,
}

/// A process started for an instance that is gone by the time it started: killed (its group)
/// and reaped.
fn abandon(spawned: Spawned) {
    if let Some(pid) = spawned.pid {
        super::spawner::known(pid);
        tracing::warn!(
            pid,
            "a process started for an instance that is gone: killed"
        );
        let _ = proc::signal_group(pid, NixSignal::SIGKILL);
    }
    tokio::spawn(spawned.exit);
}

impl Supervisor {
    /// Carries out a `Spawn` effect. The outcome is the event fed back to the state machine:
    /// now, or once the spawn threads are done with it ([`Supervisor::launched`]).
    pub(super) fn spawn(
        &mut self,
        app: &str,
        index: u32,
        run: u64,
        trigger: Trigger,
    ) -> Option<Event> {
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
        if self.spawn_pool.is_some() && self.spawns_in_flight >= MAX_IN_FLIGHT {
            self.spawn_queue
                .push_back((app.to_string(), index, run, trigger));
            return None;
        }
        let oom_base = self.oom_seen;
        let failed = Some(Event::SpawnFailed { run, errno: None });
        let Some(a) = self.app_mut(app) else {
            return failed;
        };
        let spec = a.spec.clone();
        let Some(inst) = a.insts.get_mut(&index) else {
            return failed;
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
                return failed;
            }
        };
        let wants_notify = spec.wait_ready || spec.watchdog_ms.is_some();
        let notify_socket = wants_notify.then_some(self.paths.notify.as_path());
        let ctx = |cgroup| SpawnContext {
            env: &env,
            sockets: &sockets,
            notify_socket,
            cgroup,
        };
        let maker = self.resources.group_maker(&spec, index, run);
        let launch = self.spawner.launch(&spec, index, run, &ctx(None), maker);
        let pending = |spec, env| Pending {
            app: app.to_string(),
            index,
            run,
            trigger,
            spec,
            env,
            oom_base,
        };
        if let Some(launch) = launch {
            let pending = pending(spec, env);
            if self.spawn_pool.is_none() {
                match SpawnPool::start(tokio::runtime::Handle::current()) {
                    Ok(pool) => self.spawn_pool = Some(pool),
                    Err(e) => tracing::warn!("no spawn threads, spawning on the actor: {e}"),
                }
            }
            self.spawns_in_flight += 1;
            let tx = self.internal_tx.clone();
            let logs = self.logs.unopened(&pending.spec, index);
            let job: Box<dyn FnOnce() + Send> = Box::new(move || {
                crate::logs::file::create_missing(&logs);
                let launched = launch();
                let _ = tx.send(Internal::Launched(Box::new((pending, launched))));
            });
            // Without the threads the job runs here; its outcome arrives all the same.
            let job = match &self.spawn_pool {
                Some(pool) => pool.submit(job).err(),
                None => Some(job),
            };
            if let Some(job) = job {
                job();
            }
            return None;
        }
        // A spawner that spawns on the actor (tests' spawners): the cgroup is made here.
        crate::logs::file::create_missing(&self.logs.unopened(&spec, index));
        let group = self.resources.run_group(&spec, index, run);
        let mut outcome = self
            .spawner
            .spawn(&spec, index, run, &ctx(group.as_deref()));
        let mut cgroup_refused = None;
        if group.is_some()
            && let Err(e) = outcome
        {
            cgroup_refused = Some(e);
            outcome = self.spawner.spawn(&spec, index, run, &ctx(None));
        }
        let launched = Launched {
            outcome,
            group,
            cgroup_refused,
        };
        Some(self.finish_spawn(pending(spec, env), launched))
    }

    /// A spawn the spawn threads are done with: fed to the state machine of its instance. A
    /// stop that came meanwhile could not signal the process then: it is signalled now.
    pub(super) fn launched(&mut self, pending: Pending, launched: Launched) {
        let (app, index, run) = (pending.app.clone(), pending.index, pending.run);
        let event = self.finish_spawn(pending, launched);
        let stopping = self
            .app(&app)
            .and_then(|a| a.insts.get(&index))
            .is_some_and(|i| i.life.run() == run && i.life.status() == Status::Stopping);
        let spawned = matches!(event, Event::Spawned { .. });
        self.dispatch(&app, index, event);
        if stopping && spawned {
            self.signal(&app, index, run, Signal::Graceful);
        }
        self.spawns_in_flight = self.spawns_in_flight.saturating_sub(1);
        self.spawn_queued();
    }

    /// Spawns that waited for room, in order, while there is room. One whose instance moved
    /// on meanwhile (deleted, or another run) is dropped; one stopped meanwhile is spawned all
    /// the same and stopped when it is back, as a stop during any spawn is.
    fn spawn_queued(&mut self) {
        while self.spawns_in_flight < MAX_IN_FLIGHT
            && let Some((app, index, run, trigger)) = self.spawn_queue.pop_front()
        {
            let current = self
                .app(&app)
                .and_then(|a| a.insts.get(&index))
                .is_some_and(|i| i.life.run() == run);
            if !current {
                continue;
            }
            if let Some(event) = self.spawn(&app, index, run, trigger) {
                self.dispatch(&app, index, event);
            }
        }
    }

    /// The rest of a spawn once the process started (or did not): its pid and cgroup in the
    /// run's facts, the spawn row, the output capture, the probes and the exit waiter.
    fn finish_spawn(&mut self, pending: Pending, launched: Launched) -> Event {
        let Pending {
            app,
            index,
            run,
            trigger,
            spec,
            env,
            oom_base,
        } = pending;
        let app = app.as_str();
        let mut group = launched.group;
        if let Some(e) = launched.cgroup_refused
            && let Some(g) = group.take()
        {
            // The cgroup refused the child (or the program cannot run: the second attempt
            // tells). The run goes on in process-group mode rather than not at all.
            tracing::warn!(
                app,
                index,
                cgroup = %g.path().display(),
                "spawning in the run's cgroup failed ({e}); trying in process-group mode"
            );
            release_group(g);
        }
        let spawned = match launched.outcome {
            Ok(c) => c,
            Err(e) => {
                if let Some(g) = group.take() {
                    release_group(g);
                }
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
            abandon(spawned);
            return Event::SpawnFailed { run, errno: None };
        };
        let restarts = inst.life.restarts();
        let counters = (inst.out.clone(), inst.err.clone());
        let Some(facts) = inst.facts(run) else {
            abandon(spawned);
            return Event::SpawnFailed { run, errno: None };
        };
        let pid = spawned.pid;
        facts.pid = pid;
        if let Some(pid) = pid {
            super::spawner::known(pid);
        }
        facts.env = Some(super::app::EnvSnapshot::new(
            spec.base_env.clone(),
            spawned.env,
        ));
        // A fresh cgroup's counter is 0, but one left by an earlier daemon of this home may not
        // be: the baseline is read, not assumed.
        let cgroup_oom_base = group.as_ref().and_then(|g| g.oom_kills());
        facts.cgroup = group.clone();
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
            rt.spawn(logs::capture_pipe(out, out_sink));
        }
        let stderr_done = spawned
            .stderr
            .map(|err| rt.spawn(logs::capture_pipe(err, err_sink)));
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
                oom_evidence(pid, oom_base, group.map(|g| (g, cgroup_oom_base))).await
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
        if tree && let Some(group) = facts.cgroup.clone() {
            // The cgroup is the tree: nothing that forked or left the group is missed.
            let tx = self.internal_tx.clone();
            let app = app.to_string();
            tokio::task::spawn_blocking(move || {
                let sent = if sig == NixSignal::SIGKILL {
                    group.kill()
                } else {
                    group.signal(sig)
                };
                if let Err(e) = sent {
                    // The cgroup's files are gone or refuse: the process group and the tree
                    // walk still reach the run.
                    let members = proc::tree::sample(&[pid])
                        .pop()
                        .map(|t| t.members)
                        .unwrap_or_default();
                    let _ = proc::signal_group(pid, sig);
                    super::spawner::signal_escaped(pid, &members, sig);
                    let _ = tx.send(Internal::CgroupFailed {
                        app,
                        index,
                        run,
                        error: e.to_string(),
                    });
                }
            });
            return;
        }
        let known = facts.members.clone();
        self.spawner.signal(pid, sig, tree, known);
    }

    /// A run's cgroup failed mid-run: the run goes on in process-group mode.
    pub(super) fn cgroup_failed(&mut self, app: &str, index: u32, run: u64, error: &str) {
        if let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run))
            && let Some(g) = facts.cgroup.take()
        {
            tracing::warn!(
                app,
                index,
                run,
                cgroup = %g.path().display(),
                "the run's cgroup failed ({error}); it goes on in process-group mode"
            );
        }
    }
}

/// Whether the kernel's OOM killer took `pid`: the counters since the run started (the run's
/// own cgroup's, when it has one), and the kernel log (which can hold up to 100,000 records to
/// read) when the cgroup does not already tell — on the blocking pool.
async fn oom_evidence(
    pid: Option<i32>,
    base: OomCounters,
    group: Option<(Arc<Group>, Option<u64>)>,
) -> OomEvidence {
    let read = tokio::task::spawn_blocking(move || {
        let cgroup_oom_kill = group.is_some_and(
            |(g, before)| matches!((g.oom_kills(), before), (Some(now), Some(then)) if now > then),
        );
        let counter_rose = cgroup_oom_kill || OomCounters::read().rose_since(&base);
        OomEvidence {
            counter_rose,
            cgroup_oom_kill,
            kmsg_names_pid: if counter_rose && !cgroup_oom_kill {
                pid.and_then(oom::kmsg_confirms)
            } else {
                None
            },
        }
    });
    read.await.unwrap_or_default()
}

/// A run's cgroup is done with: removed, off the actor, once its last processes have left
/// (a SIGKILLed process leaves its cgroup a moment after the signal). With `treekill: false`
/// what the run left keeps it; the app's deletion tries again.
pub(super) fn release_group(g: Arc<Group>) {
    tokio::task::spawn_blocking(move || {
        let mut last = None;
        // Short: the sweep already waited for the cgroup to empty; only what `treekill: false`
        // leaves keeps it, and a crash storm must not hold the blocking pool on it.
        for _ in 0..5 {
            match g.remove() {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(e) = last {
            tracing::info!("cgroup kept while processes remain in it: {e}");
        }
    });
}
