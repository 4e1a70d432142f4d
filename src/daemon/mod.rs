//! Owns the daemon process: its home folder and lock, start-up (restoring the previous daemon's
//! state from the store), the control socket server, signals, and an orderly shutdown.

pub mod bus;
pub mod events;
pub mod hooks;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod ownlog;
pub mod probe;
pub mod server;
pub mod stall;
pub mod supervisor;
pub mod triggers;

use crate::paths::Paths;
use crate::store::{self, Store, StoreError};
use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use tokio::sync::mpsc;

/// Takes the daemon lock of this home, or says which daemon holds it.
fn take_lock(paths: &Paths) -> anyhow::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&paths.lock)
        .with_context(|| format!("opening {}", paths.lock.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            writeln!(&mut *lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = std::fs::read_to_string(&paths.lock).unwrap_or_default();
            anyhow::bail!(
                "a daemon is already running for {} (pid {})",
                paths.home.display(),
                holder.trim()
            )
        }
        Err((_, e)) => Err(e).with_context(|| format!("locking {}", paths.lock.display())),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SVCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ownlog::CountingStderr)
        // Its default reports a failed write with `eprintln!`, which panics on a full disk.
        .log_internal_errors(false)
        .with_ansi(false)
        .try_init();
}

/// Opens the store; a corrupt database is moved aside (never deleted) and a fresh one started,
/// with a warning kept for `list`.
fn open_store(
    paths: &Paths,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(Store, store::Snapshot)> {
    let retention = retention_from_env()?;
    match Store::open_with(&paths.db, retention) {
        Ok(v) => Ok(v),
        Err(StoreError::Corrupt { .. }) => {
            let aside = store::move_aside(&paths.db)?;
            let msg = format!(
                "the database {} was corrupt; it was moved to {} and a new one started: apps and history from before are not loaded",
                paths.db.display(),
                aside.display()
            );
            tracing::error!("{msg}");
            warnings.push(msg);
            Ok(Store::open_with(&paths.db, retention)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads a duration setting from the daemon's environment.
fn env_duration(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) => crate::config::units::duration_ms(&v)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{name}: {e}")),
        Err(_) => Ok(None),
    }
}

/// History retention, from `SVCTL_HISTORY_MAX_AGE`, `SVCTL_HISTORY_MAX_ROWS` and
/// `SVCTL_MEMORY_MAX_AGE` when set.
fn retention_from_env() -> anyhow::Result<store::Retention> {
    let mut r = store::Retention::default();
    if let Some(ms) = env_duration("SVCTL_HISTORY_MAX_AGE")? {
        r.max_age_ms = ms.min(i64::MAX as u64) as i64;
    }
    if let Some(ms) = env_duration("SVCTL_MEMORY_MAX_AGE")? {
        r.memory_max_age_ms = ms.min(i64::MAX as u64) as i64;
    }
    if let Ok(v) = std::env::var("SVCTL_HISTORY_MAX_ROWS") {
        r.max_runs_per_app = v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SVCTL_HISTORY_MAX_ROWS: `{v}` is not a number"))?;
    }
    Ok(r)
}

/// The daemon-wide default of `memory_check_interval`, from `SVCTL_MEMORY_CHECK_INTERVAL`.
pub fn memory_check_default() -> anyhow::Result<u64> {
    Ok(env_duration("SVCTL_MEMORY_CHECK_INTERVAL")?
        .unwrap_or(supervisor::DEFAULT_MEMORY_CHECK_MS)
        .max(100))
}

/// Log rotation for apps that do not set theirs, from `SVCTL_LOG_MAX_SIZE` (e.g. `10M`) and
/// `SVCTL_LOG_RETAIN`.
fn log_defaults() -> anyhow::Result<(u64, u32)> {
    let max = match std::env::var("SVCTL_LOG_MAX_SIZE") {
        Ok(v) => crate::config::units::size_bytes(&v)
            .map_err(|e| anyhow::anyhow!("SVCTL_LOG_MAX_SIZE: {e}"))?
            .max(4096),
        Err(_) => crate::logs::DEFAULT_MAX_SIZE,
    };
    let retain = match std::env::var("SVCTL_LOG_RETAIN") {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SVCTL_LOG_RETAIN: `{v}` is not a number"))?,
        Err(_) => crate::logs::DEFAULT_RETAIN,
    };
    Ok((max, retain))
}

/// Each app holds a few descriptors (pipes, log files, pidfds): a thousand apps need more than
/// the usual soft limit of 1024, so the daemon takes the hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
    }
}

/// How the daemon was asked to run (`svctl daemon` flags).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve `GET /metrics` and `GET /healthz` here.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A `metrics_addr` that is not loopback is allowed.
    pub metrics_allow_remote: bool,
    /// Hooks of apps that do not set their own (`--hook on_exit=COMMAND`).
    pub hooks: crate::config::hooks::Hooks,
}

/// Runs the daemon in the foreground until `svctl kill`, SIGTERM or SIGINT.
pub fn run(paths: &Paths, options: &Options) -> anyhow::Result<()> {
    // glibc gives every thread that allocates its own malloc arena. The daemon allocates
    // little and rarely at once, and with a second arena the memory a request's tasks freed on
    // a worker thread stayed resident around the few long-lived blocks allocated there (9 MiB
    // at 1,000 apps): one arena.
    // SAFETY: mallopt only tunes the allocator and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    init_tracing();
    raise_fd_limit();
    // Before any other thread starts: they inherit it (said once the daemon is sure to run).
    let nice = crate::proc::priority::raise();
    if let Err(e) = stall::start() {
        tracing::warn!("cannot start the heartbeat: run ends after a pause are not flagged: {e}");
    }
    if let Err(e) = crate::proc::become_subreaper() {
        tracing::warn!("cannot become the reaper of orphaned app processes: {e}");
    }
    if let Some(addr) = options.metrics_addr
        && !addr.ip().is_loopback()
        && !options.metrics_allow_remote
    {
        anyhow::bail!(
            "--metrics-addr {addr} is not a loopback address; the endpoint has no authentication, so say --metrics-allow-remote to serve it there"
        );
    }
    crate::paths::prepare_home(&paths.home)?;
    let _lock = take_lock(paths)?;
    match nice {
        Some(nice) => tracing::info!(
            "the daemon's threads run at nice {nice}, the apps at the nice it was started with"
        ),
        None => tracing::info!(
            "the daemon runs at the apps' nice (raising it needs root or CAP_SYS_NICE)"
        ),
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.logs_dir)
        .with_context(|| format!("creating {}", paths.logs_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work (sampling, sweeps, log tails) queues instead of growing hundreds of
        // threads in a crash storm: every thread is one more `/proc/self/task` entry to read
        // when the daemon looks for its adopted children.
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Output capture and log writing on a thread of their own: a log flood cannot take the
    // threads that handle exits, requests and samples (the OS shares the CPU between them).
    let log_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .thread_name("svctl-logs")
        .enable_all()
        .build()
        .context("starting the log runtime")?;
    let result = runtime.block_on(serve(paths, options, log_runtime.handle().clone()));
    // Everything is stopped and written: do not wait for idle pool threads to time out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    log_runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

async fn serve(
    paths: &Paths,
    options: &Options,
    log_rt: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    // Bound before anything starts, so an address in use is the daemon's start-up error.
    let metrics_listener = match options.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics endpoint --metrics-addr {addr}"))?,
        ),
        None => None,
    };
    let mut warnings = Vec::new();
    let (store, snapshot) = open_store(paths, &mut warnings)?;
    // The lock is ours, so any socket file left is stale.
    match std::fs::remove_file(&paths.socket) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(format!("removing {}", paths.socket.display())),
    }
    let listener = tokio::net::UnixListener::bind(&paths.socket)
        .with_context(|| format!("binding {}", paths.socket.display()))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))?;

    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (log_max, log_retain) = log_defaults()?;
    let defaults = supervisor::Defaults {
        memory_check_ms: memory_check_default()?,
        log_max_size: log_max,
        log_retain,
    };
    let mut sup = supervisor::Supervisor::new(paths.clone(), store, warnings, defaults)
        .with_isolation(supervisor::resources::Isolation::detect(&paths.home))
        .with_log_runtime(log_rt);
    match notify::bind(&paths.notify) {
        Ok(socket) => sup = sup.with_notify(socket),
        Err(e) => tracing::warn!(
            "cannot open the notify socket {}: {e}; wait_ready and watchdog will not work",
            paths.notify.display()
        ),
    }
    ownlog::rotate_at(paths.daemon_log.clone(), log_max, log_retain);
    // Subscribed before the first event (the restore's) is published.
    let hook_dir = paths.home.join("hooks");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&hook_dir)
        .with_context(|| format!("creating {}", hook_dir.display()))?;
    let hooks = tokio::spawn(hooks::run(
        sup.subscribe_events().1,
        options.hooks.clone(),
        hook_dir,
    ));
    sup.restore(snapshot);
    tracing::info!(
        pid = std::process::id(),
        home = %paths.home.display(),
        version = crate::VERSION,
        "daemon started"
    );
    let connections = tokio_util::task::TaskTracker::new();
    let server = tokio::spawn(server::accept_loop(
        listener,
        cmd_tx.clone(),
        connections.clone(),
    ));
    let http = metrics_listener.map(|l| {
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        if options.metrics_addr.is_some_and(|a| !a.ip().is_loopback()) {
            tracing::warn!(
                "the metrics endpoint listens on {addr}, beyond this host: anyone who reaches it reads app names and figures"
            );
        }
        tracing::info!("serving GET /metrics and GET /healthz on http://{addr}");
        tokio::spawn(http::serve(l, cmd_tx.clone()))
    });
    let signals = tokio::spawn(forward_signals(cmd_tx));
    let store = sup.run(cmd_rx).await;
    server.abort();
    signals.abort();
    if let Some(h) = http {
        h.abort();
    }
    hooks.abort();
    // Let connections deliver their last answers (`kill` waits for its reply).
    connections.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), connections.wait()).await;
    let _ = std::fs::remove_file(&paths.socket);
    let _ = std::fs::remove_file(&paths.notify);
    if let Err(e) = store.close() {
        tracing::error!("closing the database: {e}");
    }
    tracing::info!("daemon stopped");
    Ok(())
}

/// SIGTERM and SIGINT mean "stop every app, then exit", like `svctl kill`.
async fn forward_signals(tx: mpsc::Sender<supervisor::Command>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; use `svctl kill` to stop the daemon");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: stopping every app");
    let _ = tx.send(supervisor::Command::Shutdown).await;
}
