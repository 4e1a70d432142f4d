//! Owns the daemon's side of the systemd notify protocol: the datagram socket apps find in
//! `$NOTIFY_SOCKET`, reading what they send (`READY=1`, `RELOADING=1`, `STOPPING=1`,
//! `WATCHDOG=1`, `STATUS=…`), and attributing each datagram to the run that sent it.
//!
//! # Who may speak
//!
//! A datagram counts only when its sender is a process of a run of *this* daemon: the kernel
//! tells the sender's pid (`SO_PASSCRED`, so senders cannot leave it out, and only root can
//! claim another pid), and that process's environment carries the run id
//! ([`crate::proc::RUN_ID_VAR`]). Datagrams without credentials, from unmarked processes, from
//! runs of another daemon, oversized or unreadable ones are dropped (a debug log line counts
//! them), so nothing an app sends can disturb another app or the daemon.
//!
//! The socket file is made 0600 inside the daemon's home, which is 0700 anyway: only the
//! daemon's user (and root) can reach it. Apps the daemon (as root) runs under another `uid:`
//! therefore cannot reach it either; serving them needs the socket in a folder they can enter.
//!
//! # Short-lived senders
//!
//! A helper that sends and exits at once (`systemd-notify --ready`) may be gone before its
//! environment is read. Two things cover it:
//! - systemd-notify (since systemd 246) waits until the receiver has processed its message: it
//!   sends a second datagram, `BARRIER=1`, carrying a file descriptor, and exits when that
//!   descriptor is closed. Datagrams are read in order and every descriptor received is closed
//!   after the datagrams before it were attributed, so the helper is still alive when it
//!   matters. (`--no-block` turns that off.)
//! - A sender that carries no run id (gone, or unmarked) is attributed through `MAINPID=` when
//!   the message has one and that pid carries a run id: `systemd-notify --pid=$$ --ready` names
//!   the app's shell. Only processes of the daemon's user can send here at all (see above), and
//!   those could signal or trace the app anyway, so this trusts no one new.
//!
//! An app that sends from its own process (Python's `sdnotify`, Go's `go-systemd`, `sd_notify`
//! in C) needs neither.

use crate::proc;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
};
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc::UnboundedSender;

/// The largest datagram read; a larger one is dropped whole.
pub const MAX_DATAGRAM: usize = 4096;

/// The most descriptors one datagram can carry on Linux (`SCM_MAX_FD`): the control buffer
/// has room for all of them, so the kernel never truncates it and every one received is closed
/// here rather than leaked.
const SCM_MAX_FD: usize = 253;

/// What an app may say on the notify socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyMsg {
    /// `READY=1`: start-up (or a reload) is complete.
    Ready,
    /// `RELOADING=1`: the app started reloading its configuration.
    Reloading,
    /// `STOPPING=1`: the app began shutting down.
    Stopping,
    /// `WATCHDOG=1`: the keep-alive ping.
    Watchdog,
    /// `STATUS=…`: a free-form line for `describe`.
    Status(String),
}

/// A message attributed to one run: the (app, instance, run) of the sender's run id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromRun {
    pub app: String,
    pub index: u32,
    pub run: u64,
    pub msgs: Vec<NotifyMsg>,
}

/// The `KEY=VALUE` lines of a datagram, or None when it is oversized or not UTF-8.
fn assignments(datagram: &[u8]) -> Option<impl Iterator<Item = (&str, &str)>> {
    if datagram.len() > MAX_DATAGRAM {
        return None;
    }
    let text = std::str::from_utf8(datagram).ok()?;
    Some(text.split('\n').filter_map(|line| line.split_once('=')))
}

/// Parses one datagram: newline-separated `KEY=VALUE` assignments (systemd's sd_notify format);
/// unknown keys, and flags set to anything but `1`, are ignored; invalid UTF-8 or a datagram
/// over [`MAX_DATAGRAM`] yields nothing.
pub fn parse(datagram: &[u8]) -> Vec<NotifyMsg> {
    let Some(pairs) = assignments(datagram) else {
        return Vec::new();
    };
    pairs
        .filter_map(|(key, value)| match (key, value) {
            ("READY", "1") => Some(NotifyMsg::Ready),
            ("RELOADING", "1") => Some(NotifyMsg::Reloading),
            ("STOPPING", "1") => Some(NotifyMsg::Stopping),
            ("WATCHDOG", "1") => Some(NotifyMsg::Watchdog),
            ("STATUS", text) => Some(NotifyMsg::Status(text.to_string())),
            _ => None,
        })
        .collect()
}

/// The `MAINPID=` of a datagram, if any.
fn main_pid(datagram: &[u8]) -> Option<i32> {
    assignments(datagram)?
        .filter(|(key, _)| *key == "MAINPID")
        .find_map(|(_, value)| value.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
}

/// Splits a run id, `DAEMONPID:APP:INDEX:RUN` (see [`proc::run_id`]), into its parts. The app's
/// name may contain `:`, so the daemon pid is read from the left and the rest from the right.
pub fn parse_run_id(id: &str) -> Option<(u32, String, u32, u64)> {
    let (daemon, rest) = id.split_once(':')?;
    let (rest, run) = rest.rsplit_once(':')?;
    let (app, index) = rest.rsplit_once(':')?;
    if app.is_empty() {
        return None;
    }
    Some((
        daemon.parse().ok()?,
        app.to_string(),
        index.parse().ok()?,
        run.parse().ok()?,
    ))
}

/// Why a datagram was dropped; the words of the debug log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    Oversized,
    NoCredentials,
    Unmarked,
    OtherDaemon,
    NothingUnderstood,
}

/// Attributes a datagram from `sender` to a run of daemon `daemon`, reading run ids through
/// `run_id_of`.
fn attribute(
    daemon: u32,
    sender: Option<i32>,
    datagram: &[u8],
    run_id_of: impl Fn(i32) -> Option<String>,
) -> Result<FromRun, Dropped> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Dropped::Oversized);
    }
    let sender = sender
        .filter(|pid| *pid > 0)
        .ok_or(Dropped::NoCredentials)?;
    let id = run_id_of(sender)
        .or_else(|| main_pid(datagram).and_then(&run_id_of))
        .ok_or(Dropped::Unmarked)?;
    let (pid, app, index, run) = parse_run_id(&id).ok_or(Dropped::Unmarked)?;
    if pid != daemon {
        return Err(Dropped::OtherDaemon);
    }
    let msgs = parse(datagram);
    if msgs.is_empty() {
        return Err(Dropped::NothingUnderstood);
    }
    Ok(FromRun {
        app,
        index,
        run,
        msgs,
    })
}

/// Binds the notify socket at `path` (a stale socket file is removed first; any other file is
/// left alone and is an error), mode 0600, with `SO_PASSCRED` so that every datagram arrives
/// with its sender's pid. Must be called inside a tokio runtime.
pub fn bind(path: &Path) -> io::Result<UnixDatagram> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = std::os::unix::net::UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    setsockopt(&socket, sockopt::PassCred, &true).map_err(io::Error::from)?;
    socket.set_nonblocking(true)?;
    UnixDatagram::from_std(socket)
}

/// One datagram as read: its length (the real one, even when it did not fit) and sender.
struct Received {
    len: usize,
    truncated: bool,
    sender: Option<i32>,
}

/// Reads one datagram into `buf` without blocking, closing every descriptor it carried.
fn recv_one(fd: RawFd, buf: &mut [u8], control: &mut [u8]) -> io::Result<Received> {
    let mut iov = [IoSliceMut::new(buf)];
    // MSG_TRUNC makes the kernel return the datagram's real length, so an oversized one is told
    // from one that fits exactly.
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC | MsgFlags::MSG_CMSG_CLOEXEC;
    let msg = recvmsg::<()>(fd, &mut iov, Some(control), flags).map_err(io::Error::from)?;
    let mut sender = None;
    // With room for SCM_MAX_FD descriptors the control data is never truncated; if it were,
    // nix refuses to walk it and the datagram has no credentials.
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            match cmsg {
                ControlMessageOwned::ScmCredentials(creds) => sender = Some(creds.pid()),
                ControlMessageOwned::ScmRights(fds) => {
                    for fd in fds {
                        // SAFETY: the kernel just installed this descriptor for us and nothing
                        // else knows it; dropping the OwnedFd closes it (systemd-notify's
                        // barrier waits for exactly that).
                        drop(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Received {
        len: msg.bytes,
        truncated: msg.bytes > MAX_DATAGRAM || msg.flags.contains(MsgFlags::MSG_TRUNC),
        sender,
    })
}

/// Serves the notify socket until `tx` closes: each datagram is attributed to the run that sent
/// it (see the module doc) and forwarded; the others are dropped.
pub async fn serve(socket: UnixDatagram, tx: UnboundedSender<FromRun>) {
    let daemon = std::process::id();
    let fd = socket.as_raw_fd();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut control = nix::cmsg_space!(UnixCredentials, [RawFd; SCM_MAX_FD]);
    let mut dropped: u64 = 0;
    loop {
        let got = tokio::select! {
            _ = tx.closed() => return,
            got = socket.async_io(Interest::READABLE, || recv_one(fd, &mut buf, &mut control)) => got,
        };
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                tracing::warn!("reading the notify socket: {e}");
                // Whatever failed is unlikely to pass at once: do not spin on it.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let result = if got.truncated {
            Err(Dropped::Oversized)
        } else {
            attribute(daemon, got.sender, &buf[..got.len], proc::run_id_of)
        };
        match result {
            Ok(from) => {
                if tx.send(from).is_err() {
                    return;
                }
            }
            Err(why) => {
                dropped += 1;
                tracing::debug!(
                    sender = got.sender,
                    bytes = got.len,
                    dropped,
                    "notify datagram dropped: {why:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotifyMsg::*;
    use std::collections::HashMap;
    use std::process::Stdio;
    use std::time::Duration;
    use tokio::sync::mpsc;

    #[test]
    fn parses_datagrams() {
        let big = format!("READY=1\nSTATUS={}", "x".repeat(MAX_DATAGRAM));
        let exact = format!("READY=1\nSTATUS={}", "x".repeat(MAX_DATAGRAM - 15));
        assert_eq!(exact.len(), MAX_DATAGRAM);
        let cases: Vec<(&[u8], Vec<NotifyMsg>)> = vec![
            (b"READY=1", vec![Ready]),
            (b"RELOADING=1", vec![Reloading]),
            (b"STOPPING=1", vec![Stopping]),
            (b"WATCHDOG=1", vec![Watchdog]),
            (
                b"STATUS=serving 3 clients",
                vec![Status("serving 3 clients".into())],
            ),
            (b"STATUS=a=b", vec![Status("a=b".into())]),
            (b"STATUS=", vec![Status(String::new())]),
            (
                b"RELOADING=1\nMONOTONIC_USEC=123\nSTATUS=reloading\n",
                vec![Reloading, Status("reloading".into())],
            ),
            (b"READY=1\nMAINPID=42\nREADY=1", vec![Ready, Ready]),
            (b"READY=0", vec![]),
            (b"READY=true", vec![]),
            (b"WATCHDOG=trigger", vec![]),
            (b"ready=1", vec![]),
            (b"READY", vec![]),
            (b"", vec![]),
            (b"\x00\x01garbage\n==\n", vec![]),
            (b"READY=1\nSTATUS=\xff\xfe", vec![]),
            (big.as_bytes(), vec![]),
        ];
        for (datagram, want) in cases {
            assert_eq!(
                parse(datagram),
                want,
                "{:?}",
                String::from_utf8_lossy(datagram)
            );
        }
        assert_eq!(parse(exact.as_bytes()).len(), 2);
    }

    #[test]
    fn splits_run_ids() {
        let some = |d: u32, a: &str, i: u32, r: u64| Some((d, a.to_string(), i, r));
        assert_eq!(parse_run_id("100:web:0:1"), some(100, "web", 0, 1));
        assert_eq!(parse_run_id("100:a:b:c:3:42"), some(100, "a:b:c", 3, 42));
        assert_eq!(parse_run_id("1:::0:0"), some(1, ":", 0, 0));
        for bad in [
            "",
            "100",
            "100:web",
            "100:web:0",
            "100::0:1",
            "x:web:0:1",
            "100:web:x:1",
            "100:web:0:x",
            "100:web:0:-1",
            "-1:web:0:1",
        ] {
            assert_eq!(parse_run_id(bad), None, "{bad}");
        }
        let own = proc::run_id("a:b", 7, 9);
        assert_eq!(parse_run_id(&own), some(std::process::id(), "a:b", 7, 9));
    }

    #[test]
    fn attributes_by_sender_then_main_pid() {
        let ids: HashMap<i32, &str> = [(10, "7:web:1:3"), (20, "8:web:1:3"), (30, "7:api:0:5")]
            .into_iter()
            .collect();
        let lookup = |pid: i32| ids.get(&pid).map(|s| s.to_string());
        let web = |msgs| {
            Ok(FromRun {
                app: "web".into(),
                index: 1,
                run: 3,
                msgs,
            })
        };
        assert_eq!(attribute(7, Some(10), b"READY=1", lookup), web(vec![Ready]));
        assert_eq!(
            attribute(7, None, b"READY=1", lookup),
            Err(Dropped::NoCredentials)
        );
        assert_eq!(
            attribute(7, Some(0), b"READY=1", lookup),
            Err(Dropped::NoCredentials)
        );
        assert_eq!(
            attribute(7, Some(99), b"READY=1", lookup),
            Err(Dropped::Unmarked)
        );
        assert_eq!(
            attribute(7, Some(20), b"READY=1", lookup),
            Err(Dropped::OtherDaemon)
        );
        assert_eq!(
            attribute(7, Some(10), b"READY=0", lookup),
            Err(Dropped::NothingUnderstood)
        );
        // A sender without a run id (gone already) is attributed through MAINPID...
        assert_eq!(
            attribute(7, Some(99), b"READY=1\nMAINPID=10", lookup),
            web(vec![Ready])
        );
        // ...but a marked sender speaks for its own run, whatever MAINPID says.
        assert!(matches!(
            attribute(7, Some(30), b"READY=1\nMAINPID=10", lookup),
            Ok(FromRun { ref app, .. }) if app == "api"
        ));
        assert_eq!(
            attribute(7, Some(99), b"READY=1\nMAINPID=98", lookup),
            Err(Dropped::Unmarked)
        );
        let big = vec![b'x'; MAX_DATAGRAM + 1];
        assert_eq!(
            attribute(7, Some(10), &big, lookup),
            Err(Dropped::Oversized)
        );
    }

    /// The notify socket of a test: bound in a fresh folder and served.
    struct Served {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        rx: mpsc::UnboundedReceiver<FromRun>,
    }

    fn served() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = bind(&path).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(serve(socket, tx));
        Served {
            _dir: dir,
            path,
            rx,
        }
    }

    impl Served {
        async fn next(&mut self) -> FromRun {
            tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("no notify message within 10 s")
                .expect("serve ended")
        }
    }

    /// A process that sends `payload` (Python bytes literal) to the socket, then stays alive
    /// until its stdin closes, so its environment can be read.
    fn sender(path: &Path, payload: &str, run_id: Option<&str>) -> tokio::process::Child {
        let script = format!(
            "import socket, sys\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)\n\
             s.sendto({payload}, sys.argv[1])\n\
             print('sent', flush=True)\n\
             sys.stdin.read()\n"
        );
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg("-c")
            .arg(script)
            .arg(path)
            .env_remove(proc::RUN_ID_VAR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(id) = run_id {
            cmd.env(proc::RUN_ID_VAR, id);
        }
        cmd.spawn().unwrap()
    }

    /// Waits until the sender says it has sent.
    async fn sent(child: &mut tokio::process::Child) {
        use tokio::io::AsyncBufReadExt;
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut out = tokio::io::BufReader::new(out);
        let read = out.read_line(&mut line);
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.trim(), "sent");
    }

    #[tokio::test]
    async fn forwards_what_a_run_says() {
        let mut s = served();
        let id = proc::run_id("web:api", 2, 7);
        let mut child = sender(&s.path, r#"b"READY=1\nSTATUS=up""#, Some(&id));
        let got = s.next().await;
        assert_eq!(
            got,
            FromRun {
                app: "web:api".into(),
                index: 2,
                run: 7,
                msgs: vec![Ready, Status("up".into())],
            }
        );
        sent(&mut child).await;
    }

    #[tokio::test]
    async fn ignores_unmarked_senders_oversized_and_garbage() {
        let mut s = served();
        let id = proc::run_id("web", 0, 1);
        // Each is sent (and so queued) before the next; the first message forwarded must be the
        // last one, which proves the others were read and dropped.
        let big = format!(r#"b"READY=1\n" + b"x" * {}"#, 100 * 1024);
        let mut children = Vec::new();
        for (payload, run_id) in [
            (r#"b"READY=1""#, None),
            (big.as_str(), Some(id.as_str())),
            (r#"b"\xff\xfeREADY=1""#, Some(id.as_str())),
            (r#"b"READY=1\nSTATUS=" + b"x" * 4096"#, Some(id.as_str())),
            (r#"b"STATUS=last""#, Some(id.as_str())),
        ] {
            let mut child = sender(&s.path, payload, run_id);
            sent(&mut child).await;
            children.push(child);
        }
        let got = s.next().await;
        assert_eq!(got.msgs, vec![Status("last".into())]);
    }

    #[tokio::test]
    async fn attributes_a_gone_sender_through_main_pid() {
        let mut s = served();
        let id = proc::run_id("web", 1, 4);
        let mut main = tokio::process::Command::new("sleep")
            .arg("30")
            .env(proc::RUN_ID_VAR, &id)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = main.id().unwrap();
        let payload = format!(r#"b"READY=1\nMAINPID={pid}""#);
        let mut child = sender(&s.path, &payload, None);
        assert_eq!(s.next().await.run, 4);
        sent(&mut child).await;
        let _ = main.kill().await;
    }

    #[tokio::test]
    async fn systemd_notify_works_unchanged() {
        if std::process::Command::new("systemd-notify")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("systemd-notify is not installed: skipped");
            return;
        }
        let mut s = served();
        let id = proc::run_id("web", 0, 2);
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg("systemd-notify --ready --status='warming up'")
            .env("NOTIFY_SOCKET", &s.path)
            .env(proc::RUN_ID_VAR, &id)
            .status();
        // Its barrier makes it wait until the socket closed the descriptor it sent.
        let status = tokio::time::timeout(Duration::from_secs(4), status)
            .await
            .expect("systemd-notify still waits for its barrier")
            .unwrap();
        assert!(status.success());
        let got = s.next().await;
        assert_eq!((got.app.as_str(), got.run), ("web", 2));
        assert!(got.msgs.contains(&Ready), "{:?}", got.msgs);
        assert!(
            got.msgs.contains(&Status("warming up".into())),
            "{:?}",
            got.msgs
        );
    }

    #[tokio::test]
    async fn bind_replaces_a_stale_socket_but_never_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        drop(bind(&path).unwrap());
        let again = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(again);
        let file = dir.path().join("file");
        std::fs::write(&file, "keep").unwrap();
        let err = bind(&file).unwrap_err();
        assert!(err.to_string().contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    }
}
