//! The daemon when its clients, its database or the host misbehave: nothing of the history
//! is lost and the CLI keeps its way in.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

fn frame(s: &mut UnixStream, body: &[u8]) -> std::io::Result<()> {
    s.write_all(&(body.len() as u32).to_be_bytes())?;
    s.write_all(body)
}

/// A client that says hello, reads the answer, then stays connected and silent.
fn idle_client(h: &Home) -> Option<UnixStream> {
    let mut s = UnixStream::connect(h.file("svctl.sock")).ok()?;
    frame(
        &mut s,
        br#"{"type":"hello","protocol":1,"client_version":"idle"}"#,
    )
    .ok()?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(s)
}

#[test]
fn two_thousand_idle_connections_leave_room_for_the_cli() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let want = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) if soft >= 2100 => 2000,
        Ok((soft, _)) if soft > 400 => (soft - 100) as usize,
        _ => {
            eprintln!("skipped: the open-file limit is too low to hold the connections");
            return;
        }
    };
    let h = Home::new();
    // More than the daemon serves at once; those beyond its slots are refused.
    let mut held = Vec::new();
    for _ in 0..want {
        if let Some(s) = idle_client(&h) {
            held.push(s);
        }
    }
    assert!(held.len() >= 256, "only {} connections held", held.len());
    // Without eviction the CLI is refused until the idle ones time out (120 s).
    h.wait_until("ping answers while the idle connections are held", || {
        h.svctl(&["ping"]).status.success()
    });
    h.ok(&["list"]);
    assert!(
        h.log().contains("closed the one idle longest"),
        "{}",
        h.log()
    );
    drop(held);
}

#[test]
fn a_stopped_instance_stays_stopped_after_a_daemon_restart() {
    let mut h = Home::new();
    let file = h.ecosystem(
        "two.yaml",
        "apps:\n  - name: pair\n    script: sleep\n    args: ['1000']\n    instances: 2\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("pair", 0, "online");
    h.wait_status("pair", 1, "online");
    h.ok(&["stop", "pair:1"]);
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));

    h.start_daemon();
    h.wait_status("pair", 0, "online");
    assert_eq!(h.status("pair", 1).as_deref(), Some("stopped"));

    // A crash of the daemon keeps it too, and starting the instance ends the hold.
    h.kill_daemon();
    h.start_daemon();
    h.wait_status("pair", 0, "online");
    assert_eq!(h.status("pair", 1).as_deref(), Some("stopped"));
    h.ok(&["start", "pair:1"]);
    h.wait_status("pair", 1, "online");
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));
    h.start_daemon();
    h.wait_status("pair", 1, "online");
}

/// One column of the newest ended run of `app`, read straight from the database.
fn newest_exit(h: &Home, app: &str, column: &str) -> Option<i64> {
    let db = rusqlite::Connection::open_with_flags(
        h.file("svctl.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    db.query_row(
        &format!(
            "SELECT {column} FROM runs WHERE app = ?1 AND ended_at_ms IS NOT NULL
             ORDER BY id DESC LIMIT 1"
        ),
        [app],
        |r| r.get::<_, Option<i64>>(0),
    )
    .ok()
    .flatten()
}

#[test]
fn a_run_that_ends_while_the_daemon_is_stopped_gets_an_approximate_end() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let h = Home::new();
    // Runs a moment, once: its end falls inside the daemon's pause.
    h.ok(&[
        "start",
        "sh",
        "--name",
        "brief",
        "--no-autorestart",
        "--",
        "-c",
        "sleep 1.5",
    ]);
    let pid = h.wait_status("brief", 0, "online")["pid"].as_i64();
    let daemon = Pid::from_raw(h.daemon_pid().expect("a daemon") as i32);
    kill(daemon, Signal::SIGSTOP).expect("SIGSTOP the daemon");
    // The pause must outlast the run: wait for the run's process to be gone (a zombie).
    let zombie = |pid: i64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    let start = std::time::Instant::now();
    while pid.is_some_and(|p| !zombie(p)) && start.elapsed() < BUDGET {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Then a pause longer than the heartbeat's threshold.
    std::thread::sleep(std::time::Duration::from_millis(3000));
    kill(daemon, Signal::SIGCONT).expect("SIGCONT the daemon");
    h.wait_status("brief", 0, "stopped");
    h.wait_until("the exit row", || {
        newest_exit(&h, "brief", "ended_at_ms").is_some()
    });
    assert_eq!(
        newest_exit(&h, "brief", "end_approx"),
        Some(1),
        "{}",
        h.log()
    );
    let uptime = newest_exit(&h, "brief", "uptime_ms").expect("an uptime");
    let stopped_for = start.elapsed().as_millis() as i64;
    assert!(
        uptime < stopped_for,
        "the uptime ({uptime} ms) does not include the daemon's pause ({stopped_for} ms)"
    );
}

#[test]
fn a_daemon_whose_log_cannot_be_written_keeps_supervising_and_counts_the_lost_lines() {
    let mut h = Home::empty();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    h.start_daemon_logging_to(std::path::Path::new("/dev/full"));
    h.ok(&["start", &fixture("crash.sh"), "--name", "noisy"]);
    h.wait_until("the crash loop goes on, logging every exit", || {
        h.proc("noisy", 0)
            .is_some_and(|p| p["restarts"].as_u64().unwrap_or(0) >= 5)
    });
    let pong = h.ok(&["ping"]);
    let dropped: u64 = pong
        .split("daemon log: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "the lost lines are counted: {pong}");
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));
}

/// The nice of process or thread `path` (`/proc/PID` or `/proc/PID/task/TID`): field 19 of its
/// stat, counted after the command's closing parenthesis.
fn nice_of(path: &std::path::Path) -> Option<i32> {
    let stat = std::fs::read_to_string(path.join("stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(16)?
        .parse()
        .ok()
}

#[test]
fn the_daemon_runs_above_its_apps_and_the_apps_at_the_nice_it_was_started_with() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: raising the daemon's priority needs root");
        return;
    }
    let own = nice_of(std::path::Path::new("/proc/self")).expect("own nice");
    let mut h = Home::empty();
    h.start_daemon();
    // The app forks at once: what it forks runs at the original nice too.
    h.ok(&[
        "start",
        "sh",
        "--name",
        "forker",
        "--",
        "-c",
        "sleep 600 & exec sleep 600",
    ]);
    let pid = h
        .list()
        .first()
        .and_then(|p| p["pid"].as_i64())
        .expect("a pid") as i32;
    let daemon = h.daemon_pid().expect("the daemon's pid");
    let threads: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{daemon}/task"))
        .expect("the daemon's threads")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!threads.is_empty());
    for t in &threads {
        assert_eq!(nice_of(t), Some((own - 10).max(-20)), "{}", t.display());
    }
    let group: Vec<i32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(*p))).ok()
                == Some(nix::unistd::Pid::from_raw(pid))
        })
        .collect();
    assert!(group.len() >= 2, "the app and what it forked: {group:?}");
    for p in group {
        assert_eq!(
            nice_of(&std::path::PathBuf::from(format!("/proc/{p}"))),
            Some(own),
            "pid {p}"
        );
    }
    h.ok(&["stop", "all"]);
}

/// SQLite would go on writing into the deleted file's inode, out of everyone's reach; the
/// daemon writes the file back from its open copy and goes on there: the runs before the
/// deletion, those after it, and the apps the next daemon starts.
#[test]
fn a_database_deleted_under_the_daemon_is_written_again_with_every_run() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "keep", "--", "1000"]);
    h.wait_status("keep", 0, "online");
    h.ok(&["restart", "keep"]);
    h.wait_until("the first run's exit is in the history", || {
        h.history(&["keep"]).len() == 1
    });
    std::fs::remove_file(h.file("svctl.db")).expect("delete the database");
    h.ok(&["restart", "keep"]);
    h.ok(&["restart", "keep"]);
    let runs = || -> Vec<u64> {
        if !h.file("svctl.db").exists() {
            return Vec::new();
        }
        let mut r: Vec<u64> = h
            .history(&["keep"])
            .iter()
            .filter_map(|e| e["run"].as_u64())
            .collect();
        r.sort_unstable();
        r
    };
    h.wait_until(
        "the runs after the deletion are in the file at the path",
        || runs() == [1, 2, 3],
    );
    let pong = h.ok(&["ping"]);
    let said = stderr(&h.svctl(&["ping"]));
    assert!(
        said.contains("was deleted while the daemon ran") && said.contains("written again"),
        "{pong}\n{said}"
    );
    assert!(h.log().contains("written again"), "{}", h.log());
    h.kill_daemon();
    h.start_daemon();
    h.wait_status("keep", 0, "online");
}

/// A reader never migrates: a database of an older svctl that no daemon of this one has
/// opened is named as such, with what to do, not as SQLite's "SQL logic error".
#[test]
fn history_of_a_database_with_an_older_schema_says_how_to_migrate_it() {
    let mut h = Home::empty();
    // What the previous release's daemon left: every migration but the last.
    let old = svctl::store::schema::VERSION - 1;
    let mut db = rusqlite::Connection::open(h.file("svctl.db")).expect("a database");
    let tx = db.transaction().expect("a transaction");
    for sql in &svctl::store::schema::MIGRATIONS[..old as usize] {
        tx.execute_batch(sql).expect("a migration");
    }
    tx.pragma_update(None, "user_version", old)
        .expect("an older schema");
    tx.commit().expect("committed");
    drop(db);
    for args in [&["history"][..], &["report", "--format", "md"]] {
        let out = h.svctl(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {}", stdout(&out));
        assert!(
            err.contains(&format!("has schema {old}"))
                && err.contains(&format!("reads schema {}", svctl::store::schema::VERSION))
                && err.contains("the daemon migrates it when it starts")
                && !err.contains("SQL logic error"),
            "{args:?}: {err}"
        );
    }
    h.start_daemon();
    h.ok(&["history"]);
}
