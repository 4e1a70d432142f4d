//! The store when the database misbehaves: busy, rejecting one write, a full disk.

use super::tests::{db, exit, spawn};
use super::*;
use crate::record::Cause;
use std::time::Instant;

/// Waits for `cond` with a deadline.
fn wait_for(what: &str, budget: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + budget;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(p: &Path, sql: &str) -> i64 {
    let c = Connection::open(p).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Sends `runs` spawn+exit pairs of app `app`, instance 0.
fn storm(store: &Store, app: &str, runs: std::ops::RangeInclusive<u64>) {
    for run in runs {
        store.send(spawn(app, 0, run, SpawnTrigger::AutoRestart));
        store.send(Write::Exit(exit(app, 0, run, Cause::Exited, true)));
    }
}

/// Run numbers of `app` in the database have no gaps from 1 to `last`, each with its exit.
fn complete(p: &Path, app: &str, last: u64) {
    let sql = format!(
        "SELECT count(DISTINCT run) FROM runs WHERE app = '{app}' AND ended_at_ms IS NOT NULL
         AND run BETWEEN 1 AND {last}"
    );
    assert_eq!(count(p, &sql), last as i64, "runs of {app}");
}

#[test]
fn a_write_lock_held_by_another_connection_delays_rows_without_losing_them() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    storm(&store, "busy", 1..=10);
    store.sync().unwrap();
    let other = Connection::open(&p).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    storm(&store, "busy", 11..=500);
    wait_for(
        "the writer to report the busy database",
        Duration::from_secs(30),
        || store.failing().is_some() && store.held() > 0,
    );
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    store.sync().unwrap();
    assert_eq!(store.failing(), None);
    assert_eq!(store.dropped(), 0);
    assert_eq!(store.held(), 0);
    store.close().unwrap();
    complete(&p, "busy", 500);
}

#[test]
fn one_rejected_write_does_not_take_its_batch_down() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    store.sync().unwrap();
    // A rule of the database's own (a user's trigger) rejects the rows of one app.
    Connection::open(&p)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON runs WHEN NEW.app = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;",
        )
        .unwrap();
    storm(&store, "good", 1..=100);
    storm(&store, "bad", 1..=1);
    storm(&store, "good", 101..=200);
    store.sync().unwrap();
    // The spawn and the exit (which inserts a row of its own when the spawn has none).
    assert_eq!(store.dropped(), 2);
    store.close().unwrap();
    complete(&p, "good", 200);
    assert_eq!(count(&p, "SELECT count(*) FROM runs WHERE app = 'bad'"), 0);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let (_d, p) = db();
    let keep_all = Retention {
        max_runs_per_app: u64::MAX / 2,
        ..Retention::default()
    };
    let (store, _) = Store::open_with(&p, keep_all).unwrap();
    let other = Connection::open(&p).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let sent = MAX_HELD as u64 / 2 + 1000;
    storm(&store, "flood", 1..=sent);
    wait_for("the queue to fill", Duration::from_secs(60), || {
        store.held() as usize >= MAX_HELD
    });
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    store.sync().unwrap();
    assert_eq!(store.dropped(), 2 * sent - MAX_HELD as u64);
    store.close().unwrap();
    // What was held is written, in order: the first runs are complete.
    complete(&p, "flood", MAX_HELD as u64 / 2);
}

/// Mounts a tmpfs of `size` at `dir`; None (with a message) when not root or mounting fails.
fn small_tmpfs(dir: &Path, size: &str) -> Option<()> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return None;
    }
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs at {}", dir.display());
        return None;
    }
    Some(())
}

/// Unmounts on drop, even when the test fails.
struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_loses_no_exit_row_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    if small_tmpfs(dir.path(), "2m").is_none() {
        return;
    }
    let _mount = Unmount(dir.path().to_path_buf());
    let p = dir.path().join("svctl.db");
    let (store, _) = Store::open(&p).unwrap();
    storm(&store, "full", 1..=20);
    store.sync().unwrap();
    // Fill the disk to the last block.
    let filler = dir.path().join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [7u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }
    storm(&store, "full", 21..=3000);
    wait_for(
        "the writer to report the full disk",
        Duration::from_secs(60),
        || store.failing().is_some(),
    );
    std::fs::remove_file(&filler).unwrap();
    store.sync().unwrap();
    assert_eq!(store.dropped(), 0);
    assert_eq!(store.failing(), None);
    store.close().unwrap();
    complete(&p, "full", 3000);
}

/// SQLite would go on writing into the deleted file's inode; the writer puts the file back
/// from its open copy instead: the runs before the deletion, the apps and every later run are
/// in the file at the path. Twice: the database file alone, then with its `-wal` and `-shm`.
#[test]
fn a_deleted_database_file_is_written_again_with_every_row() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    store.send(Write::UpsertApp {
        spec: Box::new(crate::config::AppSpec::with_defaults(
            "gone",
            "sleep",
            "/tmp".into(),
        )),
        should_run: true,
    });
    storm(&store, "gone", 1..=5);
    store.sync().unwrap();
    std::fs::remove_file(&p).unwrap();
    storm(&store, "gone", 6..=10);
    store.sync().unwrap();
    assert!(p.exists(), "the file is back");
    let said = store.recreated().unwrap_or_default();
    assert!(
        said.contains("was deleted") && said.contains("written again"),
        "{said:?}"
    );
    assert_eq!(store.failing(), None);
    complete(&p, "gone", 10);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    storm(&store, "gone", 11..=20);
    store.sync().unwrap();
    complete(&p, "gone", 20);
    assert_eq!(store.dropped(), 0);
    store.close().unwrap();
    // The next daemon finds its apps.
    let (store, snap) = Store::open(&p).unwrap();
    assert!(
        snap.apps.iter().any(|a| a.spec.name == "gone"),
        "{:?}",
        snap.apps.len()
    );
    store.close().unwrap();
}

/// A file someone else put at the path is not written into: reported, the old file kept.
#[test]
fn a_replaced_database_file_is_reported_and_left_alone() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    storm(&store, "kept", 1..=5);
    store.sync().unwrap();
    let other = p.with_file_name("other.db");
    std::fs::write(&other, b"not ours").unwrap();
    std::fs::rename(&other, &p).unwrap();
    storm(&store, "kept", 6..=10);
    store.sync().unwrap();
    let why = store.failing().unwrap_or_default();
    assert!(why.contains("replaced"), "{why:?}");
    assert_eq!(std::fs::read(&p).unwrap(), b"not ours");
    store.close().unwrap();
}
