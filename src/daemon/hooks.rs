//! Owns running hooks: a task beside the actor that reads the event bus and runs the command an
//! app (or the daemon's `--hook` default) gives for an event, with `sh -c`, the event in its
//! environment and as JSON on stdin, in its own process group, killed at its timeout, its
//! output in the daemon log. It never blocks the daemon: at most [`MAX_RUNNING`] hooks run at
//! once, and per app and event at most one starts per interval; the events in between are
//! folded into the next run (`SVCTL_EVENTS_FOLDED`).

use super::bus::Received;
use crate::config::hooks::{HookOn, Hooks};
use crate::ipc::{EventKind, LifecycleEvent};
use crate::record::Cause;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// Hooks running at once; more wait for a slot.
pub const MAX_RUNNING: usize = 4;
/// Output of a hook kept for the daemon log, per stream.
const OUTPUT_CAP: usize = 8 * 1024;

/// The hooks an event runs.
pub fn hooks_for(ev: &LifecycleEvent) -> Vec<HookOn> {
    match ev.event {
        EventKind::Exit if ev.cause == Some(Cause::OomKilled) => {
            vec![HookOn::OnExit, HookOn::OnOomKill]
        }
        EventKind::Exit => vec![HookOn::OnExit],
        EventKind::Errored => vec![HookOn::OnErrored],
        EventKind::MemoryLimit => vec![HookOn::OnMemoryLimit],
        EventKind::Unhealthy => vec![HookOn::OnUnhealthy],
        EventKind::Online => vec![HookOn::OnStart],
        EventKind::Spawn
        | EventKind::RestartScheduled
        | EventKind::Stop
        | EventKind::Deployment => Vec::new(),
    }
}

/// One hook to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub on: HookOn,
    pub command: String,
    pub timeout: Duration,
    pub event: LifecycleEvent,
    /// Events this run stands for (1, or more after a quiet interval).
    pub folded: u64,
}

type Key = (String, HookOn);

struct Pending {
    due: Instant,
    job: Job,
}

/// The rate limit: per app and hook, one start per interval; what comes between is folded.
#[derive(Default)]
pub struct Gate {
    last: HashMap<Key, Instant>,
    pending: HashMap<Key, Pending>,
}

impl Gate {
    /// `Some(job)` when it may start now; else it is folded into the next run.
    pub fn offer(&mut self, job: Job, interval: Duration, now: Instant) -> Option<Job> {
        let key = (job.event.app.clone(), job.on);
        if let Some(p) = self.pending.get_mut(&key) {
            let folded = p.job.folded + 1;
            p.job = Job { folded, ..job };
            return None;
        }
        match self.last.get(&key) {
            Some(t) if now < *t + interval => {
                let due = *t + interval;
                self.pending.insert(key, Pending { due, job });
                None
            }
            _ => {
                self.last.insert(key, now);
                Some(job)
            }
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.due).min()
    }

    /// The folded jobs whose interval is over.
    pub fn take_due(&mut self, now: Instant) -> Vec<Job> {
        let due: Vec<Key> = (self.pending.iter())
            .filter(|(_, p)| p.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in due {
            if let Some(p) = self.pending.remove(&key) {
                self.last.insert(key, now);
                out.push(p.job);
            }
        }
        out
    }
}

/// Runs hooks for the events of `rx` until the bus closes. `dir` holds the stderr-tail files.
pub async fn run(mut rx: broadcast::Receiver<Received>, defaults: Hooks, dir: PathBuf) {
    let slots = Arc::new(Semaphore::new(MAX_RUNNING));
    let mut gate = Gate::default();
    loop {
        let next = gate.next_due();
        tokio::select! {
            got = rx.recv() => match got {
                Ok(p) => {
                    let hooks = p.hooks.or(&defaults);
                    for on in hooks_for(&p.event) {
                        let Some(command) = hooks.commands.get(&on) else { continue };
                        let job = Job {
                            on,
                            command: command.clone(),
                            timeout: Duration::from_millis(hooks.timeout_ms()),
                            event: p.event.clone(),
                            folded: 1,
                        };
                        let interval = Duration::from_millis(hooks.interval_ms());
                        if let Some(job) = gate.offer(job, interval, Instant::now()) {
                            start(job, &slots, &dir);
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(
                    "hooks: {n} events went by faster than hooks could be considered; their hooks do not run"
                ),
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                for job in gate.take_due(Instant::now()) {
                    start(job, &slots, &dir);
                }
            }
        }
    }
}

fn start(job: Job, slots: &Arc<Semaphore>, dir: &std::path::Path) {
    let slots = slots.clone();
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        let Ok(_permit) = slots.acquire_owned().await else {
            return;
        };
        run_one(job, &dir).await;
    });
}

async fn read_capped(r: Option<impl AsyncRead + Unpin>) -> String {
    let Some(r) = r else { return String::new() };
    let mut buf = Vec::new();
    let mut limited = r.take(OUTPUT_CAP as u64);
    let _ = limited.read_to_end(&mut buf).await;
    // Whatever is beyond the cap is drained, so the hook never blocks on a full pipe.
    let mut rest = limited.into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn env_of(job: &Job, stderr_file: &std::path::Path) -> Vec<(&'static str, String)> {
    let e = &job.event;
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        ("SVCTL_APP", e.app.clone()),
        ("SVCTL_NAMESPACE", e.namespace.clone()),
        ("SVCTL_INSTANCE", e.instance.to_string()),
        ("SVCTL_RUN", e.run.to_string()),
        ("SVCTL_EVENT", e.event.as_str().to_string()),
        ("SVCTL_HOOK", job.on.as_str().to_string()),
        ("SVCTL_CAUSE", opt(e.cause.map(|c| c.as_str().to_string()))),
        ("SVCTL_EXIT_CODE", opt(e.exit_code.map(|c| c.to_string()))),
        ("SVCTL_SIGNAL", opt(e.signal.clone())),
        ("SVCTL_RESTARTS", e.restarts.to_string()),
        ("SVCTL_PID", opt(e.pid.map(|p| p.to_string()))),
        ("SVCTL_STDERR_FILE", stderr_file.display().to_string()),
        ("SVCTL_EVENTS_FOLDED", job.folded.to_string()),
    ]
}

/// Runs one hook to its end or its timeout; every outcome goes to the daemon log.
async fn run_one(job: Job, dir: &std::path::Path) {
    let app = job.event.app.as_str();
    let hook = job.on.as_str();
    let safe: String = (app.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stderr_file = dir.join(format!("{safe}-{}-{hook}.stderr", job.event.instance));
    let tail = job.event.stderr_tail.clone().unwrap_or_default();
    if let Err(e) = write_private(&stderr_file, tail.as_bytes()) {
        tracing::warn!(app, hook, "cannot write {}: {e}", stderr_file.display());
    }
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&job.command)
        .envs(env_of(&job, &stderr_file))
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::proc::priority::at_original_nice(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(app, hook, "hook failed: cannot run /bin/sh: {e}");
            return;
        }
    };
    let pid = child.id();
    let json = serde_json::to_vec(&job.event).unwrap_or_default();
    let stdin = child.stdin.take();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let feed = async move {
        if let Some(mut s) = stdin {
            // A hook that does not read its stdin closes it: that is not a failure.
            let _ = s.write_all(&json).await;
        }
    };
    let work = async {
        let ((), out, err, status) =
            tokio::join!(feed, read_capped(out), read_capped(err), child.wait());
        (out, err, status)
    };
    match tokio::time::timeout(job.timeout, work).await {
        Ok((out, err, status)) => {
            for line in out.lines().chain(err.lines()) {
                tracing::info!(app, hook, "hook: {line}");
            }
            match status {
                Ok(s) if s.success() => {
                    tracing::info!(
                        app,
                        hook,
                        folded = job.folded,
                        "hook ran: `{}`",
                        job.command
                    )
                }
                Ok(s) => {
                    let info = crate::proc::ExitInfo::from_status(s);
                    let how = match (info.code, info.signal_name()) {
                        (Some(c), _) => format!("exit code {c}"),
                        (None, Some(sig)) => format!("signal {sig}"),
                        (None, None) => "an unknown status".to_string(),
                    };
                    tracing::warn!(app, hook, "hook failed: `{}` ended with {how}", job.command)
                }
                Err(e) => tracing::warn!(app, hook, "hook failed: waiting for it: {e}"),
            }
        }
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = crate::proc::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait().await;
            tracing::warn!(
                app,
                hook,
                "hook failed: `{}` was killed (its process group) after its timeout of {} ms",
                job.command,
                job.timeout.as_millis()
            );
        }
    }
    let _ = std::fs::remove_file(&stderr_file);
}

fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(app: &str) -> Job {
        Job {
            on: HookOn::OnExit,
            command: "true".into(),
            timeout: Duration::from_secs(1),
            event: LifecycleEvent {
                at_ms: 0,
                event: EventKind::Exit,
                app: app.into(),
                namespace: "default".into(),
                instance: 0,
                run: 1,
                pid: None,
                restarts: 0,
                cause: Some(Cause::Exited),
                exit_code: Some(1),
                signal: None,
                delay_ms: None,
                message: None,
                stderr_tail: None,
            },
            folded: 1,
        }
    }

    #[test]
    fn a_storm_runs_once_per_interval_with_the_rest_folded() {
        let mut gate = Gate::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(30);
        assert!(gate.offer(job("a"), every, t0).is_some());
        for i in 1..=9 {
            let at = t0 + Duration::from_secs(i);
            assert!(gate.offer(job("a"), every, at).is_none());
        }
        // Another app is not held back by the first.
        assert!(gate.offer(job("b"), every, t0).is_some());
        assert!(gate.take_due(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(gate.next_due(), Some(t0 + every));
        let due = gate.take_due(t0 + every);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].folded, 9);
        assert!(gate.next_due().is_none());
    }

    #[test]
    fn an_oom_kill_runs_on_exit_and_on_oom_kill() {
        let mut e = job("a").event;
        e.cause = Some(Cause::OomKilled);
        assert_eq!(hooks_for(&e), vec![HookOn::OnExit, HookOn::OnOomKill]);
        e.event = EventKind::RestartScheduled;
        assert!(hooks_for(&e).is_empty());
    }
}
