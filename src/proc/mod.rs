//! Owns the operating-system side of a process: building the command of an instance (own
//! process group, environment, pipes), signalling its group, decoding how it ended, becoming
//! the subreaper of orphans and reaping them, and finding a run's processes by their run id.
//!
//! Submodules:
//! - [`stat`]: the one parser of `/proc/PID/stat` and the units of its fields.
//! - [`tree`]: RSS and CPU of each supervised process summed over its descendants.
//! - [`pidfd`]: waiting for a process that is not our child to exit.
//! - [`oom`]: telling an OOM kill from another SIGKILL.
//! - [`pidfile`]: an app's `pid_file`, written at each start and removed at exit.
//! - [`cgroup`]: per-run cgroups: hard limits, joining before exec, counters, kill by cgroup.
//!
//! No helper here blocks: each reads a few small `/proc` files or makes one system call.

pub mod cgroup;
pub mod listen;
pub mod oom;
pub mod pidfd;
pub mod pidfile;
pub mod priority;
pub mod stat;
pub mod tree;
pub mod trim;

use crate::config::AppSpec;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

pub use crate::record::{parse_signal, signal_name};

/// Sends `sig` to process group `pgid`. A group that no longer exists is not an error.
pub fn signal_group(pgid: i32, sig: Signal) -> nix::Result<()> {
    if pgid <= 1 {
        // Never signal "every process" (-1) or our own group (0) by accident.
        return Err(nix::errno::Errno::EINVAL);
    }
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether any process of group `pgid` is still alive (zombies of other parents count).
pub fn group_alive(pgid: i32) -> bool {
    pgid > 1 && killpg(Pid::from_raw(pgid), None).is_ok()
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
}

impl ExitInfo {
    pub fn from_status(s: std::process::ExitStatus) -> ExitInfo {
        ExitInfo {
            code: s.code(),
            signal: s.signal(),
            core_dumped: s.core_dumped(),
        }
    }

    pub fn signal_name(&self) -> Option<String> {
        self.signal.map(signal_name)
    }
}

/// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22). With the pid
/// it identifies a process for good: a reused pid has another start time.
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat::read(pid).map(|s| s.start_ticks)
}

/// The variable that marks every process of a run, so the daemon can find the run's
/// descendants even after they were orphaned: `<daemon pid>:<app>:<instance>:<run>`.
pub const RUN_ID_VAR: &str = "SVCTL_RUN_ID";

pub fn run_id(app: &str, index: u32, run: u64) -> String {
    format!("{}:{app}:{index}:{run}", std::process::id())
}

/// Builds the command of instance `index` of `spec`: its own process group, the app's
/// environment only (plus [`RUN_ID_VAR`]), stdin from /dev/null, stdout and stderr piped to the
/// daemon.
///
/// `env` is the instance's environment (`AppSpec::environment`, read once per spawn); `sockets`
/// (fd, name) are passed as fds 3, 4, … with systemd's socket-activation variables; `program`
/// is [`program_path`] of the spec.
pub fn command(
    spec: &AppSpec,
    index: u32,
    run: u64,
    env: &std::collections::BTreeMap<String, String>,
    sockets: &[(std::os::fd::RawFd, String)],
    program: Option<&std::path::Path>,
) -> tokio::process::Command {
    let mut argv = spec.argv();
    // The program is looked up on the app's PATH (by the caller, once per spawn), as the
    // child's execvp would: with a PATH in the environment and a bare program name, std forks
    // the whole daemon instead of using posix_spawn (a vfork), and a fork copies the page
    // tables of a daemon that may supervise thousands of apps. argv[0] stays as written.
    let resolved = argv
        .first()
        .filter(|p| !p.contains('/'))
        .and(program)
        .map(std::path::Path::to_path_buf);
    let fds: Vec<std::os::fd::RawFd> = sockets.iter().map(|(fd, _)| *fd).collect();
    let names: Vec<String> = sockets.iter().map(|(_, n)| n.clone()).collect();
    // Its environment starts empty (with the socket variables when there are sockets).
    let arg0 = resolved.as_ref().and_then(|path| {
        let written = std::mem::replace(&mut argv[0], path.to_str()?.to_string());
        Some(written)
    });
    let mut cmd = listen::command_with_fds(&argv, &fds, &names);
    if let Some(arg0) = arg0
        && fds.is_empty()
    {
        cmd.arg0(arg0);
    }
    cmd.current_dir(&spec.cwd)
        .envs(env)
        .env(RUN_ID_VAR, run_id(&spec.name, index, run))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    // Dropping privileges only makes sense (and only works) for a daemon running as root.
    if nix::unistd::geteuid().is_root() {
        if let Some(gid) = spec.gid {
            cmd.gid(gid);
        }
        if let Some(uid) = spec.uid {
            cmd.uid(uid);
        }
    }
    cmd
}

/// The file the spawn of `spec` executes: its program as written when that names a path
/// (relative to its working directory), else where [`search_path`] finds it. `None` when there
/// is none, and the exec reports it.
pub fn program_path(
    spec: &AppSpec,
    env: &std::collections::BTreeMap<String, String>,
) -> Option<std::path::PathBuf> {
    let argv = spec.argv();
    let program = argv.first()?;
    if program.contains('/') {
        Some(spec.cwd.join(program))
    } else {
        search_path(program, &spec.cwd, env)
    }
}

/// Where execvp(3) finds `program` (a name without `/`) on the `PATH` of `env` (glibc's
/// default when unset), in the child's working directory `cwd`: the first executable regular
/// file. `None` when there is none, and the exec reports it.
pub fn search_path(
    program: &str,
    cwd: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let search = env.get("PATH").map_or("/bin:/usr/bin", String::as_str);
    search
        .split(':')
        // An empty entry is the working directory, as for execvp.
        .map(|d| cwd.join(d).join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The error the kernel gives for a program it cannot execute (`ENOEXEC`), found before the
/// spawn: a fork-and-exec spawn (one with a `pre_exec` hook, as joining a cgroup needs) goes
/// through glibc's `execvp`, which would run such a file with `/bin/sh` instead of failing as
/// the plain spawn does. Only files the kernel surely refuses are caught: executable, neither
/// a well-formed ELF header nor `#!`, on a host without binfmt_misc handlers.
///
/// `path` is the file to execute ([`program_path`]).
pub fn unknown_exec_format(path: &std::path::Path) -> Option<std::io::Error> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let meta = path.metadata().ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return None;
    }
    let mut head = [0u8; 7];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    // An ELF file the kernel could load names its class (32/64-bit), byte order and version 1.
    let elf = head.len() == 7
        && head.starts_with(b"\x7fELF")
        && matches!(head[4], 1 | 2)
        && matches!(head[5], 1 | 2)
        && head[6] == 1;
    if elf || head.starts_with(b"#!") {
        return None;
    }
    let handlers = std::fs::read_dir("/proc/sys/fs/binfmt_misc").map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name() != "register" && e.file_name() != "status")
            .count()
    });
    (handlers == 0).then(|| std::io::Error::from_raw_os_error(libc::ENOEXEC))
}

/// Makes this process the reaper of its orphaned descendants: an app's workers whose parent
/// died are re-parented to the daemon, which can then find and end them.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// This process's children (over all its threads).
pub fn own_children() -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    list.split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The run id a process carries in its environment, if readable.
pub fn run_id_of(pid: i32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{RUN_ID_VAR}=");
    env.split(|b| *b == 0).find_map(|kv| {
        std::str::from_utf8(kv)
            .ok()?
            .strip_prefix(&prefix)
            .map(str::to_string)
    })
}

/// Reaps adopted orphans that have exited. `ours` are the main processes tokio waits for:
/// they are never touched here (no `waitpid(-1)`, only the named zombies).
pub fn reap_adopted(ours: &std::collections::HashSet<i32>) {
    for pid in own_children() {
        if ours.contains(&pid) {
            continue;
        }
        if stat::read(pid).is_some_and(|s| s.zombie()) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signal_names_in_every_form() {
        for s in ["SIGTERM", "TERM", "term", "15", " SIGterm "] {
            assert_eq!(parse_signal(s), Some(Signal::SIGTERM), "{s}");
        }
        assert_eq!(parse_signal("SIGINT"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal(""), None);
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(77), "SIG77");
    }

    #[test]
    fn start_ticks_of_this_process() {
        let me = std::process::id() as i32;
        assert!(start_ticks(me).is_some_and(|t| t > 0));
        assert_eq!(start_ticks(i32::MAX), None);
    }

    #[test]
    fn finds_programs_the_kernel_cannot_execute() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            p.display().to_string()
        };
        let check = |p: &str| unknown_exec_format(std::path::Path::new(p));
        let binfmt_misc_free = std::fs::read_dir("/proc/sys/fs/binfmt_misc").map_or(true, |d| {
            d.flatten()
                .all(|e| e.file_name() == "register" || e.file_name() == "status")
        });
        let garbage = write("garbage", b"\x7fELF but not really\n");
        let text = write("text", b"echo hi\n");
        if binfmt_misc_free {
            for p in [&garbage, &text] {
                let e = check(p).expect(p);
                assert_eq!(e.raw_os_error(), Some(libc::ENOEXEC));
            }
        }
        assert!(check(&write("script", b"#!/bin/sh\n")).is_none());
        assert!(check("/bin/sh").is_none());
        assert!(check("/no-such-program-here").is_none());
    }

    #[test]
    fn refuses_to_signal_every_process() {
        assert!(signal_group(-1, Signal::SIGTERM).is_err());
        assert!(signal_group(0, Signal::SIGTERM).is_err());
        assert!(signal_group(1, Signal::SIGTERM).is_err());
    }
}
