//! Owns the supervisor's deadlines: one ordered queue (never a polling loop), firing restart
//! delays, kill timeouts, `cron_restart` and the `watch` quiet period, and the arming of cron
//! and watch whenever an app runs with a new spec; and when the daemon gives back its idle
//! memory ([`TrimClock`]).

use super::{Internal, Supervisor};
use crate::daemon::lifecycle::{Event, TimerKind};
use crate::daemon::triggers;
use crate::logs;
use crate::record::Cause;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The daemon gives back what it holds but does not use at rest (code paged in by start-up or
/// a burst of work, freed heap) once it has been quiet this long.
const TRIM_QUIET_MS: u64 = 1000;
/// A daemon that is never quiet that long (a crash loop, a log flood, a soak) still gives its
/// idle memory back this often: without it, the code of every rarer path it ran stays
/// resident, and its RSS creeps up for as long as new paths run.
const TRIM_BUSY_MS: u64 = 60_000;

/// When the daemon gives back its idle memory (supervisor clock): [`TRIM_QUIET_MS`] after the
/// last work, or [`TRIM_BUSY_MS`] after the last time, whichever comes first.
#[derive(Debug, Default)]
pub struct TrimClock {
    at: Option<u64>,
    last: u64,
}

impl TrimClock {
    /// The daemon did some work at `now`.
    pub fn busy(&mut self, now: u64) {
        self.at = Some((now + TRIM_QUIET_MS).min(self.last + TRIM_BUSY_MS));
    }

    /// When to give the memory back, if the daemon worked since it last did.
    pub fn due_at(&self) -> Option<u64> {
        self.at
    }

    /// The memory is being given back at `now`.
    pub fn fired(&mut self, now: u64) {
        self.at = None;
        self.last = now;
    }
}

/// A deadline the supervisor keeps. App-level ones carry a generation or sequence number, so a
/// deadline armed before the app changed (or was deleted) is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    Instance {
        app: String,
        index: u32,
        run: u64,
        kind: TimerKind,
    },
    Cron {
        app: String,
        generation: u64,
    },
    Watch {
        app: String,
        seq: u64,
    },
}

/// Deadlines in the order they fall due; equal deadlines fire in the order they were armed.
#[derive(Debug, Default)]
pub struct TimerQueue {
    due: BTreeMap<(u64, u64), Timer>,
    seq: u64,
}

impl TimerQueue {
    pub fn add(&mut self, at_ms: u64, timer: Timer) {
        self.seq += 1;
        self.due.insert((at_ms, self.seq), timer);
    }

    /// When the earliest deadline falls due.
    pub fn next_at(&self) -> Option<u64> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// Takes the earliest deadline if it is due at `now_ms`.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Timer> {
        let entry = self.due.first_entry()?;
        if entry.key().0 > now_ms {
            return None;
        }
        Some(entry.remove())
    }
}

impl Supervisor {
    pub(super) fn fire_timers(&mut self) {
        let now = self.now_ms();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Instance {
                    app,
                    index,
                    run,
                    kind,
                } => {
                    self.dispatch(&app, index, kind.event(run));
                }
                Timer::Cron { app, generation } => {
                    if self.app(&app).is_some_and(|a| a.generation == generation) {
                        tracing::info!(app = %app, "cron_restart fired");
                        self.restart_running(&app, Cause::Cron);
                        self.arm_cron(&app);
                    }
                }
                Timer::Watch { app, seq } => {
                    if self.app(&app).is_some_and(|a| a.watch_seq == seq) {
                        tracing::info!(app = %app, "watched files changed: restarting");
                        self.restart_running(&app, Cause::Watch);
                    }
                }
            }
        }
    }

    /// A watched file of `app` changed: each change pushes the restart back by `watch_delay`.
    pub(super) fn watch_changed(&mut self, app: String, generation: u64) {
        let now = self.now_ms();
        let Some(a) = self.app_mut(&app) else { return };
        if a.generation != generation {
            return;
        }
        a.watch_seq += 1;
        let (seq, delay) = (a.watch_seq, a.spec.watch_delay_ms.max(100));
        self.timers.add(now + delay, Timer::Watch { app, seq });
    }

    /// Restarts the instances of `app` that have a process (a stopped app stays stopped).
    fn restart_running(&mut self, app: &str, cause: Cause) {
        let running: Vec<u32> = self.app(app).map_or_else(Vec::new, |a| {
            a.insts
                .iter()
                .filter(|(_, i)| i.life.status().has_process())
                .map(|(k, _)| *k)
                .collect()
        });
        for i in running {
            self.dispatch(app, i, Event::Restart(cause));
        }
    }

    /// Every trigger the spec of `app` declares is armed afresh (new generation): after a
    /// `start FILE`, and whenever a daemon restores the app.
    pub(super) fn arm_triggers(&mut self, app: &str) {
        if let Some(a) = self.app_mut(app) {
            a.generation += 1;
        }
        self.arm_cron(app);
        self.arm_watch(app);
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
                let app = app.to_string();
                self.timers.add(at, Timer::Cron { app, generation });
            }
            None => tracing::warn!(app, pattern, "cron_restart has no next match"),
        }
    }

    /// (Re)starts the file watcher of `app`.
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
            Err(e) => {
                let paths: Vec<String> =
                    spec.watch.iter().map(|p| p.display().to_string()).collect();
                tracing::error!(app, "cannot watch {}: {e}", paths.join(", "));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_given_back_after_a_quiet_second_or_each_minute_of_constant_work() {
        let mut t = TrimClock::default();
        assert_eq!(t.due_at(), None);
        t.busy(100);
        assert_eq!(t.due_at(), Some(1100));
        t.busy(900);
        assert_eq!(t.due_at(), Some(1900));
        t.fired(1900);
        assert_eq!(t.due_at(), None);
        // Never quiet for a second: the deadline stops moving a minute after the last time.
        for now in (2000..70_000).step_by(500) {
            t.busy(now);
        }
        assert_eq!(t.due_at(), Some(1900 + TRIM_BUSY_MS));
        t.fired(61_900);
        t.busy(62_000);
        assert_eq!(t.due_at(), Some(63_000));
    }

    fn cron(app: &str) -> Timer {
        Timer::Cron {
            app: app.to_string(),
            generation: 1,
        }
    }

    #[test]
    fn deadlines_fire_in_order_and_only_when_due() {
        let mut q = TimerQueue::default();
        assert_eq!(q.next_at(), None);
        q.add(300, cron("c"));
        q.add(100, cron("a"));
        q.add(100, cron("b"));
        assert_eq!(q.next_at(), Some(100));
        assert_eq!(q.pop_due(99), None);
        assert_eq!(q.pop_due(100), Some(cron("a")), "armed first, fires first");
        assert_eq!(q.pop_due(100), Some(cron("b")));
        assert_eq!(q.pop_due(299), None);
        assert_eq!(q.next_at(), Some(300));
        assert_eq!(q.pop_due(1000), Some(cron("c")));
        assert_eq!(q.pop_due(1000), None);
    }
}
