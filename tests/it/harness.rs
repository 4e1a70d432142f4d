//! A temp home with a real daemon, a way to run the CLI against it, and deadline-based waits.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_svctl");

/// Generous: the test machines are shared and loaded.
pub const BUDGET: Duration = Duration::from_secs(30);

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

pub struct Home {
    pub dir: tempfile::TempDir,
    daemon: Option<Child>,
}

impl Home {
    /// A fresh home with no daemon yet.
    pub fn empty() -> Home {
        // Short paths under /tmp: the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("svt")
            .tempdir_in("/tmp")
            .expect("temp home");
        Home { dir, daemon: None }
    }

    /// A fresh home with a daemon running in the foreground as a child of the test.
    pub fn new() -> Home {
        let mut h = Home::empty();
        h.start_daemon();
        h
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn start_daemon(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file("daemon.log"))
            .expect("daemon log");
        let child = Command::new(BIN)
            .arg("daemon")
            .env("SVCTL_HOME", self.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.daemon = Some(child);
        self.wait_until("the daemon answers ping", || {
            self.svctl(&["ping"]).status.success()
        });
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|c| c.id())
    }

    /// Waits for the foreground daemon to exit; returns its exit code.
    pub fn wait_daemon_exit(&mut self) -> Option<i32> {
        let mut child = self.daemon.take()?;
        let deadline = Instant::now() + BUDGET;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon did not exit within {BUDGET:?}\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes the daemon child without stopping it (for tests that kill it themselves).
    pub fn forget_daemon(&mut self) -> Option<Child> {
        self.daemon.take()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("SVCTL_HOME", self.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs the CLI without autostart (the test owns the daemon).
    pub fn svctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["--no-autostart"];
        all.extend_from_slice(args);
        self.cmd(&all).output().expect("run svctl")
    }

    /// Runs the CLI and insists that it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.svctl(args);
        assert!(
            out.status.success(),
            "svctl {args:?} failed ({:?})\nstdout: {}\nstderr: {}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn list(&self) -> Vec<Value> {
        let text = self.ok(&["list", "--json"]);
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(v)) => v,
            other => panic!("list --json is not an array: {other:?}\n{text}"),
        }
    }

    /// The instance `name:index` from `list --json`.
    pub fn proc(&self, name: &str, index: u64) -> Option<Value> {
        self.list()
            .into_iter()
            .find(|p| p["name"] == name && p["instance"] == index)
    }

    pub fn status(&self, name: &str, index: u64) -> Option<String> {
        self.proc(name, index)
            .and_then(|p| p["status"].as_str().map(str::to_string))
    }

    pub fn wait_status(&self, name: &str, index: u64, want: &str) -> Value {
        let mut last = None;
        self.wait_until(&format!("{name}:{index} is {want}"), || {
            last = self.proc(name, index);
            last.as_ref().is_some_and(|p| p["status"] == want)
        });
        last.unwrap_or(Value::Null)
    }

    /// Waits until `name:index` satisfies `cond`; returns it.
    pub fn wait_status_where(
        &self,
        name: &str,
        index: u64,
        what: &str,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = None;
        self.wait_until(&format!("{name}:{index} is {what}"), || {
            last = self.proc(name, index);
            last.as_ref().is_some_and(&cond)
        });
        last.unwrap_or(Value::Null)
    }

    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        wait_for(what, BUDGET, &mut cond, || self.log());
    }

    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.file("daemon.log")).unwrap_or_default();
        format!("--- daemon.log ---\n{text}--- end ---")
    }

    /// Writes an ecosystem file in the home and returns its path.
    pub fn ecosystem(&self, name: &str, yaml: &str) -> String {
        let p = self.file(name);
        std::fs::write(&p, yaml).expect("write ecosystem");
        p.display().to_string()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(mut child) = self.daemon.take() {
            // SIGTERM: the daemon stops its apps (and their groups) before it exits.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + BUDGET;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `cond` until it holds or `budget` runs out; on time-out, panics with `what` and
/// `context()`.
pub fn wait_for(
    what: &str,
    budget: Duration,
    cond: &mut dyn FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + budget;
    let mut pause = Duration::from_millis(5);
    loop {
        if cond() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {budget:?} waiting until {what}\n{}",
                context()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); /proc tells them apart.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Reads one length-prefixed JSON frame from a raw socket; `None` when it closed or the frame
/// is not JSON.
pub fn read_frame(s: &mut std::os::unix::net::UnixStream) -> Option<Value> {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads pids written one per line by a fixture, once the file exists.
pub fn read_pids(home: &Home, path: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    home.wait_until(&format!("{} is written", path.display()), || {
        pids = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        !pids.is_empty()
    });
    pids
}
