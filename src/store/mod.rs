//! Owns the SQLite database: the desired state (apps, their specs, whether they should run),
//! instance counters, one row per run (its spawn and its exit with the cause), and downsampled
//! memory. One OS thread owns the writing connection; the supervisor sends it typed [`Write`]s
//! over a channel and never waits for the disk. The thread drains what is queued and commits it
//! in one transaction, so writes land in the order of state changes and a crash storm costs one
//! commit per batch, not one per exit. When the database cannot take them (busy, full disk,
//! I/O error) they wait in a bounded queue and are retried (`writer`).

mod deployments;
pub mod model;
pub mod reader;
mod recreate;
pub mod report;
pub mod schema;
mod writer;

pub use deployments::Deployment;
pub use model::*;
pub use reader::{HistoryFilter, Reader};
pub use writer::{Health, MAX_HELD};
pub(crate) use writer::{exec, opt_i64};

use crate::config::AppSpec;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// Only the daemon migrates (readers open the file read-only, beside a daemon that may be
    /// writing it), so a reader meets an old schema until a daemon of this version has started.
    #[error(
        "the database {path} has schema {found} and this svctl reads schema {known}; \
         the daemon migrates it when it starts (`svctl ping` starts it)"
    )]
    TooOld {
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
    /// The user stopped one instance (`held`), or it runs again: what a new daemon restores.
    HoldStopped {
        app: String,
        instance: u32,
        held: bool,
    },
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
    health: Arc<Health>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // The writer retries a busy database itself, holding what waits: a short wait per try.
    conn.busy_timeout(Duration::from_secs(1))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A WAL that grew while a reader held it back shrinks again at the next reset.
    conn.pragma_update(None, "journal_size_limit", 4 << 20)?;
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
        let _ = writer::prune(&conn, &retention, now_ms());
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(Health::default());
        let w = writer::Writer {
            conn,
            path: path.to_path_buf(),
            retention,
            health: health.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("svctl-store".into())
            .spawn(move || w.run(rx))?;
        Ok((
            Store {
                tx,
                thread: Some(thread),
                health,
            },
            snapshot,
        ))
    }

    /// Queues a write. Never blocks, never panics; a write the thread cannot take is counted.
    pub fn send(&self, w: Write) {
        if self.tx.send(w).is_err() {
            let n = self.health.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::error!("the database writer has stopped: {n} write(s) lost");
            }
        }
    }

    /// Writes dropped for good (the queue was full, the database rejected one, or the writer
    /// had stopped).
    pub fn dropped(&self) -> u64 {
        self.health.dropped.load(Ordering::Relaxed)
    }

    /// Writes waiting for the database now.
    pub fn held(&self) -> u64 {
        self.health.held.load(Ordering::Relaxed)
    }

    /// Writes of `app` dropped for good.
    pub fn dropped_of(&self, app: &str) -> u64 {
        self.health
            .dropped_by_app
            .lock()
            .ok()
            .and_then(|m| m.get(app).copied())
            .unwrap_or(0)
    }

    /// The writer's figures, shared: what metrics read.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Why the database does not take writes now, while it does not.
    pub fn failing(&self) -> Option<String> {
        let now = self.health.failing.lock().ok().and_then(|f| f.clone());
        now.or_else(|| self.health.replaced.lock().ok().and_then(|f| f.clone()))
    }

    /// When the database file was deleted and written again from the open copy, said so.
    pub fn recreated(&self) -> Option<String> {
        self.health.recreated.lock().ok().and_then(|f| f.clone())
    }

    /// For the metrics: writes waiting for the database, and writes dropped for good.
    pub fn queue_and_errors(&self) -> (u64, u64) {
        (self.held(), self.dropped())
    }

    /// Blocks until everything queued before it is committed.
    pub fn sync(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Write::Barrier(tx))
            .map_err(|_| StoreError::WriterGone)?;
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
             manual_restarts, held_stopped FROM instances WHERE app = ?1 ORDER BY instance",
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
                    held_stopped: r.get(6)?,
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
mod fault_tests;
#[cfg(test)]
mod tests;
