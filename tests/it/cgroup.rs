//! Per-run cgroups on a real host (root, with a memory controller): the hard cap, OOM kills
//! counted by the run's cgroup without the kernel log, and stops that leave nothing behind.
//! Each test's daemon has its own subtree (named after its home), so they run in parallel.

use crate::harness::{Home, pid_alive, read_pids};

/// A daemon in cgroup mode, or `None` (with a "skipped" line) when this host cannot give one.
fn cgroup_home(env: &[(&str, &str)]) -> Option<Home> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for cgroups");
        return None;
    }
    let mut h = Home::empty();
    h.start_daemon_env(env);
    let ping = h.ok(&["ping"]);
    if !ping.contains("runs kept in: cgroup") || !ping.contains("memory") {
        eprintln!("skipped: no usable cgroup memory controller here: {ping}");
        return None;
    }
    Some(h)
}

/// A script that grows past any small cap on its first run only (a marker file remembers),
/// and sleeps quietly on the next.
fn runaway_once(h: &Home) -> String {
    let script = h.file("runaway.sh");
    let marker = h.file("ran-once");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nif [ ! -e {m} ]; then touch {m}; x=$(head -c 300M /dev/zero | tr '\\0' x); fi\nexec sleep 1000\n",
            m = marker.display()
        ),
    )
    .unwrap();
    script.display().to_string()
}

// No `max_memory_restart` here: a sample between the two limits would make it a graceful
// restart (`memory_limit`), a race with the kernel this test is not about.
#[test]
fn the_hard_cap_kills_only_the_runaway_and_the_next_start_is_normal() {
    let Some(h) = cgroup_home(&[]) else { return };
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: hog\n    script: {}\n    memory_max: 32M\n  - name: calm\n    script: sleep\n    args: \"1000\"\n    memory_max: 32M\n",
            runaway_once(&h)
        ),
    );
    h.ok(&["start", &file]);
    let calm = h.wait_status("calm", 0, "online");
    let hog = h.wait_status_where("hog", 0, "the runaway's second run is up", |p| {
        p["status"] == "online" && p["run"] == 2
    });
    let rows = h.history(&["hog"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["cause"], "oom_killed", "{:?}", rows[0]);
    assert_eq!(rows[0]["oom_confidence"], "confirmed", "{:?}", rows[0]);
    assert_eq!(hog["restarts"], 1);
    // The neighbour under the same cap never noticed.
    let calm_now = h.proc("calm", 0).expect("calm");
    assert_eq!(calm_now["pid"], calm["pid"]);
    assert_eq!(calm_now["restarts"], 0);
    assert!(h.history(&["calm"]).is_empty());
    let describe = h.ok(&["describe", "hog"]);
    assert!(describe.contains("memory 32.0 MiB"), "{describe}");
    assert!(describe.contains("runs kept in"), "{describe}");
    assert!(!describe.contains("not enforced"), "{describe}");
}

#[test]
fn an_oom_kill_is_confirmed_by_the_cgroup_when_the_kernel_log_is_not_read() {
    let Some(h) = cgroup_home(&[("SVCTL_KMSG", "off")]) else {
        return;
    };
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: hog\n    script: {}\n    memory_max: 32M\n    autorestart: false\n",
            runaway_once(&h)
        ),
    );
    h.ok(&["start", &file]);
    let mut rows = Vec::new();
    h.wait_until("the OOM kill is recorded", || {
        rows = h.history(&["hog"]);
        !rows.is_empty()
    });
    // Without the kernel log only the run's own cgroup counter can make it "confirmed".
    assert_eq!(rows[0]["cause"], "oom_killed", "{:?}", rows[0]);
    assert_eq!(rows[0]["oom_confidence"], "confirmed", "{:?}", rows[0]);
    assert_eq!(rows[0]["signal"], "SIGKILL", "{:?}", rows[0]);
}

/// Starts app `tree`: a worker that leaves the session, drops the environment (so no run
/// mark) and whose parent exits (so it is nobody's descendant): only its cgroup still knows
/// it. Returns the worker's pid.
fn start_escapee(h: &Home) -> i32 {
    let pidfile = h.file("escapee.pid");
    let script = h.file("escape.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n(setsid env -i sh -c 'echo $$ > {p}.tmp; exec sleep 1000' &)\nexec sleep 1000\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: tree\n    script: {}\n    interpreter: sh\n",
            script.display()
        ),
    );
    h.ok(&["start", &file]);
    let tmp = h.file("escapee.pid.tmp");
    h.wait_until("the escapee wrote its pid", || {
        std::fs::read_to_string(&tmp).is_ok_and(|t| t.ends_with('\n'))
    });
    std::fs::rename(&tmp, &pidfile).unwrap();
    let escapee = read_pids(h, &pidfile)[0];
    assert!(pid_alive(escapee));
    escapee
}

#[test]
fn an_escapee_without_the_run_mark_is_gone_after_stop() {
    let Some(h) = cgroup_home(&[]) else { return };
    let escapee = start_escapee(&h);
    h.ok(&["stop", "tree"]);
    h.wait_until("the escapee is gone", || !pid_alive(escapee));
    let rows = h.history(&["tree"]);
    assert_eq!(rows[0]["cause"], "stopped", "{:?}", rows[0]);
}

#[test]
fn the_next_daemon_ends_what_a_killed_daemon_left_in_its_cgroups() {
    let Some(mut h) = cgroup_home(&[]) else {
        return;
    };
    let escapee = start_escapee(&h);
    h.kill_daemon();
    // Nothing of the old daemon ends it: only the next one, through the run's cgroup.
    assert!(pid_alive(escapee));
    h.start_daemon();
    h.wait_until("the escapee is gone", || !pid_alive(escapee));
    let rows = h.history(&["tree"]);
    let lost = rows
        .iter()
        .find(|r| r["cause"] == "daemon_lost")
        .expect("the run is closed as daemon_lost");
    assert_eq!(lost["sigkill_needed"], true, "{lost:?}");
    h.wait_status("tree", 0, "online");
}

#[test]
fn without_cgroups_a_hard_cap_is_a_warning_and_a_describe_line_never_silent() {
    let mut h = Home::empty();
    h.start_daemon_env(&[("SVCTL_CGROUPS", "off")]);
    let ping = h.ok(&["ping"]);
    assert!(
        ping.contains("runs kept in: process groups (no cgroups: turned off by SVCTL_CGROUPS=off)"),
        "{ping}"
    );
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: capped\n    script: sleep\n    args: \"1000\"\n    memory_max: 64M\n    pids_max: 20\n",
    );
    let check = h.run(h.cmd(&["check", &file]).env("SVCTL_CGROUPS", "off"));
    assert!(check.status.success());
    let err = crate::harness::stderr(&check);
    assert!(
        err.contains(
            "warning: app `capped`: memory_max, pids_max will not be enforced on this host (no usable cgroups: turned off by SVCTL_CGROUPS=off)"
        ),
        "{err}"
    );
    h.ok(&["start", &file]);
    h.wait_status("capped", 0, "online");
    let describe = h.ok(&["describe", "capped"]);
    assert!(
        describe.contains("memory_max, pids_max not enforced: the daemon runs without cgroups"),
        "{describe}"
    );
}

/// The `hierarchy:path` lines of a thread's or process's `cgroup` file, without v2's line.
fn memberships(file: &str) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("0::"))
        .map(|l| l.split_once(':').map_or("", |x| x.1).to_string())
        .collect()
}

// A spawn thread joins the run's cgroup alone, spawns there (no fork of the daemon), and goes
// back: the app and what it forks are in the run's cgroups from their first instruction, and
// no thread of the daemon is left in one.
#[test]
fn apps_are_born_in_their_run_cgroup_and_every_daemon_thread_stays_in_the_daemons() {
    let Some(h) = cgroup_home(&[]) else { return };
    let daemon = h.daemon_pid().expect("daemon pid");
    let own = memberships(&format!("/proc/{daemon}/cgroup"));
    let mut apps = String::from("apps:\n");
    for k in 0..20 {
        apps.push_str(&format!(
            "  - name: a{k}\n    script: bash\n    args: [\"-c\", \"sleep 1000 & wait\"]\n"
        ));
    }
    apps.push_str("  - name: capped\n    script: bash\n    args: [\"-c\", \"sleep 1000 & wait\"]\n    memory_max: 64M\n");
    let file = h.ecosystem("eco.yaml", &apps);
    h.ok(&["start", &file]);
    for name in (0..20)
        .map(|k| format!("a{k}"))
        .chain(["capped".to_string()])
    {
        let p = h.wait_status(&name, 0, "online");
        let pid = p["pid"].as_u64().expect("pid");
        let run = p["run"].as_u64().expect("run");
        let suffix = format!("/app-{name}/0-{run}");
        let main = memberships(&format!("/proc/{pid}/cgroup"));
        for hierarchy in ["memory", "freezer", "cpuacct"] {
            let line = main.iter().find(|l| {
                l.split(':')
                    .next()
                    .is_some_and(|c| c.split(',').any(|c| c == hierarchy))
            });
            if let Some(line) = line {
                assert!(line.ends_with(&suffix), "{name}: {line} in {main:?}");
            }
        }
        // The child it forked (the `sleep`) is in the same cgroups.
        h.wait_until("the app forked its sleep", || {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .is_ok_and(|k| !k.trim().is_empty())
        });
        let kid = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            memberships(&format!("/proc/{kid}/cgroup")),
            main,
            "{name}'s sleep"
        );
    }
    for task in std::fs::read_dir(format!("/proc/{daemon}/task"))
        .unwrap()
        .flatten()
    {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        assert_eq!(
            memberships(&path.join("cgroup").display().to_string()),
            own,
            "daemon thread {} ({})",
            path.display(),
            comm.trim()
        );
    }
}
