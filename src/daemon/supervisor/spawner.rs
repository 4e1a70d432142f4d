//! Owns the boundary between the supervisor and the operating system's processes: starting a
//! run and signalling it. The daemon uses [`OsSpawner`] (real processes in their own process
//! groups); tests of the actor inject one whose processes they end at will, so restart delays,
//! kill timeouts and waiters run on tokio's paused clock.

use crate::config::AppSpec;
use crate::proc::{self, ExitInfo, tree};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::pin::Pin;
use tokio::io::AsyncRead;

pub type Output = Pin<Box<dyn AsyncRead + Send>>;

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
/// pidfd, its two log files, and a kept stat file.
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

impl Spawner for OsSpawner {
    fn spawn(
        &mut self,
        spec: &AppSpec,
        index: u32,
        run: u64,
        ctx: &SpawnContext,
    ) -> io::Result<Spawned> {
        if self.fds.left().is_some_and(|left| left < FD_RESERVE) {
            // As if the spawn had hit the limit itself: retried later, and the control socket
            // and the database keep the descriptors they need meanwhile.
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        // Looked up once: the command and the check below both need it, and a PATH of ten
        // directories costs ten lookups.
        let program = proc::program_path(spec, ctx.env);
        let mut cmd = proc::command(spec, index, run, ctx.env, ctx.sockets, program.as_deref());
        if let Some(path) = ctx.notify_socket {
            cmd.env("NOTIFY_SOCKET", path);
        }
        if let Some(ms) = spec.watchdog_ms {
            // sd_watchdog_enabled() reads these (WATCHDOG_PID is left out: the pid is the
            // child's own, unknown before it starts, and libraries accept its absence).
            cmd.env("WATCHDOG_USEC", (ms * 1000).to_string());
        }
        // The command's environment starts empty, so what it sets is all the process gets.
        let env = cmd
            .as_std()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        if let Some(group) = ctx.cgroup {
            if let Some(e) = program.as_deref().and_then(proc::unknown_exec_format) {
                return Err(e);
            }
            join_before_exec(&mut cmd, group.open_join().map_err(io::Error::other)?);
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().map(|p| p as i32);
        let stdout = child.stdout.take().map(|s| Box::pin(s) as Output);
        let stderr = child.stderr.take().map(|s| Box::pin(s) as Output);
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
            env,
            exit,
        })
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
