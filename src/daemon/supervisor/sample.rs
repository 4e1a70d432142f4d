//! Owns sampling: when process trees are measured, the round itself on the blocking pool, and
//! what a round feeds: the CPU and memory `list` shows, the per-minute memory history, and the
//! memory guard of the state machine.
//!
//! When: nothing is sampled on a timer for display. An app with `max_memory_restart` is sampled
//! on its own interval (the guard needs it); every other app once a minute, all in one round on
//! the minute, for the per-minute memory history (`describe`, `why`). The figures a view shows
//! (`list`, `describe`) are sampled when a view asks: a view finds figures older than
//! [`VIEW_FRESH_MS`] stale, waits for one round of every live process, and every view asking
//! meanwhile shares that round; a view waits [`VIEW_WAIT_MS`] at most, then gets the figures
//! as they are.
//!
//! What: a view's round reads whole trees (memory, CPU time, processes); a round of due apps
//! reads, for a run in a cgroup, its memory alone: the history and the guard need no more, and
//! at 1,000 apps the minute's round is most of what an idle daemon does. For the history and
//! the views, a run's memory is the last reading while its cgroup's charge has not moved (see
//! [`cgroup::Group::memory_for_history`]: one read of a kept counter instead of `memory.stat`);
//! the memory guard reads `memory.stat` every time.

use super::app::Minute;
use super::{Internal, ReplyTx, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::Event;
use crate::ipc::Request;
use crate::proc::{cgroup, tree};
use crate::record::Status;
use crate::store::Write;
use std::collections::HashMap;

/// Apps without a memory limit are sampled this often, together, for the memory history.
const HISTORY_SAMPLE_MS: u64 = 60_000;
/// How often an app with `max_memory_restart` is sampled unless it says otherwise.
pub const DEFAULT_MEMORY_CHECK_MS: u64 = 1000;
/// Figures sampled for a view this recently are shown as they are; older ones are sampled again
/// first.
pub const VIEW_FRESH_MS: u64 = 1000;
/// A view waits at most this long for its round, then gets the figures as they are (those of
/// the round before). On a saturated host a round can take seconds: in a soak at a load average
/// of 209, one `list` waited 5.8 s for a round of due apps and then for its own, while `ping`
/// answered in 6 ms.
pub const VIEW_WAIT_MS: u64 = 2000;

/// A run to sample through its cgroup: (app, instance, run), main pid, cgroup.
type GroupedRun = ((String, u32, u64), i32, std::sync::Arc<cgroup::Group>);

/// A whole tree's sample (memory, CPU time, processes), and CPU % since the previous one.
type Tree = (tree::TreeSample, Option<f32>);

/// What a round read.
#[derive(Debug, Default)]
pub struct Samples {
    /// Per main pid: the whole tree.
    pub trees: Vec<Tree>,
    /// Per main pid: the memory alone, for a run in a cgroup sampled for the history or the
    /// memory guard, which need nothing else.
    pub memory: Vec<(i32, u64)>,
}

/// The runs that have a cgroup, read from its counters; those whose counters are not kept come
/// back as pids to walk, and a cgroup whose files fail is reported (the run degrades to
/// process-group mode) and walked.
fn sample_cgroups(
    grouped: Vec<GroupedRun>,
    guarded: &std::collections::HashSet<i32>,
    tx: &tokio::sync::mpsc::UnboundedSender<Internal>,
) -> (Vec<tree::TreeSample>, Vec<i32>) {
    let mut samples = Vec::with_capacity(grouped.len());
    let mut walk = Vec::new();
    for ((app, index, run), pid, g) in grouped {
        match cgroup::sample(&g, pid, guarded.contains(&pid)) {
            Ok(Some(s)) => samples.push(s),
            Ok(None) => walk.push(pid),
            Err(e) => {
                walk.push(pid);
                let _ = tx.send(Internal::CgroupFailed {
                    app,
                    index,
                    run,
                    error: e.to_string(),
                });
            }
        }
    }
    (samples, walk)
}

/// The memory of the runs that have a cgroup: one file each (`memory.stat`), where a whole
/// sample reads four (with the process list, the CPU counter and the main process's start).
/// A round of due apps needs no more, and at 1,000 apps it is most of an idle daemon's work.
/// A run sampled for the history alone (not in `guarded`) reads its cgroup's charge first and
/// `memory.stat` only when the charge moved (see [`cgroup::Group::memory_for_history`]); the
/// memory guard reads every time. Those whose counter cannot be read come back as pids to walk.
fn memory_of_cgroups(
    grouped: Vec<GroupedRun>,
    guarded: &std::collections::HashSet<i32>,
) -> (Vec<(i32, u64)>, Vec<i32>) {
    let mut memory = Vec::with_capacity(grouped.len());
    let mut walk = Vec::new();
    for (_, pid, g) in grouped {
        match g.memory(guarded.contains(&pid)) {
            Some(bytes) => memory.push((pid, bytes)),
            None => walk.push(pid),
        }
    }
    (memory, walk)
}

/// When an app with a running process is sampled next after `now`: on its own
/// `memory_check_interval`, else the daemon's default when it has a memory limit, else on the
/// next whole minute of the supervisor's clock (so all such apps share one round).
fn next_due(spec: &AppSpec, memory_check_ms: u64, now: u64) -> u64 {
    match spec.memory_check_interval_ms {
        Some(ms) => now + ms,
        None if spec.max_memory_restart.is_some() => now + memory_check_ms,
        None => (now / HISTORY_SAMPLE_MS + 1) * HISTORY_SAMPLE_MS,
    }
}

type MetricsTx = tokio::sync::oneshot::Sender<crate::daemon::metrics::Snapshot>;

/// Who waits for fresh figures: a view request (`list`, `describe`) or a metrics scrape.
pub(super) enum Viewer {
    Request(Request, ReplyTx),
    Metrics(MetricsTx),
}

/// The views waiting for a round, with when each began to wait, and the timer that answers
/// them at [`VIEW_WAIT_MS`] if the round is not in by then.
#[derive(Default)]
pub(super) struct Waiting {
    views: Vec<(u64, Viewer)>,
    overdue: Option<tokio::task::AbortHandle>,
}

/// What a round was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The apps that were due.
    Due,
    /// Every live process, for the views waiting.
    View,
}

pub(super) fn minute_write(app: &str, instance: u32, m: Minute) -> Write {
    Write::MemoryMinute {
        app: app.to_string(),
        instance,
        minute_ms: m.start_ms,
        min_bytes: m.min,
        avg_bytes: m.avg(),
        max_bytes: m.max,
    }
}

/// The live runs of `a`: those with a cgroup are read from it, the others walked by pid.
fn targets(a: &super::app::App, pids: &mut Vec<i32>, grouped: &mut Vec<GroupedRun>) {
    for (index, i) in a.insts.iter().filter(|(_, i)| i.life.main_alive()) {
        let Some(pid) = i.run.pid else { continue };
        match &i.run.cgroup {
            Some(g) => grouped.push(((a.spec.name.clone(), *index, i.run.number), pid, g.clone())),
            None => pids.push(pid),
        }
    }
}

impl Supervisor {
    /// The earliest moment an app with a running process is due for a sample. Worked out by
    /// a walk of every app only after a change that can move it later (a round, an app with
    /// the earliest moment ending its last process, apps added or removed): the actor asks
    /// after every event, and a walk per event made a start of N apps cost N² steps.
    pub(super) fn next_sample_due(&mut self) -> Option<u64> {
        if let Some(due) = self.sample_due {
            // Every test that runs the actor checks that the kept moment is the walk's.
            debug_assert_eq!(due, self.walk_sample_due(), "kept next sampling moment");
            return due;
        }
        let due = self.walk_sample_due();
        self.sample_due = Some(due);
        due
    }

    fn walk_sample_due(&self) -> Option<u64> {
        let alive = self.apps.iter().filter(|a| a.alive());
        alive.map(|a| a.next_sample_ms).min()
    }

    /// Whether an instance of `app` has a running process.
    pub(super) fn app_alive(&self, app: &str) -> bool {
        self.apps.get(app).is_some_and(|a| a.alive())
    }

    /// Keeps [`Supervisor::next_sample_due`] true after events for `app`, which had a running
    /// process (`alive_before`) or not. An app whose first process starts is due one interval
    /// later (or on the history's next minute): a process just started has nothing to show
    /// yet, and a start of many apps is not slowed by rounds for each.
    pub(super) fn sample_due_after(&mut self, app: &str, alive_before: bool) {
        let now = self.now_ms();
        let memory_check_ms = self.defaults.memory_check_ms;
        let Some(a) = self.apps.get_mut(app) else {
            // Deleted: it could have been the app due first only if it had a process.
            if alive_before {
                self.sample_due = None;
            }
            return;
        };
        match (alive_before, a.alive()) {
            (false, true) => {
                if a.next_sample_ms <= now {
                    a.next_sample_ms = next_due(&a.spec, memory_check_ms, now);
                }
                if let Some(due) = self.sample_due {
                    self.sample_due = Some(Some(
                        due.map_or(a.next_sample_ms, |d| d.min(a.next_sample_ms)),
                    ));
                }
            }
            // The app that was due first may be gone from the walk: walk again.
            (true, false)
                if self
                    .sample_due
                    .is_some_and(|due| due.is_none_or(|d| a.next_sample_ms <= d)) =>
            {
                self.sample_due = None;
            }
            _ => {}
        }
    }

    /// Starts a round of the apps that are due (none runs yet).
    pub(super) fn start_sample(&mut self) {
        if self.sampling.is_some() {
            return;
        }
        let now = self.now_ms();
        let memory_check_ms = self.defaults.memory_check_ms;
        let mut pids = Vec::new();
        let mut grouped = Vec::new();
        for a in &mut self.apps {
            if a.next_sample_ms > now {
                continue;
            }
            let before = pids.len() + grouped.len();
            targets(a, &mut pids, &mut grouped);
            if pids.len() + grouped.len() > before {
                a.next_sample_ms = next_due(&a.spec, memory_check_ms, now);
            }
        }
        self.sample_due = None;
        self.sample_round(pids, grouped, Round::Due);
    }

    /// `req` (a view: `list`, `describe`) is answered now if the figures are fresh, else once
    /// a round of every live process is in; askers meanwhile share that round.
    pub(super) fn view(&mut self, req: Request, reply: ReplyTx) {
        self.view_or_wait(Viewer::Request(req, reply));
    }

    /// A metrics scrape asks for figures as a view does, and shares its rounds.
    pub(super) fn view_metrics(&mut self, reply: MetricsTx) {
        self.view_or_wait(Viewer::Metrics(reply));
    }

    fn view_or_wait(&mut self, viewer: Viewer) {
        let now = self.now_ms();
        let fresh = self
            .view_sampled_at
            .is_some_and(|at| now.saturating_sub(at) < VIEW_FRESH_MS);
        if fresh {
            self.answer_viewer(viewer);
            return;
        }
        self.view_waiting.views.push((now, viewer));
        self.start_view_sample();
        self.arm_views_overdue(now);
    }

    /// One deadline for the views still waiting: the oldest one's. It is armed only while a
    /// view waits and cancelled when the round answers them all: a timer left to fire for
    /// nothing would wake an idle daemon and map back the code its last trim gave back.
    fn arm_views_overdue(&mut self, now: u64) {
        let w = &mut self.view_waiting;
        let Some(oldest) = w.views.iter().map(|(since, _)| *since).min() else {
            return;
        };
        if w.overdue.is_some() {
            return;
        }
        let wait = (oldest + VIEW_WAIT_MS).saturating_sub(now);
        let tx = self.internal_tx.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let _ = tx.send(Internal::ViewsOverdue);
        });
        w.overdue = Some(timer.abort_handle());
    }

    /// The views that have waited [`VIEW_WAIT_MS`] get the figures as they are; the round
    /// goes on, for the views after them.
    pub(super) fn views_overdue(&mut self) {
        let now = self.now_ms();
        self.view_waiting.overdue = None;
        let (overdue, waiting) = std::mem::take(&mut self.view_waiting.views)
            .into_iter()
            .partition(|(since, _)| now.saturating_sub(*since) >= VIEW_WAIT_MS);
        self.view_waiting.views = waiting;
        for (_, viewer) in overdue {
            self.answer_viewer(viewer);
        }
        self.arm_views_overdue(now);
    }

    /// A round is in: its figures are applied, and the views it was for answered.
    pub(super) fn round_done(&mut self, samples: Samples, round: Round) {
        self.sampling = None;
        self.apply_samples(samples);
        if round == Round::View {
            self.answer_views();
        }
        // Views that asked during a round of due apps get their own now.
        self.start_view_sample();
    }

    fn answer_viewer(&mut self, viewer: Viewer) {
        match viewer {
            Viewer::Request(req, reply) => self.answer_view(req, reply),
            Viewer::Metrics(reply) => {
                let _ = reply.send(self.metrics_snapshot());
            }
        }
    }

    /// Starts the round the waiting views need, unless one runs (its end starts it).
    pub(super) fn start_view_sample(&mut self) {
        if self.view_waiting.views.is_empty() || self.sampling.is_some() {
            return;
        }
        let (mut pids, mut grouped) = (Vec::new(), Vec::new());
        for a in &self.apps {
            targets(a, &mut pids, &mut grouped);
        }
        self.view_sampled_at = Some(self.now_ms());
        if pids.is_empty() && grouped.is_empty() {
            self.answer_views();
            return;
        }
        self.sample_round(pids, grouped, Round::View);
    }

    /// Every view waiting for the round that just ended is answered.
    pub(super) fn answer_views(&mut self) {
        if let Some(timer) = self.view_waiting.overdue.take() {
            timer.abort();
        }
        for (_, viewer) in std::mem::take(&mut self.view_waiting.views) {
            self.answer_viewer(viewer);
        }
    }

    fn sample_round(&mut self, mut pids: Vec<i32>, grouped: Vec<GroupedRun>, round: Round) {
        if pids.is_empty() && grouped.is_empty() {
            return;
        }
        self.sampling = Some(round);
        let live = self.live_pids();
        // Only the apps checked on an interval are sampled often enough to keep files open.
        let kept: std::collections::HashSet<i32> = self
            .apps
            .iter()
            .filter(|a| {
                a.spec.max_memory_restart.is_some() || a.spec.memory_check_interval_ms.is_some()
            })
            .flat_map(|a| a.insts.values())
            .filter_map(|i| i.run.pid)
            .collect();
        let sampler = self.sampler.clone();
        let tx = self.internal_tx.clone();
        let work = move || {
            let samples = match sampler.lock() {
                Ok(mut guard) => {
                    let (trees, meter) = &mut *guard;
                    let now = std::time::Instant::now();
                    let (mut samples, memory) = if round == Round::Due {
                        let (memory, walk) = memory_of_cgroups(grouped, &kept);
                        pids.extend(walk);
                        (Vec::new(), memory)
                    } else {
                        let (samples, walk) = sample_cgroups(grouped, &kept, &tx);
                        pids.extend(walk);
                        (samples, Vec::new())
                    };
                    trees.keep_open(kept);
                    trees.forget_except(&live);
                    meter.retain(&live);
                    samples.extend(trees.sample(&pids, false));
                    let trees = samples
                        .into_iter()
                        .map(|t| {
                            let cpu = meter.percent(t.root, t.cpu_ticks, t.start_ticks, now);
                            (t, cpu)
                        })
                        .collect();
                    Samples { trees, memory }
                }
                Err(_) => Samples::default(),
            };
            let _ = tx.send(Internal::Samples(samples, round));
        };
        // On the blocking pool, whose threads the runtime knows about: a paused test clock
        // does not jump ahead while a round is out. The round still goes first under a storm:
        // the actor loop starts due rounds before it takes the next event.
        tokio::task::spawn_blocking(work);
    }

    /// Applies a round of samples: what `list` shows, the memory history, and the memory guard.
    pub(super) fn apply_samples(&mut self, samples: Samples) {
        // Per main pid: the memory, and the whole tree when the round read it.
        let trees = samples
            .trees
            .into_iter()
            .map(|(t, cpu)| (t.root, (t.rss_bytes, Some((t, cpu)))));
        let memory = (samples.memory.into_iter()).map(|(pid, rss)| (pid, (rss, None)));
        let by_pid: HashMap<i32, (u64, Option<Tree>)> = trees.chain(memory).collect();
        let minute_now = crate::store::now_ms() / 60_000 * 60_000;
        let mut guarded = Vec::new();
        for a in &mut self.apps {
            for (index, inst) in &mut a.insts {
                let Some((rss, tree)) = inst.run.pid.and_then(|p| by_pid.get(&p)) else {
                    continue;
                };
                let (r, rss) = (&mut inst.run, *rss);
                if let Some((s, cpu)) = tree {
                    r.cpu = cpu.or(r.cpu);
                    r.cpu_ticks = Some(s.cpu_ticks);
                    r.members = s.members.clone();
                    r.processes = Some(s.processes);
                }
                r.rss = Some(rss);
                r.rss_peak = r.rss_peak.max(Some(rss));
                if let Some(m) = Minute::add(&mut r.minute, minute_now, rss) {
                    self.store.send(minute_write(&a.spec.name, *index, m));
                }
                if a.policy.memory.is_some() {
                    let run = inst.life.run();
                    guarded.push((a.spec.name.clone(), *index, run, rss));
                }
            }
        }
        for (app, index, run, rss_bytes) in guarded {
            let status = |s: &Supervisor| {
                s.app(&app)
                    .and_then(|a| a.insts.get(&index))
                    .map(|i| i.life.status())
            };
            let before = status(self);
            self.dispatch(&app, index, Event::Sample { run, rss_bytes });
            let limit = self.app(&app).and_then(|a| a.policy.memory);
            if before == Some(Status::Online)
                && status(self) == Some(Status::Stopping)
                && let Some(limit) = limit.map(|l| l.limit_bytes)
            {
                tracing::warn!(
                    app = %app,
                    index,
                    rss = rss_bytes,
                    limit,
                    "memory over max_memory_restart: restarting"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_apps_with_a_memory_limit_are_sampled_on_their_interval() {
        let mut spec = AppSpec::with_defaults("a", "sleep", "/tmp".into());
        // No limit: the next whole minute, the same for every such app.
        assert_eq!(next_due(&spec, 1000, 0), 60_000);
        assert_eq!(next_due(&spec, 1000, 59_999), 60_000);
        assert_eq!(next_due(&spec, 1000, 60_000), 120_000);
        spec.max_memory_restart = Some(100 << 20);
        assert_eq!(next_due(&spec, 1000, 5_000), 6_000);
        spec.memory_check_interval_ms = Some(250);
        assert_eq!(next_due(&spec, 1000, 5_000), 5_250);
    }
}
