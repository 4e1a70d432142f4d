//! Restart policy and process control against real processes.

use crate::harness::*;

#[test]
fn a_crash_loop_reaches_errored_after_max_restarts() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: loop\n    script: {}\n    args: \"3\"\n    max_restarts: 4\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    let p = h.wait_status("loop", 0, "errored");
    assert_eq!(p["unstable_restarts"], 4, "{p}");
    assert_eq!(
        p["restarts"], 3,
        "4 runs: the first start and 3 respawns: {p}"
    );
    assert_eq!(p["last_exit"]["cause"], "exited");
    assert_eq!(p["last_exit"]["exit_code"], 3);
    let err = std::fs::read_to_string(h.file("logs/loop-error.log")).unwrap();
    assert_eq!(err.matches("crashing with 3").count(), 4, "{err}");
}

#[test]
fn autorestart_false_and_stop_exit_codes_leave_it_stopped() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: once\n    script: {c}\n    args: \"5\"\n    autorestart: false\n  - name: done\n    script: {c}\n    args: \"7\"\n    stop_exit_codes: [7]\n",
            c = fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    for name in ["once", "done"] {
        let p = h.wait_status(name, 0, "stopped");
        assert_eq!(p["restarts"], 0, "{p}");
        assert_eq!(p["last_exit"]["cause"], "exited");
    }
}

#[test]
fn restart_delay_shows_waiting_restart() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: slow\n    script: {}\n    restart_delay: 60000\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    let p = h.wait_status("slow", 0, "waiting restart");
    assert_eq!(p["pid"], serde_json::Value::Null);
    // Stopping a waiting app cancels the restart.
    h.ok(&["stop", "slow"]);
    assert_eq!(h.status("slow", 0).as_deref(), Some("stopped"));
}

#[test]
fn an_app_that_ignores_sigint_is_killed_after_kill_timeout() {
    let h = Home::new();
    let pidfile = h.file("stubborn.pid");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: stubborn\n    script: {}\n    args: [\"{}\"]\n    kill_timeout: 300\n",
            fixture("ignore_int.sh"),
            pidfile.display()
        ),
    );
    h.ok(&["start", &file]);
    let pid = read_pids(&h, &pidfile)[0];
    h.ok(&["stop", "stubborn"]);
    let p = h.proc("stubborn", 0).unwrap();
    assert_eq!(p["status"], "stopped");
    assert_eq!(p["last_exit"]["cause"], "stopped");
    assert_eq!(p["last_exit"]["signal"], "SIGKILL", "{p}");
    assert!(!pid_alive(pid));
}

#[test]
fn grandchildren_are_gone_after_stop() {
    let h = Home::new();
    let pidfile = h.file("tree.pids");
    h.ok(&[
        "start",
        &fixture("forker.sh"),
        "--name",
        "tree",
        "--",
        &pidfile.display().to_string(),
    ]);
    let pids = read_pids(&h, &pidfile);
    assert_eq!(pids.len(), 3);
    h.ok(&["stop", "tree"]);
    h.wait_until("every process of the tree is gone", || {
        pids.iter().all(|p| !pid_alive(*p))
    });
}

#[test]
fn leftovers_of_a_crashed_main_process_are_killed_before_the_next_start() {
    let h = Home::new();
    let pidfile = h.file("tree.pids");
    h.ok(&[
        "start",
        &fixture("forker_setsid.sh"),
        "--name",
        "tree",
        "--",
        &pidfile.display().to_string(),
    ]);
    let pids = read_pids(&h, &pidfile);
    assert_eq!(pids.len(), 4);
    // The escaped worker is found through the tree once a sample has seen it.
    h.wait_until("a sample saw the whole tree", || {
        h.proc("tree", 0).is_some_and(|p| p["processes"] == 4)
    });
    std::fs::remove_file(&pidfile).unwrap();
    // The main process dies; its workers must not survive it, not even into the next run.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let p = h.wait_status_where("tree", 0, "online with a new pid", |p| {
        p["status"] == "online" && p["pid"].as_i64() != Some(i64::from(pids[0]))
    });
    for w in &pids[1..] {
        assert!(
            !pid_alive(*w),
            "old worker {w} still alive when the new run is up"
        );
    }
    assert_eq!(p["last_exit"]["cause"], "signaled");
    assert_eq!(p["last_exit"]["signal"], "SIGKILL");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&h.ok(&["history", "tree", "--json"])).unwrap();
    assert_eq!(rows[0]["leftovers_killed"], 3, "{:?}", rows[0]);
}

#[test]
fn grandchildren_that_left_the_group_are_gone_after_stop() {
    let h = Home::new();
    let pidfile = h.file("tree.pids");
    h.ok(&[
        "start",
        &fixture("forker_setsid.sh"),
        "--name",
        "tree",
        "--",
        &pidfile.display().to_string(),
    ]);
    let pids = read_pids(&h, &pidfile);
    h.ok(&["stop", "tree"]);
    h.wait_until("every process of the tree is gone", || {
        pids.iter().all(|p| !pid_alive(*p))
    });
}

#[test]
fn treekill_false_lets_children_outlive_their_main_process() {
    let h = Home::new();
    let pidfile = h.file("tree.pids");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: keep\n    script: {}\n    args: [\"{}\"]\n    treekill: false\n    autorestart: false\n",
            fixture("forker.sh"),
            pidfile.display()
        ),
    );
    h.ok(&["start", &file]);
    let pids = read_pids(&h, &pidfile);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    h.wait_status("keep", 0, "stopped");
    let survivors: Vec<i32> = pids[1..]
        .iter()
        .copied()
        .filter(|p| pid_alive(*p))
        .collect();
    // The test started them (through the app): it ends them, by pid.
    for p in &pids[1..] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(survivors.len(), 2, "the workers outlived the crash");
}

#[test]
fn a_program_that_cannot_run_is_errored_with_the_os_error() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: ghost\n    script: ./no-such-program\n  - name: fine\n    script: sleep\n    args: \"1000\"\n",
    );
    h.ok(&["start", &file]);
    let p = h.wait_status("ghost", 0, "errored");
    assert_eq!(p["last_exit"]["cause"], "spawn_failed");
    let err = p["last_exit"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("No such file"), "{err}");
    // The daemon and the other apps are unaffected.
    h.wait_status("fine", 0, "online");
    h.ok(&["ping"]);
}

/// A restart storm of apps that fork grandchildren: no zombie of the daemon lingers, and after
/// `kill` no process of any app remains.
#[test]
fn a_restart_storm_leaves_no_zombies_and_kill_leaves_no_process() {
    let mut h = Home::new();
    let record = h.file("storm.pids");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: storm\n    script: {}\n    args: [\"{}\"]\n    instances: 20\n    max_restarts: 1000000\n    kill_timeout: 500\n",
            fixture("storm.sh"),
            record.display()
        ),
    );
    h.ok(&["start", &file]);
    h.wait_until("every instance restarted a few times", || {
        h.list()
            .iter()
            .all(|p| p["restarts"].as_u64().unwrap_or(0) >= 3)
    });
    let daemon = h.daemon_pid().unwrap() as i32;
    let zombies = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    let rest = st.rsplit_once(')').map_or("", |(_, r)| r);
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    f.first() == Some(&"Z") && f.get(1) == Some(&daemon.to_string().as_str())
                })
            })
            .collect()
    };
    // Zombies of the daemon exist only between an exit and its reaping.
    h.wait_until("no zombie of the daemon lingers", || zombies().is_empty());
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));
    let pids: Vec<i32> = std::fs::read_to_string(&record)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(pids.len() >= 60, "the storm ran: {} pids", pids.len());
    let alive: Vec<i32> = pids.into_iter().filter(|p| pid_alive(*p)).collect();
    assert!(
        alive.is_empty(),
        "processes of the apps survived kill: {alive:?}"
    );
}

/// The slow crash loop `min_uptime` misses backs off by default (a difference from PM2).
#[test]
fn a_crash_loop_just_above_min_uptime_backs_off() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: slowloop\n    script: bash\n    args: [\"-c\", \"sleep 0.4; exit 1\"]\n    min_uptime: 300ms\n",
    );
    h.ok(&["start", &file]);
    let rows = || -> Vec<serde_json::Value> {
        let text = h.ok(&["history", "slowloop", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    h.wait_until("three failed runs", || rows().len() >= 3);
    let mut delays: Vec<u64> = rows()
        .iter()
        .map(|r| r["next_delay_ms"].as_u64().unwrap_or(0))
        .collect();
    // Newest first in the history.
    delays.reverse();
    assert_eq!(&delays[..3], &[100, 150, 225], "{delays:?}");
    for r in rows() {
        assert_eq!(r["unstable"], false, "{r}");
    }
}

#[test]
fn list_samples_cpu_and_memory_when_asked_without_a_memory_limit() {
    let h = Home::new();
    h.ok(&[
        "start",
        "sh",
        "--name",
        "spin",
        "--",
        "-c",
        "while :; do :; done",
    ]);
    h.ok(&["start", "sleep", "--name", "idle", "--", "1000"]);
    // No timer samples these apps (no memory limit): the figures come from the asking `list`.
    let spin = h.wait_status_where("spin", 0, "up for 1.5 s", |p| {
        p["uptime_ms"].as_u64().is_some_and(|u| u > 1500)
    });
    let idle = h.proc("idle", 0).expect("idle is listed");
    for p in [&spin, &idle] {
        assert!(p["memory_bytes"].as_u64().is_some_and(|m| m > 0), "{p}");
    }
    let cpu = |p: &serde_json::Value| p["cpu_percent"].as_f64().unwrap_or(-1.0);
    assert!(cpu(&spin) > 1.0, "a busy loop uses CPU: {spin}");
    assert!(cpu(&idle) >= 0.0 && cpu(&idle) < cpu(&spin), "{idle}");
    let described = h.ok(&["describe", "idle"]);
    assert!(
        described.contains(" mem "),
        "describe shows the memory: {described}"
    );
}
