//! The core CLI: start, list, stop, restart, delete, describe, ping, kill, targets, autostart.

use crate::harness::*;

#[test]
fn start_list_stop_restart_delete() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "napper", "--", "1000"]);
    let p = h.wait_status("napper", 0, "online");
    let pid = p["pid"].as_i64().expect("pid") as i32;
    assert!(pid_alive(pid));
    assert_eq!(p["restarts"], 0);

    let table = h.ok(&["list"]);
    assert!(
        table.contains("napper") && table.contains("online"),
        "{table}"
    );

    let out = h.ok(&["stop", "napper"]);
    assert!(out.contains("stopped"), "{out}");
    assert_eq!(h.status("napper", 0).as_deref(), Some("stopped"));
    h.wait_until("the stopped process is gone", || !pid_alive(pid));

    // Restarting what does not run is a start, as PM2 counts it (restart_time stays 0).
    h.ok(&["restart", "napper"]);
    let p = h.wait_status("napper", 0, "online");
    assert_eq!(p["restarts"], 0);
    let pid2 = p["pid"].as_i64().expect("pid") as i32;
    assert_ne!(pid, pid2);

    h.ok(&["restart", "napper"]);
    let p = h.wait_status("napper", 0, "online");
    assert_eq!(p["restarts"], 1);
    assert_eq!(p["last_exit"]["cause"], "restarted");
    h.wait_until("the old run is gone", || !pid_alive(pid2));

    h.ok(&["delete", "napper"]);
    assert!(h.list().is_empty());
    let pid3 = p["pid"].as_i64().expect("pid") as i32;
    h.wait_until("the deleted app's process is gone", || !pid_alive(pid3));
}

#[test]
fn instances_targets_and_namespaces() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: tick\n    script: {}\n    instances: 3\n    namespace: web\n  - name: other\n    script: sleep\n    args: \"1000\"\n",
            fixture("ticker.sh")
        ),
    );
    h.ok(&["start", &file]);
    for i in 0..3 {
        h.wait_status("tick", i, "online");
    }
    h.wait_status("other", 0, "online");

    // NAME:INSTANCE
    h.ok(&["stop", "tick:1"]);
    assert_eq!(h.status("tick", 1).as_deref(), Some("stopped"));
    assert_eq!(h.status("tick", 0).as_deref(), Some("online"));
    // A namespace names its apps only.
    h.ok(&["stop", "web"]);
    assert_eq!(h.status("tick", 0).as_deref(), Some("stopped"));
    assert_eq!(h.status("other", 0).as_deref(), Some("online"));
    // `all`
    h.ok(&["restart", "all"]);
    for i in 0..3 {
        assert_eq!(h.status("tick", i).as_deref(), Some("online"));
    }
    // Each instance has its own number and its own log file.
    let log = h.file("logs/tick-error-2.log");
    h.wait_until("instance 2 wrote its stderr", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("ticker 2 starting"))
    });
}

#[test]
fn starting_a_file_again_restarts_and_never_duplicates() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: a\n    script: sleep\n    args: \"1000\"\n  - name: b\n    script: sleep\n    args: \"1000\"\n",
    );
    h.ok(&["start", &file]);
    let first = h.wait_status("a", 0, "online");
    h.ok(&["start", &file]);
    let list = h.list();
    assert_eq!(list.len(), 2, "{list:?}");
    let again = h.wait_status("a", 0, "online");
    assert_ne!(first["pid"], again["pid"]);
    assert_eq!(again["restarts"], 1);

    // --only starts just the named apps.
    h.ok(&["delete", "all"]);
    h.ok(&["start", &file, "--only", "b"]);
    let names: Vec<String> = h.list().iter().map(|p| p["name"].to_string()).collect();
    assert_eq!(names, vec!["\"b\""]);
    let out = h.svctl(&["start", &file, "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn unknown_targets_exit_1_and_name_the_known_apps() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "known-one", "--", "1000"]);
    for args in [
        vec!["stop", "nope"],
        vec!["restart", "nope"],
        vec!["delete", "nope"],
        vec!["describe", "nope"],
        vec!["stop", "known-one:7"],
    ] {
        let out = h.svctl(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("known-one"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = h.svctl(&["start", "definitely-not-a-program-xyz"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Usage errors are 2.
    assert_eq!(h.svctl(&["stop"]).status.code(), Some(2));
    assert_eq!(h.svctl(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn describe_shows_spec_instances_and_last_exit() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "d", "--", "1000"]);
    h.wait_status("d", 0, "online");
    h.ok(&["restart", "d"]);
    let text = h.ok(&["describe", "d"]);
    for want in ["sleep 1000", "restarted", "d-out.log", "SIGINT"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&h.ok(&["describe", "d", "--json"])).unwrap();
    assert_eq!(json[0]["spec"]["name"], "d");
    assert_eq!(json[0]["instances"][0]["last_exit"]["cause"], "restarted");
}

#[test]
fn ping_reports_version_and_pid() {
    let h = Home::new();
    let out = h.ok(&["ping"]);
    let pid = h.daemon_pid().expect("daemon pid");
    assert!(out.contains(&format!("pid {pid}")), "{out}");
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn no_autostart_fails_when_no_daemon_runs() {
    let h = Home::empty();
    let out = h.svctl(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    assert!(!h.file("svctl.sock").exists());
}

#[test]
fn racing_autostarts_end_with_exactly_one_daemon() {
    let h = Home::empty();
    // Four clients at once, each free to autostart a daemon (`resurrect` acts, so it starts
    // one and names its pid; `ping` only reads and never does).
    let clients: Vec<Running> = (0..4)
        .map(|_| h.spawn(&mut h.cmd(&["resurrect"])))
        .collect();
    let mut pids = Vec::new();
    for c in clients {
        let out = h.finish(c);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let pid: u32 = text
            .split("pid ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"));
        pids.push(pid);
    }
    pids.dedup();
    assert_eq!(
        pids.len(),
        1,
        "clients talked to different daemons: {pids:?}"
    );
    // Stop the one daemon the clients started.
    h.ok(&["kill"]);
    h.wait_until("the daemon is gone", || !pid_alive(pids[0] as i32));
}

#[test]
fn kill_stops_every_app_and_the_daemon() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "k", "-i", "2", "--", "1000"]);
    let pids: Vec<i32> = (0..2)
        .map(|i| h.wait_status("k", i, "online")["pid"].as_i64().unwrap() as i32)
        .collect();
    let out = h.ok(&["kill"]);
    assert!(out.contains("stopped 2"), "{out}");
    assert_eq!(h.wait_daemon_exit(), Some(0));
    for pid in pids {
        assert!(!pid_alive(pid), "app pid {pid} survived kill");
    }
    assert!(!h.file("svctl.sock").exists());
}

#[test]
fn sigterm_to_the_daemon_stops_apps_and_exits_0() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "t", "--", "1000"]);
    let pid = h.wait_status("t", 0, "online")["pid"].as_i64().unwrap() as i32;
    let daemon = nix::unistd::Pid::from_raw(h.daemon_pid().unwrap() as i32);
    nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(h.wait_daemon_exit(), Some(0));
    assert!(!pid_alive(pid));
}

#[test]
fn a_restarted_daemon_brings_back_running_apps_with_their_counters() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "keep", "--", "1000"]);
    h.ok(&["start", "sleep", "--name", "idle", "--", "1000"]);
    h.wait_status("keep", 0, "online");
    h.ok(&["restart", "keep"]);
    h.ok(&["stop", "idle"]);
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));

    h.start_daemon();
    let p = h.wait_status("keep", 0, "online");
    assert_eq!(p["restarts"], 1, "restart counter survives: {p}");
    assert_eq!(h.status("idle", 0).as_deref(), Some("stopped"));
}

#[test]
fn a_broken_file_names_file_line_and_field_and_starts_nothing() {
    let h = Home::new();
    let file = h.ecosystem(
        "broken.yaml",
        "apps:\n  - name: ok\n    script: sleep\n  - name: bad\n    script: sleep\n    max_restart: 3\n",
    );
    let out = h.svctl(&["start", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.yaml:6:5"), "{err}");
    assert!(err.contains("max_restarts"), "{err}");
    assert!(h.list().is_empty(), "nothing may start from a broken file");

    let out = h.svctl(&["start", &h.file("missing.yaml").display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.yaml"), "{}", stderr(&out));
}

#[test]
fn a_daemon_killed_with_sigkill_is_recovered_by_the_next_one() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "orphan", "--", "1000"]);
    let old = h.wait_status("orphan", 0, "online")["pid"]
        .as_i64()
        .unwrap() as i32;
    h.kill_daemon();
    assert!(pid_alive(old), "the app outlives a SIGKILLed daemon");

    h.start_daemon();
    let p = h.wait_status("orphan", 0, "online");
    assert_ne!(p["pid"].as_i64().unwrap() as i32, old);
    h.wait_until("the previous daemon's process is killed", || {
        !pid_alive(old)
    });
    assert_eq!(p["last_exit"]["cause"], "daemon_lost", "{p}");
}

#[test]
fn startup_installs_and_unstartup_removes_a_systemd_unit() {
    let h = Home::empty();
    let dir = h.file("units");
    let d = dir.display().to_string();
    let printed = h.ok(&["startup"]);
    assert!(printed.contains("Restart=on-failure"), "{printed}");
    assert!(printed.contains(" daemon\n"), "{printed}");
    assert!(!dir.exists(), "printing writes nothing");

    let out = h.ok(&[
        "startup",
        "systemd",
        "--user",
        "--install",
        "--unit-dir",
        &d,
    ]);
    assert!(out.contains("systemctl --user daemon-reload"), "{out}");
    let unit = std::fs::read_to_string(dir.join("svctl.service")).unwrap();
    assert!(
        unit.contains(&format!("--home {} daemon", h.path().display())),
        "{unit}"
    );

    h.ok(&["unstartup", "--user", "--unit-dir", &d]);
    assert!(!dir.join("svctl.service").exists());
}
