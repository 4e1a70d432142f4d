//! Owns process-tree sampling from `/proc`: for each supervised main process, the RSS and CPU
//! time summed over it and all its descendants (an app's workers count, unlike PM2).
//!
//! Per process it reads `/proc/PID/stat` (state, threads, CPU time, RSS in one read) and the
//! children list of each of its threads (`/proc/PID/task/TID/children`), so the cost is about
//! two small reads per supervised process, with no scan of every process on the host.
//!
//! It also owns [`CpuMeter`], which turns the summed CPU ticks into percentages.

use super::stat::{self, BUF_LEN, Stat, StatFile};
use std::collections::HashMap;

/// Waiting for a member to exit; kept here, where the daemon has always found it.
pub use super::pidfd::exited;

/// One tree at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSample {
    pub root: i32,
    /// The root's start time, in clock ticks since boot.
    pub start_ticks: u64,
    pub rss_bytes: u64,
    /// utime + stime of every live process of the tree, in clock ticks.
    pub cpu_ticks: u64,
    pub processes: u32,
    /// Every live descendant (not the root): (pid, start time in ticks, process group).
    pub members: Vec<Member>,
}

/// A process of a tree, identified for good by its pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    pub start_ticks: u64,
    pub pgrp: i32,
}

impl Member {
    /// Whether this very process (not a later one with the same pid) is still alive.
    pub fn alive(&self) -> bool {
        stat::read(self.pid).is_some_and(|s| s.start_ticks == self.start_ticks && s.alive())
    }

    /// Waits until this very process has exited (see [`super::pidfd::exited_since`]).
    pub async fn exited(&self) -> bool {
        super::pidfd::exited_since(self.pid, self.start_ticks).await
    }
}

fn children(pid: i32, threads: u32, out: &mut Vec<i32>) {
    let mut read = |tid: &str| {
        if let Ok(list) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    };
    if threads <= 1 {
        read(&pid.to_string());
        return;
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Some(tid) = t.file_name().to_str() {
                read(tid);
            }
        }
    }
}

/// Samples the tree under each root. A root that no longer exists gives no sample. (The
/// one-shot form of [`TreeSampler`], for a single tree walked on demand.)
pub fn sample(roots: &[i32]) -> Vec<TreeSample> {
    let mut s = TreeSampler::default();
    s.sample(roots, true)
}

/// What the sampler keeps about one main process between rounds.
#[derive(Debug)]
struct Root {
    /// `/proc/PID/stat`, kept open for a root sampled often: re-reading at offset 0 costs one
    /// syscall instead of three.
    stat: Option<StatFile>,
    start_ticks: u64,
    /// It had children at the last look.
    had_children: bool,
}

/// Samples trees round after round, cheaply: the main processes' stat files stay open, and the
/// children of a main process that had none are looked for again only every few rounds
/// (a fresh look is always taken for a `full` round, e.g. before a stop).
#[derive(Debug, Default)]
pub struct TreeSampler {
    roots: std::collections::HashMap<i32, Root>,
    round: u64,
    /// The roots whose stat file stays open between rounds (`None`: every root). Every open
    /// file of the daemon is copied into each process it starts, so a root sampled once a
    /// minute is better read afresh.
    kept: Option<std::collections::HashSet<i32>>,
}

/// A main process without children is looked at again for new ones every this many rounds.
const CHILD_RECHECK_ROUNDS: u64 = 5;

impl TreeSampler {
    pub fn sample(&mut self, roots: &[i32], full: bool) -> Vec<TreeSample> {
        self.round += 1;
        let recheck = full || self.round % CHILD_RECHECK_ROUNDS == 0;
        let page = stat::page_size();
        let mut out = Vec::with_capacity(roots.len());
        let mut buf = [0u8; BUF_LEN];
        let mut stack: Vec<(i32, Stat)> = Vec::new();
        for &root in roots {
            let keep = self.kept.as_ref().is_none_or(|k| k.contains(&root));
            let rs = match self.roots.get(&root) {
                Some(r) if r.stat.is_some() == keep => {
                    let read = match &r.stat {
                        Some(f) => f.read(&mut buf),
                        None => stat::read(root),
                    };
                    read.filter(|s| s.start_ticks == r.start_ticks)
                }
                _ => None,
            };
            let rs = match rs {
                Some(s) => s,
                None => {
                    self.roots.remove(&root);
                    let Ok(f) = StatFile::open(root) else {
                        continue;
                    };
                    let Some(s) = f.read(&mut buf) else {
                        continue;
                    };
                    self.roots.insert(
                        root,
                        Root {
                            stat: keep.then_some(f),
                            start_ticks: s.start_ticks,
                            had_children: true,
                        },
                    );
                    s
                }
            };
            let look = recheck || self.roots.get(&root).is_some_and(|r| r.had_children);
            let mut s = TreeSample {
                root,
                start_ticks: rs.start_ticks,
                rss_bytes: 0,
                cpu_ticks: 0,
                processes: 0,
                members: Vec::new(),
            };
            stack.clear();
            stack.push((root, rs));
            // A tree deeper or wider than this is an attack or a bug; stop counting there.
            let mut budget = 100_000;
            while let Some((pid, st)) = stack.pop() {
                if st.alive() {
                    s.rss_bytes += st.rss_pages * page;
                    s.cpu_ticks += st.cpu_ticks;
                    s.processes += 1;
                    if pid != root {
                        s.members.push(Member {
                            pid,
                            start_ticks: st.start_ticks,
                            pgrp: st.pgrp,
                        });
                    }
                }
                if pid == root && !look {
                    continue;
                }
                let mut kids = Vec::new();
                children(pid, st.threads, &mut kids);
                for k in kids {
                    budget -= 1;
                    if budget == 0 {
                        break;
                    }
                    if let Some(ks) = stat::read(k) {
                        stack.push((k, ks));
                    }
                }
            }
            if look && let Some(r) = self.roots.get_mut(&root) {
                r.had_children = s.processes > 1;
            }
            out.push(s);
        }
        out
    }

    /// Only the roots in `kept` keep their stat file open from now on.
    pub fn keep_open(&mut self, kept: std::collections::HashSet<i32>) {
        self.kept = Some(kept);
    }

    /// Closes what is kept for main processes that are not in `live` any more.
    pub fn forget_except(&mut self, live: &std::collections::HashSet<i32>) {
        self.roots.retain(|pid, _| live.contains(pid));
    }
}

/// `pid` as a tree member (with its start time and group), if it is alive.
pub fn member_of(pid: i32) -> Option<Member> {
    let st = stat::read(pid)?;
    st.alive().then_some(Member {
        pid,
        start_ticks: st.start_ticks,
        pgrp: st.pgrp,
    })
}

/// A CPU percentage is measured over at least this long: a reading closer than this to the
/// previous one gives no new figure (the shown one stays), so a sample taken right after
/// another cannot show a 10 ms window's 0 % or 100 %.
pub const MIN_CPU_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Turns CPU-tick readings into percentages of one core: over the time since the previous
/// reading (at least [`MIN_CPU_WINDOW`]), or, on the first reading of a process, since it
/// started.
#[derive(Debug, Default)]
pub struct CpuMeter {
    last: HashMap<i32, (u64, std::time::Instant)>,
}

impl CpuMeter {
    /// The CPU use of the tree of `root` (started at `start_ticks` since boot) that used
    /// `ticks` in all: since the previous reading, since its start on the first, or `None`
    /// when the previous reading is less than [`MIN_CPU_WINDOW`] old.
    pub fn percent(
        &mut self,
        root: i32,
        ticks: u64,
        start_ticks: u64,
        now: std::time::Instant,
    ) -> Option<f32> {
        let tps = stat::ticks_per_second() as f64;
        let Some(&(t0, at0)) = self.last.get(&root) else {
            let lived = stat::boot_ticks()?.saturating_sub(start_ticks);
            // A process younger than a tick has no figure yet, and its next sample is measured
            // from its start again (not from this reading, which would wait MIN_CPU_WINDOW).
            if lived == 0 {
                return None;
            }
            // Nor is a reading of a process younger than MIN_CPU_WINDOW kept as the base of
            // the next: a busy process read while it was still starting (a few ms, no tick
            // used yet) would show 0 % until a whole window after that reading. Its next
            // figure is measured from its start again.
            if lived >= (MIN_CPU_WINDOW.as_secs_f64() * tps) as u64 {
                self.last.insert(root, (ticks, now));
            }
            return Some((ticks as f64 / lived as f64 * 100.0) as f32);
        };
        let span = now.saturating_duration_since(at0);
        if span < MIN_CPU_WINDOW {
            return None;
        }
        self.last.insert(root, (ticks, now));
        let used = ticks.saturating_sub(t0) as f64 / tps;
        Some((used / span.as_secs_f64() * 100.0) as f32)
    }

    /// Forgets roots that are no longer alive.
    pub fn retain(&mut self, live: &std::collections::HashSet<i32>) {
        self.last.retain(|pid, _| live.contains(pid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_real_tree_including_grandchildren() {
        // sh → (sleep, sleep): the tree has three live processes.
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let root = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut got = None;
        while std::time::Instant::now() < deadline {
            let s = sample(&[root]);
            if s.first().is_some_and(|s| s.processes == 3) {
                got = s.first().cloned();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(root),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.kill();
        let _ = child.wait();
        let s = got.expect("the tree of three was seen");
        assert!(s.rss_bytes > 0);
        assert_eq!(s.members.len(), 2);
        assert!(s.members.iter().all(|m| m.pgrp == root));
        assert!(sample(&[i32::MAX]).is_empty());
    }

    #[test]
    fn the_round_sampler_keeps_files_open_and_rechecks_children() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 1; sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let root = child.id() as i32;
        let mut s = TreeSampler::default();
        let first = s.sample(&[root], false);
        assert_eq!(first.len(), 1);
        assert_eq!(s.roots.len(), 1);
        // The child appears later; rounds find it within CHILD_RECHECK_ROUNDS.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = false;
        while std::time::Instant::now() < deadline && !seen {
            seen = s
                .sample(&[root], false)
                .first()
                .is_some_and(|t| t.processes == 2);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(root),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
        assert!(seen, "the child was found");
        // A dead main process gives no sample and its file is closed.
        assert!(s.sample(&[root], false).is_empty());
        assert!(s.roots.is_empty());
        s.forget_except(&std::collections::HashSet::new());
    }

    #[test]
    fn roots_not_kept_are_read_afresh_without_an_open_file() {
        let me = std::process::id() as i32;
        let mut s = TreeSampler::default();
        s.keep_open(std::collections::HashSet::new());
        for _ in 0..2 {
            let t = s.sample(&[me], false);
            assert_eq!(t.len(), 1);
            assert!(t[0].rss_bytes > 0);
        }
        assert!(s.roots[&me].stat.is_none());
        s.keep_open([me].into());
        assert_eq!(s.sample(&[me], false).len(), 1);
        assert!(s.roots[&me].stat.is_some());
    }

    #[test]
    fn cpu_meter_measures_since_start_then_over_windows_of_a_second_or_more() {
        let mut m = CpuMeter::default();
        let t0 = std::time::Instant::now();
        let tps = stat::ticks_per_second();
        let boot = stat::boot_ticks().expect("the boot clock");
        // First reading: a process that started 4 s ago and used 1 s of CPU: 25 %.
        let p = m
            .percent(1, tps, boot - 4 * tps, t0)
            .expect("a figure since start");
        assert!((p - 25.0).abs() < 3.0, "{p}");
        // Too soon after it: no new figure.
        let soon = t0 + std::time::Duration::from_millis(300);
        assert_eq!(m.percent(1, 2 * tps, boot - 4 * tps, soon), None);
        // Two seconds after the first reading, one more second of CPU: 50 %.
        let t1 = t0 + std::time::Duration::from_secs(2);
        let p = m.percent(1, 2 * tps, boot - 4 * tps, t1).unwrap();
        assert!((p - 50.0).abs() < 0.01, "{p}");
        // A forgotten root starts over from its start.
        m.retain(&std::collections::HashSet::new());
        assert!(m.last.is_empty());
    }

    #[test]
    fn a_process_read_while_starting_is_measured_from_its_start_again() {
        let mut m = CpuMeter::default();
        let t0 = std::time::Instant::now();
        let tps = stat::ticks_per_second();
        let boot = stat::boot_ticks().expect("the boot clock");
        // Read 5 ticks after its start, before it used a tick: 0 %.
        assert_eq!(m.percent(1, 0, boot - 5, t0), Some(0.0));
        // Read again soon after, having used every tick since: a figure from its start, not
        // the 0 % kept until a window after the first reading.
        let soon = t0 + std::time::Duration::from_millis(300);
        let p = m
            .percent(1, 5, boot - 5, soon)
            .expect("a figure since start");
        assert!(p > 0.0, "{p}");
        // Once it has lived a window, its reading is the base of the next.
        assert!(m.percent(1, tps, boot - 2 * tps, soon).is_some());
        assert_eq!(m.percent(1, tps, boot - 2 * tps, soon), None);
    }
}
