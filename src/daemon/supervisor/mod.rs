//! Owns all app state: the one actor of the daemon. It receives requests from the socket
//! server, exits and sweeps from child watchers, samples from the sampler, and its own timers
//! (deadlines in one ordered queue, never a polling loop). Each event for an instance goes
//! through [`lifecycle::step`], the only decider; the effects it returns are carried out here
//! and their outcomes fed back. Blocking work (`/proc` walks, `/dev/kmsg`, truncating files)
//! runs on the blocking pool and comes back as an `Internal` message.
//!
//! Files: `app` (the records), `spawn` (runs and their pipes), `spawner` (the OS boundary), `exit` (watching and sweeping),
//! `sample` (sampling and the memory history), `timers` (deadlines, cron, watch), `requests`
//! and `logs` (protocol handlers), `targets` (resolution and waiters), `views` (list and
//! describe), `restore` (what the previous daemon left), `deploy` (plan and apply: deployments),
//! `console` (scale, signal and env).

mod app;
mod console;
mod deploy;
mod events;
mod exit;
mod logs;
mod metrics;
mod probes;
mod reload;
mod requests;
pub mod resources;
mod restore;
mod sample;
mod spawn;
pub mod spawner;
mod targets;
mod timers;
mod views;

use crate::daemon::lifecycle::{self, Effect, Event, ExitFacts};
use crate::ipc::{ErrorKind, Request, Response};
use crate::logs::{LiveFeed, LogChunk};
use crate::paths::Paths;
use crate::proc::oom::OomCounters;
use crate::proc::tree::{CpuMeter, TreeSampler};
use crate::store::Store;
use app::App;
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use targets::Key;
use targets::Waiter;
use timers::{Timer, TimerQueue};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

pub use sample::DEFAULT_MEMORY_CHECK_MS;

/// Log chunks the live feed holds for slow `logs --follow` readers.
const LIVE_FEED_SLOTS: usize = 1024;

/// Why a request could not be carried out. The socket server turns it into a typed error
/// response; the supervisor never builds wire errors itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{message}")]
    NotFound { message: String, known: Vec<String> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Internal(String),
}

impl RequestError {
    pub fn into_response(self) -> Response {
        match self {
            RequestError::NotFound { message, known } => Response::Error {
                kind: ErrorKind::NotFound,
                message,
                known,
            },
            RequestError::BadRequest(m) => Response::error(ErrorKind::BadRequest, m),
            RequestError::Refused(m) => Response::error(ErrorKind::Refused, m),
            RequestError::Internal(m) => Response::error(ErrorKind::Internal, m),
        }
    }
}

/// The answer to a request.
pub type Reply = Result<Response, RequestError>;
pub type ReplyTx = oneshot::Sender<Reply>;

/// What the rest of the daemon sends to the supervisor.
pub enum Command {
    Request(Request, ReplyTx),
    /// A receiver of the live log feed, for `logs --follow`.
    Subscribe(oneshot::Sender<broadcast::Receiver<LogChunk>>),
    /// The recent lifecycle events and a receiver of the later ones, for `events`, with the
    /// instances the target names (`None`: every instance, and deployments).
    SubscribeEvents {
        target: Option<String>,
        reply: oneshot::Sender<Result<TargetFeed, RequestError>>,
    },
    /// What `metrics` reports, read from the actor's state (encoded by the caller).
    Metrics(oneshot::Sender<crate::daemon::metrics::Snapshot>),
    /// SIGTERM or SIGINT: stop every app, then end.
    Shutdown,
}

/// The recent lifecycle events and a receiver of every later one.
pub type EventFeed = (
    Vec<crate::daemon::bus::Received>,
    broadcast::Receiver<crate::daemon::bus::Received>,
);

/// An event feed and the instances its target names (`None`: all, and deployments).
pub type TargetFeed = (EventFeed, Option<Vec<targets::Key>>);

/// What the supervisor's own helpers send back to it.
enum Internal {
    /// A watched file of `app` changed (generation of its watcher).
    WatchChange { app: String, generation: u64 },
    /// The main process of a run ended (with the OOM evidence, read off the actor).
    Exited {
        app: String,
        index: u32,
        run: u64,
        exit: ExitFacts,
        /// When the main process ended, as well as the daemon can tell (`exit.unseen_ms`).
        ended_wall_ms: i64,
    },
    /// What a run left is gone (`killed` had to be ended).
    LeftoversGone {
        app: String,
        index: u32,
        run: u64,
        killed: u32,
    },
    /// A run's cgroup could not be read or written: the run goes on without it.
    CgroupFailed {
        app: String,
        index: u32,
        run: u64,
        error: String,
    },
    /// What a sampling round read.
    Samples(sample::Samples, sample::Round),
    /// A view has waited [`sample::VIEW_WAIT_MS`] for a round, which may be still out.
    ViewsOverdue,
    /// A run's output matched its `ready_log_line`.
    Ready { app: String, index: u32, run: u64 },
    /// A readiness or health check of a run passed (`error: None`) or failed.
    Probed {
        app: String,
        index: u32,
        run: u64,
        role: probes::ProbeRole,
        error: Option<String>,
    },
    /// A run said something on the notify socket.
    Notify(crate::daemon::notify::FromRun),
    /// The spawn threads are done with a spawn.
    Launched(Box<(spawn::Pending, spawner::Launched)>),
}

/// Settings of the daemon that apps do not set themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// `memory_check_interval` of apps that do not set one.
    pub memory_check_ms: u64,
    /// Rotation of apps that do not set theirs: max size and files kept.
    pub log_max_size: u64,
    pub log_retain: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            memory_check_ms: DEFAULT_MEMORY_CHECK_MS,
            log_max_size: crate::logs::DEFAULT_MAX_SIZE,
            log_retain: crate::logs::DEFAULT_RETAIN,
        }
    }
}

pub struct Supervisor {
    paths: Paths,
    store: Store,
    defaults: Defaults,
    apps: app::Apps,
    timers: TimerQueue,
    /// The supervisor's monotonic clock starts here (tokio's clock, so tests can pause it).
    origin: Instant,
    started_wall_ms: i64,
    waiters: Vec<Waiter>,
    /// Instances that received an event since the waiters were last settled (noted only while
    /// a waiter exists).
    touched: std::collections::HashSet<targets::Key>,
    /// The earliest moment an app with a live process is due for a sample, once worked out
    /// (`None`: to work out again). Kept so that an event costs no walk of every app: see
    /// [`Supervisor::next_sample_due`].
    sample_due: Option<Option<u64>>,
    shutting_down: bool,
    kill_replies: Vec<ReplyTx>,
    warnings: Vec<String>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: Option<mpsc::UnboundedReceiver<Internal>>,
    /// The sampler's state between rounds (open stat files, CPU readings).
    sampler: Arc<Mutex<(TreeSampler, CpuMeter)>>,
    /// The round in flight, if one is.
    sampling: Option<sample::Round>,
    /// When the last round for views started (supervisor clock), and the views waiting for
    /// the next one.
    view_sampled_at: Option<u64>,
    view_waiting: sample::Waiting,
    trim: timers::TrimClock,
    logs: crate::logs::registry::Registry,
    /// The kernel's OOM-kill counters as last read, and when (supervisor clock).
    oom_seen: OomCounters,
    oom_read_at: Option<u64>,
    live: LiveFeed,
    spawner: Box<dyn spawner::Spawner>,
    /// Where spawns run off the actor; started at the first one.
    spawn_pool: Option<spawner::SpawnPool>,
    /// Spawns handed to the spawn threads and not back yet, and those waiting for room
    /// (see [`spawn::MAX_IN_FLIGHT`]).
    spawns_in_flight: usize,
    spawn_queue: std::collections::VecDeque<(String, u32, u64, crate::daemon::lifecycle::Trigger)>,
    /// Where output capture runs: the daemon gives it a runtime of its own, so writing a log
    /// flood never takes the actor's threads.
    log_rt: Option<tokio::runtime::Handle>,
    resources: resources::Resources,
    probe_slots: Arc<tokio::sync::Semaphore>,
    /// The notify socket, served once the actor runs.
    notify: Option<tokio::net::UnixDatagram>,
    rollouts: Vec<reload::Rollout>,
    /// The id the next deployment gets (one more than the highest stored).
    next_deployment: u64,
    /// Every lifecycle event is published here once.
    bus: crate::daemon::bus::Bus,
    /// Exits and automatic restarts per (app, instance, cause), counted from the database at
    /// start and on every exit since: the counters of `metrics`.
    exit_counts: crate::daemon::metrics::ExitCounts,
    /// The caller environment the last app put came with: apps started from one shell share
    /// one copy (see [`Supervisor::share_env`]).
    shared_env: Arc<std::collections::BTreeMap<String, String>>,
    /// A child may have ended that nobody reaped yet (SIGCHLD came, and a reap was skipped or
    /// not tried yet): see [`Supervisor::reap_adopted`].
    reap_owed: bool,
}

impl Supervisor {
    pub fn new(paths: Paths, store: Store, warnings: Vec<String>, defaults: Defaults) -> Self {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        // Chunks held for `logs --follow` readers: one that falls this far behind is told how much it
        // missed. (Each slot is allocated up front, follower or not.)
        let live = broadcast::channel(LIVE_FEED_SLOTS).0;
        Supervisor {
            logs: crate::logs::registry::Registry::new(
                paths.clone(),
                defaults.log_max_size,
                defaults.log_retain,
                live.clone(),
            ),
            paths,
            store,
            defaults,
            apps: app::Apps::default(),
            timers: TimerQueue::default(),
            origin: Instant::now(),
            started_wall_ms: crate::store::now_ms(),
            waiters: Vec::new(),
            touched: Default::default(),
            sample_due: None,
            shutting_down: false,
            kill_replies: Vec::new(),
            warnings,
            internal_tx,
            internal_rx: Some(internal_rx),
            sampler: Arc::default(),
            sampling: None,
            view_sampled_at: None,
            view_waiting: Default::default(),
            trim: Default::default(),
            oom_seen: OomCounters::default(),
            oom_read_at: None,
            live,
            spawner: Box::new(spawner::OsSpawner::default()),
            spawn_pool: None,
            spawns_in_flight: 0,
            spawn_queue: Default::default(),
            log_rt: None,
            resources: resources::Resources::default(),
            probe_slots: Arc::new(tokio::sync::Semaphore::new(probes::MAX_CONCURRENT_PROBES)),
            notify: None,
            rollouts: Vec::new(),
            next_deployment: 1,
            bus: crate::daemon::bus::Bus::default(),
            exit_counts: Default::default(),
            shared_env: Arc::default(),
            reap_owed: false,
        }
    }

    /// The recent events and a receiver of every later one, for a subscriber that starts with
    /// the daemon (hooks).
    pub fn subscribe_events(&self) -> EventFeed {
        self.bus.subscribe()
    }

    /// Serves `socket` as the apps' `$NOTIFY_SOCKET` once the actor runs.
    pub fn with_notify(mut self, socket: tokio::net::UnixDatagram) -> Self {
        self.notify = Some(socket);
        self
    }

    /// Runs each run in its own cgroup, or says why not.
    pub fn with_isolation(mut self, isolation: resources::Isolation) -> Self {
        if let resources::Isolation::ProcessGroups(why) = &isolation {
            tracing::info!("runs are kept in process groups: {why}");
        } else {
            tracing::info!("runs are kept in cgroups: {}", isolation.describe());
        }
        self.resources.isolation = isolation;
        self
    }

    /// Captures output (and writes the log files) on `rt` instead of the actor's runtime.
    pub fn with_log_runtime(mut self, rt: tokio::runtime::Handle) -> Self {
        self.log_rt = Some(rt);
        self
    }

    /// Runs the apps' processes through `spawner` instead of the operating system's.
    pub fn with_spawner(mut self, spawner: Box<dyn spawner::Spawner>) -> Self {
        self.spawner = spawner;
        self
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Runs until shutdown completes; returns the store so the caller can close it.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Store {
        let Some(mut internal) = self.internal_rx.take() else {
            return self.store;
        };
        if let Some(socket) = self.notify.take() {
            let (tx, mut rx) = mpsc::unbounded_channel();
            tokio::spawn(crate::daemon::notify::serve(socket, tx));
            let internal = self.internal_tx.clone();
            tokio::spawn(async move {
                while let Some(from) = rx.recv().await {
                    if internal.send(Internal::Notify(from)).is_err() {
                        return;
                    }
                }
            });
        }
        // An adopted orphan (the daemon is the subreaper of every run) that ends sends SIGCHLD:
        // it is reaped then, not looked for on a timer. Without the signal, after every round.
        let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .inspect_err(|e| tracing::warn!("orphans are reaped after each sampling round: {e}"))
            .ok();
        let mut commands_open = true;
        loop {
            if self.shutting_down && self.all_down() {
                break;
            }
            // The select below is biased toward requests and events: under a crash storm they
            // are always ready, and a due sampling round or timer would wait for a quiet
            // moment that never comes. Due ones go first.
            let now = self.now_ms();
            if self.timers.next_at().is_some_and(|at| at <= now) {
                self.fire_timers();
            }
            if self.sampling.is_none() && self.next_sample_due().is_some_and(|at| at <= now) {
                self.start_sample();
            }
            let next_timer = self.timers.next_at();
            let deadline = self.origin + Duration::from_millis(next_timer.unwrap_or(0));
            let next_sample = if self.sampling.is_some() {
                None
            } else {
                self.next_sample_due()
            };
            let sample_at = self.origin + Duration::from_millis(next_sample.unwrap_or(0));
            let trim_due = self.trim.due_at();
            let trim_at = self.origin + Duration::from_millis(trim_due.unwrap_or(0));
            let mut busy = true;
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
                    Some(Command::SubscribeEvents { target, reply }) => {
                        let keys = match target.as_deref() {
                            None | Some("all") => Ok(None),
                            Some(t) => self.resolve(t).map(Some),
                        };
                        let _ = reply.send(keys.map(|k| (self.bus.subscribe(), k)));
                    }
                    Some(Command::Metrics(reply)) => self.view_metrics(reply),
                    // Every sender is gone: nobody can reach us any more.
                    None => {
                        commands_open = false;
                        self.begin_shutdown(None);
                    }
                },
                Some(ev) = internal.recv() => {
                    // The memory checks and the minute's round are the daemon at rest.
                    busy = !matches!(ev, Internal::Samples(_, sample::Round::Due) | Internal::ViewsOverdue);
                    self.reap_owed |= sigchld.is_none() && matches!(ev, Internal::Samples(..));
                    self.internal(ev);
                }
                _ = tokio::time::sleep_until(deadline), if next_timer.is_some() => self.fire_timers(),
                _ = tokio::time::sleep_until(sample_at), if next_sample.is_some() => {
                    busy = false;
                    self.start_sample();
                }
                Some(()) = async {
                    match sigchld.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.reap_owed = true,
                _ = tokio::time::sleep_until(trim_at), if trim_due.is_some() => {
                    busy = false;
                    self.trim.fired(self.now_ms());
                    tokio::task::spawn_blocking(crate::proc::trim::trim);
                }
            }
            if busy {
                self.trim.busy(self.now_ms());
            }
            if self.reap_owed {
                self.reap_adopted();
            }
            self.settle_waiters();
            self.advance_rollouts();
        }
        // Views still waiting for a round get the figures as they are.
        self.answer_views();
        // Every run is down: the daemon's cgroups go with it (a restarted daemon makes them
        // again).
        let names: Vec<String> = self.apps.iter().map(|a| a.spec.name.clone()).collect();
        self.resources.close(&names);
        for reply in self.kill_replies.drain(..) {
            let stopped = self.apps.iter().map(|a| a.insts.len() as u32).sum();
            let _ = reply.send(Ok(Response::Killed { stopped }));
        }
        let unfinished: Vec<u64> = (self.rollouts.iter().filter_map(|r| r.deployment))
            .chain(self.waiters.iter().filter_map(|w| w.deployment))
            .collect();
        for id in unfinished {
            self.end_deployment(id, false, "the daemon stopped before it ended".into());
        }
        for w in self.waiters.drain(..) {
            let _ = w
                .reply
                .send(Err(RequestError::Refused("the daemon stopped".into())));
        }
        for r in self.rollouts.drain(..) {
            let _ = r
                .reply
                .send(Err(RequestError::Refused("the daemon stopped".into())));
        }
        self.store
    }

    fn internal(&mut self, ev: Internal) {
        match ev {
            Internal::Exited {
                app,
                index,
                run,
                exit,
                ended_wall_ms,
            } => self.main_exited(&app, index, run, exit, ended_wall_ms),
            Internal::LeftoversGone {
                app,
                index,
                run,
                killed,
            } => {
                self.reap_adopted();
                self.dispatch(&app, index, Event::LeftoversGone { run, killed });
            }
            Internal::CgroupFailed {
                app,
                index,
                run,
                error,
            } => self.cgroup_failed(&app, index, run, &error),
            Internal::Samples(samples, round) => self.round_done(samples, round),
            Internal::ViewsOverdue => self.views_overdue(),
            Internal::WatchChange { app, generation } => self.watch_changed(app, generation),
            Internal::Ready { app, index, run } => {
                self.dispatch(&app, index, Event::Ready { run });
            }
            Internal::Probed {
                app,
                index,
                run,
                role,
                error,
            } => self.probed(&app, index, run, role, error),
            Internal::Notify(from) => self.notified(from),
            Internal::Launched(done) => {
                let (pending, launched) = *done;
                self.launched(pending, launched);
            }
        }
    }

    fn all_down(&self) -> bool {
        self.apps
            .iter()
            .flat_map(|a| a.insts.values())
            .all(|i| !i.life.status().has_process())
    }

    fn app(&self, name: &str) -> Option<&App> {
        self.apps.get(name)
    }

    fn app_mut(&mut self, name: &str) -> Option<&mut App> {
        self.apps.get_mut(name)
    }

    fn inst_mut(&mut self, name: &str, index: u32) -> Option<&mut app::Inst> {
        self.app_mut(name)
            .and_then(|a| a.insts.get_mut(&index))
            .map(|i| &mut **i)
    }

    /// Feeds one event to an instance's state machine and performs the effects, feeding their
    /// outcomes back until nothing is left.
    fn dispatch(&mut self, app: &str, index: u32, event: Event) {
        if !self.waiters.is_empty() {
            self.touched.insert((app.to_string(), index));
        }
        let alive_before = self.app_alive(app);
        let mut queue = vec![event];
        while let Some(ev) = queue.pop() {
            let now = self.now_ms();
            let Some(a) = self.apps.get_mut(app) else {
                return;
            };
            let Some(inst) = a.insts.get_mut(&index) else {
                return;
            };
            let before = inst.life.status();
            let effects = lifecycle::step(&mut inst.life, &a.policy, ev.clone(), now);
            // The exit (recorded by an effect) comes before what follows from it.
            for effect in effects.clone() {
                if let Some(back) = self.perform(app, index, effect) {
                    queue.push(back);
                }
            }
            self.publish_step(app, index, &ev, before, &effects);
        }
        self.sample_due_after(app, alive_before);
    }

    fn perform(&mut self, app: &str, index: u32, effect: Effect) -> Option<Event> {
        match effect {
            Effect::Spawn { run, trigger } => return self.spawn(app, index, run, trigger),
            Effect::Signal { run, signal } => self.signal(app, index, run, signal),
            Effect::Timer { run, kind, at_ms } => {
                let app = app.to_string();
                let timer = Timer::Instance {
                    app,
                    index,
                    run,
                    kind,
                };
                self.timers.add(at_ms, timer);
            }
            Effect::SweepLeftovers { run, grace } => self.sweep(app, index, run, grace),
            Effect::RecordExit(summary) => self.record_exit(app, index, summary),
            Effect::Forget => self.forget(app, index),
            Effect::Promote { run } => {
                if let Some(inst) = self.inst_mut(app, index) {
                    inst.promote(run);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
