//! Owns the listening sockets svctl opens for an app (`listen:`) and how they reach an
//! instance: the systemd socket-activation protocol, fds 3, 4, … with `LISTEN_FDS`,
//! `LISTEN_FDNAMES` and `LISTEN_PID`.
//!
//! The daemon keeps the sockets open across restarts and reloads, so every instance of an app
//! accepts on the same sockets and a client never meets a refused connection while one
//! instance replaces another. The sockets are blocking (the instances expect ordinary listening
//! sockets) and close-on-exec in the daemon: only the placement in [`command_with_fds`] hands
//! them to a child.

use crate::config::probe::ListenAddr;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr, bind, listen,
    setsockopt, socket, sockopt,
};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;

/// The queue of connections not yet accepted; a reload briefly has no instance accepting.
const BACKLOG: i32 = 1024;

/// The first descriptor of the protocol (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The wrapper that makes `LISTEN_PID` the program's own pid: the shell's `$$` is its pid, and
/// `exec` keeps it. (The pid is unknown before the fork, and the environment of `execve` is
/// built before it, so it cannot be set any other way without a pre-exec allocation.)
const WRAPPER: &str = r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#;

/// Opens (binds and listens on) the socket of `addr`. TCP gets `SO_REUSEADDR` (a restarted
/// daemon can bind again while old connections linger in TIME_WAIT) and a backlog of 1024; a
/// host name is resolved by the system's resolver, which may block, so call this off the actor
/// or give IP literals. A unix socket path is created; a stale socket file there is removed
/// first (one no process accepts on), never a socket in use nor any other kind of file; the
/// file's mode follows the daemon's umask.
///
/// The error text names the address and the OS error: `tcp://0.0.0.0:8000: cannot listen:
/// address already in use`.
pub fn open(addr: &ListenAddr) -> Result<OwnedFd, String> {
    let name = addr.display();
    match addr {
        ListenAddr::Tcp(hostport) => open_tcp(hostport),
        ListenAddr::Unix(path) => open_unix(path),
    }
    .map_err(|e| format!("{name}: {e}"))
}

/// An errno as users read it: `address already in use`.
fn errno_text(e: Errno) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{e}"),
    }
}

fn open_tcp(hostport: &str) -> Result<OwnedFd, String> {
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err("no port".to_string());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // Port 0 (an ephemeral port) is refused by the loader; here it serves tests.
    let port: u16 = port
        .parse()
        .map_err(|_| format!("`{port}` is not a port"))?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    let mut last = format!("`{host}` has no address");
    for addr in addrs {
        match listen_tcp(addr) {
            Ok(fd) => return Ok(fd),
            Err(e) => last = format!("cannot listen: {}", errno_text(e)),
        }
    }
    Err(last)
}

fn listen_tcp(addr: SocketAddr) -> nix::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    listen(&fd, Backlog::new(BACKLOG)?)?;
    Ok(fd)
}

fn open_unix(path: &str) -> Result<OwnedFd, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket some process still accepts on belongs to it.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err("cannot listen: another process listens on it".to_string());
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket: {e}"))?;
        }
        Ok(_) => return Err("cannot listen: the path exists and is not a socket".to_string()),
        Err(_) => {}
    }
    let attempt = || -> nix::Result<OwnedFd> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
        listen(&fd, Backlog::new(BACKLOG)?)?;
        Ok(fd)
    };
    attempt().map_err(|e| format!("cannot listen: {}", errno_text(e)))
}

/// A name as `LISTEN_FDNAMES` allows it (systemd's rules: printable ASCII without `:`, at most
/// 255 bytes, not empty); other characters become `_`. An address such as `tcp://0.0.0.0:8000`
/// thus becomes `tcp_//0.0.0.0_8000`.
pub fn fd_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != ':' {
                c
            } else {
                '_'
            }
        })
        .take(255)
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    }
}

/// Builds a command that runs `argv` with `fds` as its fds 3, 4, … and `LISTEN_FDS=n`,
/// `LISTEN_FDNAMES=name1:name2` (each through [`fd_name`]; a missing name is `unknown`) and
/// `LISTEN_PID` set to the program's own pid.
///
/// The program is started through `/bin/sh -c 'LISTEN_PID=$$; … exec "$0" "$@"' ARGV…`, so the
/// program keeps the shell's pid, sees the same argv and is looked up in the `PATH` of its own
/// environment. A program that cannot be found therefore does not fail the spawn: the shell
/// says so on stderr and exits 127.
///
/// The command's environment starts empty, holding only `LISTEN_FDS` and `LISTEN_FDNAMES`:
/// the caller adds the app's with `envs` (never `env_clear`, which would drop them) and sets
/// the folder, pipes, process group and ids as for any instance. The descriptors must stay open
/// until the spawn. With no `fds`, this is a plain command of `argv` (no wrapper, no variables).
pub fn command_with_fds(
    argv: &[String],
    fds: &[RawFd],
    names: &[String],
) -> tokio::process::Command {
    let program = argv.first().map_or("", String::as_str);
    if fds.is_empty() {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(argv.iter().skip(1)).env_clear();
        return cmd;
    }
    let names: Vec<String> = (0..fds.len())
        .map(|i| {
            names
                .get(i)
                .map_or_else(|| "unknown".to_string(), |n| fd_name(n))
        })
        .collect();
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg(program)
        .args(argv.iter().skip(1))
        .env_clear()
        .env("LISTEN_FDS", fds.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"));
    let fds = fds.to_vec();
    // Allocated here: the child between fork and exec may not allocate.
    let mut moved: Vec<RawFd> = vec![-1; fds.len()];
    // SAFETY: the closure only calls fcntl and dup2, which are async-signal-safe, and writes
    // into memory allocated before the fork.
    unsafe {
        cmd.pre_exec(move || place(&fds, &mut moved));
    }
    cmd
}

/// Between fork and exec: puts `fds[i]` at `3 + i`. Each is first copied above the whole target
/// range (close-on-exec, so the copies vanish at exec), because a descriptor may already sit in
/// that range, where a direct `dup2` would overwrite it before it was placed. `dup2` leaves the
/// targets without close-on-exec, so they survive the exec. (A target may replace a descriptor
/// the spawn machinery opened, such as the pipe std reports a failed exec on; the exec of
/// `/bin/sh` does not fail in practice.)
fn place(fds: &[RawFd], moved: &mut [RawFd]) -> std::io::Result<()> {
    let floor = FIRST_FD + fds.len() as RawFd;
    for (fd, copy) in fds.iter().zip(moved.iter_mut()) {
        // SAFETY: fcntl on a descriptor number; an invalid one is an error, not UB.
        let c = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, floor) };
        if c < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *copy = c;
    }
    for (i, copy) in moved.iter().enumerate() {
        // SAFETY: as above; the target is ours to replace in the child.
        if unsafe { libc::dup2(*copy, FIRST_FD + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::process::Stdio;
    use std::time::Duration;

    /// The real interpreter, not a shim that might fork and change the pid.
    fn python() -> String {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed by these tests");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Checks the protocol, then accepts one connection on each listed fd and answers `hi N`.
    const CHILD: &str = r#"
import os, socket, sys
n = int(sys.argv[1])
assert os.environ["LISTEN_PID"] == str(os.getpid()), (os.environ["LISTEN_PID"], os.getpid())
assert os.environ["LISTEN_FDS"] == str(n), os.environ["LISTEN_FDS"]
names = os.environ["LISTEN_FDNAMES"].split(":")
assert len(names) == n, names
try:
    os.fstat(3 + n)
    sys.exit("fd %d is open too" % (3 + n))
except OSError:
    pass
print(" ".join(names), flush=True)
for arg in sys.argv[2:]:
    i, family = arg.split("=")
    s = socket.socket(fileno=3 + int(i))
    assert s.family == getattr(socket, family), (i, s.family)
    conn, _ = s.accept()
    conn.sendall(b"hi %s" % i.encode())
    conn.close()
"#;

    /// Spawns the child on `fds`; `serve` lists `INDEX=AF_FAMILY` of the fds to answer on.
    fn spawn(fds: &[RawFd], names: &[String], serve: &[&str]) -> tokio::process::Child {
        let mut argv = vec![
            python(),
            "-c".to_string(),
            CHILD.to_string(),
            fds.len().to_string(),
        ];
        argv.extend(serve.iter().map(|s| s.to_string()));
        let mut cmd = command_with_fds(&argv, fds, names);
        cmd.env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().unwrap()
    }

    async fn finish(child: tokio::process::Child) -> String {
        let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("the child did not finish")
            .unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        String::from_utf8(out.stdout).unwrap()
    }

    fn hi_tcp(port: u16) -> String {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // A child that never answers fails the test instead of hanging it.
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        got
    }

    fn hi_unix(path: &std::path::Path) -> String {
        let mut conn = std::os::unix::net::UnixStream::connect(path).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        got
    }

    fn local_port(fd: &OwnedFd) -> u16 {
        let addr: SockaddrStorage = nix::sys::socket::getsockname(fd.as_raw_fd()).unwrap();
        addr.as_sockaddr_in().unwrap().port()
    }

    #[tokio::test]
    async fn passes_a_tcp_socket_as_fd_3() {
        let fd = open(&ListenAddr::Tcp("127.0.0.1:0".into())).unwrap();
        let port = local_port(&fd);
        let child = spawn(
            &[fd.as_raw_fd()],
            &["tcp://127.0.0.1:0".to_string()],
            &["0=AF_INET"],
        );
        // The socket listens before the child runs: connecting early just waits in the backlog.
        let got = tokio::task::spawn_blocking(move || hi_tcp(port))
            .await
            .unwrap();
        assert_eq!(got, "hi 0");
        assert_eq!(finish(child).await.trim(), "tcp_//127.0.0.1_0");
        // The daemon's socket is still open and listening after the child ended.
        assert_eq!(local_port(&fd), port);
    }

    #[tokio::test]
    async fn moves_fds_that_sit_in_the_target_range_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let unix = open(&ListenAddr::Unix(path.display().to_string())).unwrap();
        let tcp = open(&ListenAddr::Tcp("127.0.0.1:0".into())).unwrap();
        let port = local_port(&tcp);
        // The higher fd first, the lower last, and enough fillers that both sit in 3..3+n: a
        // plain dup2 of each in turn would overwrite the lower one before placing it.
        let (high, low, high_family, low_family) = if tcp.as_raw_fd() > unix.as_raw_fd() {
            (tcp.as_fd(), unix.as_fd(), "AF_INET", "AF_UNIX")
        } else {
            (unix.as_fd(), tcp.as_fd(), "AF_UNIX", "AF_INET")
        };
        let n = (high.as_raw_fd() - 2) as usize;
        let mut fds = vec![high.as_raw_fd(); n - 1];
        fds.push(low.as_raw_fd());
        let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let first = format!("0={high_family}");
        let last = format!("{}={low_family}", n - 1);
        let child = spawn(&fds, &names, &[&first, &last]);
        let (first_hi, last_hi) = if high_family == "AF_INET" {
            let a = tokio::task::spawn_blocking(move || hi_tcp(port));
            (a.await.unwrap(), hi_unix(&path))
        } else {
            let p = path.clone();
            let a = tokio::task::spawn_blocking(move || hi_unix(&p));
            (a.await.unwrap(), hi_tcp(port))
        };
        assert_eq!(first_hi, "hi 0");
        assert_eq!(last_hi, format!("hi {}", n - 1));
        assert_eq!(finish(child).await.trim(), names.join(" "));
    }

    #[test]
    fn an_address_in_use_is_named() {
        let fd = open(&ListenAddr::Tcp("127.0.0.1:0".into())).unwrap();
        let port = local_port(&fd);
        let again = ListenAddr::Tcp(format!("127.0.0.1:{port}"));
        assert_eq!(
            open(&again).unwrap_err(),
            format!("tcp://127.0.0.1:{port}: cannot listen: address already in use")
        );
    }

    #[test]
    fn unix_sockets_replace_only_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let addr = ListenAddr::Unix(path.display().to_string());
        let live = open(&addr).unwrap();
        assert_eq!(
            open(&addr).unwrap_err(),
            format!(
                "unix:{}: cannot listen: another process listens on it",
                path.display()
            )
        );
        drop(live);
        // The file stays behind, stale: it is replaced. (Another test of this binary that
        // forks at that moment holds a copy of the socket until its child executes: the
        // socket answers for that long.)
        assert!(path.exists());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let fresh = loop {
            match open(&addr) {
                Ok(fd) => break fd,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.ends_with("another process listens on it"), "{e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(fresh);
        let file = dir.path().join("data");
        std::fs::write(&file, "keep").unwrap();
        let err = open(&ListenAddr::Unix(file.display().to_string())).unwrap_err();
        assert!(
            err.ends_with("the path exists and is not a socket"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        let nowhere = ListenAddr::Unix(dir.path().join("no/such/dir.sock").display().to_string());
        let err = open(&nowhere).unwrap_err();
        assert!(
            err.ends_with("cannot listen: no such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn names_follow_systemds_rules() {
        assert_eq!(fd_name("web"), "web");
        assert_eq!(fd_name("tcp://0.0.0.0:8000"), "tcp_//0.0.0.0_8000");
        assert_eq!(fd_name("a b\té"), "a_b__");
        assert_eq!(fd_name(""), "unknown");
        assert_eq!(fd_name(&"x".repeat(300)).len(), 255);
    }

    #[tokio::test]
    async fn without_fds_the_command_is_plain() {
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo \"$LISTEN_FDS-$0\"".into(),
        ];
        let mut cmd = command_with_fds(&argv, &[], &[]);
        cmd.env("PATH", "/usr/bin:/bin");
        let out = cmd.output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-sh");
    }

    #[tokio::test]
    async fn a_missing_program_fails_in_the_shell() {
        let fd = open(&ListenAddr::Tcp("127.0.0.1:0".into())).unwrap();
        let argv = vec!["svctl-no-such-program".to_string()];
        let mut cmd = command_with_fds(&argv, &[fd.as_raw_fd()], &["x".to_string()]);
        cmd.env("PATH", "/usr/bin:/bin").stderr(Stdio::piped());
        let out = cmd.output().await.unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&out.stderr).contains("svctl-no-such-program"));
    }
}
