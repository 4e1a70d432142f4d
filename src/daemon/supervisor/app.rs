//! Owns the supervisor's record of each app and instance: the pure lifecycle state, and beside
//! it the runtime facts of the current run (pid, samples, log counters) that the state machine
//! does not decide. A run's facts are set in one place ([`Inst::begin_run`]) and cleared in one
//! place ([`Inst::end_run`]).

use crate::config::AppSpec;
use crate::config::load::readiness::DEFAULT_LISTEN_TIMEOUT_MS;
use crate::daemon::lifecycle::backoff::DelayPolicy;
use crate::daemon::lifecycle::desired::Desired;
use crate::daemon::lifecycle::{Instance, MemoryLimit, Policy, ReloadMode};
use crate::ipc::LastExit;
use crate::logs::{Counters, Tail};
use crate::proc::tree;
use crate::store::model::ExitRecord;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The next instance id (PM2's `pm_id`). One supervisor per daemon process, so a process-wide
/// counter numbers instances in creation order, never reusing one while the daemon runs.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The restart policy the state machine applies to an app's instances.
pub fn policy_of(spec: &AppSpec) -> Policy {
    Policy {
        autorestart: spec.autorestart,
        stop_exit_codes: spec.stop_exit_codes.clone(),
        delay: DelayPolicy {
            restart_delay_ms: spec.restart_delay_ms,
            exp_backoff_ms: spec.exp_backoff_restart_delay_ms,
        },
        min_uptime_ms: spec.min_uptime_ms,
        max_restarts: spec.max_restarts,
        kill_timeout_ms: spec.kill_timeout_ms,
        memory: spec.max_memory_restart.map(|limit_bytes| MemoryLimit {
            limit_bytes,
            samples: spec.max_memory_samples,
        }),
        treekill: spec.treekill,
        readiness: spec.wait_ready || spec.ready_log_line.is_some() || spec.ready.is_some(),
        listen_timeout_ms: spec.listen_timeout_ms.unwrap_or(DEFAULT_LISTEN_TIMEOUT_MS),
        health_failures: spec.health.as_ref().map(|h| h.failures),
        watchdog_ms: spec.watchdog_ms,
        reload: reload_mode(spec),
        // A delay in the spec is a configured one, however the spec was made.
        default_backoff: spec.default_backoff
            && spec.restart_delay_ms == 0
            && spec.exp_backoff_restart_delay_ms.is_none(),
        notify_reload: spec.reload_signal.is_some() && spec.wait_ready,
    }
}

/// How `reload` replaces an instance of `spec`. A new process beside the old one works when the
/// old one owns no port the new one needs: either svctl owns the sockets (`listen:`) or the app
/// has no port of its own. An app with its own port per instance (`increment_var`) or one port
/// (`port`, `PORT`) is replaced stop-first, one instance at a time.
pub fn reload_mode(spec: &AppSpec) -> ReloadMode {
    if spec.reload_signal.is_some() {
        return ReloadMode::Signal;
    }
    if !spec.listen.is_empty() {
        return ReloadMode::Surge;
    }
    let owns_port = spec.increment_var.is_some()
        || spec.env.contains_key("PORT")
        || spec.base_env.contains_key("PORT");
    if owns_port {
        ReloadMode::StopFirst
    } else {
        ReloadMode::Surge
    }
}

/// The memory of the minute being aggregated for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minute {
    pub start_ms: i64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
    pub samples: u64,
}

impl Minute {
    /// Adds a sample; returns the finished minute when `minute_ms` starts a new one.
    pub fn add(cur: &mut Option<Minute>, minute_ms: i64, rss: u64) -> Option<Minute> {
        match cur {
            Some(m) if m.start_ms == minute_ms => {
                m.min = m.min.min(rss);
                m.max = m.max.max(rss);
                m.sum = m.sum.saturating_add(rss);
                m.samples += 1;
                None
            }
            _ => cur.replace(Minute {
                start_ms: minute_ms,
                min: rss,
                max: rss,
                sum: rss,
                samples: 1,
            }),
        }
    }

    pub fn avg(&self) -> u64 {
        self.sum / self.samples.max(1)
    }
}

/// The environment a run's process was given, kept for `svctl env` as the app's caller
/// environment (one copy shared by every app started from the same shell, see
/// `Supervisor::share_env`) and the variables that differ from it. A full copy per run was the
/// largest part of an idle instance's memory: about 3.7 KiB of a 30-variable shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSnapshot {
    base: Arc<BTreeMap<String, String>>,
    /// Variables set over the base (`Some`) or absent from what the process got (`None`).
    changes: Box<[(String, Option<String>)]>,
}

impl EnvSnapshot {
    /// `given` (what the process got) as changes over `base`.
    pub fn new(base: Arc<BTreeMap<String, String>>, given: BTreeMap<String, String>) -> Self {
        let mut changes: Vec<(String, Option<String>)> = base
            .keys()
            .filter(|k| !given.contains_key(*k))
            .map(|k| (k.clone(), None))
            .collect();
        changes.extend(
            given
                .into_iter()
                .filter(|(k, v)| base.get(k) != Some(v))
                .map(|(k, v)| (k, Some(v))),
        );
        EnvSnapshot {
            base,
            changes: changes.into_boxed_slice(),
        }
    }

    /// Every variable the process got.
    pub fn full(&self) -> BTreeMap<String, String> {
        let mut env = (*self.base).clone();
        for (k, v) in self.changes.iter() {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
        env
    }
}

/// The facts of one run, known once it was spawned.
#[derive(Debug, Default)]
pub struct Run {
    /// The run number these facts are of (0: none yet).
    pub number: u64,
    pub pid: Option<i32>,
    pub pid_ticks: Option<u64>,
    pub started_wall_ms: Option<i64>,
    /// The OS error when the program could not be executed.
    pub spawn_error: Option<String>,
    pub cpu: Option<f32>,
    /// CPU time of the tree's live processes at the last sample, in clock ticks.
    pub cpu_ticks: Option<u64>,
    pub rss: Option<u64>,
    pub rss_peak: Option<u64>,
    /// The run's descendants at the last sample (or at the stop), to find them again once the
    /// main process is gone or when they left its process group.
    pub members: Vec<tree::Member>,
    /// Processes in the run's tree at the last sample.
    pub processes: Option<u32>,
    /// How the main process ended, once it has.
    pub exit: Option<crate::daemon::lifecycle::ExitFacts>,
    /// When the main process ended (wall clock), once it has.
    pub ended_wall_ms: Option<i64>,
    pub minute: Option<Minute>,
    /// The last lines of the run's stderr.
    pub tail: Arc<Mutex<Tail>>,
    /// A health check of this run has completed (passed or failed).
    pub health_seen: bool,
    /// The run's probes stop when this is dropped (with the run's facts).
    pub probes: Option<tokio_util::sync::DropGuard>,
    /// The environment the process was given (`svctl env`).
    pub env: Option<EnvSnapshot>,
    /// The run's own cgroup, when it runs in one: its processes, memory, CPU and OOM kills.
    pub cgroup: Option<Arc<crate::proc::cgroup::Group>>,
}

/// One instance: the pure state and the runtime facts.
pub struct Inst {
    /// A small number naming the instance as a target, stable for the daemon's life.
    pub id: u32,
    pub life: Instance,
    pub run: Run,
    /// A reload's new process while it runs beside the current one. Boxed: it is there only
    /// during a reload, and inline it made every instance a run larger (320 bytes).
    pub next: Option<Box<Run>>,
    pub last_exit: Option<LastExit>,
    /// The run number and environment of the last run that ended, for `svctl env`.
    pub last_env: Option<(u64, EnvSnapshot)>,
    /// The stderr tail of the last run that ended, for a failed reload's message.
    pub last_stderr: Option<String>,
    /// The last failed probe (readiness or health) of the instance, for the exit row and
    /// `describe`.
    pub last_probe_error: Option<String>,
    /// What the app last said with STATUS= on the notify socket.
    pub notify_status: Option<String>,
    /// Log bytes written and lost, over the instance's life in this daemon.
    pub out: Arc<Counters>,
    pub err: Arc<Counters>,
    /// The user stopped this instance (and it has not run since): stored, so that a new
    /// daemon leaves it stopped while the app's other instances start.
    pub held_stopped: bool,
}

impl Inst {
    pub fn new(life: Instance) -> Inst {
        Inst {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            life,
            run: Run::default(),
            next: None,
            last_exit: None,
            last_env: None,
            last_stderr: None,
            last_probe_error: None,
            notify_status: None,
            out: Arc::default(),
            err: Arc::default(),
            held_stopped: false,
        }
    }

    /// A spawn of run `number` is being attempted: the current run's facts start afresh, or a
    /// reload's new process gets its own beside them.
    pub fn begin_run(&mut self, number: u64, started_wall_ms: i64) -> &mut Run {
        let fresh = Run {
            number,
            started_wall_ms: Some(started_wall_ms),
            ..Run::default()
        };
        if number == self.life.run() {
            self.notify_status = None;
            self.run = fresh;
            &mut self.run
        } else {
            self.next.insert(Box::new(fresh))
        }
    }

    /// The facts of run `number`, current or a reload's new process.
    pub fn facts(&mut self, number: u64) -> Option<&mut Run> {
        if self.run.number == number {
            Some(&mut self.run)
        } else {
            self.next.as_deref_mut().filter(|r| r.number == number)
        }
    }

    /// Run `number` was recorded: keep what `list` shows of it, drop the rest.
    pub fn end_run(&mut self, number: u64, last_exit: LastExit, stderr: Option<String>) {
        self.last_exit = Some(last_exit);
        self.last_stderr = stderr;
        if self.run.number == number {
            self.last_env = self.run.env.take().map(|e| (number, e));
            self.run = Run::default();
        } else if self.next.as_ref().is_some_and(|r| r.number == number) {
            self.next = None;
        }
    }

    /// A reload's new process `number` took the instance's place.
    pub fn promote(&mut self, number: u64) {
        if let Some(next) = self.next.take_if(|r| r.number == number) {
            self.run = *next;
            self.notify_status = None;
        }
    }
}

pub struct App {
    pub spec: AppSpec,
    pub policy: Policy,
    pub desired: Desired,
    /// When this app's instances are sampled next (supervisor clock, ms).
    pub next_sample_ms: u64,
    /// Bumped whenever the spec changes: stale cron and watch deadlines are ignored.
    pub generation: u64,
    /// The file watcher (`watch`), dropped with the app or its old spec.
    pub watcher: Option<notify::RecommendedWatcher>,
    /// Bumped on every watched change: only the last change's quiet period restarts.
    pub watch_seq: u64,
    /// Boxed: a map's node holds room for eleven values, and an instance is large, so an app
    /// with one instance would otherwise carry ten empty instances' worth of memory.
    pub insts: BTreeMap<u32, Box<Inst>>,
    /// The deployment that last changed this app: its spawns record it.
    pub deployment: Option<u64>,
    /// The last rollout that gave it its spec failed: some instances may run the one before.
    pub stale: bool,
}

impl App {
    pub fn new(spec: AppSpec, should_run: bool, insts: BTreeMap<u32, Box<Inst>>) -> App {
        App {
            policy: policy_of(&spec),
            spec,
            desired: Desired::new(should_run),
            next_sample_ms: 0,
            generation: 0,
            watcher: None,
            watch_seq: 0,
            insts,
            deployment: None,
            stale: false,
        }
    }

    /// Whether an instance has a running process.
    pub fn alive(&self) -> bool {
        self.insts.values().any(|i| i.life.main_alive())
    }

    /// The instances as `(name, index)` keys.
    pub fn keys(&self) -> impl Iterator<Item = (String, u32)> + '_ {
        self.insts.keys().map(|i| (self.spec.name.clone(), *i))
    }
}

pub fn last_exit_of(r: &ExitRecord) -> LastExit {
    LastExit {
        cause: r.cause,
        exit_code: r.exit_code,
        signal: r.signal.clone(),
        ended_at_ms: r.ended_at_ms,
        error: r.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_folds_its_samples_and_hands_over_when_the_next_starts() {
        let mut cur = None;
        assert_eq!(Minute::add(&mut cur, 0, 10), None);
        assert_eq!(Minute::add(&mut cur, 0, 30), None);
        assert_eq!(Minute::add(&mut cur, 0, 20), None);
        let done = Minute::add(&mut cur, 60_000, 5).expect("the first minute is finished");
        assert_eq!(
            (done.min, done.max, done.avg(), done.samples),
            (10, 30, 20, 3)
        );
        assert_eq!(cur.map(|m| (m.start_ms, m.min)), Some((60_000, 5)));
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_run_environment_is_kept_as_changes_over_the_shared_base() {
        let base = Arc::new(map(&[
            ("HOME", "/root"),
            ("PATH", "/bin"),
            ("TERM", "xterm"),
        ]));
        // Set over the base, changed from it, and not given at all.
        let given = map(&[("HOME", "/root"), ("PATH", "/usr/bin"), ("PORT", "8000")]);
        let snap = EnvSnapshot::new(base.clone(), given.clone());
        assert_eq!(snap.full(), given);
        assert_eq!(snap.changes.len(), 3);
        assert!(Arc::ptr_eq(&snap.base, &base));
        // What the base already holds costs nothing.
        assert!(
            EnvSnapshot::new(base.clone(), (*base).clone())
                .changes
                .is_empty()
        );
    }
}

/// The apps in the order they were added (`list`'s order), with an index by name. The actor
/// looks an app up by name for every event and every waiter's instance: a scan of 1,000 names
/// each time made starting 1,000 apps spend most of the actor's time in `memcmp`.
#[derive(Default)]
pub struct Apps {
    list: Vec<App>,
    /// The position of each app in `list`.
    by_name: std::collections::HashMap<String, usize>,
}

impl Apps {
    pub fn get(&self, name: &str) -> Option<&App> {
        self.position(name).map(|p| &self.list[p])
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut App> {
        self.position(name).map(|p| &mut self.list[p])
    }

    fn position(&self, name: &str) -> Option<usize> {
        let p = *self.by_name.get(name)?;
        // An app's name never changes once it is added (a new spec keeps the name); the check
        // keeps a wrong index from ever answering for another app.
        (self.list.get(p)?.spec.name == name).then_some(p)
    }

    /// Adds `app` at the end; one of the same name, if any, is replaced in place.
    pub fn push(&mut self, app: App) {
        match self.position(&app.spec.name) {
            Some(p) => self.list[p] = app,
            None => {
                self.by_name.insert(app.spec.name.clone(), self.list.len());
                self.list.push(app);
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<App> {
        let pos = self.position(name)?;
        let app = self.list.remove(pos);
        self.by_name.remove(name);
        for (p, a) in self.list.iter().enumerate().skip(pos) {
            if let Some(slot) = self.by_name.get_mut(&a.spec.name) {
                *slot = p;
            }
        }
        Some(app)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, App> {
        self.list.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, App> {
        self.list.iter_mut()
    }
}

impl<'a> IntoIterator for &'a Apps {
    type Item = &'a App;
    type IntoIter = std::slice::Iter<'a, App>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl<'a> IntoIterator for &'a mut Apps {
    type Item = &'a mut App;
    type IntoIter = std::slice::IterMut<'a, App>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter_mut()
    }
}
