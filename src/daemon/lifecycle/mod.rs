//! Owns the life of one instance: the only place that assigns its [`Status`] and decides every
//! restart rule — when to spawn, when to stop, what an exit is called, how restarts are
//! counted (automatic or manual), when a memory breach restarts, and when the leftovers of a
//! run must be swept before the next one starts.
//!
//! Pure: `step(instance, policy, event, now_ms) -> Vec<Effect>`. No clock, no tokio, no I/O; the
//! supervisor performs the effects and feeds their outcome back as events. Every event carries
//! the run number it belongs to, so a late exit or timer of an earlier run is ignored.
//!
//! `online` is reported as soon as the program was executed (as PM2 does); `min_uptime` does not
//! delay it but classifies the exit: a run shorter than `min_uptime` is *unstable*, and
//! `max_restarts` consecutive unstable exits end in `errored`. A run that lasts `min_uptime`
//! resets that count, so a crash loop can never restart forever.
//!
//! When a main process ends and its app uses `treekill` (the default), what it left (its
//! process group, descendants that escaped it) is swept first: the instance is `stopping`
//! until the supervisor reports [`Event::LeftoversGone`], and only then is the exit recorded
//! and the restart policy applied. A crashed master cannot leave workers holding its ports
//! into the next run.
//!
//! With a readiness method (`wait_ready`, `ready_log_line`, `ready:`) an instance is
//! `launching` until it is ready; missing `listen_timeout` ends the run as `not_ready`, an
//! unstable exit. Health checks and the watchdog restart an online instance as `unhealthy`.
//! A reload replaces an instance by a successor — itself an [`Instance`] stepped by these same
//! rules — that runs beside it until ready, then takes its place (`reload` files).
//!
//! Files: `rules` (start, stop, exit, restart policy), `ready` (readiness, health, watchdog),
//! `reload` (successors, stop-first and in-place reloads), `backoff`, `classify`, `guard`,
//! `desired`.

pub mod backoff;
pub mod classify;
pub mod desired;
pub mod guard;
mod ready;
mod reload;
mod rules;
pub mod spawn_failure;

use backoff::DelayPolicy;
pub use classify::{Confidence, ExitFacts, OomEvidence, classify_exit};
pub use guard::{Breach, MemoryGuard, MemoryLimit};

use crate::record::Cause;
pub use crate::record::Status;

/// What made a spawn happen (the store's word for it too).
pub use crate::record::SpawnTrigger as Trigger;

/// The restart policy of an app, as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub autorestart: bool,
    pub stop_exit_codes: Vec<i32>,
    pub delay: DelayPolicy,
    pub min_uptime_ms: u64,
    pub max_restarts: u32,
    pub kill_timeout_ms: u64,
    /// `max_memory_restart` and `max_memory_samples`.
    pub memory: Option<MemoryLimit>,
    /// Sweep what a run left (its group, escaped descendants) before the exit counts.
    pub treekill: bool,
    /// Launching until ready (`wait_ready`, `ready_log_line` or a `ready:` probe).
    pub readiness: bool,
    /// How long a run may take to become ready.
    pub listen_timeout_ms: u64,
    /// Consecutive failed health checks that make an instance unhealthy.
    pub health_failures: Option<u32>,
    /// The app must send WATCHDOG=1 at least this often.
    pub watchdog_ms: Option<u64>,
    /// How `reload` replaces an instance.
    pub reload: ReloadMode,
    /// No delay was configured: failed runs that outlived `min_uptime` back off from
    /// [`DEFAULT_BACKOFF_MS`]; others restart at once.
    pub default_backoff: bool,
    /// With `reload_signal` and `wait_ready`: an in-place reload ends with RELOADING=1 then
    /// READY=1 (systemd's notify-reload protocol).
    pub notify_reload: bool,
}

/// The first delay of the default backoff (as `exp_backoff_restart_delay: 100`).
pub const DEFAULT_BACKOFF_MS: u64 = 100;

/// How `svctl reload` replaces an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadMode {
    /// Start the new process beside the old one; stop the old once the new is ready.
    #[default]
    Surge,
    /// Stop the old one first (it holds a port the new one cannot share).
    StopFirst,
    /// Send `reload_signal` to the main process: the app reloads itself.
    Signal,
}

/// What happens once the process of a stopping instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Stop,
    Start,
    Restart(Cause),
    Delete,
    /// Nobody asked: the run crashed and its leftovers are being swept; the restart policy
    /// decides once they are gone.
    Policy,
    /// A reload: the ready successor takes this instance's place.
    Promote,
}

/// A stop in progress: the cause the exit will be recorded with, and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPlan {
    pub cause: Cause,
    pub after: AfterStop,
}

/// The main process of the run has ended; its leftovers are being swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ended {
    natural: Cause,
    code: Option<i32>,
    confidence: Option<Confidence>,
    uptime_ms: u64,
}

/// The state of one instance. Read through its accessors; only [`step`] changes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    status: Status,
    /// The current (or last) run number; the next spawn uses `run + 1`.
    run: u64,
    /// Every respawn (automatic or manual), shown as ↺.
    restarts: u32,
    auto_restarts: u32,
    manual_restarts: u32,
    /// Consecutive unstable exits.
    unstable: u32,
    /// When the current run was spawned (ms on the supervisor's monotonic clock).
    started_at_ms: Option<u64>,
    /// Exponential backoff state (0 = none).
    backoff_ms: u64,
    stopping: Option<StopPlan>,
    /// SIGKILL was sent to this run after `kill_timeout`.
    kill_sent: bool,
    ended: Option<Ended>,
    guard: MemoryGuard,
    /// Set when the memory guard stopped this run.
    breach: Option<Breach>,
    /// Set when a missed watchdog stopped this run.
    watchdog_missed: bool,
    /// The highest run number given out (a successor's run is above the current one).
    last_run: u64,
    /// Consecutive failed health checks of the current run.
    health_failures: u32,
    /// When the watchdog expects the next WATCHDOG=1, and whether a timer is armed for it.
    watchdog_due: Option<u64>,
    watchdog_armed: bool,
    /// The run stays `launching` until it was up `min_uptime` (a reload's new process).
    gate_until_stable: bool,
    /// A reload in progress or its outcome.
    reload: Option<ReloadState>,
    /// A reload's new process, beside this one until it is ready.
    next: Option<Box<Instance>>,
}

/// Where a reload of one instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadState {
    InProgress,
    /// An in-place reload signalled; waiting for RELOADING=1 (`false`) then READY=1.
    InPlace {
        reloading_seen: bool,
    },
    Done,
    /// The new process of `run` failed with `cause`; what ran before still runs.
    Failed {
        run: u64,
        cause: Cause,
    },
}

/// Counters a restarted daemon brings back from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub run: u64,
    pub restarts: u32,
    pub auto_restarts: u32,
    pub manual_restarts: u32,
    pub unstable: u32,
}

impl Instance {
    pub fn new() -> Instance {
        Instance::default()
    }

    /// An instance restored from the database: stopped, with its counters.
    pub fn restored(c: Counters) -> Instance {
        Instance {
            run: c.run,
            last_run: c.run,
            restarts: c.restarts,
            auto_restarts: c.auto_restarts,
            manual_restarts: c.manual_restarts,
            unstable: c.unstable,
            ..Instance::new()
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }
    pub fn run(&self) -> u64 {
        self.run
    }
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
    pub fn auto_restarts(&self) -> u32 {
        self.auto_restarts
    }
    pub fn manual_restarts(&self) -> u32 {
        self.manual_restarts
    }
    pub fn unstable(&self) -> u32 {
        self.unstable
    }
    pub fn started_at_ms(&self) -> Option<u64> {
        self.started_at_ms
    }
    /// Consecutive failed health checks of the current run.
    pub fn health_failures(&self) -> u32 {
        self.health_failures
    }
    /// Whether the main process of the current run is still alive (not ended, not swept).
    pub fn main_alive(&self) -> bool {
        self.status.has_process() && self.ended.is_none()
    }
    /// A reload's outcome once it has one: `Ok` done, `Err((run, cause))` failed.
    pub fn reload_outcome(&self) -> Option<Result<(), (u64, Cause)>> {
        match self.reload? {
            ReloadState::Done => Some(Ok(())),
            ReloadState::Failed { run, cause } => Some(Err((run, cause))),
            ReloadState::InProgress | ReloadState::InPlace { .. } => None,
        }
    }
    /// The run of a reload's new process while it runs beside this one.
    pub fn successor_run(&self) -> Option<u64> {
        self.next.as_ref().map(|n| n.run)
    }
    /// The status of a reload's new process while it runs beside this one.
    pub fn successor_status(&self) -> Option<Status> {
        self.next.as_ref().map(|n| n.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The user wants it running.
    Start,
    /// Stop it (user stop, shutdown: cause `stopped`).
    Stop(Cause),
    /// Stop it, and remove it once stopped.
    Delete,
    /// Restart it (user: `restarted`; also `cron`, `watch`).
    Restart(Cause),
    /// `svctl reset`: the counters start again from zero; the state and run number stay.
    Reset,
    /// The spawn effect for `run` succeeded.
    Spawned { run: u64 },
    /// The spawn effect for `run` failed, with the OS error number when there is one
    /// (EMFILE passes, ENOENT does not: [`spawn_failure::classify`]).
    SpawnFailed { run: u64, errno: Option<i32> },
    /// The main process of `run` ended.
    Exited { run: u64, exit: ExitFacts },
    /// What `run` left behind is gone (`killed` processes had to be ended).
    LeftoversGone { run: u64, killed: u32 },
    /// The resident memory of `run`'s process tree.
    Sample { run: u64, rss_bytes: u64 },
    /// The delay before restarting `run`'s successor is over.
    RestartDue { run: u64 },
    /// `kill_timeout` after the stop signal of `run` has passed.
    KillDeadline { run: u64 },
    /// `run` said it is ready (READY=1, its ready log line, or its readiness probe passed).
    Ready { run: u64 },
    /// `listen_timeout` after the spawn of `run` has passed.
    ReadyDeadline { run: u64 },
    /// `run` has been up `min_uptime` (a reload's gate, or an in-place reload's check).
    Stable { run: u64 },
    /// A health check of `run` passed or failed.
    Health { run: u64, ok: bool },
    /// `run` sent WATCHDOG=1.
    Watchdog { run: u64 },
    /// The watchdog of `run` is due.
    WatchdogDue { run: u64 },
    /// `run` sent RELOADING=1 (an in-place reload began).
    Reloading { run: u64 },
    /// `svctl reload`: replace the instance as the policy's reload mode says.
    Reload,
}

/// Which signal to send to the instance's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The app's `kill_signal`.
    Graceful,
    Kill,
    /// The app's `reload_signal`, to the main process only.
    Reload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    RestartDue,
    KillDeadline,
    ReadyDeadline,
    Stable,
    WatchdogDue,
}

impl TimerKind {
    /// The event a timer of this kind feeds back for `run`.
    pub fn event(self, run: u64) -> Event {
        match self {
            TimerKind::RestartDue => Event::RestartDue { run },
            TimerKind::KillDeadline => Event::KillDeadline { run },
            TimerKind::ReadyDeadline => Event::ReadyDeadline { run },
            TimerKind::Stable => Event::Stable { run },
            TimerKind::WatchdogDue => Event::WatchdogDue { run },
        }
    }
}

/// How a run ended, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitSummary {
    pub run: u64,
    pub cause: Cause,
    pub unstable: bool,
    pub sigkill_needed: bool,
    pub next_delay_ms: Option<u64>,
    pub oom_confidence: Option<Confidence>,
    pub breach: Option<Breach>,
    pub leftovers_killed: u32,
    /// The run was restarted as `unhealthy` because its watchdog was missed.
    pub watchdog_missed: bool,
}

/// What the supervisor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Spawn run `run`, then feed back `Spawned` or `SpawnFailed`.
    Spawn { run: u64, trigger: Trigger },
    /// Signal the process group of `run`.
    Signal { run: u64, signal: Signal },
    /// Feed back the matching event at `at_ms`.
    Timer {
        run: u64,
        kind: TimerKind,
        at_ms: u64,
    },
    /// End what `run` left (its group, escaped descendants, orphans carrying its mark), then
    /// feed back `LeftoversGone`. `grace`: `kill_signal` first and SIGKILL after
    /// `kill_timeout` (a crash); else SIGKILL at once (they had the stop signal already).
    SweepLeftovers { run: u64, grace: bool },
    /// Record the end of a run.
    RecordExit(ExitSummary),
    /// The instance is stopped and was asked to be deleted: forget it.
    Forget,
    /// A reload's new process `run` takes the instance's place: its runtime facts become the
    /// instance's.
    Promote { run: u64 },
}

pub use rules::step;

#[cfg(test)]
mod tests;
