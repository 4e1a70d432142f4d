//! Owns the SQLite database: the desired state (apps, their specs, whether they should run),
//! instance counters, one row per run (its spawn and its exit with the cause), and downsampled
//! memory. One OS thread owns the writing connection; the supervisor sends it typed [`Write`]s
//! over a channel and never waits for the disk. The thread drains what is queued and commits it
//! in one transaction, so writes land in the order of state changes and a crash storm costs one
//! commit per batch, not one per exit.

mod deployments;
pub mod model;
pub mod reader;
pub mod report;
pub mod schema;

pub use deployments::Deployment;
pub use model::*;
pub use reader::{HistoryFilter, Reader};

use crate::config::AppSpec;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is corrupt or not a database: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the database {path} was written by a newer svctl (schema {found}, this one knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the database writer has stopped")]
    WriterGone,
}

impl StoreError {
    fn sqlite(path: &Path, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source: e,
            },
        }
    }
}

/// A change to record.
#[derive(Debug)]
pub enum Write {
    /// Insert or replace an app's spec; keeps its counters and history.
    UpsertApp {
        spec: Box<AppSpec>,
        should_run: bool,
    },
    SetShouldRun {
        name: String,
        should_run: bool,
    },
    /// Removes the app and its counters; its runs stay in the history.
    DeleteApp {
        name: String,
    },
    Spawn(SpawnRecord),
    Exit(ExitRecord),
    /// Zeroes the app's counters; history stays.
    ResetCounters {
        name: String,
    },
    /// One minute of memory of one instance.
    MemoryMinute {
        app: String,
        instance: u32,
        minute_ms: i64,
        min_bytes: u64,
        avg_bytes: u64,
        max_bytes: u64,
    },
    /// A deployment begins (its row, with the plan and the specs it applies).
    DeploymentBegun(Box<DeploymentBegun>),
    /// A deployment ended: `ok` or `failed`, with a message.
    DeploymentEnded {
        id: u64,
        ended_at_ms: i64,
        ok: bool,
        message: String,
    },
    /// Answered once everything queued before it is committed.
    Barrier(mpsc::SyncSender<()>),
}

/// The handle the daemon keeps. Dropping it without [`Store::close`] still lets the writer
/// finish what was queued.
pub struct Store {
    tx: mpsc::Sender<Write>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    gauges: Arc<WriterGauges>,
}

/// What the writer thread tells the daemon's metrics.
#[derive(Debug, Default)]
pub struct WriterGauges {
    /// Writes queued and not yet committed (or failed).
    pub queued: AtomicU64,
    /// Batches whose transaction failed (their writes are lost).
    pub failed_batches: AtomicU64,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Writes are appends and the reads happen once at start: a small page cache is enough.
    conn.pragma_update(None, "cache_size", -512)?;
    Ok(())
}

impl Store {
    /// Opens (creating) the database, migrates it, reads the snapshot, then starts the writer.
    pub fn open(path: &Path) -> Result<(Store, Snapshot), StoreError> {
        Store::open_with(path, Retention::default())
    }

    pub fn open_with(path: &Path, retention: Retention) -> Result<(Store, Snapshot), StoreError> {
        let mut conn = Connection::open(path).map_err(|e| StoreError::sqlite(path, e))?;
        configure(&conn).map_err(|e| StoreError::sqlite(path, e))?;
        let found = schema::migrate(&mut conn).map_err(|e| StoreError::sqlite(path, e))?;
        if found > schema::VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                known: schema::VERSION,
            });
        }
        // A new app's position is max(position) + 1: without this index each upsert scans
        // every app's row (spec included), which made starting 1,000 apps quadratic.
        conn.execute_batch("CREATE INDEX IF NOT EXISTS apps_by_position ON apps (position)")
            .map_err(|e| StoreError::sqlite(path, e))?;
        // Deployments the previous daemon did not finish will never finish.
        conn.execute(
            "UPDATE deployments SET result = 'interrupted',
             message = coalesce(message, 'the daemon stopped before it ended')
             WHERE result IS NULL",
            [],
        )
        .map_err(|e| StoreError::sqlite(path, e))?;
        let snapshot = read_snapshot(&conn).map_err(|e| StoreError::sqlite(path, e))?;
        let _ = prune(&conn, &retention, now_ms());
        let (tx, rx) = mpsc::channel();
        let p = path.to_path_buf();
        let gauges = Arc::new(WriterGauges::default());
        let g = gauges.clone();
        let thread = std::thread::Builder::new()
            .name("svctl-store".into())
            .spawn(move || writer(conn, rx, p, retention, &g))?;
        Ok((
            Store {
                tx,
                thread: Some(thread),
                dropped: Arc::default(),
                gauges,
            },
            snapshot,
        ))
    }

    /// Queues a write. Never blocks, never panics; a write the thread cannot take is counted.
    pub fn send(&self, w: Write) {
        self.gauges.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(w).is_err() {
            self.gauges.queued.fetch_sub(1, Ordering::Relaxed);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::error!("the database writer has stopped: {n} write(s) lost");
            }
        }
    }

    /// Writes that could not be queued because the writer had stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes queued and not yet done, and writes lost (failed batches, or the writer gone).
    pub fn queue_and_errors(&self) -> (u64, u64) {
        (
            self.gauges.queued.load(Ordering::Relaxed),
            self.gauges.failed_batches.load(Ordering::Relaxed) + self.dropped(),
        )
    }

    /// Blocks until everything queued before it is committed.
    pub fn sync(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.gauges.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(Write::Barrier(tx)).map_err(|_| {
            self.gauges.queued.fetch_sub(1, Ordering::Relaxed);
            StoreError::WriterGone
        })?;
        rx.recv().map_err(|_| StoreError::WriterGone)
    }

    /// Commits what is queued and stops the writer.
    pub fn close(mut self) -> Result<(), StoreError> {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            t.join().map_err(|_| StoreError::WriterGone)?;
        }
        Ok(())
    }
}

/// Moves a corrupt database (and its WAL and shared-memory files) aside as
/// `<name>.corrupt-<unix ms>`; returns the new path of the main file. Never deletes anything.
pub fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = now_ms();
    let target = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display()))?;
        }
    }
    Ok(target)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Write>,
    path: PathBuf,
    retention: Retention,
    gauges: &WriterGauges,
) {
    let mut since_prune = 0usize;
    let mut failed_batches = 0u64;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let taken = batch.len() as u64;
        let mut barriers = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for w in batch {
                match w {
                    Write::Barrier(b) => barriers.push(b),
                    other => apply(&tx, other)?,
                }
                since_prune += 1;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            // A full disk or a broken file: the daemon and the apps go on; the batch is lost.
            failed_batches += 1;
            gauges.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "writing to {} failed ({failed_batches} batch(es) lost so far): {e}",
                path.display()
            );
        }
        gauges.queued.fetch_sub(taken, Ordering::Relaxed);
        for b in barriers {
            let _ = b.send(());
        }
        if since_prune >= 5000 {
            since_prune = 0;
            if let Err(e) = prune(&conn, &retention, now_ms()) {
                tracing::warn!("pruning old history failed: {e}");
            }
        }
    }
}

pub(crate) fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

/// Runs one statement through the connection's statement cache: a crash storm writes the same
/// few statements thousands of times.
pub(crate) fn exec<P: rusqlite::Params>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

fn apply(tx: &rusqlite::Transaction<'_>, w: Write) -> rusqlite::Result<()> {
    match w {
        Write::UpsertApp { spec, should_run } => {
            let json = serde_json::to_string(&*spec)
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
            ];
            let updated = exec(
                tx,
                "UPDATE runs SET ended_at_ms = ?4, uptime_ms = ?5, cause = ?6, exit_code = ?7,
                 signal = ?8, core_dumped = ?9, unstable = ?10, sigkill_needed = ?11,
                 next_delay_ms = ?12, error = ?13, rss_last_bytes = ?14, rss_peak_bytes = ?15,
                 memory_limit_bytes = ?16, oom_confidence = ?17, leftovers_killed = ?18,
                 stderr_tail = ?19, pid = coalesce(pid, ?20),
                 started_at_ms = coalesce(started_at_ms, ?21)
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
                     leftovers_killed, stderr_tail, pid, started_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19, ?20, ?21)",
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
                    opt_i64(Some(min_bytes)),
                    opt_i64(Some(avg_bytes)),
                    opt_i64(Some(max_bytes))
                ],
            )?;
        }
        Write::DeploymentBegun(d) => deployments::begun(tx, &d)?,
        Write::DeploymentEnded {
            id,
            ended_at_ms,
            ok,
            message,
        } => deployments::ended(tx, id, ended_at_ms, ok, &message)?,
        Write::Barrier(_) => {}
    }
    Ok(())
}

/// Deletes history past its age and beyond the per-app row count, in bounded chunks.
fn prune(conn: &Connection, r: &Retention, now: i64) -> rusqlite::Result<usize> {
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

fn read_snapshot(conn: &Connection) -> rusqlite::Result<Snapshot> {
    let mut apps = Vec::new();
    let mut st = conn.prepare("SELECT name, spec_json, should_run FROM apps ORDER BY position")?;
    let rows: Vec<(String, String, bool)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (name, json, should_run) in rows {
        let spec: AppSpec = match serde_json::from_str(&json) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    "the stored spec of app `{name}` cannot be read and is skipped: {e}"
                );
                continue;
            }
        };
        let mut inst = conn.prepare(
            "SELECT instance, last_run, restarts, unstable_restarts, auto_restarts,
             manual_restarts FROM instances WHERE app = ?1 ORDER BY instance",
        )?;
        let mut instances: Vec<InstanceCounters> = inst
            .query_map(params![name], |r| {
                Ok(InstanceCounters {
                    index: r.get(0)?,
                    last_run: r.get::<_, i64>(1)?.max(0) as u64,
                    restarts: r.get(2)?,
                    unstable_restarts: r.get(3)?,
                    auto_restarts: r.get(4)?,
                    manual_restarts: r.get(5)?,
                    last_exit: None,
                })
            })?
            .collect::<Result<_, _>>()?;
        for c in &mut instances {
            c.last_exit = reader::last_exit(conn, &name, c.index)?;
        }
        let deployment: Option<i64> = conn.query_row(
            "SELECT max(deployment_id) FROM runs WHERE app = ?1",
            params![name],
            |r| r.get(0),
        )?;
        apps.push(StoredApp {
            spec,
            should_run,
            instances,
            deployment: deployment.map(|d| d.max(0) as u64),
        });
    }
    let mut st = conn.prepare(
        "SELECT app, instance, run, pid, pid_start_ticks, started_at_ms FROM runs
         WHERE ended_at_ms IS NULL AND pid IS NOT NULL ORDER BY id",
    )?;
    let open_runs = st
        .query_map([], |r| {
            Ok(OpenRun {
                app: r.get(0)?,
                instance: r.get(1)?,
                run: r.get::<_, i64>(2)?.max(0) as u64,
                pid: r.get(3)?,
                pid_start_ticks: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u64),
                started_at_ms: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let last_deployment: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM deployments", [], |r| {
            r.get(0)
        })?;
    let exit_counts = reader::exit_counts(conn)?;
    Ok(Snapshot {
        apps,
        exit_counts,
        open_runs,
        last_deployment: last_deployment.max(0) as u64,
    })
}

#[cfg(test)]
mod tests;
