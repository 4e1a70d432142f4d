//! Owns the loop of the writing connection: writes wait in a bounded queue until the database
//! takes them. A busy database (a reader's long transaction), a full disk or an I/O error is
//! retried with backoff, and nothing is taken off the queue before its transaction commits, so
//! the history has no gaps once the database takes writes again. Each write has its own
//! savepoint: one the database rejects for good is dropped and counted alone, not its batch.
//! A write that finds the queue full is dropped and counted; the counts are on [`Health`].

use super::recreate::FileWatch;
use super::{Retention, SpawnTrigger, Write, deployments, now_ms};
use rusqlite::{Connection, ErrorCode, params};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 4096;
/// Most writes held while the database cannot take them (a crash storm of an hour at 30
/// exits a second); a write beyond is dropped and counted.
pub const MAX_HELD: usize = 200_000;
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Once the daemon stops, how long held writes may still wait for the database.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// A WAL larger than this is truncated after a commit (when no reader prevents it), so a
/// small disk is not filled by the log of what is already in the database.
const WAL_TRUNCATE_BYTES: u64 = 4 << 20;

/// What the writer reports about itself; shared with the store handle, read by `ping`,
/// `list --json` and (later) the metrics.
#[derive(Debug, Default)]
pub struct Health {
    /// Writes waiting for the database.
    pub held: AtomicU64,
    /// Writes dropped for good: the queue was full, the database rejected one, or the daemon
    /// stopped while the database still refused them.
    pub dropped: AtomicU64,
    /// Why the database does not take writes now, while it does not.
    pub failing: Mutex<Option<String>>,
    /// The database file was replaced, or deleted and not yet written again: said until the
    /// daemon restarts or the file is written again.
    pub replaced: Mutex<Option<String>>,
    /// The database file was deleted and written again from the open copy: said until the
    /// daemon restarts.
    pub recreated: Mutex<Option<String>>,
    /// Of `dropped`, those of each app (`list --json` shows them per app).
    pub dropped_by_app: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Health {
    fn drop_writes<'a>(&self, writes: impl IntoIterator<Item = &'a Write>, why: &str) {
        let mut n = 0;
        if let Ok(mut by_app) = self.dropped_by_app.lock() {
            for w in writes {
                if matches!(w, Write::Barrier(_)) {
                    continue;
                }
                n += 1;
                if let Some(app) = app_of(w) {
                    *by_app.entry(app.to_string()).or_default() += 1;
                }
            }
        }
        if n == 0 {
            return;
        }
        let before = self.dropped.fetch_add(n, Ordering::Relaxed);
        let total = before + n;
        // Once, then at each power of two: a long outage does not flood the log.
        if before == 0 || total.is_power_of_two() || n > 1 {
            tracing::error!("history: {n} write(s) dropped ({why}); {total} dropped since start");
        }
    }

    fn set_failing(&self, why: Option<String>) {
        if let Ok(mut f) = self.failing.lock() {
            *f = why;
        }
    }

    /// Logged the first time, then only kept for `ping` (the writer checks before each batch).
    pub(super) fn set_replaced(&self, why: String) {
        let mut said = false;
        if let Ok(mut f) = self.replaced.lock() {
            said = f.is_some();
            *f = Some(why.clone());
        }
        if !said {
            tracing::error!("{why}");
        }
    }

    pub(super) fn set_recreated(&self, what: String) {
        if let Ok(mut f) = self.replaced.lock() {
            *f = None;
        }
        if let Ok(mut f) = self.recreated.lock() {
            *f = Some(what);
        }
    }
}

/// Whether a failure can pass: the database is locked by someone else, the disk is full, the
/// file went read-only or an I/O error happened. Anything else is this write's own fault.
fn transient(e: &rusqlite::Error) -> bool {
    use ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | SystemIoFailure
                | ReadOnly
                | CannotOpen
                | OutOfMemory
                | FileLockingProtocolFailed
        )
    )
}

/// The writer thread's state.
pub(super) struct Writer {
    pub conn: Connection,
    pub path: PathBuf,
    pub retention: Retention,
    pub health: Arc<Health>,
}

impl Writer {
    pub fn run(mut self, rx: mpsc::Receiver<Write>) {
        let mut held: VecDeque<Write> = VecDeque::new();
        let mut open = true;
        let mut retry: Option<(Instant, Duration)> = None;
        let mut attempts = 0u64;
        let mut closing_since: Option<Instant> = None;
        let mut since_prune = 0usize;
        let mut file = FileWatch::new(&self.path);
        loop {
            if held.is_empty() {
                if !open {
                    break;
                }
                match rx.recv() {
                    Ok(w) => self.hold(&mut held, w),
                    Err(_) => break,
                }
            }
            // Writes that come while waiting to retry are held, not tried one by one.
            while let Some((at, _)) = retry {
                let now = Instant::now();
                if now >= at {
                    break;
                }
                if !open {
                    std::thread::sleep(at - now);
                    break;
                }
                match rx.recv_timeout(at - now) {
                    Ok(w) => self.hold(&mut held, w),
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
                }
            }
            while open && held.len() < MAX_BATCH * 4 {
                match rx.try_recv() {
                    Ok(w) => self.hold(&mut held, w),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => open = false,
                }
            }
            if !open && closing_since.is_none() {
                closing_since = Some(Instant::now());
            }
            // Before the commit, so this batch goes to a deleted file written back first, and
            // a barrier in it (`Store::sync`) is answered with the file's state already known.
            let committed = file
                .check(&mut self.conn, &self.path, &self.health)
                .and_then(|()| commit_front(&mut self.conn, &mut held, &self.health));
            match committed {
                Ok(n) => {
                    if retry.take().is_some() {
                        tracing::info!(
                            "the database takes writes again after {attempts} failed attempt(s); {} write(s) still held",
                            held.len()
                        );
                    }
                    attempts = 0;
                    since_prune += n;
                    self.bound_wal();
                }
                Err(e) => {
                    attempts += 1;
                    let wait = retry.map_or(FIRST_RETRY, |(_, d)| (d * 2).min(MAX_RETRY));
                    retry = Some((Instant::now() + wait, wait));
                    let why = format!("writing to {} failed: {e}", self.path.display());
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(
                            "{why}; {} write(s) held, retrying (attempt {attempts})",
                            held.len()
                        );
                    }
                    self.health.set_failing(Some(why));
                    if closing_since.is_some_and(|s| s.elapsed() > CLOSE_GRACE) {
                        self.health.drop_writes(
                            &held,
                            "the daemon stopped while the database refused writes",
                        );
                        held.clear();
                    }
                }
            }
            self.health.held.store(held.len() as u64, Ordering::Relaxed);
            if since_prune >= 5000 {
                since_prune = 0;
                if let Err(e) = prune(&self.conn, &self.retention, now_ms()) {
                    tracing::warn!("pruning old history failed: {e}");
                }
            }
        }
    }

    fn hold(&self, held: &mut VecDeque<Write>, w: Write) {
        if held.len() >= MAX_HELD && !matches!(w, Write::Barrier(_)) {
            self.health
                .drop_writes([&w], "the queue of writes waiting for the database is full");
            return;
        }
        held.push_back(w);
        self.health.held.store(held.len() as u64, Ordering::Relaxed);
    }

    /// Keeps the WAL from growing without bound: a checkpoint that truncates it once it is
    /// large. A reader in a long transaction makes this fail (busy); the next commit tries again.
    fn bound_wal(&self) {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES) {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

/// Commits up to [`MAX_BATCH`] writes from the front of `held`, each in its own savepoint, and
/// takes them off only once committed. A transient failure leaves all of them held.
fn commit_front(
    conn: &mut Connection,
    held: &mut VecDeque<Write>,
    health: &Health,
) -> rusqlite::Result<usize> {
    let n = held.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    let mut rejected: Vec<(usize, String)> = Vec::new();
    {
        let tx = conn.transaction()?;
        for (i, w) in held.iter().take(n).enumerate() {
            if matches!(w, Write::Barrier(_)) {
                continue;
            }
            exec(&tx, "SAVEPOINT one_write", [])?;
            match apply(&tx, w) {
                Ok(()) => {}
                Err(e) if transient(&e) => return Err(e),
                Err(e) => {
                    exec(&tx, "ROLLBACK TO one_write", [])?;
                    rejected.push((i, format!("{}: {e}", describe(w))));
                }
            }
            exec(&tx, "RELEASE one_write", [])?;
        }
        tx.commit()?;
    }
    for (i, why) in &rejected {
        if let Some(w) = held.get(*i) {
            health.drop_writes([w], &format!("the database rejected {why}"));
        }
    }
    // Counted before the barriers are answered: whoever waits on one reads the new figures.
    health
        .held
        .store((held.len() - n) as u64, Ordering::Relaxed);
    health.set_failing(None);
    for w in held.drain(..n) {
        if let Write::Barrier(b) = w {
            let _ = b.send(());
        }
    }
    Ok(n)
}

/// The app a write is about.
fn app_of(w: &Write) -> Option<&str> {
    match w {
        Write::UpsertApp { spec, .. } => Some(&spec.name),
        Write::SetShouldRun { name, .. }
        | Write::DeleteApp { name }
        | Write::ResetCounters { name } => Some(name),
        Write::HoldStopped { app, .. } => Some(app),
        Write::Spawn(s) => Some(&s.app),
        Write::Exit(e) => Some(&e.app),
        Write::MemoryMinute { app, .. } => Some(app),
        Write::DeploymentBegun(_) | Write::DeploymentEnded { .. } | Write::Barrier(_) => None,
    }
}

/// Names a write for the log.
fn describe(w: &Write) -> String {
    match w {
        Write::UpsertApp { spec, .. } => format!("the spec of `{}`", spec.name),
        Write::SetShouldRun { name, .. } => format!("the desired state of `{name}`"),
        Write::DeleteApp { name } => format!("the removal of `{name}`"),
        Write::ResetCounters { name } => format!("the counter reset of `{name}`"),
        Write::HoldStopped { app, instance, .. } => {
            format!("the desired state of {app}:{instance}")
        }
        Write::Spawn(s) => format!("the spawn of {}:{} run {}", s.app, s.instance, s.run),
        Write::Exit(e) => format!("the exit of {}:{} run {}", e.app, e.instance, e.run),
        Write::MemoryMinute { app, instance, .. } => format!("a memory minute of {app}:{instance}"),
        Write::DeploymentBegun(d) => format!("deployment {}", d.id),
        Write::DeploymentEnded { id, .. } => format!("the end of deployment {id}"),
        Write::Barrier(_) => "a barrier".into(),
    }
}

pub(crate) fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

/// Runs one statement through the connection's statement cache: a crash storm writes the same
/// few statements thousands of times.
pub(crate) fn exec<P: rusqlite::Params>(
    tx: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

fn apply(tx: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::UpsertApp { spec, should_run } => {
            let json = serde_json::to_string(spec)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            exec(
                tx,
                "INSERT INTO apps (name, spec_json, should_run, position, updated_at_ms)
                 VALUES (?1, ?2, ?3, (SELECT coalesce(max(position), 0) + 1 FROM apps), ?4)
                 ON CONFLICT (name) DO UPDATE SET
                   spec_json = excluded.spec_json,
                   should_run = excluded.should_run,
                   updated_at_ms = excluded.updated_at_ms",
                params![spec.name, json, should_run, now_ms()],
            )?;
            // Instances beyond the new count are gone.
            exec(
                tx,
                "DELETE FROM instances WHERE app = ?1 AND instance >= ?2",
                params![spec.name, spec.instances],
            )?;
        }
        Write::SetShouldRun { name, should_run } => {
            exec(
                tx,
                "UPDATE apps SET should_run = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, should_run, now_ms()],
            )?;
        }
        Write::DeleteApp { name } => {
            exec(tx, "DELETE FROM apps WHERE name = ?1", params![name])?;
            exec(tx, "DELETE FROM instances WHERE app = ?1", params![name])?;
        }
        Write::HoldStopped {
            app,
            instance,
            held,
        } => {
            exec(
                tx,
                "INSERT INTO instances (app, instance, held_stopped) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app, instance) DO UPDATE SET held_stopped = excluded.held_stopped",
                params![app, instance, held],
            )?;
        }
        Write::ResetCounters { name } => {
            exec(
                tx,
                "UPDATE instances SET restarts = 0, unstable_restarts = 0, auto_restarts = 0,
                 manual_restarts = 0 WHERE app = ?1",
                params![name],
            )?;
        }
        Write::Spawn(s) => {
            exec(
                tx,
                "INSERT INTO runs (app, instance, run, pid, pid_start_ticks, trigger, restarts,
                 started_at_ms, deployment_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    s.app,
                    s.instance,
                    s.run as i64,
                    s.pid,
                    opt_i64(s.pid_start_ticks),
                    s.trigger.as_str(),
                    s.restarts,
                    s.started_at_ms,
                    opt_i64(s.deployment)
                ],
            )?;
            let (auto, manual) = match s.trigger {
                SpawnTrigger::AutoRestart => (1, 0),
                SpawnTrigger::ManualRestart | SpawnTrigger::Reload => (0, 1),
                SpawnTrigger::Start => (0, 0),
            };
            exec(
                tx,
                "INSERT INTO instances (app, instance, last_run, restarts, auto_restarts,
                 manual_restarts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (app, instance) DO UPDATE SET
                   last_run = excluded.last_run,
                   restarts = excluded.restarts,
                   auto_restarts = auto_restarts + excluded.auto_restarts,
                   manual_restarts = manual_restarts + excluded.manual_restarts",
                params![s.app, s.instance, s.run as i64, s.restarts, auto, manual],
            )?;
        }
        Write::Exit(e) => {
            let uptime = (e.ended_at_ms - e.started_at_ms).max(0);
            let values = params![
                e.app,
                e.instance,
                e.run as i64,
                e.ended_at_ms,
                uptime,
                e.cause.as_str(),
                e.exit_code,
                e.signal,
                e.core_dumped,
                e.unstable,
                e.sigkill_needed,
                opt_i64(e.next_delay_ms),
                e.error,
                opt_i64(e.rss_last_bytes),
                opt_i64(e.rss_peak_bytes),
                opt_i64(e.memory_limit_bytes),
                e.oom_confidence,
                e.leftovers_killed,
                e.stderr_tail,
                e.pid,
                e.started_at_ms,
                e.end_approx.then_some(true),
            ];
            let updated = exec(
                tx,
                "UPDATE runs SET ended_at_ms = ?4, uptime_ms = ?5, cause = ?6, exit_code = ?7,
                 signal = ?8, core_dumped = ?9, unstable = ?10, sigkill_needed = ?11,
                 next_delay_ms = ?12, error = ?13, rss_last_bytes = ?14, rss_peak_bytes = ?15,
                 memory_limit_bytes = ?16, oom_confidence = ?17, leftovers_killed = ?18,
                 stderr_tail = ?19, pid = coalesce(pid, ?20),
                 started_at_ms = coalesce(started_at_ms, ?21), end_approx = ?22
                 WHERE id = (SELECT id FROM runs WHERE app = ?1 AND instance = ?2 AND run = ?3
                             AND ended_at_ms IS NULL ORDER BY id DESC LIMIT 1)",
                values,
            )?;
            if updated == 0 {
                // A run that never spawned (spawn_failed) has no row yet.
                exec(
                    tx,
                    "INSERT INTO runs (app, instance, run, ended_at_ms, uptime_ms, cause,
                     exit_code, signal, core_dumped, unstable, sigkill_needed, next_delay_ms,
                     error, rss_last_bytes, rss_peak_bytes, memory_limit_bytes, oom_confidence,
                     leftovers_killed, stderr_tail, pid, started_at_ms, end_approx)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                    values,
                )?;
            }
            exec(
                tx,
                "INSERT INTO instances (app, instance, last_run, unstable_restarts)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app, instance) DO UPDATE SET
                   last_run = max(last_run, excluded.last_run),
                   unstable_restarts = CASE WHEN ?5 THEN unstable_restarts + 1 ELSE 0 END",
                params![
                    e.app,
                    e.instance,
                    e.run as i64,
                    i64::from(e.unstable),
                    e.unstable
                ],
            )?;
        }
        Write::MemoryMinute {
            app,
            instance,
            minute_ms,
            min_bytes,
            avg_bytes,
            max_bytes,
        } => {
            exec(
                tx,
                "INSERT OR REPLACE INTO memory (app, instance, minute_ms, min_bytes, avg_bytes,
                 max_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    app,
                    instance,
                    minute_ms,
                    opt_i64(Some(*min_bytes)),
                    opt_i64(Some(*avg_bytes)),
                    opt_i64(Some(*max_bytes))
                ],
            )?;
        }
        Write::DeploymentBegun(d) => deployments::begun(tx, d)?,
        Write::DeploymentEnded {
            id,
            ended_at_ms,
            ok,
            message,
        } => deployments::ended(tx, *id, *ended_at_ms, *ok, message)?,
        Write::Barrier(_) => {}
    }
    Ok(())
}

/// Deletes history past its age and beyond the per-app row count, in bounded chunks.
pub(super) fn prune(conn: &Connection, r: &Retention, now: i64) -> rusqlite::Result<usize> {
    let mut removed = conn.execute(
        "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE ended_at_ms IS NOT NULL
         AND ended_at_ms < ?1 LIMIT 50000)",
        params![now - r.max_age_ms],
    )?;
    let apps: Vec<String> = {
        let mut st = conn.prepare("SELECT app FROM runs GROUP BY app HAVING count(*) > ?1")?;
        st.query_map(params![r.max_runs_per_app as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?
    };
    for app in apps {
        removed += conn.execute(
            "DELETE FROM runs WHERE app = ?1 AND ended_at_ms IS NOT NULL AND id <= (
               SELECT id FROM runs WHERE app = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![app, r.max_runs_per_app as i64],
        )?;
    }
    removed += conn.execute(
        "DELETE FROM memory WHERE minute_ms < ?1",
        params![now - r.memory_max_age_ms],
    )?;
    Ok(removed)
}
