//! Owns sampling: when each app's process trees are measured (each app on its own deadline),
//! the round itself on the blocking pool, and what a round feeds: the CPU and memory `list`
//! shows, the per-minute memory history, and the memory guard of the state machine.

use super::app::Minute;
use super::{Internal, Supervisor};
use crate::config::AppSpec;
use crate::daemon::lifecycle::Event;
use crate::proc::tree;
use crate::record::Status;
use crate::store::Write;
use std::collections::HashMap;

/// How often CPU and memory of an app without a memory limit are sampled, for `list`.
const DISPLAY_SAMPLE_MS: u64 = 5000;
/// How often an app with `max_memory_restart` is sampled unless it says otherwise.
pub const DEFAULT_MEMORY_CHECK_MS: u64 = 1000;

/// When an app is sampled: its own `memory_check_interval`, else the daemon's default when it
/// has a memory limit, else rarely (only `list` needs it).
fn sample_interval(spec: &AppSpec, memory_check_ms: u64) -> u64 {
    spec.memory_check_interval_ms
        .unwrap_or(if spec.max_memory_restart.is_some() {
            memory_check_ms
        } else {
            DISPLAY_SAMPLE_MS.max(memory_check_ms)
        })
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

impl Supervisor {
    /// The earliest moment an app with a running process is due for a sample.
    pub(super) fn next_sample_due(&self) -> Option<u64> {
        self.apps
            .iter()
            .filter(|a| a.insts.values().any(|i| i.life.main_alive()))
            .map(|a| a.next_sample_ms)
            .min()
    }

    pub(super) fn start_sample(&mut self) {
        if self.sampling {
            return;
        }
        let now = self.now_ms();
        let memory_check_ms = self.defaults.memory_check_ms;
        let mut pids = Vec::new();
        for a in &mut self.apps {
            if a.next_sample_ms > now {
                continue;
            }
            let before = pids.len();
            pids.extend(
                a.insts
                    .values()
                    .filter(|i| i.life.main_alive())
                    .filter_map(|i| i.run.pid),
            );
            if pids.len() > before {
                a.next_sample_ms = now + sample_interval(&a.spec, memory_check_ms);
            }
        }
        if pids.is_empty() {
            return;
        }
        self.sampling = true;
        let live = self.live_pids();
        let sampler = self.sampler.clone();
        let tx = self.internal_tx.clone();
        let round = move || {
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
        };
        // A thread of its own, not the blocking pool: under load the pool queues sweeps, log
        // tails and pid files, and a round waiting behind them lets a memory grower run on.
        let own = std::thread::Builder::new()
            .name("svctl-sample".into())
            .spawn(round);
        if let Err(e) = own {
            tracing::warn!("cannot start a sampling thread: {e}; the round is skipped");
            self.sampling = false;
        }
    }

    /// Applies a round of samples: what `list` shows, the memory history, and the memory guard.
    pub(super) fn apply_samples(&mut self, samples: Vec<(tree::TreeSample, Option<f32>)>) {
        let by_pid: HashMap<i32, (tree::TreeSample, Option<f32>)> =
            samples.into_iter().map(|s| (s.0.root, s)).collect();
        let minute_now = crate::store::now_ms() / 60_000 * 60_000;
        let mut guarded = Vec::new();
        for a in &mut self.apps {
            for (index, inst) in &mut a.insts {
                let Some((s, cpu)) = inst.run.pid.and_then(|p| by_pid.get(&p)) else {
                    continue;
                };
                let r = &mut inst.run;
                r.cpu = cpu.or(r.cpu);
                r.rss = Some(s.rss_bytes);
                r.members = s.members.clone();
                r.processes = Some(s.processes);
                r.rss_peak = r.rss_peak.max(Some(s.rss_bytes));
                if let Some(m) = Minute::add(&mut r.minute, minute_now, s.rss_bytes) {
                    self.store.send(minute_write(&a.spec.name, *index, m));
                }
                if a.policy.memory.is_some() {
                    let run = inst.life.run();
                    guarded.push((a.spec.name.clone(), *index, run, s.rss_bytes));
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
