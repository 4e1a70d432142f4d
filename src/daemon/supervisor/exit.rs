//! Owns the end of a run: handing the exit to the state machine, sweeping what the run left
//! (its process group, descendants that escaped it, orphans carrying its mark) off the actor,
//! writing the exit row, and forgetting deleted instances.

use super::app::last_exit_of;
use super::spawner::signal_escaped;
use super::{Internal, Supervisor};
use crate::daemon::lifecycle::{Event, ExitFacts, ExitSummary};
use crate::proc::{self, tree};
use crate::record::Cause;
use crate::store::Write;
use crate::store::model::ExitRecord;
use nix::sys::signal::Signal;
use std::collections::HashSet;
use std::time::Duration;

impl Supervisor {
    /// The main process of a run ended: the state machine names the exit and decides whether
    /// its leftovers must be swept first.
    pub(super) fn main_exited(
        &mut self,
        app: &str,
        index: u32,
        run: u64,
        exit: ExitFacts,
        ended_wall_ms: i64,
    ) {
        if let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run)) {
            facts.exit = Some(exit);
            facts.ended_wall_ms = Some(ended_wall_ms);
        }
        // With treekill, the sweep's end reaps what was adopted; without, nothing follows.
        if self.app(app).is_some_and(|a| !a.spec.treekill) {
            self.reap_adopted();
        }
        self.dispatch(app, index, Event::Exited { run, exit });
    }

    /// Carries out a `SweepLeftovers` effect on the blocking pool; `LeftoversGone` comes back.
    pub(super) fn sweep(&mut self, app: &str, index: u32, run: u64, grace: bool) {
        let Some(a) = self.app(app) else { return };
        let graceful = a.spec.stop_signal();
        let kill_timeout = Duration::from_millis(a.spec.kill_timeout_ms);
        let Some(facts) = self.inst_mut(app, index).and_then(|i| i.facts(run)) else {
            return;
        };
        let pid = facts.pid.unwrap_or(0);
        let group = facts.cgroup.clone();
        let members = facts.members.clone();
        let mark = proc::run_id(app, index, run);
        let tx = self.internal_tx.clone();
        // The daemon's other children are mostly other instances' main processes: they are
        // never this run's orphans, and skipping them spares a crash storm reading the
        // environment of every process the daemon started, for every exit.
        let mains = self.live_pids();
        let app = app.to_string();
        tokio::spawn(async move {
            if let Some(group) = group {
                let swept = sweep_cgroup(
                    group,
                    &app,
                    index,
                    grace.then_some((graceful, kill_timeout)),
                );
                match swept.await {
                    Ok(killed) => {
                        let _ = tx.send(Internal::LeftoversGone {
                            app,
                            index,
                            run,
                            killed,
                        });
                        return;
                    }
                    // The process-group sweep below still finds what the run left.
                    Err(e) => {
                        let _ = tx.send(Internal::CgroupFailed {
                            app: app.clone(),
                            index,
                            run,
                            error: e.to_string(),
                        });
                    }
                }
            }
            let found =
                tokio::task::spawn_blocking(move || find_leftovers(pid, members, &mark, &mains))
                    .await;
            let (leftovers, group) = found.unwrap_or_default();
            let killed = if leftovers.is_empty() && !group {
                0
            } else {
                let count = (leftovers.len() as u32).max(u32::from(group));
                if grace {
                    // A crash: what the main process left (workers holding its ports…) gets the
                    // kill_signal, then SIGKILL after kill_timeout, before the next start.
                    tracing::info!(app = %app, index, count, "stopping what the main process left");
                    let _ = proc::signal_group(pid, graceful);
                    signal_escaped(pid, &leftovers, graceful);
                    let all_gone = async {
                        for m in &leftovers {
                            if !m.exited().await {
                                // No pidfd: let the deadline decide.
                                std::future::pending::<()>().await;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(kill_timeout, all_gone).await;
                }
                // A stop sent the stop signal to all of them already: no second grace.
                let _ = proc::signal_group(pid, Signal::SIGKILL);
                for m in leftovers.iter().filter(|m| m.alive()) {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(m.pid), Signal::SIGKILL);
                }
                count
            };
            let _ = tx.send(Internal::LeftoversGone {
                app,
                index,
                run,
                killed,
            });
        });
    }

    /// Carries out a `RecordExit` effect: the exit row, with what the run's facts add to it.
    pub(super) fn record_exit(&mut self, app: &str, index: u32, s: ExitSummary) {
        let watchdog = self
            .app(app)
            .and_then(|a| a.spec.watchdog_ms)
            .filter(|_| s.watchdog_missed);
        let Some(inst) = self.inst_mut(app, index) else {
            return;
        };
        let probe_error = match (s.cause, watchdog) {
            (Cause::Unhealthy, Some(ms)) => Some(format!("no WATCHDOG=1 within {ms} ms")),
            (Cause::NotReady | Cause::Unhealthy, _) => inst.last_probe_error.clone(),
            _ => None,
        };
        let Some(facts) = inst.facts(s.run) else {
            return;
        };
        // The main process's end when it is known (a stop's sweep of leftovers comes after it);
        // never before the start.
        let started = facts.started_wall_ms;
        let ended = facts
            .ended_wall_ms
            .take()
            .unwrap_or_else(crate::store::now_ms)
            .max(started.unwrap_or(i64::MIN));
        let minute = facts.minute.take();
        if let Some(g) = facts.cgroup.take() {
            super::spawn::release_group(g);
        }
        let exit = facts.exit.take();
        let breach = s.breach;
        let stderr_tail = facts.tail.lock().ok().and_then(|t| t.text());
        let record = ExitRecord {
            app: app.to_string(),
            instance: index,
            run: s.run,
            pid: facts.pid,
            started_at_ms: facts.started_wall_ms.unwrap_or(ended),
            ended_at_ms: ended,
            cause: s.cause,
            exit_code: exit.and_then(|e| e.code),
            signal: exit.and_then(|e| e.signal).map(proc::signal_name),
            core_dumped: exit.is_some_and(|e| e.core_dumped),
            unstable: s.unstable,
            sigkill_needed: s.sigkill_needed,
            next_delay_ms: s.next_delay_ms,
            error: facts.spawn_error.clone().or(probe_error),
            rss_last_bytes: breach.map(|b| b.rss_bytes).or(facts.rss),
            rss_peak_bytes: facts.rss_peak,
            memory_limit_bytes: breach.map(|b| b.limit_bytes),
            oom_confidence: s.oom_confidence.map(|c| c.as_str().to_string()),
            leftovers_killed: s.leftovers_killed,
            stderr_tail: stderr_tail.clone(),
            end_approx: exit.is_some_and(|e| e.unseen_ms > 0),
        };
        inst.end_run(s.run, last_exit_of(&record), stderr_tail);
        tracing::info!(
            app,
            index,
            run = s.run,
            cause = %s.cause,
            code = ?record.exit_code,
            signal = ?record.signal,
            "run ended"
        );
        if let (Some(pid), Some(a)) = (record.pid, self.app(app)) {
            proc::pidfile::removed(&a.spec, index, pid);
        }
        if let Some(m) = minute {
            self.store.send(super::sample::minute_write(app, index, m));
        }
        self.count_exit(app, index, s.cause, s.next_delay_ms.is_some());
        let mut ev = self.event_of(app, index, crate::ipc::EventKind::Exit);
        ev.run = s.run;
        ev.pid = record.pid;
        ev.cause = Some(s.cause);
        ev.exit_code = record.exit_code;
        ev.signal = record.signal.clone();
        ev.message = record.error.clone();
        ev.stderr_tail = record.stderr_tail.clone();
        self.publish(ev);
        self.store.send(Write::Exit(record));
    }

    /// Carries out a `Forget` effect; an app being deleted goes once its last instance has.
    pub(super) fn forget(&mut self, app: &str, index: u32) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        a.insts.remove(&index);
        if a.insts.is_empty() && a.desired.deleting() {
            self.apps.remove(app);
            self.resources.release(app);
            self.store.send(Write::DeleteApp {
                name: app.to_string(),
            });
        }
    }

    /// Reaps orphans the daemon adopted (as subreaper) that have exited. This stays on the
    /// actor (a read of `/proc/self/task/*/children` and of the zombies' stat): it must see a
    /// set of main processes that no spawn changes meanwhile, or it could reap a new child
    /// before tokio does. Skipped while a fork is under way: the reap stays owed, and the
    /// next turn of the actor (the spawn's end is one) tries again.
    pub(super) fn reap_adopted(&mut self) {
        let live = self.live_pids();
        let mut reaped = false;
        super::spawner::unless_forking(|in_flight| {
            let ours: HashSet<i32> = live.union(in_flight).copied().collect();
            proc::reap_adopted(&ours);
            reaped = true;
        });
        self.reap_owed = !reaped;
    }

    /// The main processes the daemon supervises now (tokio waits for each of them).
    pub(super) fn live_pids(&self) -> HashSet<i32> {
        self.apps
            .iter()
            .flat_map(|a| a.insts.values())
            .flat_map(|i| [i.run.pid, i.next.as_ref().and_then(|n| n.pid)])
            .flatten()
            .collect()
    }
}

/// What a run whose main process `pid` ended left: descendants seen at the last sample that are
/// still the same processes, orphans re-parented to the daemon that carry the run's mark (and
/// their trees), and whether its process group still has members.
fn find_leftovers(
    pid: i32,
    members: Vec<tree::Member>,
    mark: &str,
    mains: &HashSet<i32>,
) -> (Vec<tree::Member>, bool) {
    let mut leftovers: Vec<tree::Member> = members.into_iter().filter(|m| m.alive()).collect();
    let orphans: Vec<i32> = proc::own_children()
        .into_iter()
        .filter(|p| !mains.contains(p))
        .filter(|p| *p != pid && proc::run_id_of(*p).as_deref() == Some(mark))
        .collect();
    for t in tree::sample(&orphans) {
        if let Some(m) = tree::member_of(t.root) {
            leftovers.push(m);
        }
        leftovers.extend(t.members);
    }
    leftovers.sort_by_key(|m| m.pid);
    leftovers.dedup_by_key(|m| m.pid);
    (leftovers, proc::group_alive(pid))
}

/// A cgroup-mode sweep: every process still in the run's cgroup is what it left. A crash gives
/// them `grace` (the stop signal, then up to `kill_timeout`); then the cgroup is killed whole
/// and waited for until empty. Returns how many were left, or the cgroup's failure.
async fn sweep_cgroup(
    group: std::sync::Arc<crate::proc::cgroup::Group>,
    app: &str,
    index: u32,
    grace: Option<(Signal, Duration)>,
) -> Result<u32, crate::proc::cgroup::CgroupError> {
    let pids = {
        let g = group.clone();
        move || g.pids()
    };
    let listed = tokio::task::spawn_blocking(pids.clone())
        .await
        .unwrap_or_else(|_| Ok(Vec::new()))?;
    if listed.is_empty() {
        return Ok(0);
    }
    let count = listed.len() as u32;
    if let Some((sig, kill_timeout)) = grace {
        tracing::info!(app, index, count, "stopping what the main process left");
        let g = group.clone();
        let _ = tokio::task::spawn_blocking(move || g.signal(sig)).await;
        let _ = tokio::time::timeout(kill_timeout, until_empty(pids.clone())).await;
    }
    let g = group.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || g.kill()).await {
        return Err(e);
    }
    // SIGKILLed processes leave the cgroup as they exit: a moment, bounded.
    let _ = tokio::time::timeout(Duration::from_secs(2), until_empty(pids)).await;
    Ok(count)
}

/// Resolves once the cgroup lists no process (or cannot be read any more). cgroup v1 has no
/// notification of emptiness a daemon can wait on without a release agent, so it is polled;
/// the callers bound the wait.
async fn until_empty<F>(pids: F)
where
    F: Fn() -> Result<Vec<i32>, crate::proc::cgroup::CgroupError> + Clone + Send + 'static,
{
    loop {
        let f = pids.clone();
        match tokio::task::spawn_blocking(f).await {
            Ok(Ok(p)) if !p.is_empty() => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
