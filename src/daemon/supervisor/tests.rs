//! The actor in-process, on tokio's paused clock, with processes the tests end at will: restart
//! delays, kill timeouts, waiters and domain errors, deterministic and instant.

use super::spawner::{Spawned, Spawner};
use super::*;
use crate::config::AppSpec;
use crate::proc::ExitInfo;
use crate::proc::tree::Member;
use crate::record::{Cause, Status};
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::path::PathBuf;

/// Fake pids start above the kernel's highest possible pid (2^22), so nothing real is hit.
const FIRST_PID: i32 = 5_000_000;

#[derive(Default)]
struct World {
    next: i32,
    running: HashMap<i32, oneshot::Sender<ExitInfo>>,
    signals: Vec<(i32, Signal)>,
    /// Processes end on the graceful signal (else only on SIGKILL).
    obey_graceful: bool,
    /// Spawns fail with this OS error.
    fail: Option<i32>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl Fake {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().expect("world")
    }

    /// Ends process `pid` as if it exited with `code`.
    fn exit(&self, pid: i32, code: i32) {
        let tx = self.world().running.remove(&pid).expect("a running fake");
        let _ = tx.send(ExitInfo {
            code: Some(code),
            signal: None,
            core_dumped: false,
        });
    }

    fn signals(&self) -> Vec<(i32, Signal)> {
        self.world().signals.clone()
    }
}

impl Spawner for Fake {
    fn spawn(
        &mut self,
        _: &AppSpec,
        _: u32,
        _: u64,
        ctx: &super::spawner::SpawnContext,
    ) -> std::io::Result<Spawned> {
        let mut w = self.world();
        if let Some(errno) = w.fail {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        let pid = FIRST_PID + w.next;
        w.next += 1;
        let (tx, rx) = oneshot::channel();
        w.running.insert(pid, tx);
        Ok(Spawned {
            pid: Some(pid),
            stdout: None,
            stderr: None,
            env: ctx.env.clone(),
            exit: Box::pin(async move {
                rx.await.unwrap_or(ExitInfo {
                    code: None,
                    signal: None,
                    core_dumped: false,
                })
            }),
        })
    }

    fn signal(&mut self, pid: i32, sig: Signal, _: bool, _: Vec<Member>) {
        let mut w = self.world();
        w.signals.push((pid, sig));
        if (sig == Signal::SIGKILL || w.obey_graceful)
            && let Some(tx) = w.running.remove(&pid)
        {
            let _ = tx.send(ExitInfo {
                code: None,
                signal: Some(sig as i32),
                core_dumped: false,
            });
        }
    }

    // Fake pids are never signalled for real; the test sees what was asked.
    fn send(&mut self, pid: i32, sig: Signal, _: bool) -> std::io::Result<()> {
        self.world().signals.push((pid, sig));
        Ok(())
    }
}

struct Daemon {
    tx: mpsc::Sender<Command>,
    fake: Fake,
    /// The sampler's state: a round waits while a test holds it, as on a saturated host.
    sampler: Arc<Mutex<(TreeSampler, CpuMeter)>>,
    cwd: PathBuf,
    _home: tempfile::TempDir,
}

impl Daemon {
    fn new() -> Daemon {
        let home = tempfile::Builder::new()
            .prefix("svu")
            .tempdir_in("/tmp")
            .expect("temp home");
        let paths = Paths::new(home.path().to_path_buf()).expect("paths");
        std::fs::create_dir_all(&paths.logs_dir).expect("logs dir");
        let (store, _) = Store::open(&paths.db).expect("store");
        let fake = Fake::default();
        let sup = Supervisor::new(paths, store, Vec::new(), Defaults::default())
            .with_spawner(Box::new(fake.clone()));
        let sampler = sup.sampler.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(sup.run(rx));
        Daemon {
            tx,
            fake,
            sampler,
            cwd: home.path().to_path_buf(),
            _home: home,
        }
    }

    fn spec(&self, name: &str) -> AppSpec {
        let mut s = AppSpec::with_defaults(name, "/bin/fake", self.cwd.clone());
        s.treekill = false;
        s
    }

    async fn ask(&self, req: Request) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Request(req, reply))
            .await
            .expect("the actor runs");
        answer.await.expect("an answer")
    }

    async fn start(&self, spec: AppSpec) -> Vec<crate::ipc::ProcessInfo> {
        match self
            .ask(Request::Start {
                apps: vec![spec],
                meta: None,
            })
            .await
        {
            Ok(Response::Done { processes, .. }) => processes,
            other => panic!("start: {other:?}"),
        }
    }

    async fn list(&self) -> Vec<crate::ipc::ProcessInfo> {
        match self.ask(Request::List).await {
            Ok(Response::List { processes, .. }) => processes,
            other => panic!("list: {other:?}"),
        }
    }

    /// The one instance of the only app, once the actor has handled what is queued.
    async fn only(&self) -> crate::ipc::ProcessInfo {
        turns().await;
        self.list().await.pop().expect("one instance")
    }
}

/// A few turns of the scheduler, so that what is queued (exits behind requests, a round's
/// result, a timer's message) is handled.
async fn turns() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_crash_waits_out_the_restart_delay_on_the_clock() {
    let d = Daemon::new();
    let mut spec = d.spec("web");
    spec.restart_delay_ms = 5000;
    let started = d.start(spec).await;
    assert_eq!(started[0].status, Status::Online);
    let pid = started[0].pid.expect("a pid");
    // A stable run (past min_uptime), then a crash.
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.fake.exit(pid, 3);
    let p = d.only().await;
    assert_eq!((p.status, p.run), (Status::WaitingRestart, 1));
    let exit = p.last_exit.expect("the exit is known");
    assert_eq!((exit.cause, exit.exit_code), (Cause::Exited, Some(3)));
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(d.only().await.status, Status::WaitingRestart);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let p = d.only().await;
    assert_eq!((p.status, p.run, p.restarts), (Status::Online, 2, 1));
    assert_eq!((p.auto_restarts, p.manual_restarts), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stop_sends_sigkill_after_kill_timeout_and_answers_once_down() {
    let d = Daemon::new();
    let mut spec = d.spec("stubborn");
    spec.kill_timeout_ms = 3000;
    let pid = d.start(spec).await[0].pid.expect("a pid");
    let tx = d.tx.clone();
    let stop = tokio::spawn(async move {
        let (reply, answer) = oneshot::channel();
        let req = Request::Stop {
            target: "stubborn".into(),
        };
        tx.send(Command::Request(req, reply)).await.expect("sent");
        answer.await.expect("an answer")
    });
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert_eq!(d.fake.signals(), vec![(pid, Signal::SIGINT)]);
    assert!(
        !stop.is_finished(),
        "the stop answers only once the process is gone"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        d.fake.signals(),
        vec![(pid, Signal::SIGINT), (pid, Signal::SIGKILL)]
    );
    match stop.await.expect("joined") {
        Ok(Response::Done { processes, .. }) => {
            assert_eq!(processes[0].status, Status::Stopped);
            let exit = processes[0].last_exit.clone().expect("recorded");
            assert_eq!(exit.cause, Cause::Stopped);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_targets_and_bad_requests_are_domain_errors() {
    let d = Daemon::new();
    d.start(d.spec("api")).await;
    match d
        .ask(Request::Stop {
            target: "apx".into(),
        })
        .await
    {
        Err(RequestError::NotFound { known, .. }) => assert_eq!(known, vec!["api"]),
        other => panic!("{other:?}"),
    }
    match d
        .ask(Request::Delete {
            target: "api:0".into(),
        })
        .await
    {
        Err(RequestError::BadRequest(m)) => assert!(m.contains("whole apps"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut huge = d.spec("huge");
    huge.instances = 100_000;
    match d
        .ask(Request::Start {
            apps: vec![huge],
            meta: None,
        })
        .await
    {
        Err(RequestError::BadRequest(m)) => assert!(m.contains("instances"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn restarting_a_stopped_app_is_a_start_and_a_second_restart_counts_one() {
    let d = Daemon::new();
    d.fake.world().obey_graceful = true;
    d.start(d.spec("job")).await;
    let stop = d
        .ask(Request::Stop {
            target: "job".into(),
        })
        .await;
    assert!(matches!(stop, Ok(Response::Done { .. })), "{stop:?}");
    let restart = || Request::Restart {
        target: "job".into(),
        update_env: None,
    };
    assert!(d.ask(restart()).await.is_ok());
    let p = d.only().await;
    assert_eq!((p.status, p.restarts), (Status::Online, 0));
    assert!(d.ask(restart()).await.is_ok());
    let p = d.only().await;
    assert_eq!(
        (p.status, p.restarts, p.manual_restarts),
        (Status::Online, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_program_that_cannot_run_is_errored_with_the_os_error() {
    let d = Daemon::new();
    d.fake.world().fail = Some(libc::EACCES);
    let p = d.start(d.spec("noexec")).await.pop().expect("one");
    assert_eq!(p.status, Status::Errored);
    let exit = p.last_exit.expect("recorded");
    assert_eq!(exit.cause, Cause::SpawnFailed);
    assert!(
        exit.error.is_some_and(|e| e.contains("Permission denied")),
        "the OS error is kept"
    );
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_ends_in_errored_after_max_restarts() {
    let d = Daemon::new();
    let mut spec = d.spec("loop");
    spec.max_restarts = 3;
    d.start(spec).await;
    for _ in 0..3 {
        let p = d.only().await;
        let pid = p.pid.unwrap_or_else(|| panic!("running: {p:?}"));
        d.fake.exit(pid, 1);
    }
    let p = d.only().await;
    assert_eq!(
        (p.status, p.unstable_restarts, p.restarts),
        (Status::Errored, 3, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn out_of_file_descriptors_is_retried_with_backoff_until_the_spawn_works() {
    let d = Daemon::new();
    d.fake.world().fail = Some(libc::EMFILE);
    let mut spec = d.spec("starved");
    spec.max_restarts = 2;
    let p = d.start(spec).await.pop().expect("one");
    assert_eq!(p.status, Status::WaitingRestart);
    let exit = p.last_exit.expect("recorded");
    assert_eq!(exit.cause, Cause::SpawnFailed);
    assert!(
        exit.error.is_some_and(|e| e.contains("EMFILE")),
        "the errno is named"
    );
    // More failures than max_restarts: the host's shortage does not make the app errored.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(16)).await;
        assert_eq!(d.only().await.status, Status::WaitingRestart);
    }
    d.fake.world().fail = None;
    tokio::time::sleep(Duration::from_secs(16)).await;
    let p = d.only().await;
    assert_eq!(p.status, Status::Online);
    assert!(p.run > 5, "each try is a run of its own: {}", p.run);
}

#[tokio::test(start_paused = true)]
async fn a_view_waits_for_a_slow_round_at_most_view_wait_ms() {
    let d = Daemon::new();
    d.start(d.spec("api")).await;
    // Another thread holds the sampler until told: the round waits for it.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let sampler = d.sampler.clone();
    let holder = std::thread::spawn(move || {
        let _held = sampler.lock();
        let _ = locked.send(());
        let _ = hold.recv();
    });
    is_locked.recv().expect("the sampler held");
    let (reply, mut answer) = oneshot::channel();
    d.tx.send(Command::Request(Request::List, reply))
        .await
        .expect("the actor runs");
    turns().await;
    assert!(answer.try_recv().is_err(), "answered before its round");
    tokio::time::advance(Duration::from_millis(super::sample::VIEW_WAIT_MS)).await;
    turns().await;
    match answer.try_recv() {
        Ok(Ok(Response::List { processes, .. })) => assert_eq!(processes.len(), 1),
        other => panic!("no answer while the round is out: {other:?}"),
    }
    let _ = release.send(());
    holder.join().expect("the holder thread");
}

#[tokio::test(start_paused = true)]
async fn a_view_its_round_answered_leaves_no_timer_to_wake_the_daemon() {
    let d = Daemon::new();
    d.start(d.spec("api")).await;
    turns().await;
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = alive();
    assert_eq!(d.list().await.len(), 1);
    turns().await;
    // The view's deadline went with its answer: nothing is left to fire VIEW_WAIT_MS later.
    assert_eq!(alive(), before, "a task outlives the answered view");
}
