//! Owns all app state: the one actor of the daemon. It receives requests from the socket
//! server, exits from child watchers, samples from the sampler, and its own timers (deadlines
//! kept in one ordered map, never a polling loop). Each event goes through
//! [`lifecycle::step`]; the effects it returns are performed here, and their outcomes fed back.

use super::lifecycle::{self, Effect, Event, Instance, Policy, Signal, TimerKind, Trigger};
use super::triggers;
use crate::config::AppSpec;
use crate::ipc::{
    AppDetail, ErrorKind, LastExit, LogLine, LogSource, LogStreams, ProcessInfo, Request, Response,
};
use crate::logs::format::{DateFormat, LineFormat};
use crate::logs::{self, Counters, LiveFeed, LogFile, Stream, StreamOutput, Tail};
use crate::paths::Paths;
use crate::proc::oom::{self, OomCounters};
use crate::proc::tree::{self, CpuMeter, TreeSampler};
use crate::proc::{self, ExitInfo};
use crate::record::Cause;
use crate::record::Status;
use crate::store::model::{ExitRecord, SpawnRecord};
use crate::store::{Snapshot, Store, Write};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Weak;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How old the OOM-kill counters may be when used as a new run's baseline.
const OOM_FRESH_MS: u64 = 100;

/// How long an exit waits for the end of its stderr before it is handled.
const STDERR_GRACE: Duration = Duration::from_millis(50);

/// How often CPU and memory of an app without a memory limit are sampled, for `list`.
const DISPLAY_SAMPLE_MS: u64 = 5000;
/// How often an app with `max_memory_restart` is sampled unless it says otherwise.
pub const DEFAULT_MEMORY_CHECK_MS: u64 = 1000;

/// What the rest of the daemon sends to the supervisor.
pub enum Command {
    Request(Request, oneshot::Sender<Response>),
    /// A receiver of the live log feed, for `logs --follow`.
    Subscribe(oneshot::Sender<tokio::sync::broadcast::Receiver<logs::LogChunk>>),
    /// SIGTERM or SIGINT: stop every app, then end.
    Shutdown,
}

/// A deadline the supervisor keeps. App-level ones carry a generation, so a deadline armed
/// before the app changed (or was deleted) is ignored.
enum Timer {
    Instance(String, u32, u64, TimerKind),
    Cron(String, u64),
    Watch(String, u64),
}

/// What the supervisor's own helpers send back to it.
enum Internal {
    /// A watched file of `app` changed (generation of its watcher).
    WatchChange { app: String, generation: u64 },
    /// The leftovers of a run whose main process ended are gone (or were SIGKILLed).
    LeftoversGone { app: String, index: u32, run: u64 },
    Exited {
        app: String,
        index: u32,
        run: u64,
        exit: ExitInfo,
    },
    /// Per main pid: tree RSS, and CPU % since the previous sample.
    Samples(Vec<(tree::TreeSample, Option<f32>)>),
}

/// The runtime side of an instance: what the pure state machine does not own.
struct Inst {
    life: Instance,
    pid: Option<i32>,
    pid_ticks: Option<u64>,
    started_wall_ms: Option<i64>,
    /// Details of the run that just ended, read when its exit is recorded.
    exit: Option<ExitInfo>,
    /// The cause of that end when svctl did not ask for it, until the exit is dispatched.
    natural: Option<Cause>,
    spawn_error: Option<String>,
    /// `confirmed` or `likely` when the run that just ended was an OOM kill.
    oom_confidence: Option<String>,
    last_exit: Option<LastExit>,
    cpu: Option<f32>,
    rss: Option<u64>,
    rss_peak: Option<u64>,
    /// Consecutive samples over `max_memory_restart`.
    over_limit: u32,
    /// The minute being aggregated for the memory history: (minute start, min, max, sum, n).
    minute: Option<(i64, u64, u64, u64, u64)>,
    /// Restarts split by who asked (the history has the detail).
    auto_restarts: u32,
    manual_restarts: u32,
    /// Set when svctl itself restarts the run for its memory: (RSS seen, limit).
    memory_breach: Option<(u64, u64)>,
    /// The run's descendants at the last sample (or at the stop), to find them again once the
    /// main process is gone or when they left its process group.
    members: Vec<tree::Member>,
    /// Processes in the run's tree at the last sample.
    processes: Option<u32>,
    /// Leftover processes killed after the main process ended.
    leftovers_killed: u32,
    /// The kernel's OOM-kill counters when the run started.
    oom_base: OomCounters,
    /// The last lines of the run's stderr.
    tail: Arc<Mutex<Tail>>,
    out: Arc<Counters>,
    err: Arc<Counters>,
}

impl Inst {
    fn new(life: Instance) -> Inst {
        Inst {
            life,
            pid: None,
            pid_ticks: None,
            started_wall_ms: None,
            exit: None,
            natural: None,
            spawn_error: None,
            oom_confidence: None,
            last_exit: None,
            cpu: None,
            rss: None,
            rss_peak: None,
            over_limit: 0,
            minute: None,
            auto_restarts: 0,
            manual_restarts: 0,
            memory_breach: None,
            members: Vec::new(),
            processes: None,
            leftovers_killed: 0,
            oom_base: OomCounters::default(),
            tail: Arc::default(),
            out: Arc::default(),
            err: Arc::default(),
        }
    }
}

struct App {
    spec: AppSpec,
    policy: Policy,
    should_run: bool,
    /// When this app's instances are sampled next (supervisor clock, ms).
    next_sample_ms: u64,
    /// Bumped whenever the spec changes: stale cron and watch deadlines are ignored.
    generation: u64,
    /// The file watcher (`watch`), dropped with the app or its old spec.
    watcher: Option<notify::RecommendedWatcher>,
    /// Bumped on every watched change: only the last change's quiet period restarts.
    watch_seq: u64,
    insts: BTreeMap<u32, Inst>,
    /// Removed from the store and forgotten once its last instance is gone.
    deleting: bool,
}

impl App {
    fn new(spec: AppSpec, should_run: bool, insts: BTreeMap<u32, Inst>) -> App {
        App {
            policy: Policy::from_spec(&spec),
            spec,
            should_run,
            next_sample_ms: 0,
            generation: 0,
            watcher: None,
            watch_seq: 0,
            insts,
            deleting: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitFor {
    /// No process left (stopped, errored, or gone).
    Down,
    /// Not in a transition (launching or stopping).
    Settled,
    /// The instance no longer exists.
    Gone,
}

/// A reply held until the instances it names reach a state.
struct Waiter {
    keys: Vec<(String, u32)>,
    want: WaitFor,
    message: String,
    reply: oneshot::Sender<Response>,
}

pub struct Supervisor {
    paths: Paths,
    store: Store,
    apps: Vec<App>,
    timers: BTreeMap<(u64, u64), Timer>,
    timer_seq: u64,
    origin: Instant,
    started_wall_ms: i64,
    waiters: Vec<Waiter>,
    shutting_down: bool,
    kill_replies: Vec<oneshot::Sender<Response>>,
    warnings: Vec<String>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: Option<mpsc::UnboundedReceiver<Internal>>,
    /// The sampler's state between rounds (open stat files, CPU readings).
    sampler: Arc<Mutex<(TreeSampler, CpuMeter)>>,
    sampling: bool,
    /// `memory_check_interval` of apps that do not set one.
    memory_check_ms: u64,
    /// Open log files, shared by the streams that write to them.
    log_files: HashMap<PathBuf, Weak<Mutex<LogFile>>>,
    /// The kernel's OOM-kill counters as last read, and when (supervisor clock).
    oom_seen: OomCounters,
    oom_read_at: u64,
    /// Rotation of apps that do not set theirs: (max size, files kept).
    log_defaults: (u64, u32),
    live: LiveFeed,
}

impl Supervisor {
    pub fn new(paths: Paths, store: Store, warnings: Vec<String>) -> Supervisor {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        Supervisor {
            paths,
            store,
            apps: Vec::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            origin: Instant::now(),
            started_wall_ms: crate::store::now_ms(),
            waiters: Vec::new(),
            shutting_down: false,
            kill_replies: Vec::new(),
            warnings,
            internal_tx,
            internal_rx: Some(internal_rx),
            sampler: Arc::default(),
            sampling: false,
            memory_check_ms: DEFAULT_MEMORY_CHECK_MS,
            log_files: HashMap::new(),
            oom_seen: OomCounters::read(),
            oom_read_at: 0,
            log_defaults: (logs::DEFAULT_MAX_SIZE, logs::DEFAULT_RETAIN),
            live: tokio::sync::broadcast::channel(4096).0,
        }
    }

    pub fn set_log_defaults(&mut self, max_size: u64, retain: u32) {
        self.log_defaults = (max_size, retain);
    }

    /// The shared writer of a log file, opened on first use.
    fn log_file(&mut self, path: &PathBuf, spec: &AppSpec) -> Arc<Mutex<LogFile>> {
        if let Some(f) = self.log_files.get(path).and_then(Weak::upgrade) {
            return f;
        }
        self.log_files.retain(|_, w| w.strong_count() > 0);
        let max_size = match spec.log_max_size {
            Some(0) => None,
            Some(n) => Some(n),
            None => Some(self.log_defaults.0),
        };
        let mut file = LogFile::new(
            path.clone(),
            max_size,
            spec.log_retain.unwrap_or(self.log_defaults.1),
        );
        file.touch();
        let f = Arc::new(Mutex::new(file));
        self.log_files.insert(path.clone(), Arc::downgrade(&f));
        f
    }

    /// Where each stream of instance `index` goes, and how.
    fn outputs(
        &mut self,
        spec: &AppSpec,
        index: u32,
        counters: (Arc<Counters>, Arc<Counters>),
        tail: Arc<Mutex<Tail>>,
    ) -> (StreamOutput, StreamOutput) {
        let [out, err, combined] = logs::files(&self.paths, spec, index);
        let shared = combined.is_some()
            || (spec.merge_logs && spec.instances > 1)
            || (out.is_some() && out == err);
        let app: Arc<str> = Arc::from(spec.name.as_str());
        let mut make = |stream: Stream, own: Option<PathBuf>, counters: Arc<Counters>| {
            let targets: Vec<Arc<Mutex<LogFile>>> = own
                .iter()
                .chain(combined.iter())
                .map(|p| self.log_file(p, spec))
                .collect();
            let format = if spec.log_json {
                LineFormat::Json {
                    app: spec.name.clone(),
                    instance: index,
                    stream: stream.as_str(),
                }
            } else if let Some(f) = &spec.log_date_format {
                LineFormat::Timestamped(DateFormat::parse(f))
            } else {
                LineFormat::Raw
            };
            StreamOutput {
                whole_lines: shared || format != LineFormat::Raw,
                targets,
                format,
                counters,
                tail: (stream == Stream::Err).then(|| tail.clone()),
                live: self.live.clone(),
                app: app.clone(),
                instance: index,
                stream,
            }
        };
        (
            make(Stream::Out, out, counters.0),
            make(Stream::Err, err, counters.1),
        )
    }

    pub fn set_memory_check_default(&mut self, ms: u64) {
        self.memory_check_ms = ms;
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Loads what the previous daemon left: closes its open runs as `daemon_lost` (killing
    /// their process groups when they are verifiably still ours), then starts again the apps
    /// that should run.
    pub fn restore(&mut self, snapshot: Snapshot) {
        let now = crate::store::now_ms();
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
            };
            lost.insert((record.app.clone(), record.instance), last_exit_of(&record));
            self.store.send(Write::Exit(record));
        }
        for stored in snapshot.apps {
            let mut insts = BTreeMap::new();
            for i in 0..stored.spec.instances {
                let c = stored.instances.iter().find(|c| c.index == i);
                let life = c.map_or_else(Instance::new, |c| {
                    Instance::restored(c.last_run, c.restarts, c.unstable_restarts)
                });
                let mut inst = Inst::new(life);
                inst.auto_restarts = c.map_or(0, |c| c.auto_restarts);
                inst.manual_restarts = c.map_or(0, |c| c.manual_restarts);
                inst.last_exit = lost
                    .remove(&(stored.spec.name.clone(), i))
                    .or_else(|| c.and_then(|c| c.last_exit.as_ref()).map(last_exit_of));
                insts.insert(i, inst);
            }
            let should_run = stored.should_run;
            let name = stored.spec.name.clone();
            self.apps.push(App::new(stored.spec, should_run, insts));
            if should_run {
                let indexes: Vec<u32> = self
                    .app(&name)
                    .map_or_else(Vec::new, |a| a.insts.keys().copied().collect());
                for i in indexes {
                    self.dispatch(&name, i, Event::Start);
                }
            }
        }
    }

    /// Runs until shutdown completes; returns the store so the caller can close it.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Store {
        let Some(mut internal) = self.internal_rx.take() else {
            return self.store;
        };
        let mut commands_open = true;
        loop {
            if self.shutting_down && self.all_down() {
                break;
            }
            let next_timer = self.timers.keys().next().map(|(at, _)| *at);
            let deadline = self.origin + Duration::from_millis(next_timer.unwrap_or(0));
            let next_sample = if self.sampling {
                None
            } else {
                self.next_sample_due()
            };
            let sample_at = self.origin + Duration::from_millis(next_sample.unwrap_or(0));
            tokio::select! {
                // Requests first: under a crash storm a `list` waits for at most the one event
                // being handled, not for a queue of exits.
                biased;
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::Request(req, reply)) => self.request(req, reply),
                    Some(Command::Shutdown) => self.begin_shutdown(None),
                    Some(Command::Subscribe(reply)) => {
                        let _ = reply.send(self.live.subscribe());
                    }
                    // Every sender is gone: nobody can reach us any more.
                    None => {
                        commands_open = false;
                        self.begin_shutdown(None);
                    }
                },
                Some(ev) = internal.recv() => self.internal(ev),
                _ = tokio::time::sleep_until(deadline), if next_timer.is_some() => self.fire_timers(),
                _ = tokio::time::sleep_until(sample_at), if next_sample.is_some() => self.start_sample(),
            }
            self.settle_waiters();
        }
        for reply in self.kill_replies.drain(..) {
            let stopped = self.apps.iter().map(|a| a.insts.len() as u32).sum();
            let _ = reply.send(Response::Killed { stopped });
        }
        for w in self.waiters.drain(..) {
            let _ = w
                .reply
                .send(Response::error(ErrorKind::Refused, "the daemon stopped"));
        }
        self.store
    }

    fn all_down(&self) -> bool {
        self.apps
            .iter()
            .flat_map(|a| a.insts.values())
            .all(|i| !i.life.status.has_process())
    }

    fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.spec.name == name)
    }

    fn app_mut(&mut self, name: &str) -> Option<&mut App> {
        self.apps.iter_mut().find(|a| a.spec.name == name)
    }

    // ---- events and effects ----

    /// Feeds one event to an instance's state machine and performs the effects, feeding their
    /// outcomes back until nothing is left.
    fn dispatch(&mut self, app: &str, index: u32, event: Event) {
        let mut queue = vec![event];
        while let Some(ev) = queue.pop() {
            let now = self.now_ms();
            let Some(a) = self.apps.iter_mut().find(|a| a.spec.name == app) else {
                return;
            };
            let Some(inst) = a.insts.get_mut(&index) else {
                return;
            };
            let effects = lifecycle::step(&mut inst.life, &a.policy, ev, now);
            for effect in effects {
                if let Some(back) = self.perform(app, index, effect) {
                    queue.push(back);
                }
            }
        }
    }

    fn perform(&mut self, app: &str, index: u32, effect: Effect) -> Option<Event> {
        match effect {
            Effect::Spawn { run, trigger } => Some(self.spawn(app, index, run, trigger)),
            Effect::Signal { run, signal } => {
                self.signal(app, index, run, signal);
                None
            }
            Effect::Timer { run, kind, at_ms } => {
                self.timer_seq += 1;
                self.timers.insert(
                    (at_ms, self.timer_seq),
                    Timer::Instance(app.to_string(), index, run, kind),
                );
                None
            }
            Effect::RecordExit {
                run,
                cause,
                unstable,
                sigkill_needed,
                next_delay_ms,
            } => {
                self.record_exit(
                    app,
                    index,
                    run,
                    cause,
                    unstable,
                    sigkill_needed,
                    next_delay_ms,
                );
                None
            }
            Effect::Forget => {
                self.forget(app, index);
                None
            }
        }
    }

    fn spawn(&mut self, app: &str, index: u32, run: u64, trigger: Trigger) -> Event {
        let now = self.now_ms();
        // Reading /proc/vmstat on every spawn would cost a crash storm dearly; a reading at
        // most OOM_FRESH_MS old is as good a baseline.
        if now.saturating_sub(self.oom_read_at) > OOM_FRESH_MS {
            self.oom_seen = OomCounters::read();
            self.oom_read_at = now;
        }
        let self_oom = self.oom_seen;
        let Some(a) = self.app_mut(app) else {
            return Event::SpawnFailed { run };
        };
        let spec = a.spec.clone();
        let Some(inst) = a.insts.get_mut(&index) else {
            return Event::SpawnFailed { run };
        };
        lifecycle::mark_started(&mut inst.life, now);
        inst.started_wall_ms = Some(crate::store::now_ms());
        inst.exit = None;
        inst.spawn_error = None;
        inst.cpu = None;
        inst.rss = None;
        inst.rss_peak = None;
        inst.over_limit = 0;
        inst.memory_breach = None;
        inst.members.clear();
        inst.processes = None;
        inst.leftovers_killed = 0;
        match trigger {
            Trigger::AutoRestart => inst.auto_restarts += 1,
            Trigger::ManualRestart => inst.manual_restarts += 1,
            Trigger::Start => {}
        }
        inst.oom_base = self_oom;
        inst.tail = Arc::default();
        let mut cmd = proc::command(&spec, index, run);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let argv0 = spec.argv().first().cloned().unwrap_or_default();
                let msg = format!("cannot execute `{argv0}` in {}: {e}", spec.cwd.display());
                tracing::warn!(app, index, "{msg}");
                inst.spawn_error = Some(msg);
                inst.pid = None;
                return Event::SpawnFailed { run };
            }
        };
        let pid = child.id().map(|p| p as i32);
        inst.pid = pid;
        inst.pid_ticks = pid.and_then(proc::start_ticks);
        let counters = (inst.out.clone(), inst.err.clone());
        let tail = inst.tail.clone();
        let (out_sink, err_sink) = self.outputs(&spec, index, counters, tail);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(logs::capture(out, out_sink));
        }
        let stderr_done = child
            .stderr
            .take()
            .map(|err| tokio::spawn(logs::capture(err, err_sink)));
        let Some(inst) = self.app_mut(app).and_then(|a| a.insts.get_mut(&index)) else {
            return Event::Spawned { run };
        };
        let record = SpawnRecord {
            app: app.to_string(),
            instance: index,
            run,
            pid: pid.unwrap_or(0),
            pid_start_ticks: inst.pid_ticks,
            started_at_ms: inst.started_wall_ms.unwrap_or(0),
            restarts: inst.life.restarts,
            trigger,
        };
        self.store.send(Write::Spawn(record));
        let tx = self.internal_tx.clone();
        let name = app.to_string();
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(e) => {
                    tracing::error!(app = %name, index, "waiting for the process failed: {e}");
                    ExitInfo {
                        code: None,
                        signal: None,
                        core_dumped: false,
                    }
                }
            };
            // What the process wrote just before it died is usually still in the pipe: give the
            // reader a moment to reach end of file so the stderr tail is complete. Processes
            // that keep the pipe open (left-over children) cost at most this pause.
            if let Some(done) = stderr_done {
                let _ = tokio::time::timeout(STDERR_GRACE, done).await;
            }
            let _ = tx.send(Internal::Exited {
                app: name,
                index,
                run,
                exit,
            });
        });
        Event::Spawned { run }
    }

    fn signal(&mut self, app: &str, index: u32, run: u64, signal: Signal) {
        let Some(a) = self.app_mut(app) else { return };
        let sig = match signal {
            Signal::Kill => nix::sys::signal::Signal::SIGKILL,
            Signal::Graceful => a.spec.stop_signal(),
        };
        let treekill = a.spec.treekill;
        let Some(inst) = a.insts.get_mut(&index) else {
            return;
        };
        if inst.life.run != run {
            return;
        }
        let Some(pid) = inst.pid else { return };
        if !treekill {
            // PM2's `treekill: false`: the main process only.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            return;
        }
        // The tree as it is now: descendants that left the group (setsid) are signalled too.
        if let Some(t) = tree::sample(&[pid]).pop() {
            inst.members = t.members;
        }
        if let Err(e) = proc::signal_group(pid, sig) {
            tracing::warn!(app, index, pid, "sending {sig} failed: {e}");
        }
        signal_escaped(pid, &inst.members, sig);
    }

    #[allow(clippy::too_many_arguments)]
    fn record_exit(
        &mut self,
        app: &str,
        index: u32,
        run: u64,
        cause: Cause,
        unstable: bool,
        sigkill_needed: bool,
        next_delay_ms: Option<u64>,
    ) {
        let Some(a) = self.app_mut(app) else { return };
        let Some(inst) = a.insts.get_mut(&index) else {
            return;
        };
        let exit = inst.exit.take();
        let ended = crate::store::now_ms();
        let breach = inst.memory_breach.take();
        if let Some(w) = inst.minute.take() {
            self.store.send(minute_write(app, index, w));
        }
        let Some(a) = self.app_mut(app) else { return };
        let Some(inst) = a.insts.get_mut(&index) else {
            return;
        };
        let record = ExitRecord {
            app: app.to_string(),
            instance: index,
            run,
            pid: inst.pid,
            started_at_ms: inst.started_wall_ms.unwrap_or(ended),
            ended_at_ms: ended,
            cause,
            exit_code: exit.and_then(|e| e.code),
            signal: exit.and_then(|e| e.signal_name()),
            core_dumped: exit.is_some_and(|e| e.core_dumped),
            unstable,
            sigkill_needed,
            next_delay_ms,
            error: inst.spawn_error.clone(),
            rss_last_bytes: breach.map(|(rss, _)| rss).or(inst.rss),
            rss_peak_bytes: inst.rss_peak,
            memory_limit_bytes: breach.map(|(_, limit)| limit),
            oom_confidence: inst.oom_confidence.take(),
            leftovers_killed: std::mem::take(&mut inst.leftovers_killed),
            stderr_tail: inst.tail.lock().ok().and_then(|t| t.text()),
        };
        inst.last_exit = Some(last_exit_of(&record));
        inst.pid = None;
        inst.pid_ticks = None;
        inst.started_wall_ms = None;
        inst.cpu = None;
        inst.rss = None;
        tracing::info!(
            app,
            index,
            run,
            cause = %cause,
            code = ?record.exit_code,
            signal = ?record.signal,
            "run ended"
        );
        self.store.send(Write::Exit(record));
    }

    fn forget(&mut self, app: &str, index: u32) {
        let Some(pos) = self.apps.iter().position(|a| a.spec.name == app) else {
            return;
        };
        let a = &mut self.apps[pos];
        a.insts.remove(&index);
        if a.insts.is_empty() && a.deleting {
            self.apps.remove(pos);
            self.store.send(Write::DeleteApp {
                name: app.to_string(),
            });
        }
    }

    fn internal(&mut self, ev: Internal) {
        match ev {
            Internal::Exited {
                app,
                index,
                run,
                exit,
            } => {
                // Only a SIGKILL can be the OOM killer's: read the counters for those alone.
                let oom_now = (exit.signal == Some(libc::SIGKILL)).then(OomCounters::read);
                if let Some(n) = oom_now {
                    self.oom_seen = n;
                }
                let Some(a) = self.app_mut(&app) else { return };
                let Some(inst) = a.insts.get_mut(&index) else {
                    return;
                };
                if inst.life.run != run {
                    return;
                }
                inst.exit = Some(exit);
                let natural = match exit.signal {
                    None => Cause::Exited,
                    // A SIGKILL svctl did not send, while the kernel counted an OOM kill. The
                    // counter is host- or cgroup-wide: when the kernel log is readable it
                    // decides (another process's OOM kill does not make this one), else the
                    // kill is only "likely" an OOM kill.
                    Some(libc::SIGKILL)
                        if !inst.life.kill_sent
                            && oom_now.is_some_and(|n| n.rose_since(&inst.oom_base)) =>
                    {
                        match inst.pid.and_then(oom::kmsg_confirms) {
                            Some(true) => {
                                inst.oom_confidence = Some("confirmed".to_string());
                                Cause::OomKilled
                            }
                            Some(false) => Cause::Signaled,
                            None => {
                                inst.oom_confidence = Some("likely".to_string());
                                Cause::OomKilled
                            }
                        }
                    }
                    Some(_) => Cause::Signaled,
                };
                inst.natural = Some(natural);
                let treekill = a.spec.treekill;
                let kill_timeout = a.spec.kill_timeout_ms;
                let graceful = a.spec.stop_signal();
                let stopping = inst.life.status == Status::Stopping;
                let mut leftovers: Vec<tree::Member> =
                    inst.members.iter().filter(|m| m.alive()).copied().collect();
                // Orphans re-parented to the daemon that carry this run's id, and their trees:
                // workers that outlived their parent before any sample saw them.
                let id = proc::run_id(&app, index, run);
                let orphans: Vec<i32> = proc::own_children()
                    .into_iter()
                    .filter(|p| {
                        Some(*p) != inst.pid && proc::run_id_of(*p).as_deref() == Some(id.as_str())
                    })
                    .collect();
                for t in tree::sample(&orphans) {
                    if let Some(m) = tree::member_of(t.root) {
                        leftovers.push(m);
                    }
                    leftovers.extend(t.members);
                }
                leftovers.sort_by_key(|m| m.pid);
                leftovers.dedup_by_key(|m| m.pid);
                let pid = inst.pid.unwrap_or(0);
                let group = proc::group_alive(pid);
                if !treekill || (leftovers.is_empty() && !group) {
                    self.reap_adopted();
                    self.finish_exit(&app, index, run);
                    return;
                }
                inst.leftovers_killed = (leftovers.len() as u32).max(u32::from(group));
                if stopping {
                    // They were sent the stop signal with the main process: no second grace.
                    let _ = proc::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                    for m in &leftovers {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(m.pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    self.finish_exit(&app, index, run);
                    return;
                }
                // A crash: what the main process left (workers holding its ports…) gets the
                // kill_signal, then SIGKILL after kill_timeout, before the next start.
                tracing::info!(app = %app, index, count = leftovers.len(), "stopping what the main process left");
                let _ = proc::signal_group(pid, graceful);
                signal_escaped(pid, &leftovers, graceful);
                let tx = self.internal_tx.clone();
                tokio::spawn(async move {
                    let all_gone = async {
                        for m in &leftovers {
                            if !tree::exited(m.pid).await {
                                // No pidfd: let the deadline decide.
                                std::future::pending::<()>().await;
                            }
                        }
                    };
                    let _ =
                        tokio::time::timeout(Duration::from_millis(kill_timeout), all_gone).await;
                    let _ = proc::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                    for m in leftovers.iter().filter(|m| m.alive()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(m.pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    let _ = tx.send(Internal::LeftoversGone { app, index, run });
                });
            }
            Internal::LeftoversGone { app, index, run } => {
                self.reap_adopted();
                self.finish_exit(&app, index, run);
            }
            Internal::Samples(samples) => {
                self.sampling = false;
                self.apply_samples(samples);
                self.reap_adopted();
            }
            Internal::WatchChange { app, generation } => {
                let now = self.now_ms();
                let Some(a) = self.app_mut(&app) else { return };
                if a.generation != generation {
                    return;
                }
                // A quiet period: each change pushes the restart back by watch_delay.
                a.watch_seq += 1;
                let (seq, delay) = (a.watch_seq, a.spec.watch_delay_ms.max(100));
                self.add_timer(now + delay, Timer::Watch(app, seq));
            }
        }
    }

    /// Reaps orphans the daemon adopted (as subreaper) that have exited.
    fn reap_adopted(&self) {
        proc::reap_adopted(&self.live_pids());
    }

    /// The main processes the daemon supervises now (tokio waits for each of them).
    fn live_pids(&self) -> std::collections::HashSet<i32> {
        self.apps
            .iter()
            .flat_map(|a| a.insts.values())
            .filter_map(|i| i.pid)
            .collect()
    }

    /// The run is over (main process and leftovers): the state machine learns of it now.
    fn finish_exit(&mut self, app: &str, index: u32, run: u64) {
        let Some(inst) = self.app_mut(app).and_then(|a| a.insts.get_mut(&index)) else {
            return;
        };
        let (Some(natural), Some(exit)) = (inst.natural.take(), inst.exit) else {
            return;
        };
        self.dispatch(
            app,
            index,
            Event::Exited {
                run,
                natural,
                code: exit.code,
            },
        );
    }

    fn fire_timers(&mut self) {
        let now = self.now_ms();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Timer::Instance(app, index, run, kind) => {
                    let ev = match kind {
                        TimerKind::RestartDue => Event::RestartDue { run },
                        TimerKind::KillDeadline => Event::KillDeadline { run },
                    };
                    self.dispatch(&app, index, ev);
                }
                Timer::Cron(app, generation) => {
                    if self.app(&app).is_some_and(|a| a.generation == generation) {
                        tracing::info!(app = %app, "cron_restart fired");
                        self.restart_running(&app, Cause::Cron);
                        self.arm_cron(&app);
                    }
                }
                Timer::Watch(app, seq) => {
                    if self.app(&app).is_some_and(|a| a.watch_seq == seq) {
                        tracing::info!(app = %app, "watched files changed: restarting");
                        self.restart_running(&app, Cause::Watch);
                    }
                }
            }
        }
    }

    fn add_timer(&mut self, at_ms: u64, t: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at_ms, self.timer_seq), t);
    }

    /// Restarts the instances of `app` that have a process (a stopped app stays stopped).
    fn restart_running(&mut self, app: &str, cause: Cause) {
        let running: Vec<u32> = self.app(app).map_or_else(Vec::new, |a| {
            a.insts
                .iter()
                .filter(|(_, i)| i.life.status.has_process())
                .map(|(k, _)| *k)
                .collect()
        });
        for i in running {
            self.dispatch(app, i, Event::Restart(cause));
        }
    }

    /// Arms the next `cron_restart` deadline of `app`, if it has a pattern.
    fn arm_cron(&mut self, app: &str) {
        let Some(a) = self.app(app) else { return };
        let Some(pattern) = a.spec.cron_restart.clone() else {
            return;
        };
        let generation = a.generation;
        match triggers::next_cron_delay(&pattern, &chrono::Local::now()) {
            // A match in the same millisecond would fire twice: aim one past it.
            Some(delay) => {
                let at = self.now_ms() + delay.max(1);
                self.add_timer(at, Timer::Cron(app.to_string(), generation));
            }
            None => tracing::warn!(app, pattern, "cron_restart has no next match"),
        }
    }

    /// (Re)starts the file watcher of `app` after its spec changed.
    fn arm_watch(&mut self, app: &str) {
        let Some(a) = self.app_mut(app) else { return };
        a.watcher = None;
        if a.spec.watch.is_empty() {
            return;
        }
        let (spec, generation) = (a.spec.clone(), a.generation);
        // svctl's own files (its logs, database and log) and the app's log files never count
        // as changes, or an app that logs into its watched folder would restart forever.
        let p = &self.paths;
        let mut excluded = vec![
            p.logs_dir.clone(),
            p.db.clone(),
            PathBuf::from(format!("{}-wal", p.db.display())),
            PathBuf::from(format!("{}-shm", p.db.display())),
            p.daemon_log.clone(),
        ];
        for i in 0..spec.instances {
            excluded.extend(logs::files(&self.paths, &spec, i).into_iter().flatten());
        }
        let filter = triggers::WatchFilter::new(&spec.watch, &spec.ignore_watch, excluded);
        let tx = self.internal_tx.clone();
        let name = app.to_string();
        let watcher = triggers::watch(filter, move || {
            let _ = tx.send(Internal::WatchChange {
                app: name.clone(),
                generation,
            });
        });
        match watcher {
            Ok(w) => {
                if let Some(a) = self.app_mut(app) {
                    a.watcher = Some(w);
                }
            }
            Err(e) => tracing::error!(app, "cannot watch {:?}: {e}", spec.watch),
        }
    }

    /// After an app's spec was set: new generation, cron and watch armed again.
    fn spec_changed(&mut self, app: &str) {
        if let Some(a) = self.app_mut(app) {
            a.generation += 1;
        }
        self.arm_cron(app);
        self.arm_watch(app);
    }

    fn sample_interval(&self, spec: &AppSpec) -> u64 {
        spec.memory_check_interval_ms
            .unwrap_or(if spec.max_memory_restart.is_some() {
                self.memory_check_ms
            } else {
                DISPLAY_SAMPLE_MS.max(self.memory_check_ms)
            })
    }

    /// The earliest moment an app with a running process is due for a sample.
    fn next_sample_due(&self) -> Option<u64> {
        self.apps
            .iter()
            .filter(|a| a.insts.values().any(|i| i.pid.is_some()))
            .map(|a| a.next_sample_ms)
            .min()
    }

    fn start_sample(&mut self) {
        if self.sampling {
            return;
        }
        let now = self.now_ms();
        let mut pids = Vec::new();
        let intervals: Vec<u64> = self
            .apps
            .iter()
            .map(|a| self.sample_interval(&a.spec))
            .collect();
        for (a, interval) in self.apps.iter_mut().zip(intervals) {
            if a.next_sample_ms > now {
                continue;
            }
            let before = pids.len();
            pids.extend(a.insts.values().filter_map(|i| i.pid));
            if pids.len() > before {
                a.next_sample_ms = now + interval;
            }
        }
        if pids.is_empty() {
            return;
        }
        self.sampling = true;
        let live = self.live_pids();
        let sampler = self.sampler.clone();
        let tx = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let samples = match sampler.lock() {
                Ok(mut guard) => {
                    let (trees, meter) = &mut *guard;
                    trees.forget_except(&live);
                    meter.retain(&live);
                    let now = std::time::Instant::now();
                    trees
                        .sample(&pids, false)
                        .into_iter()
                        .map(|t| {
                            let cpu = meter.percent(t.root, t.cpu_ticks, now);
                            (t, cpu)
                        })
                        .collect()
                }
                Err(_) => Vec::new(),
            };
            let _ = tx.send(Internal::Samples(samples));
        });
    }

    /// Applies a round of samples: what `list` shows, the memory history, and the memory limit.
    fn apply_samples(&mut self, samples: Vec<(tree::TreeSample, Option<f32>)>) {
        let by_pid: HashMap<i32, (tree::TreeSample, Option<f32>)> =
            samples.into_iter().map(|s| (s.0.root, s)).collect();
        let minute_now = crate::store::now_ms() / 60_000 * 60_000;
        let mut breaches = Vec::new();
        for a in &mut self.apps {
            for (index, inst) in &mut a.insts {
                let Some((s, cpu)) = inst.pid.and_then(|p| by_pid.get(&p)) else {
                    continue;
                };
                inst.cpu = cpu.or(inst.cpu);
                inst.rss = Some(s.rss_bytes);
                inst.members = s.members.clone();
                inst.processes = Some(s.processes);
                inst.rss_peak = inst.rss_peak.max(Some(s.rss_bytes));
                if let Some(w) = add_to_minute(&mut inst.minute, minute_now, s.rss_bytes) {
                    self.store.send(minute_write(&a.spec.name, *index, w));
                }
                let Some(limit) = a.spec.max_memory_restart else {
                    continue;
                };
                if s.rss_bytes > limit {
                    inst.over_limit += 1;
                } else {
                    inst.over_limit = 0;
                }
                if inst.over_limit >= a.spec.max_memory_samples.max(1)
                    && inst.life.status == Status::Online
                {
                    inst.over_limit = 0;
                    inst.memory_breach = Some((s.rss_bytes, limit));
                    breaches.push((a.spec.name.clone(), *index, s.rss_bytes, limit));
                }
            }
        }
        for (app, index, rss, limit) in breaches {
            tracing::warn!(
                app = %app,
                index,
                rss,
                limit,
                "memory over max_memory_restart: restarting"
            );
            self.dispatch(&app, index, Event::Restart(Cause::MemoryLimit));
        }
    }

    // ---- requests ----

    fn request(&mut self, req: Request, reply: oneshot::Sender<Response>) {
        let refuse_when_stopping = matches!(
            req,
            Request::Start { .. } | Request::StartTarget { .. } | Request::Restart { .. }
        );
        if self.shutting_down && refuse_when_stopping {
            let _ = reply.send(Response::error(
                ErrorKind::Refused,
                "the daemon is shutting down",
            ));
            return;
        }
        match req {
            Request::Hello { .. } => {
                let _ = reply.send(Response::error(
                    ErrorKind::BadRequest,
                    "hello is only valid once",
                ));
            }
            Request::Ping => {
                let _ = reply.send(Response::Pong {
                    version: crate::VERSION.to_string(),
                    pid: std::process::id(),
                    uptime_ms: (crate::store::now_ms() - self.started_wall_ms).max(0) as u64,
                    home: self.paths.home.display().to_string(),
                });
            }
            Request::List => {
                let _ = reply.send(Response::List {
                    processes: self.list(None),
                    warnings: self.warnings.clone(),
                });
            }
            Request::Describe { target } => match self.resolve(&target) {
                Ok(keys) => {
                    let mut names: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
                    names.dedup();
                    let apps = names.iter().filter_map(|n| self.describe(n)).collect();
                    let _ = reply.send(Response::Describe { apps });
                }
                Err(e) => {
                    let _ = reply.send(e);
                }
            },
            Request::Start { apps } => {
                if let Some(e) = apps.iter().find_map(|a| a.check().err()) {
                    let _ = reply.send(Response::error(ErrorKind::BadRequest, e));
                    return;
                }
                self.start_specs(apps, reply)
            }
            Request::StartTarget { target } => {
                self.on_targets(&target, reply, WaitFor::Settled, "started", |s, n, i| {
                    s.set_should_run(n, true);
                    s.dispatch(n, i, Event::Start);
                })
            }
            Request::Stop { target } => {
                self.on_targets(&target, reply, WaitFor::Down, "stopped", |s, n, i| {
                    s.dispatch(n, i, Event::Stop(Cause::Stopped));
                    // The desired state is per app: it is "stopped" once none of its
                    // instances is left running (stopping one instance of three is not).
                    let none_left = s.app(n).is_some_and(|a| {
                        a.insts.values().all(|x| {
                            matches!(
                                x.life.status,
                                Status::Stopping | Status::Stopped | Status::Errored
                            )
                        })
                    });
                    if none_left {
                        s.set_should_run(n, false);
                    }
                })
            }
            Request::Restart { target, update_env } => {
                self.on_targets(&target, reply, WaitFor::Settled, "restarted", |s, n, i| {
                    if let Some(env) = &update_env {
                        s.update_base_env(n, env);
                    }
                    s.set_should_run(n, true);
                    s.dispatch(n, i, Event::Restart(Cause::Restarted));
                })
            }
            Request::Delete { target } => {
                if target.contains(':') {
                    let _ = reply.send(Response::error(
                        ErrorKind::BadRequest,
                        "delete removes whole apps: name an app, a namespace or `all`, not an instance",
                    ));
                    return;
                }
                self.on_targets(&target, reply, WaitFor::Gone, "deleted", |s, n, i| {
                    if let Some(a) = s.app_mut(n) {
                        a.deleting = true;
                        a.should_run = false;
                    }
                    s.dispatch(n, i, Event::Delete);
                })
            }
            Request::Reset { target } => {
                self.on_targets(&target, reply, WaitFor::Settled, "reset", |s, n, i| {
                    s.reset_counters(n, i);
                })
            }
            Request::Logs {
                target,
                lines,
                streams,
                ..
            } => self.logs(target.as_deref(), lines, streams, reply),
            Request::Flush { target } => self.flush(target.as_deref(), reply),
            Request::Kill => self.begin_shutdown(Some(reply)),
        }
    }

    fn reset_counters(&mut self, name: &str, index: u32) {
        let Some(a) = self.app_mut(name) else { return };
        let Some(inst) = a.insts.get_mut(&index) else {
            return;
        };
        lifecycle::reset_counters(&mut inst.life);
        inst.auto_restarts = 0;
        inst.manual_restarts = 0;
        // The store resets the whole app; resetting it once per instance is harmless.
        self.store.send(Write::ResetCounters {
            name: name.to_string(),
        });
    }

    /// The log files of the target's instances (every app when `None`), with their identity.
    fn log_sources(
        &self,
        target: Option<&str>,
        streams: LogStreams,
    ) -> Result<Vec<(String, u32, Stream, PathBuf)>, Response> {
        let keys = self.resolve(target.unwrap_or("all"))?;
        let mut out = Vec::new();
        for (name, index) in keys {
            let Some(a) = self.app(&name) else { continue };
            let [o, e, _] = logs::files(&self.paths, &a.spec, index);
            for (stream, path) in [(Stream::Out, o), (Stream::Err, e)] {
                if let Some(p) = path
                    && streams.includes(stream)
                {
                    out.push((name.clone(), index, stream, p));
                }
            }
        }
        Ok(out)
    }

    /// Answers with the last lines of each file, read off the actor's thread.
    fn logs(
        &mut self,
        target: Option<&str>,
        lines: u32,
        streams: LogStreams,
        reply: oneshot::Sender<Response>,
    ) {
        let sources = match self.log_sources(target, streams) {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(e);
                return;
            }
        };
        let named: Vec<LogSource> = sources
            .iter()
            .map(|(app, instance, stream, _)| LogSource {
                app: app.clone(),
                instance: *instance,
                stream: *stream,
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for (app, instance, stream, path) in sources {
                match logs::tail::last_lines(&path, lines as usize) {
                    Ok(ls) => out.extend(ls.into_iter().map(|l| LogLine {
                        app: app.clone(),
                        instance,
                        stream,
                        text: String::from_utf8_lossy(&l).into_owned(),
                    })),
                    Err(e) => out.push(LogLine {
                        app: app.clone(),
                        instance,
                        stream,
                        text: format!("[svctl] cannot read {}: {e}", path.display()),
                    }),
                }
            }
            let _ = reply.send(Response::LogLines {
                lines: out,
                sources: named,
            });
        });
    }

    /// Empties the target's log files and their rotated files while the apps keep writing.
    fn flush(&mut self, target: Option<&str>, reply: oneshot::Sender<Response>) {
        let keys = match self.resolve(target.unwrap_or("all")) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(e);
                return;
            }
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for (name, index) in &keys {
            if let Some(a) = self.app(name) {
                paths.extend(
                    logs::files(&self.paths, &a.spec, *index)
                        .into_iter()
                        .flatten(),
                );
            }
        }
        if target.is_none() {
            paths.push(self.paths.daemon_log.clone());
        }
        paths.sort();
        paths.dedup();
        let mut errors = Vec::new();
        for p in &paths {
            let result = match self.log_files.get(p).and_then(Weak::upgrade) {
                Some(f) => match f.lock() {
                    Ok(mut f) => f.flush(),
                    Err(_) => logs::file::flush_path(p),
                },
                None => logs::file::flush_path(p),
            };
            if let Err(e) = result {
                errors.push(format!("{}: {e}", p.display()));
            }
        }
        let resp = if errors.is_empty() {
            Response::Done {
                message: format!("flushed {} log file(s)", paths.len()),
                processes: self.processes_of(&keys),
            }
        } else {
            Response::error(
                ErrorKind::Internal,
                format!("flush failed for {}", errors.join("; ")),
            )
        };
        let _ = reply.send(resp);
    }

    /// `restart --update-env`: the next runs get the caller's environment; stored at once.
    fn update_base_env(&mut self, name: &str, env: &BTreeMap<String, String>) {
        let Some(a) = self.app_mut(name) else { return };
        if &a.spec.base_env == env {
            return;
        }
        a.spec.base_env = env.clone();
        let (spec, should_run) = (a.spec.clone(), a.should_run);
        self.store.send(Write::UpsertApp {
            spec: Box::new(spec),
            should_run,
        });
    }

    fn set_should_run(&mut self, name: &str, should_run: bool) {
        if let Some(a) = self.app_mut(name)
            && a.should_run != should_run
        {
            a.should_run = should_run;
            self.store.send(Write::SetShouldRun {
                name: name.to_string(),
                should_run,
            });
        }
    }

    /// Applies `act` to every instance the target names, then answers once they reach `want`.
    fn on_targets(
        &mut self,
        target: &str,
        reply: oneshot::Sender<Response>,
        want: WaitFor,
        verb: &str,
        act: impl Fn(&mut Supervisor, &str, u32),
    ) {
        let keys = match self.resolve(target) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(e);
                return;
            }
        };
        for (name, index) in &keys {
            act(self, name, *index);
        }
        self.waiters.push(Waiter {
            keys,
            want,
            message: format!("{verb} {target}"),
            reply,
        });
    }

    /// `start FILE`: new apps are added and started (unless `autostart: false`); apps that
    /// exist take the new spec and are restarted (or started); never duplicated.
    fn start_specs(&mut self, specs: Vec<AppSpec>, reply: oneshot::Sender<Response>) {
        let mut keys = Vec::new();
        for spec in specs {
            let name = spec.name.clone();
            let wanted = spec.autostart;
            let count = spec.instances;
            let existed = self.app(&name).is_some();
            if existed {
                let Some(a) = self.app_mut(&name) else {
                    continue;
                };
                a.policy = Policy::from_spec(&spec);
                a.spec = spec.clone();
                a.deleting = false;
                let old: Vec<u32> = a.insts.keys().copied().collect();
                for i in 0..count {
                    a.insts
                        .entry(i)
                        .or_insert_with(|| Inst::new(Instance::new()));
                }
                for i in old.iter().copied().filter(|i| *i >= count) {
                    self.dispatch(&name, i, Event::Delete);
                }
            } else {
                let insts = (0..count)
                    .map(|i| (i, Inst::new(Instance::new())))
                    .collect();
                self.apps.push(App::new(spec.clone(), wanted, insts));
            }
            let should_run = wanted || existed;
            if let Some(a) = self.app_mut(&name) {
                a.should_run = should_run;
            }
            self.store.send(Write::UpsertApp {
                spec: Box::new(spec),
                should_run,
            });
            self.spec_changed(&name);
            if !should_run {
                continue;
            }
            for i in 0..count {
                let running = self
                    .app(&name)
                    .and_then(|a| a.insts.get(&i))
                    .is_some_and(|inst| inst.life.status.has_process());
                let ev = if running {
                    Event::Restart(Cause::Restarted)
                } else {
                    Event::Start
                };
                self.dispatch(&name, i, ev);
                keys.push((name.clone(), i));
            }
        }
        self.waiters.push(Waiter {
            keys,
            want: WaitFor::Settled,
            message: "started".to_string(),
            reply,
        });
        // A start request can be megabytes of specs; give the freed memory back to the system.
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    fn begin_shutdown(&mut self, reply: Option<oneshot::Sender<Response>>) {
        if let Some(r) = reply {
            self.kill_replies.push(r);
        }
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        // The desired state is left as it is: the next daemon brings back what was running.
        let keys: Vec<(String, u32)> = self
            .apps
            .iter()
            .flat_map(|a| a.insts.keys().map(|i| (a.spec.name.clone(), *i)))
            .collect();
        for (name, i) in keys {
            self.dispatch(&name, i, Event::Stop(Cause::Stopped));
        }
    }

    fn settle_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if self.reached(&w) {
                let processes = self.processes_of(&w.keys);
                let _ = w.reply.send(Response::Done {
                    message: w.message,
                    processes,
                });
            } else {
                self.waiters.push(w);
            }
        }
    }

    fn reached(&self, w: &Waiter) -> bool {
        w.keys.iter().all(|(name, i)| {
            let inst = self.app(name).and_then(|a| a.insts.get(i));
            match (w.want, inst) {
                (_, None) => true,
                (WaitFor::Gone, Some(_)) => false,
                (WaitFor::Down, Some(inst)) => {
                    !inst.life.status.has_process() && inst.life.status != Status::WaitingRestart
                }
                (WaitFor::Settled, Some(inst)) => {
                    !matches!(inst.life.status, Status::Launching | Status::Stopping)
                }
            }
        })
    }

    /// `all`, an app name, `NAME:INSTANCE`, or a namespace → the instances it names.
    fn resolve(&self, target: &str) -> Result<Vec<(String, u32)>, Response> {
        let keys_of = |a: &App| -> Vec<(String, u32)> {
            a.insts.keys().map(|i| (a.spec.name.clone(), *i)).collect()
        };
        let live = || self.apps.iter().filter(|a| !a.deleting);
        if target == "all" {
            return Ok(live().flat_map(keys_of).collect());
        }
        if let Some(a) = live().find(|a| a.spec.name == target) {
            return Ok(keys_of(a));
        }
        if let Some((name, idx)) = target.rsplit_once(':')
            && let Some(a) = live().find(|a| a.spec.name == name)
        {
            return match idx.parse::<u32>() {
                Ok(i) if a.insts.contains_key(&i) => Ok(vec![(name.to_string(), i)]),
                _ => Err(Response::Error {
                    kind: ErrorKind::NotFound,
                    message: format!(
                        "app `{name}` has no instance `{idx}` (it has {})",
                        a.insts.len()
                    ),
                    known: a.insts.keys().map(|i| format!("{name}:{i}")).collect(),
                }),
            };
        }
        let in_ns: Vec<(String, u32)> = live()
            .filter(|a| a.spec.namespace == target)
            .flat_map(keys_of)
            .collect();
        if !in_ns.is_empty() {
            return Ok(in_ns);
        }
        let known: Vec<String> = live().map(|a| a.spec.name.clone()).collect();
        Err(Response::Error {
            kind: ErrorKind::NotFound,
            message: if known.is_empty() {
                format!("no app, instance or namespace is called `{target}`: no app is known yet")
            } else {
                format!("no app, instance or namespace is called `{target}`")
            },
            known,
        })
    }

    fn info(&self, a: &App, index: u32, inst: &Inst) -> ProcessInfo {
        let running = inst.life.status.has_process() && inst.pid.is_some();
        let now = self.now_ms();
        ProcessInfo {
            name: a.spec.name.clone(),
            namespace: a.spec.namespace.clone(),
            instance: index,
            pid: if running { inst.pid } else { None },
            status: inst.life.status,
            run: inst.life.run,
            restarts: inst.life.restarts,
            auto_restarts: inst.auto_restarts,
            manual_restarts: inst.manual_restarts,
            unstable_restarts: inst.life.unstable,
            uptime_ms: if running {
                inst.life.started_at_ms.map(|s| now.saturating_sub(s))
            } else {
                None
            },
            started_at_ms: if running { inst.started_wall_ms } else { None },
            log_bytes_lost: inst.out.lost.load(std::sync::atomic::Ordering::Relaxed)
                + inst.err.lost.load(std::sync::atomic::Ordering::Relaxed),
            processes: if running { inst.processes } else { None },
            log_bytes_written: inst.out.written.load(std::sync::atomic::Ordering::Relaxed)
                + inst.err.written.load(std::sync::atomic::Ordering::Relaxed),
            cpu_percent: inst.cpu,
            memory_bytes: inst.rss,
            last_exit: inst.last_exit.clone(),
        }
    }

    fn list(&self, only: Option<&str>) -> Vec<ProcessInfo> {
        self.apps
            .iter()
            .filter(|a| only.is_none_or(|n| a.spec.name == n))
            .flat_map(|a| a.insts.iter().map(move |(i, inst)| self.info(a, *i, inst)))
            .collect()
    }

    fn processes_of(&self, keys: &[(String, u32)]) -> Vec<ProcessInfo> {
        keys.iter()
            .filter_map(|(name, i)| {
                let a = self.app(name)?;
                let inst = a.insts.get(i)?;
                Some(self.info(a, *i, inst))
            })
            .collect()
    }

    fn describe(&self, name: &str) -> Option<AppDetail> {
        let a = self.app(name)?;
        let logs_of = |which: usize| {
            a.insts
                .keys()
                .filter_map(|i| logs::files(&self.paths, &a.spec, *i)[which].clone())
                .map(|p| p.display().to_string())
                .collect()
        };
        Some(AppDetail {
            spec: a.spec.clone(),
            should_run: a.should_run,
            instances: self.list(Some(name)),
            out_log: logs_of(0),
            err_log: logs_of(1),
        })
    }
}

fn last_exit_of(r: &ExitRecord) -> LastExit {
    LastExit {
        cause: r.cause,
        exit_code: r.exit_code,
        signal: r.signal.clone(),
        ended_at_ms: r.ended_at_ms,
        error: r.error.clone(),
    }
}

/// Adds a sample to the minute being aggregated; returns the finished minute when a new one
/// starts.
fn add_to_minute(
    cur: &mut Option<(i64, u64, u64, u64, u64)>,
    minute: i64,
    rss: u64,
) -> Option<(i64, u64, u64, u64, u64)> {
    match cur {
        Some((m, lo, hi, sum, n)) if *m == minute => {
            *lo = (*lo).min(rss);
            *hi = (*hi).max(rss);
            *sum = sum.saturating_add(rss);
            *n += 1;
            None
        }
        _ => cur.replace((minute, rss, rss, rss, 1)),
    }
}

fn minute_write(
    app: &str,
    instance: u32,
    (minute_ms, lo, hi, sum, n): (i64, u64, u64, u64, u64),
) -> Write {
    Write::MemoryMinute {
        app: app.to_string(),
        instance,
        minute_ms,
        min_bytes: lo,
        avg_bytes: sum / n.max(1),
        max_bytes: hi,
    }
}

/// Signals the descendants of `root` that left its process group (`setsid`), which a signal to
/// the group misses. Each is checked to be the very process seen before (pid and start time).
fn signal_escaped(root: i32, members: &[tree::Member], sig: nix::sys::signal::Signal) {
    for m in members.iter().filter(|m| m.pgrp != root && m.alive()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(m.pid), sig);
    }
}
