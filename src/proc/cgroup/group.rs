//! Owns one run's cgroup: its limits, joining it, reading its counters (memory, CPU, OOM
//! kills, processes), signalling and killing everything in it, and removing it.

use super::{CgroupError, Controller, Limits, Version, field, io_at, write};
use nix::sys::signal::Signal;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A reading whose charge did not move is reused for the history at most this long: the charge
/// can stay put while the memory's makeup changes (file pages cached and charged before being
/// mapped), and this bounds how long the history can miss that.
pub const HISTORY_REREAD: Duration = Duration::from_secs(600);

/// A `memory.stat` reading stands for later ones only when the charge it was taken at had
/// already been seen this long before: the kernel folds small per-CPU changes into
/// `memory.stat` on its periodic flush (every 2 s), so a reading right after the memory moved
/// (a young cgroup's exec above all) can fall short of what the charge already counts.
const SETTLE: Duration = Duration::from_secs(3);

/// One run's cgroup.
#[derive(Debug)]
pub struct Group {
    version: Version,
    /// (controller, directory) for each hierarchy the run is in (one on v2).
    dirs: Vec<(Controller, PathBuf)>,
    /// The directory whose `cgroup.procs` lists the run's processes.
    procs: PathBuf,
    /// The daemon's own cgroup in each hierarchy of `dirs` (v1), where a spawn thread goes back
    /// to after [`Group::spawn_from_thread`]; empty when the run is joined by its child.
    home: Vec<PathBuf>,
    /// The memory the cgroup is charged for (v1 `memory.usage_in_bytes`, v2 `memory.current`),
    /// opened at the first memory reading and kept: a read of an open counter costs a tenth
    /// of a `memory.stat` (which the kernel composes from every statistic, hierarchically on
    /// v1), and an idle run's charge does not move.
    charge: OnceLock<std::fs::File>,
    /// `memory.stat`, kept open once read: a read of an open file skips the path's lookup,
    /// half of what reading it costs.
    stat: OnceLock<std::fs::File>,
    /// The charge as last read, and the last reading of `memory.stat` (see
    /// [`Group::memory_for_history`]).
    history: Mutex<History>,
}

#[derive(Debug, Default)]
struct History {
    /// The charge as last read, and when it was first read at that value.
    charge: Option<(u64, Instant)>,
    reading: Option<Reading>,
}

/// A `memory.stat` reading and the charge the cgroup had when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    charge: u64,
    memory: u64,
    at: Instant,
    /// The charge had been seen at least [`SETTLE`] before the reading: every change that led
    /// to it was in `memory.stat` already.
    settled: bool,
}

impl Reading {
    /// A reading of `memory` at `charge`, first seen at `since`, taken `at`.
    fn new(charge: u64, since: Instant, memory: u64, at: Instant) -> Reading {
        Reading {
            charge,
            memory,
            at,
            settled: at.saturating_duration_since(since) >= SETTLE,
        }
    }
}

/// The charge `charge` read `now`, with when it was first read at that value.
fn seen(previous: Option<(u64, Instant)>, charge: u64, now: Instant) -> (u64, Instant) {
    match previous {
        Some((c, since)) if c == charge => (c, since),
        _ => (charge, now),
    }
}

/// The history's figure at `charge` from the `previous` reading, when it still holds: taken at
/// the same charge, settled, not 0 (nothing resident is never a live run's figure), and younger
/// than [`HISTORY_REREAD`].
fn reusable(previous: Option<Reading>, charge: u64, now: Instant) -> Option<u64> {
    previous
        .filter(|r| r.charge == charge && r.settled && r.memory > 0)
        .filter(|r| now.saturating_duration_since(r.at) < HISTORY_REREAD)
        .map(|r| r.memory)
}

impl Group {
    pub(super) fn new(version: Version, dirs: Vec<(Controller, PathBuf)>, procs: PathBuf) -> Group {
        Group {
            version,
            dirs,
            procs,
            home: Vec::new(),
            charge: OnceLock::new(),
            stat: OnceLock::new(),
            history: Mutex::default(),
        }
    }

    /// The daemon's own cgroup in each of the run's hierarchies, in the order of `dirs`.
    pub(super) fn with_home(mut self, home: Vec<PathBuf>) -> Group {
        self.home = home;
        self
    }

    /// Whether a thread can join the run's cgroup alone ([`Group::spawn_from_thread`]): on v1.
    /// On v2 only a process joins a domain cgroup, and the child joins between fork and exec.
    pub fn joins_from_thread(&self) -> bool {
        self.version == Version::V1 && self.home.len() == self.dirs.len()
    }

    /// Runs `spawn` on the calling thread while that thread alone is in the run's cgroup (v1,
    /// see [`Group::joins_from_thread`]), so the process it starts is born inside it; the
    /// thread goes back to the daemon's cgroup before this returns.
    ///
    /// Why: a child that joins its cgroup itself needs a hook between fork and exec, and such a
    /// hook forces a real fork, which copies the page tables of the whole daemon (at 1,000
    /// apps, about half of each spawn's cost, and every page the daemon then writes faults and
    /// flushes the other threads' TLBs). A thread that joins first lets the spawn be a
    /// posix_spawn (vfork) instead, and moving one thread (`tasks`, "0") does not take the
    /// kernel's lock over every fork and exit on the host, which moving a process does.
    pub fn spawn_from_thread<T>(
        &self,
        spawn: impl FnOnce() -> io::Result<T>,
    ) -> Result<io::Result<T>, CgroupError> {
        let mut joined = 0;
        let mut outcome = Ok(());
        for (_, d) in &self.dirs {
            if let Err(e) = write(&d.join("tasks"), "0") {
                outcome = Err(e);
                break;
            }
            joined += 1;
        }
        let spawned = outcome.map(|()| spawn());
        for h in &self.home[..joined] {
            if let Err(e) = write(&h.join("tasks"), "0") {
                // The thread stays in the run's cgroup until its next spawn moves it: the run's
                // cgroup cannot be removed meanwhile, and the thread's CPU counts for the app.
                tracing::error!("a spawn thread could not go back to the daemon's cgroup: {e}");
            }
        }
        spawned
    }

    fn dir(&self, c: Controller) -> Option<&Path> {
        match self.version {
            Version::V2 => Some(&self.procs),
            Version::V1 => self
                .dirs
                .iter()
                .find(|(k, _)| *k == c)
                .map(|(_, d)| d.as_path()),
        }
    }

    /// Moves the moment the current charge was first seen `by` back.
    #[cfg(test)]
    pub(super) fn backdate(&self, by: Duration) {
        if let Some((_, since)) = &mut self.history().charge {
            *since -= by;
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.procs
    }

    /// The hierarchies the run is in, with its directory in each.
    #[cfg(test)]
    pub(super) fn dirs(&self) -> impl Iterator<Item = (Controller, &Path)> {
        self.dirs.iter().map(|(c, d)| (*c, d.as_path()))
    }

    pub(super) fn apply(&self, l: &Limits, have: &BTreeSet<Controller>) -> Result<(), CgroupError> {
        let set = |c: Controller, file: &str, value: String| -> Result<(), CgroupError> {
            match self.dir(c) {
                Some(d) if have.contains(&c) => write(&d.join(file), &value),
                _ => Ok(()),
            }
        };
        match self.version {
            Version::V2 => {
                if let Some(b) = l.memory_max {
                    set(Controller::Memory, "memory.max", b.to_string())?;
                    // A cap that swap can extend does not cap: the runaway would swap the
                    // host down instead of being killed.
                    if self.procs.join("memory.swap.max").exists() {
                        set(Controller::Memory, "memory.swap.max", "0".into())?;
                    }
                }
                if let Some(n) = l.pids_max {
                    set(Controller::Pids, "pids.max", n.to_string())?;
                }
                if let Some(w) = l.cpu_weight {
                    set(Controller::Cpu, "cpu.weight", w.to_string())?;
                }
                if let Some(p) = l.cpu_max_percent {
                    set(Controller::Cpu, "cpu.max", format!("{} 100000", p * 1000))?;
                }
            }
            Version::V1 => {
                if let Some(b) = l.memory_max {
                    set(Controller::Memory, "memory.limit_in_bytes", b.to_string())?;
                    if let Some(d) = self.dir(Controller::Memory)
                        && d.join("memory.memsw.limit_in_bytes").exists()
                    {
                        set(
                            Controller::Memory,
                            "memory.memsw.limit_in_bytes",
                            b.to_string(),
                        )?;
                    }
                }
                if let Some(n) = l.pids_max {
                    set(Controller::Pids, "pids.max", n.to_string())?;
                }
                if let Some(w) = l.cpu_weight {
                    // v2's weight 100 is v1's 1024 shares.
                    set(
                        Controller::Cpu,
                        "cpu.shares",
                        (w * 1024 / 100).max(2).to_string(),
                    )?;
                }
                if let Some(p) = l.cpu_max_percent {
                    set(Controller::Cpu, "cpu.cfs_period_us", "100000".into())?;
                    set(Controller::Cpu, "cpu.cfs_quota_us", (p * 1000).to_string())?;
                }
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes itself into ("0") to join the run's cgroup,
    /// opened now (as the daemon) so a child that drops its user can still write them.
    pub fn open_join(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        self.dirs
            .iter()
            .map(|(_, d)| {
                let p = d.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map(OwnedFd::from)
                    .map_err(io_at(&p))
            })
            .collect()
    }

    /// The processes in the cgroup now.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let p = self.procs.join("cgroup.procs");
        let text = std::fs::read_to_string(&p).map_err(io_at(&p))?;
        // A spawn thread is in a run's cgroup for the moment it spawns the run's process (v1
        // lists a thread's process then): the daemon is never one of the run's processes.
        let me = std::process::id() as i32;
        Ok(text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .filter(|&pid| pid != me)
            .collect())
    }

    /// Memory in bytes (see the module doc), or `None` without the memory controller. The
    /// reading is kept, with the cgroup's charge, for [`Group::memory_for_history`].
    pub fn memory_bytes(&self) -> Option<u64> {
        // Before `memory.stat`: a charge that moves between the two is seen as moved next time.
        let charge = self.charge();
        let stat = self.kept(&self.stat, "memory.stat")?;
        let text = read_counters(stat)?;
        let (anon, mapped) = match self.version {
            Version::V2 => ("anon", "file_mapped"),
            Version::V1 => ("total_rss", "total_mapped_file"),
        };
        let memory = field(&text, anon)? + field(&text, mapped).unwrap_or(0);
        if let Some((charge, since)) = charge {
            self.history().reading = Some(Reading::new(charge, since, memory, Instant::now()));
        }
        Some(memory)
    }

    /// Memory in bytes as [`Group::memory_bytes`] reads it, for the per-minute memory history
    /// and what views show: while the cgroup's charge (one read of a kept file) has not moved
    /// since the last reading, that reading is given again instead of reading `memory.stat`,
    /// which the kernel composes from every statistic (hierarchically on v1) and which costs
    /// ten times as much. The figure is then exact but for what the kernel itself batches
    /// (pages charged from its per-CPU reserve and statistics not yet flushed, each at most 64
    /// pages per CPU, as in any `memory.stat` read) and for file pages mapped without a new
    /// charge; a reading is at most [`HISTORY_REREAD`] old. The memory guard does not use this: it reads every time.
    pub fn memory_for_history(&self) -> Option<u64> {
        if let Some((charge, _)) = self.charge() {
            let previous = self.history().reading;
            if let Some(memory) = reusable(previous, charge, Instant::now()) {
                return Some(memory);
            }
        }
        self.memory_bytes()
    }

    /// Memory in bytes for a figure the memory guard uses (`guarded`: [`Group::memory_bytes`],
    /// every time) or one the history and views use ([`Group::memory_for_history`]).
    pub fn memory(&self, guarded: bool) -> Option<u64> {
        if guarded {
            self.memory_bytes()
        } else {
            self.memory_for_history()
        }
    }

    /// The cgroup's charge, read from its kept counter file, and when it was first read at
    /// that value.
    fn charge(&self) -> Option<(u64, Instant)> {
        let name = match self.version {
            Version::V2 => "memory.current",
            Version::V1 => "memory.usage_in_bytes",
        };
        let file = self.kept(&self.charge, name)?;
        let mut buf = [0u8; 32];
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, 0).ok()?;
        let charge = std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()?;
        let mut history = self.history();
        let now_seen = seen(history.charge, charge, Instant::now());
        history.charge = Some(now_seen);
        Some(now_seen)
    }

    /// The memory controller's file `name`, opened at its first use and kept (tried again
    /// while it cannot be opened).
    fn kept<'a>(&self, slot: &'a OnceLock<std::fs::File>, name: &str) -> Option<&'a std::fs::File> {
        if slot.get().is_none() {
            let file = std::fs::File::open(self.dir(Controller::Memory)?.join(name)).ok()?;
            let _ = slot.set(file);
        }
        slot.get()
    }

    /// CPU time used by every process that ran in the cgroup, in microseconds.
    pub fn cpu_usec(&self) -> Option<u64> {
        match self.version {
            Version::V2 => {
                let text = std::fs::read_to_string(self.procs.join("cpu.stat")).ok()?;
                field(&text, "usage_usec")
            }
            Version::V1 => {
                // cpuacct, or the cpu entry of a combined `cpu,cpuacct` mount.
                let d = self
                    .dir(Controller::Cpuacct)
                    .or_else(|| self.dir(Controller::Cpu))?;
                let ns: u64 = std::fs::read_to_string(d.join("cpuacct.usage"))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                Some(ns / 1000)
            }
        }
    }

    /// How many processes of the cgroup the kernel's OOM killer has killed.
    pub fn oom_kills(&self) -> Option<u64> {
        let d = self.dir(Controller::Memory)?;
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        field(&std::fs::read_to_string(d.join(file)).ok()?, "oom_kill")
    }

    /// Sends `sig` to every process in the cgroup; returns how many there were.
    pub fn signal(&self, sig: Signal) -> Result<usize, CgroupError> {
        let pids = self.pids()?;
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), sig);
        }
        Ok(pids.len())
    }

    /// SIGKILLs every process in the cgroup, including those forked meanwhile: v2's
    /// `cgroup.kill`, else (v1) the cgroup is frozen so nothing forks between the reading of
    /// its list and the kills, then thawed so the kills land. Returns how many were listed.
    pub fn kill(&self) -> Result<usize, CgroupError> {
        let listed = self.pids()?.len();
        if self.version == Version::V2 && self.procs.join("cgroup.kill").exists() {
            write(&self.procs.join("cgroup.kill"), "1")?;
            return Ok(listed);
        }
        let freezer = match self.version {
            Version::V2 => Some(("cgroup.freeze", "1", "0", self.procs.clone())),
            Version::V1 => self
                .dir(Controller::Freezer)
                .map(|d| ("freezer.state", "FROZEN", "THAWED", d.to_path_buf())),
        };
        if let Some((file, on, _, d)) = &freezer {
            write(&d.join(file), on)?;
        }
        let killed = self.signal(Signal::SIGKILL);
        if let Some((file, _, off, d)) = &freezer {
            write(&d.join(file), off)?;
        }
        killed.map(|n| n.max(listed))
    }

    /// Removes the cgroup's directories; a cgroup that still holds processes stays (an error).
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first = Ok(());
        for (_, d) in &self.dirs {
            match std::fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    if first.is_ok() {
                        first = Err(io_at(d)(e));
                    }
                }
            }
        }
        first
    }
}

/// The text of an open counter file, read from its start: the kernel composes it afresh. cgroupfs
/// gives its files no size, so `fs::read_to_string` would follow a `statx` with a 32-byte probe
/// and reads that grow (seven reads for a v1 `memory.stat`); a page-sized buffer takes the file
/// in one read and the end in another.
fn read_counters(file: &std::fs::File) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len >= 1 << 20 {
                break;
            }
            buf.resize(len * 2, 0);
        }
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[len..], len as u64).ok()?;
        if n == 0 {
            break;
        }
        len += n;
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// The seam the sampler calls for a run in a cgroup: its usage as a tree sample of its main
/// process `root`, from the cgroup's own counters (one read each of `cgroup.procs`,
/// `memory.stat` and the CPU counter) instead of a `/proc` walk. `guarded`: the memory guard
/// uses the figure, so `memory.stat` is read; otherwise, as for the history, only when the
/// charge moved (see [`Group::memory_for_history`]). `Ok(None)`: the counters are not
/// available (no memory or CPU accounting), walk the tree instead; an error: the cgroup's files
/// are gone.
pub fn sample(
    group: &Group,
    root: i32,
    guarded: bool,
) -> Result<Option<crate::proc::tree::TreeSample>, CgroupError> {
    let pids = group.pids()?;
    let (Some(counted), Some(usec)) = (group.memory(guarded), group.cpu_usec()) else {
        return Ok(None);
    };
    // The kernel folds a cgroup's per-CPU memory statistics into `memory.stat` only once enough
    // pages changed or on its periodic flush (every 2 s, later on a loaded host), so a young
    // cgroup of small processes reads 0 although they are resident. Live processes are never
    // 0 bytes: theirs are summed from `/proc` instead (the CPU counter has no such lag).
    let rss_bytes = match counted {
        0 => resident_bytes(&pids),
        b => b,
    };
    // The CPU meter's first figure is measured from the main process's start.
    let Some(start_ticks) = crate::proc::start_ticks(root) else {
        return Ok(None);
    };
    let tps = crate::proc::stat::ticks_per_second();
    Ok(Some(crate::proc::tree::TreeSample {
        root,
        start_ticks,
        rss_bytes,
        cpu_ticks: usec.saturating_mul(tps) / 1_000_000,
        processes: pids.len() as u32,
        // Not needed: the cgroup finds and ends every process of the run.
        members: Vec::new(),
    }))
}

/// The resident memory of `pids` as `/proc` counts it (a page two of them share counts twice).
fn resident_bytes(pids: &[i32]) -> u64 {
    let page = crate::proc::stat::page_size();
    pids.iter()
        .filter_map(|&pid| crate::proc::stat::read(pid))
        .map(|s| s.rss_pages * page)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_reading_stands_for_later_ones_while_the_charge_holds_still() {
        let t0 = Instant::now();
        let (sec, min) = (Duration::from_secs(1), Duration::from_secs(60));
        // The charge is first seen at t0 and stays: its first seeing stays t0.
        assert_eq!(seen(None, 100, t0), (100, t0));
        assert_eq!(seen(Some((100, t0)), 100, t0 + min), (100, t0));
        assert_eq!(seen(Some((100, t0)), 101, t0 + min), (101, t0 + min));
        // Read a second after the charge was first seen: `memory.stat` may lag, read again.
        let early = Reading::new(100, t0, 40, t0 + sec);
        assert!(!early.settled);
        assert_eq!(reusable(Some(early), 100, t0 + min), None);
        let r = Reading::new(100, t0, 40, t0 + SETTLE);
        assert!(r.settled);
        assert_eq!(reusable(Some(r), 100, t0 + min), Some(40));
        assert_eq!(reusable(Some(r), 101, t0 + min), None);
        assert_eq!(reusable(None, 100, t0), None);
        // Never older than the bound.
        assert_eq!(reusable(Some(r), 100, t0 + SETTLE + HISTORY_REREAD), None);
        // Nothing resident is never a live run's figure: read again.
        let zero = Reading { memory: 0, ..r };
        assert_eq!(reusable(Some(zero), 100, t0 + min), None);
    }
}
