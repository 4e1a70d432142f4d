//! A temp home with a real daemon, a way to run the CLI against it, and deadline-based waits.
//!
//! Nothing here waits without a deadline: every child a test runs goes through [`Running`] (or
//! [`wait_exit`] for the daemon), which kills it by pid when its time is up and fails the test
//! with the command, what it printed so far, and the daemon log.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_svctl");

/// How long a condition may take to hold. Generous: the test machines are shared and loaded.
pub const BUDGET: Duration = Duration::from_secs(30);

/// How long one CLI call (or any other child a test runs to completion) may take unless the
/// call says otherwise: generous for a loaded 2-core machine, and a hang fails after it instead
/// of hanging CI.
pub const CLI_DEADLINE: Duration = Duration::from_secs(60);

/// After a SIGKILL, how long the kernel may take to let the child be reaped.
const REAP_DEADLINE: Duration = Duration::from_secs(10);

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// A child whose stdout and stderr are collected as they come (so a watchdog that gives up on
/// it can still show what it printed, and a test can wait for a line while it runs). Killed by
/// pid when dropped before it finished.
pub struct Running {
    what: String,
    child: Option<Child>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Spawns `cmd` with its stdout and stderr piped to the collectors.
    pub fn spawn(cmd: &mut Command) -> Running {
        Running::try_spawn(cmd).unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"))
    }

    /// [`Running::spawn`] for a program that may not be installed.
    pub fn try_spawn(cmd: &mut Command) -> std::io::Result<Running> {
        let what = format!("{cmd:?}");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), out.clone()),
            collect(child.stderr.take().expect("piped stderr"), err.clone()),
        ];
        Ok(Running {
            what,
            child: Some(child),
            out,
            err,
            readers,
        })
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// The command, and what it printed so far, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "command: {}\n--- its stdout so far ---\n{}\n--- its stderr so far ---\n{}",
            self.what,
            self.stdout(),
            self.stderr()
        )
    }

    /// Waits until it exited and its output is read, within `budget`. On expiry it is killed
    /// (by pid) and the test fails with the command, its output so far and `context()`.
    pub fn finish(mut self, budget: Duration, context: impl Fn() -> String) -> Output {
        let deadline = Instant::now() + budget;
        let mut child = self.child.take().expect("a child");
        let status = match wait_exit(&mut child, deadline) {
            Some(status) => status,
            None => {
                kill_and_reap(&mut child);
                panic!(
                    "timed out: still running after {budget:?}, killed it (pid {})\n{}\n{}",
                    child.id(),
                    self.report(),
                    context()
                );
            }
        };
        // A grandchild that kept the pipes open would make the reads wait forever.
        let mut pause = Duration::from_millis(1);
        while !self.readers.iter().all(JoinHandle::is_finished) {
            if Instant::now() > deadline {
                panic!(
                    "timed out: it exited ({status}) but its output pipes stayed open for \
                     {budget:?} (a process it started holds them)\n{}\n{}",
                    self.report(),
                    context()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        for r in self.readers.drain(..) {
            r.join().expect("output reader");
        }
        Output {
            status,
            stdout: std::mem::take(&mut *self.out.lock().unwrap()),
            stderr: std::mem::take(&mut *self.err.lock().unwrap()),
        }
    }

    /// Kills it (by pid) now and reaps it.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Polls `child` until it exits or `deadline` passes (`None`); it is left running then.
pub fn wait_exit(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// SIGKILLs `child` (by its pid) and reaps it; a child that cannot be reaped even then fails
/// the test.
pub fn kill_and_reap(child: &mut Child) -> ExitStatus {
    // An error here means it already exited; try_wait below reaps it.
    let _ = child.kill();
    wait_exit(child, Instant::now() + REAP_DEADLINE).unwrap_or_else(|| {
        panic!(
            "pid {} was not reaped {REAP_DEADLINE:?} after SIGKILL",
            child.id()
        )
    })
}

/// Runs `cmd` to completion within `budget` (see [`Running::finish`]).
pub fn run_within(cmd: &mut Command, budget: Duration, context: impl Fn() -> String) -> Output {
    Running::spawn(cmd).finish(budget, context)
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
        self.start_daemon_with(&[]);
    }

    /// Starts the daemon with extra `svctl daemon` flags (`--metrics-addr`, `--hook`).
    pub fn start_daemon_with(&mut self, flags: &[&str]) {
        self.start_daemon_full(flags, &[], &self.file("daemon.log"));
    }

    /// Starts the daemon with extra environment variables (`SVCTL_KMSG=off`…).
    pub fn start_daemon_env(&mut self, env: &[(&str, &str)]) {
        self.start_daemon_full(&[], env, &self.file("daemon.log"));
    }

    /// [`Home::start_daemon`] with the daemon's stdout and stderr on `path` (`/dev/full`: a
    /// disk that is always full).
    pub fn start_daemon_logging_to(&mut self, path: &Path) {
        self.start_daemon_full(&[], &[], path);
    }

    fn start_daemon_full(&mut self, flags: &[&str], env: &[(&str, &str)], path: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("daemon log");
        let child = Command::new(BIN)
            .arg("daemon")
            .args(flags)
            .env("SVCTL_HOME", self.path())
            .envs(env.iter().copied())
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
        match wait_exit(&mut child, Instant::now() + BUDGET) {
            Some(status) => status.code(),
            None => {
                kill_and_reap(&mut child);
                panic!(
                    "the daemon (pid {}) did not exit within {BUDGET:?}: killed it\n{}",
                    child.id(),
                    self.log()
                );
            }
        }
    }

    /// SIGKILLs the daemon (by pid) and reaps it, as a crash would end it.
    pub fn kill_daemon(&mut self) {
        let mut child = self.daemon.take().expect("a daemon child");
        kill_and_reap(&mut child);
    }

    /// The CLI with this home, no colour and no stdin; see [`Home::run`] to run it.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("SVCTL_HOME", self.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` to completion within [`CLI_DEADLINE`]; a hang fails the test with the
    /// command, its output so far and the daemon log.
    pub fn run(&self, cmd: &mut Command) -> Output {
        self.run_within(cmd, CLI_DEADLINE)
    }

    /// [`Home::run`] with a deadline of its own, for a call that legitimately takes longer.
    pub fn run_within(&self, cmd: &mut Command, budget: Duration) -> Output {
        run_within(cmd, budget, || self.log())
    }

    /// Starts `cmd` in the background (`logs --follow`, racing clients); finish it with
    /// [`Home::finish`], or drop it to kill it.
    pub fn spawn(&self, cmd: &mut Command) -> Running {
        Running::spawn(cmd)
    }

    /// Waits for a background command within [`CLI_DEADLINE`].
    pub fn finish(&self, r: Running) -> Output {
        r.finish(CLI_DEADLINE, || self.log())
    }

    /// Runs the CLI without autostart (the test owns the daemon).
    pub fn svctl(&self, args: &[&str]) -> Output {
        self.svctl_within(CLI_DEADLINE, args)
    }

    /// [`Home::svctl`] with a deadline of its own.
    pub fn svctl_within(&self, budget: Duration, args: &[&str]) -> Output {
        let mut all = vec!["--no-autostart"];
        all.extend_from_slice(args);
        self.run_within(&mut self.cmd(&all), budget)
    }

    /// Runs the CLI and insists that it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.svctl(args);
        self.succeeded(&format!("svctl {args:?}"), &out)
    }

    /// Insists that `out` is a success; returns its stdout.
    pub fn succeeded(&self, what: &str, out: &Output) -> String {
        assert!(
            out.status.success(),
            "{what} failed ({:?})\nstdout: {}\nstderr: {}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A raw connection to the control socket whose reads and writes give up after
    /// [`CLI_DEADLINE`] (then [`read_frame`] answers `None`).
    pub fn connect(&self) -> std::os::unix::net::UnixStream {
        let s = std::os::unix::net::UnixStream::connect(self.file("svctl.sock"))
            .unwrap_or_else(|e| panic!("connect to the daemon: {e}\n{}", self.log()));
        s.set_read_timeout(Some(CLI_DEADLINE)).unwrap();
        s.set_write_timeout(Some(CLI_DEADLINE)).unwrap();
        s
    }

    /// `svctl history ARGS… --json`, parsed.
    pub fn history(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["history"];
        all.extend_from_slice(args);
        all.push("--json");
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
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

    /// Waits until `cond` holds, within [`BUDGET`]; on time-out the test fails with the daemon
    /// log.
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        wait_for(what, BUDGET, &mut cond, || self.log());
    }

    /// Waits until the stdout lines the background command `r` printed so far satisfy `cond`,
    /// within [`BUDGET`]; on time-out the test fails with its output so far and the daemon log.
    pub fn wait_printed(&self, r: &Running, what: &str, cond: impl Fn(&[&str]) -> bool) {
        wait_for(
            what,
            BUDGET,
            &mut || cond(&r.stdout().lines().collect::<Vec<_>>()),
            || format!("{}\n{}", r.report(), self.log()),
        );
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
            // An error means it is gone already; wait_exit reaps it.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if wait_exit(&mut child, Instant::now() + BUDGET).is_none() {
                kill_and_reap(&mut child);
            }
        }
        self.kill_strays();
    }
}

impl Home {
    /// Ends, by pid, every process still running with this home in its environment: apps of a
    /// daemon a test SIGKILLed (or that a slow shutdown left), which no later daemon will adopt
    /// once the home is gone. Only processes a test of this home started carry it.
    fn kill_strays(&self) {
        let mine = format!("SVCTL_HOME={}", self.path().display());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(env) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|kv| kv == mine.as_bytes()) {
                let pid = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
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

/// Reads one length-prefixed JSON frame from a raw socket; `None` when it closed, its read
/// timed out, or the frame is not JSON.
pub fn read_frame(s: &mut std::os::unix::net::UnixStream) -> Option<Value> {
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
