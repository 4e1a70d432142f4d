//! Owns the boundary between the supervisor and the operating system's processes: starting a
//! run and signalling it. The daemon uses [`OsSpawner`] (real processes in their own process
//! groups); tests of the actor inject one whose processes they end at will, so restart delays,
//! kill timeouts and waiters run on tokio's paused clock.

use super::resources::GroupMaker;
use crate::config::AppSpec;
use crate::proc::cgroup::Group;
use crate::proc::{self, ExitInfo, tree};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

/// The read end of an output pipe. It is registered for readiness by the runtime that reads
/// it (the log runtime), not by the one that spawned the process: a pipe registered with the
/// main runtime's reactor woke a thread there for every chunk, which then woke the log thread.
pub type Output = std::os::fd::OwnedFd;

/// A started run: its main pid, its output pipes and the wait for its end.
pub struct Spawned {
    pub pid: Option<i32>,
    pub stdout: Option<Output>,
    pub stderr: Option<Output>,
    /// Every variable the process was given (for `svctl env`).
    pub env: BTreeMap<String, String>,
    pub exit: Pin<Box<dyn Future<Output = ExitInfo> + Send>>,
}

/// What the daemon gives a run besides its spec.
pub struct SpawnContext<'a> {
    /// The instance's environment, computed once for the spawn (it re-reads `env_file`).
    pub env: &'a BTreeMap<String, String>,
    /// Sockets the daemon listens on for the app, passed as fds 3, 4, … (socket activation).
    pub sockets: &'a [(RawFd, String)],
    /// `$NOTIFY_SOCKET`, for apps that use the notify protocol.
    pub notify_socket: Option<&'a Path>,
    /// The run's cgroup, joined by the child before it executes the program.
    pub cgroup: Option<&'a crate::proc::cgroup::Group>,
}

pub trait Spawner: Send {
    /// Starts run `run` of instance `index`.
    fn spawn(
        &mut self,
        spec: &AppSpec,
        index: u32,
        run: u64,
        ctx: &SpawnContext,
    ) -> io::Result<Spawned>;

    /// The spawn of run `run` as a job for the spawn threads, for a spawner whose spawns can
    /// block (see [`SpawnPool`]): the job makes the run's cgroup with `group` (in cgroup mode;
    /// `ctx` names none) and spawns in it, or without it when it cannot. `None`:
    /// [`Spawner::spawn`] runs on the actor instead.
    fn launch(
        &mut self,
        _spec: &AppSpec,
        _index: u32,
        _run: u64,
        _ctx: &SpawnContext,
        _group: Option<GroupMaker>,
    ) -> Option<Launch> {
        None
    }

    /// Sends `sig` to the run whose main process is `pid`: with `tree`, to its process group
    /// and to the descendants that left it (`known` from the last sample, or a fresh walk);
    /// else to the main process only.
    fn signal(&mut self, pid: i32, sig: Signal, tree: bool, known: Vec<tree::Member>);

    /// `svctl signal`: sends `sig` to the main process, or with `group` to its process group.
    fn send(&mut self, pid: i32, sig: Signal, group: bool) -> io::Result<()> {
        let result = if group {
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig)
        } else {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
        };
        result.map_err(io::Error::from)
    }
}

/// Descriptors a spawn must leave free: for the CLI's connections, the database, the log
/// files and the sweeps. Spawns wait (EMFILE, retried) rather than take the last ones.
pub const FD_RESERVE: u64 = 64;

/// Descriptors a run may cost the daemon at most while it lives: its two output pipes, its
/// pidfd, its two log files, and either a kept stat file (a walked run) or its cgroup's
/// `memory.stat` and charge counter (kept open for the memory history).
const FDS_PER_SPAWN: u64 = 8;

/// How many descriptors the daemon may still open under its soft limit, counted only when it
/// may be near: counting reads `/proc/self/fd`, which costs as much as the descriptors it
/// lists, and once per spawn that made starting 1,000 apps quadratic. Between two counts each
/// spawn is assumed to have cost [`FDS_PER_SPAWN`] (closing is not credited back), so the
/// estimate only errs high and the count is taken again before the reserve can be reached.
#[derive(Debug, Default)]
struct FdBudget {
    /// The count at the last look, and the spawns since.
    counted: Option<(u64, u64)>,
}

impl FdBudget {
    /// Descriptors left under the soft limit; `None` when unknown or far from it.
    fn left(&mut self) -> Option<u64> {
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
        // Not worth counting under a limit no daemon reaches.
        if soft >= 1 << 16 {
            return None;
        }
        let near = |open: u64| open + 2 * FD_RESERVE >= soft;
        match self.counted {
            Some((open, since)) if !near(open + since * FDS_PER_SPAWN) => {
                self.counted = Some((open, since + 1));
                None
            }
            _ => {
                let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
                self.counted = Some((open, 1));
                Some(soft.saturating_sub(open))
            }
        }
    }
}

/// Real processes.
#[derive(Debug, Default)]
pub struct OsSpawner {
    fds: FdBudget,
}

impl OsSpawner {
    /// A spawn leaves [`FD_RESERVE`] descriptors free: short of them it fails as if it had hit
    /// the limit itself (retried later), and the control socket and the database keep the
    /// descriptors they need meanwhile. Counted once per spawn.
    fn reserve_fds(&mut self) -> io::Result<()> {
        if self.fds.left().is_some_and(|left| left < FD_RESERVE) {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        Ok(())
    }
}

/// The part of a spawn that stays on the actor: the command (with the cgroup join before exec)
/// and the environment it gives. `program` is the app's program found on its PATH
/// ([`proc::program_path`], looked up once per spawn).
fn prepare(
    spec: &AppSpec,
    index: u32,
    run: u64,
    ctx: &SpawnContext,
    program: Option<&Path>,
) -> io::Result<Prepared> {
    let mut cmd = proc::command(spec, index, run, ctx.env, ctx.sockets, program);
    if let Some(path) = ctx.notify_socket {
        cmd.env("NOTIFY_SOCKET", path);
    }
    if let Some(ms) = spec.watchdog_ms {
        // sd_watchdog_enabled() reads these (WATCHDOG_PID is left out: the pid is the child's
        // own, unknown before it starts, and libraries accept its absence).
        cmd.env("WATCHDOG_USEC", (ms * 1000).to_string());
    }
    // The command's environment starts empty, so what it sets is all the process gets.
    let env = cmd
        .as_std()
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .collect();
    if let Some(group) = ctx.cgroup {
        if let Some(e) = program.and_then(proc::unknown_exec_format) {
            return Err(e);
        }
        join_before_exec(&mut cmd, group.open_join().map_err(io::Error::other)?);
    }
    Ok(Prepared { cmd, env })
}

/// A command ready to start, and the environment it gives.
struct Prepared {
    cmd: tokio::process::Command,
    env: BTreeMap<String, String>,
}

/// Spawns under way on the spawn threads, for the reaper of adopted orphans: from its fork
/// until the actor has its pid, a child is a child of the daemon that the actor does not know,
/// and one that exited at once must be left to its own waiter.
struct InFlight {
    /// Held (shared) by each spawn from before its fork until its pid is in `pids`.
    forking: std::sync::RwLock<()>,
    pids: std::sync::Mutex<std::collections::HashSet<i32>>,
}

static IN_FLIGHT: std::sync::LazyLock<InFlight> = std::sync::LazyLock::new(|| InFlight {
    forking: std::sync::RwLock::new(()),
    pids: std::sync::Mutex::new(std::collections::HashSet::new()),
});

/// The actor knows `pid` now (a run's facts hold it).
pub fn known(pid: i32) {
    if let Ok(mut pids) = IN_FLIGHT.pids.lock() {
        pids.remove(&pid);
    }
}

/// Runs `reap` with the pids of spawns under way, unless a fork is in progress (then not at
/// all: reaping is retried at the next exit or sample).
pub fn unless_forking(reap: impl FnOnce(&std::collections::HashSet<i32>)) {
    let Ok(_no_fork) = IN_FLIGHT.forking.try_write() else {
        return;
    };
    if let Ok(pids) = IN_FLIGHT.pids.lock() {
        reap(&pids);
    }
}

impl Prepared {
    /// Forks and executes: blocks until the child has executed its program (or failed to).
    fn start(mut self) -> io::Result<Spawned> {
        let mut child = {
            let _forking = IN_FLIGHT.forking.read();
            let child = self.cmd.spawn()?;
            if let Some(pid) = child.id() {
                proc::priority::restore_group(pid as i32);
                if let Ok(mut pids) = IN_FLIGHT.pids.lock() {
                    pids.insert(pid as i32);
                }
            }
            child
        };
        let pid = child.id().map(|p| p as i32);
        // Taking a pipe out of the spawning runtime's reactor fails only if epoll refuses to
        // let go of it; the pipe is then gone and the app's writes fail: said loudly.
        let unregistered = |p: io::Result<std::os::fd::OwnedFd>| {
            p.map_err(|e| tracing::error!(pid, "an output pipe of the process is lost: {e}"))
                .ok()
        };
        let stdout = child
            .stdout
            .take()
            .and_then(|s| unregistered(s.into_owned_fd()));
        let stderr = child
            .stderr
            .take()
            .and_then(|s| unregistered(s.into_owned_fd()));
        let exit = Box::pin(async move {
            match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(e) => {
                    tracing::error!(pid, "waiting for the process failed: {e}");
                    ExitInfo {
                        code: None,
                        signal: None,
                        core_dumped: false,
                    }
                }
            }
        });
        Ok(Spawned {
            pid,
            stdout,
            stderr,
            env: self.env,
            exit,
        })
    }
}

/// What a spawn job gives back: the spawn's outcome, the run's cgroup, and the error of the
/// attempt in that cgroup when it refused the child (the outcome is then the attempt without).
pub struct Launched {
    pub outcome: io::Result<Spawned>,
    pub group: Option<Arc<Group>>,
    pub cgroup_refused: Option<io::Error>,
}

/// A spawn to carry out on the spawn threads.
pub type Launch = Box<dyn FnOnce() -> Launched + Send>;

impl Spawner for OsSpawner {
    fn spawn(
        &mut self,
        spec: &AppSpec,
        index: u32,
        run: u64,
        ctx: &SpawnContext,
    ) -> io::Result<Spawned> {
        self.reserve_fds()?;
        let program = proc::program_path(spec, ctx.env);
        prepare(spec, index, run, ctx, program.as_deref())?.start()
    }

    fn launch(
        &mut self,
        spec: &AppSpec,
        index: u32,
        run: u64,
        ctx: &SpawnContext,
        group: Option<GroupMaker>,
    ) -> Option<Launch> {
        if let Err(e) = self.reserve_fds() {
            return Some(Box::new(move || Launched {
                outcome: Err(e),
                group: None,
                cgroup_refused: None,
            }));
        }
        let program = proc::program_path(spec, ctx.env);
        let plain = prepare(spec, index, run, ctx, program.as_deref());
        // In cgroup mode the same command once more, to join the cgroup the job makes; the
        // plain one is the fallback when the cgroup refuses the child.
        let grouped = group.map(|make| {
            let bad_exec = program.as_deref().and_then(proc::unknown_exec_format);
            (
                make,
                prepare(spec, index, run, ctx, program.as_deref()),
                bad_exec,
            )
        });
        Some(Box::new(move || {
            let made =
                grouped.and_then(|(make, prepared, bad_exec)| Some((make()?, prepared, bad_exec)));
            let Some((group, prepared, bad_exec)) = made else {
                return Launched {
                    outcome: plain.and_then(Prepared::start),
                    group: None,
                    cgroup_refused: None,
                };
            };
            let first = prepared.and_then(|p| {
                if let Some(e) = bad_exec {
                    return Err(e);
                }
                if group.joins_from_thread() {
                    return group
                        .spawn_from_thread(|| p.start())
                        .map_err(io::Error::other)?;
                }
                let mut p = p;
                join_before_exec(&mut p.cmd, group.open_join().map_err(io::Error::other)?);
                p.start()
            });
            match first {
                Ok(spawned) => Launched {
                    outcome: Ok(spawned),
                    group: Some(group),
                    cgroup_refused: None,
                },
                Err(e) => Launched {
                    outcome: plain.and_then(Prepared::start),
                    group: Some(group),
                    cgroup_refused: Some(e),
                },
            }
        }))
    }

    fn signal(&mut self, pid: i32, sig: Signal, tree: bool, known: Vec<tree::Member>) {
        if !tree {
            // PM2's `treekill: false`: the main process only.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            return;
        }
        // The tree is walked on the blocking pool, not on the actor.
        tokio::task::spawn_blocking(move || {
            // The tree as it is now: descendants that left the group (setsid) are signalled too.
            let members = tree::sample(&[pid]).pop().map_or(known, |t| t.members);
            if let Err(e) = proc::signal_group(pid, sig) {
                tracing::warn!(pid, "sending {sig} failed: {e}");
            }
            signal_escaped(pid, &members, sig);
        });
    }
}

/// The threads that carry out spawns, off the actor. A spawn blocks until the child has
/// executed its program, and a child that joins its cgroup itself (v2, and v1 runs with a
/// memory or process cap; see `Group::spawn_from_thread`) waits for every fork and exit in
/// progress on the host: under a load of 150 one spawn took up to seconds, and on the actor a
/// crash loop's restarts left it no time to sample, enforce memory limits or answer `ping`.
/// The threads run at the daemon's raised priority and set each app's process group back to
/// the nice the daemon was started with (`proc::priority`); jobs are taken in order.
pub struct SpawnPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Two threads: a spawn that waits for its cgroup does not hold up the next one, and forks of
/// a daemon with thousands of descriptors are not worth more in parallel on a small host.
const SPAWN_THREADS: usize = 2;

impl SpawnPool {
    /// Starts the threads; spawned processes belong to the runtime of `rt` (their exit is
    /// awaited there).
    pub fn start(rt: tokio::runtime::Handle) -> io::Result<SpawnPool> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for _ in 0..SPAWN_THREADS {
            let rx = rx.clone();
            let rt = rt.clone();
            std::thread::Builder::new()
                .name("svctl-spawn".into())
                .spawn(move || {
                    let _runtime = rt.enter();
                    loop {
                        // The lock is held while waiting: the other thread waits for it instead.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(SpawnPool { jobs })
    }

    /// Queues `job`; gives it back if the threads are gone.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

/// Makes the child write itself into its cgroup between fork and exec, so the program and
/// everything it forks start inside it (no window where a fork escapes). The files were opened
/// by the daemon: the write is allowed after the child dropped its user (`uid`), and the hook
/// itself only calls write(2), which is async-signal-safe.
fn join_before_exec(cmd: &mut tokio::process::Command, files: Vec<std::os::fd::OwnedFd>) {
    use std::os::fd::AsRawFd;
    // SAFETY: the closure only calls write(2) on fds it owns; no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            for f in &files {
                if libc::write(f.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Signals the descendants of `root` that left its process group (`setsid`), which a signal to
/// the group misses. Each is checked to be the very process seen before (pid and start time).
pub fn signal_escaped(root: i32, members: &[tree::Member], sig: Signal) {
    for m in members.iter().filter(|m| m.pgrp != root && m.alive()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(m.pid), sig);
    }
}
