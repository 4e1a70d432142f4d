//! Owns putting the database file back when it is deleted under the running daemon. SQLite
//! goes on writing into the unlinked inode, which nobody can open again: `history` would see
//! nothing, every row written meanwhile would be gone with the daemon, and the next daemon
//! would start without the apps. The writer's connection still reads the whole database, so
//! it is copied (`VACUUM INTO`) to a new file at the path and the writer goes on there: the
//! history before the deletion, the apps and every later row are kept.
//!
//! A file put at the path by someone else (the database replaced, not deleted) is left alone
//! and only reported: it may be what the user wants there, and svctl does not write into a
//! database it did not make.

use super::writer::Health;
use rusqlite::Connection;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// (device, inode) of the file at `path`.
pub(super) fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What the writer knows of its file: the one it has open, and when to try again to write a
/// deleted one back.
pub(super) struct FileWatch {
    open: Option<(u64, u64)>,
    retry: Option<(Instant, Duration)>,
    /// The copy is at the path but could not be opened yet: the writer's connection is a
    /// stand-in that must not be written to.
    unopened: bool,
}

impl FileWatch {
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            open: file_id(path),
            retry: None,
            unopened: false,
        }
    }

    /// Compares the file at `path` with the one `conn` has open (one `stat`), and writes a
    /// deleted one back. Called before each batch, so no write lands in a deleted file that
    /// could be written back first. An error: `conn` cannot be written now (the writer holds
    /// the batch and retries).
    pub fn check(
        &mut self,
        conn: &mut Connection,
        path: &Path,
        health: &Health,
    ) -> rusqlite::Result<()> {
        if self.unopened {
            *conn = place_and_open(path)?;
            self.unopened = false;
            self.recreated(path, health);
            return Ok(());
        }
        let Some(open) = self.open else {
            return Ok(());
        };
        let now = file_id(path);
        if now == Some(open) {
            return Ok(());
        }
        if now.is_some() {
            health.set_replaced(format!(
                "the database file {} was replaced by another file while the daemon ran; history is written to the old file until the daemon restarts",
                path.display()
            ));
            return Ok(());
        }
        if self.retry.is_some_and(|(at, _)| Instant::now() < at) {
            return Ok(());
        }
        match copy_out(conn, path) {
            Ok(()) => {}
            Err(e) => {
                let wait = self
                    .retry
                    .map_or(FIRST_RETRY, |(_, d)| (d * 2).min(MAX_RETRY));
                self.retry = Some((Instant::now() + wait, wait));
                health.set_replaced(format!(
                    "the database file {} was deleted while the daemon ran and writing it again failed ({e}); history is written to the deleted file meanwhile, retrying",
                    path.display()
                ));
                return Ok(());
            }
        }
        // The deleted file's connection is closed before anything opens the copy: its log
        // files carry the path's name.
        let old = std::mem::replace(conn, Connection::open_in_memory()?);
        drop(old);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        self.unopened = true;
        *conn = place_and_open(path)?;
        self.unopened = false;
        self.recreated(path, health);
        Ok(())
    }

    fn recreated(&mut self, path: &Path, health: &Health) {
        self.open = file_id(path);
        self.retry = None;
        let said = format!(
            "the database file {} was deleted while the daemon ran; it was written again from the daemon's open copy at {} (history and apps kept)",
            path.display(),
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        tracing::error!("{said}");
        health.set_recreated(said);
    }
}

/// Copies the database `old` has open (its WAL included) beside `path`.
fn copy_out(old: &Connection, path: &Path) -> rusqlite::Result<()> {
    let tmp = side_path(path);
    let _ = std::fs::remove_file(&tmp);
    let copied = old.execute("VACUUM INTO ?1", [tmp.to_string_lossy()]);
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied.map(|_| ())
}

/// Moves the copy to the path (unless an earlier attempt did) and opens it.
fn place_and_open(path: &Path) -> rusqlite::Result<Connection> {
    let copy = side_path(path);
    if copy.exists() {
        std::fs::rename(&copy, path)
            .map_err(|e| io_error(format!("moving the copy to {}: {e}", path.display())))?;
    }
    let mut conn = Connection::open(path)?;
    super::configure(&conn)?;
    super::schema::migrate(&mut conn)?;
    Ok(conn)
}

fn io_error(what: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some(what),
    )
}

/// Where the copy is made before it takes the path's name: beside it, so the rename is atomic.
fn side_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".recreating-{}", std::process::id()));
    path.with_file_name(name)
}
