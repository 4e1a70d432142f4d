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

pub mod backoff;
pub mod classify;
pub mod desired;
pub mod guard;

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
    /// Whether the main process of the current run is still alive (not ended, not swept).
    pub fn main_alive(&self) -> bool {
        self.status.has_process() && self.ended.is_none()
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
    /// The spawn effect for `run` failed (ENOENT, EACCES…).
    SpawnFailed { run: u64 },
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
}

/// Which signal to send to the instance's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The app's `kill_signal`.
    Graceful,
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    RestartDue,
    KillDeadline,
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
}

/// Applies one event. Returns the effects to perform, in order.
pub fn step(inst: &mut Instance, policy: &Policy, event: Event, now_ms: u64) -> Vec<Effect> {
    use Status::*;
    match event {
        Event::Start => match inst.status {
            Stopped | Errored => {
                fresh_chances(inst);
                spawn(inst, Trigger::Start, now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Start);
                vec![]
            }
            Launching | Online | WaitingRestart => vec![],
        },
        Event::Restart(cause) => match inst.status {
            // Nothing runs: a restart is a start, and counts as none (PM2's restart_time).
            Stopped | Errored => {
                fresh_chances(inst);
                spawn(inst, Trigger::Start, now_ms)
            }
            WaitingRestart => {
                if cause == Cause::Restarted {
                    fresh_chances(inst);
                }
                spawn(inst, trigger_for(cause), now_ms)
            }
            Launching | Online => {
                begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Restart(cause));
                vec![]
            }
        },
        Event::Stop(cause) => match inst.status {
            Launching | Online => begin_stop(inst, policy, cause, AfterStop::Stop, now_ms),
            WaitingRestart => {
                inst.status = Stopped;
                vec![]
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Stop);
                vec![]
            }
            Stopped | Errored => vec![],
        },
        Event::Delete => match inst.status {
            Launching | Online => {
                begin_stop(inst, policy, Cause::Stopped, AfterStop::Delete, now_ms)
            }
            Stopping => {
                set_after_stop(inst, AfterStop::Delete);
                vec![]
            }
            WaitingRestart | Stopped | Errored => {
                inst.status = Stopped;
                vec![Effect::Forget]
            }
        },
        Event::Reset => {
            inst.restarts = 0;
            inst.auto_restarts = 0;
            inst.manual_restarts = 0;
            inst.unstable = 0;
            inst.backoff_ms = 0;
            vec![]
        }
        Event::Spawned { run } => {
            if run == inst.run && inst.status == Launching {
                inst.status = Online;
            }
            vec![]
        }
        Event::SpawnFailed { run } => {
            if run != inst.run || inst.status != Launching {
                return vec![];
            }
            // A program that cannot be executed will not start by retrying: errored at once,
            // with the OS error in the record.
            inst.status = Errored;
            inst.started_at_ms = None;
            let mut effects = vec![Effect::RecordExit(ExitSummary {
                unstable: true,
                ..summary(run, Cause::SpawnFailed)
            })];
            if let Some(s) = inst.stopping.take() {
                effects.extend(finish_stop(inst, s.after, now_ms));
            }
            effects
        }
        Event::Exited { run, exit } => {
            if run != inst.run || !inst.main_alive() {
                return vec![];
            }
            let (natural, confidence) = classify_exit(&exit, inst.kill_sent);
            let uptime_ms = inst.started_at_ms.map_or(0, |s| now_ms.saturating_sub(s));
            inst.started_at_ms = None;
            inst.ended = Some(Ended {
                natural,
                code: exit.code,
                confidence,
                uptime_ms,
            });
            if !policy.treekill {
                return complete_exit(inst, policy, run, 0, now_ms);
            }
            // A stop already sent the stop signal to the whole tree: what is left gets SIGKILL.
            // A crash: the leftovers get the graceful signal first, and the instance shows
            // `stopping` until they are gone.
            let grace = inst.stopping.is_none();
            if grace {
                inst.status = Stopping;
                inst.stopping = Some(StopPlan {
                    cause: natural,
                    after: AfterStop::Policy,
                });
            }
            vec![Effect::SweepLeftovers { run, grace }]
        }
        Event::LeftoversGone { run, killed } => {
            if run != inst.run || inst.ended.is_none() {
                return vec![];
            }
            complete_exit(inst, policy, run, killed, now_ms)
        }
        Event::Sample { run, rss_bytes } => {
            let Some(limit) = policy.memory else {
                return vec![];
            };
            if run != inst.run || inst.status != Online {
                return vec![];
            }
            match inst.guard.observe(rss_bytes, limit) {
                Some(breach) => {
                    inst.breach = Some(breach);
                    let cause = Cause::MemoryLimit;
                    begin_stop(inst, policy, cause, AfterStop::Restart(cause), now_ms)
                }
                None => vec![],
            }
        }
        Event::RestartDue { run } => {
            if run != inst.run || inst.status != WaitingRestart {
                return vec![];
            }
            spawn(inst, Trigger::AutoRestart, now_ms)
        }
        Event::KillDeadline { run } => {
            if run != inst.run || inst.status != Stopping || inst.kill_sent || !inst.main_alive() {
                return vec![];
            }
            inst.kill_sent = true;
            vec![Effect::Signal {
                run,
                signal: Signal::Kill,
            }]
        }
    }
}

fn summary(run: u64, cause: Cause) -> ExitSummary {
    ExitSummary {
        run,
        cause,
        unstable: false,
        sigkill_needed: false,
        next_delay_ms: None,
        oom_confidence: None,
        breach: None,
        leftovers_killed: 0,
    }
}

/// A user's start or restart gives an app fresh chances: no unstable count, no backoff.
fn fresh_chances(inst: &mut Instance) {
    inst.unstable = 0;
    inst.backoff_ms = 0;
}

fn trigger_for(cause: Cause) -> Trigger {
    if cause == Cause::Restarted {
        Trigger::ManualRestart
    } else {
        Trigger::AutoRestart
    }
}

/// Every spawn but the first of a start is a restart, counted by who asked for it.
fn spawn(inst: &mut Instance, trigger: Trigger, now_ms: u64) -> Vec<Effect> {
    match trigger {
        Trigger::Start => {}
        Trigger::AutoRestart => {
            inst.restarts = inst.restarts.saturating_add(1);
            inst.auto_restarts = inst.auto_restarts.saturating_add(1);
        }
        Trigger::ManualRestart => {
            inst.restarts = inst.restarts.saturating_add(1);
            inst.manual_restarts = inst.manual_restarts.saturating_add(1);
        }
    }
    inst.run += 1;
    inst.status = Status::Launching;
    inst.started_at_ms = Some(now_ms);
    inst.stopping = None;
    inst.kill_sent = false;
    inst.ended = None;
    inst.guard = MemoryGuard::default();
    inst.breach = None;
    vec![Effect::Spawn {
        run: inst.run,
        trigger,
    }]
}

fn begin_stop(
    inst: &mut Instance,
    policy: &Policy,
    cause: Cause,
    after: AfterStop,
    now_ms: u64,
) -> Vec<Effect> {
    inst.status = Status::Stopping;
    inst.stopping = Some(StopPlan { cause, after });
    inst.kill_sent = false;
    vec![
        Effect::Signal {
            run: inst.run,
            signal: Signal::Graceful,
        },
        Effect::Timer {
            run: inst.run,
            kind: TimerKind::KillDeadline,
            at_ms: now_ms.saturating_add(policy.kill_timeout_ms),
        },
    ]
}

/// A later request while stopping replaces what comes next, except that a delete always wins.
fn set_after_stop(inst: &mut Instance, after: AfterStop) {
    if let Some(s) = &mut inst.stopping
        && s.after != AfterStop::Delete
    {
        s.after = after;
    }
}

/// The run is over, leftovers included: record it, then stop, delete or restart.
fn complete_exit(
    inst: &mut Instance,
    policy: &Policy,
    run: u64,
    leftovers_killed: u32,
    now_ms: u64,
) -> Vec<Effect> {
    let Some(ended) = inst.ended.take() else {
        return vec![];
    };
    let sigkill_needed = std::mem::take(&mut inst.kill_sent);
    let base = ExitSummary {
        sigkill_needed,
        oom_confidence: ended.confidence,
        breach: inst.breach.take(),
        leftovers_killed,
        ..summary(run, Cause::Exited)
    };
    match inst.stopping.take() {
        Some(StopPlan {
            cause,
            after: AfterStop::Policy,
        }) => crashed(inst, policy, base, cause, ended, now_ms),
        Some(StopPlan { cause, after }) => {
            let mut effects = vec![Effect::RecordExit(ExitSummary { cause, ..base })];
            effects.extend(finish_stop(inst, after, now_ms));
            effects
        }
        // Without treekill the exit completes at once, with no sweep in between.
        None => crashed(inst, policy, base, ended.natural, ended, now_ms),
    }
}

fn finish_stop(inst: &mut Instance, after: AfterStop, now_ms: u64) -> Vec<Effect> {
    match after {
        AfterStop::Stop | AfterStop::Policy => {
            inst.status = Status::Stopped;
            vec![]
        }
        AfterStop::Delete => {
            inst.status = Status::Stopped;
            vec![Effect::Forget]
        }
        AfterStop::Start => {
            fresh_chances(inst);
            spawn(inst, Trigger::Start, now_ms)
        }
        AfterStop::Restart(cause) => {
            if cause == Cause::Restarted {
                fresh_chances(inst);
            }
            spawn(inst, trigger_for(cause), now_ms)
        }
    }
}

/// An exit nobody asked for: apply the restart policy.
fn crashed(
    inst: &mut Instance,
    policy: &Policy,
    base: ExitSummary,
    cause: Cause,
    ended: Ended,
    now_ms: u64,
) -> Vec<Effect> {
    let unstable = ended.uptime_ms < policy.min_uptime_ms;
    inst.unstable = if unstable {
        inst.unstable.saturating_add(1)
    } else {
        0
    };
    let record = |next_delay_ms| {
        Effect::RecordExit(ExitSummary {
            cause,
            unstable,
            next_delay_ms,
            ..base
        })
    };
    let wanted_stop = ended
        .code
        .is_some_and(|c| policy.stop_exit_codes.contains(&c));
    if !policy.autorestart || wanted_stop {
        inst.status = Status::Stopped;
        return vec![record(None)];
    }
    if inst.unstable >= policy.max_restarts {
        inst.status = Status::Errored;
        return vec![record(None)];
    }
    let (delay, state) = backoff::next_delay(policy.delay, inst.backoff_ms, ended.uptime_ms);
    inst.backoff_ms = state;
    if delay == 0 {
        let mut effects = vec![record(Some(0))];
        effects.extend(spawn(inst, Trigger::AutoRestart, now_ms));
        return effects;
    }
    inst.status = Status::WaitingRestart;
    vec![
        record(Some(delay)),
        Effect::Timer {
            run: base.run,
            kind: TimerKind::RestartDue,
            at_ms: now_ms.saturating_add(delay),
        },
    ]
}

#[cfg(test)]
mod tests;
