//! The event bus from the outside: `events --follow` streams, and hooks (environment, stdin,
//! timeout, the rate limit under a storm of crash-looping apps).

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn events_follow_shows_an_exit_with_its_cause_and_signal() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: once\n    script: sleep\n    args: ['1000']\n    autorestart: false\n  - name: other\n    script: sleep\n    args: ['1000']\n",
    );
    h.ok(&["start", &file]);
    let p = h.wait_status("once", 0, "online");
    // The first frame holds the recent events (spawn, online), then the stream goes on.
    let follow = h.spawn(&mut h.cmd(&["events", "once", "--follow", "--json"]));
    h.wait_printed(&follow, "once's online event", |lines| {
        lines.iter().any(|l| l.contains("\"event\":\"online\""))
    });
    let pid = p["pid"].as_i64().unwrap() as i32;
    // Someone else's signal: the exit is `signaled`, and autorestart: false leaves it stopped.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
    h.wait_printed(&follow, "an exit event of once", |lines| {
        lines.iter().any(|l| l.contains("\"event\":\"exit\""))
    });
    let events: Vec<Value> = follow
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.iter().all(|e| e["app"] == "once"), "{events:?}");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k);
    assert!(
        at("spawn") < at("online") && at("online") < at("exit"),
        "{kinds:?}"
    );
    let exit = &events[at("exit").unwrap()];
    assert_eq!(exit["cause"], "signaled", "{exit}");
    assert_eq!(exit["signal"], "SIGTERM", "{exit}");
    h.wait_printed(&follow, "a stop event (autorestart: false)", |lines| {
        lines.iter().any(|l| l.contains("\"event\":\"stop\""))
    });
    drop(follow);
    // Without --follow: the recent events, in words.
    let text = h.ok(&["events", "once"]);
    assert!(
        text.contains("once:0  exit cause=signaled signal=SIGTERM"),
        "{text}"
    );
    let out = h.svctl(&["events", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

fn env_file(path: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_hook_runs_with_the_event_in_its_environment_and_a_hanging_one_is_killed() {
    let h = Home::new();
    let dir = h.path().display().to_string();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            r#"apps:
  - name: hooked
    script: {crash}
    args: ['7']
    max_restarts: 2
    hooks:
      on_exit: "env | grep ^SVCTL_ > {dir}/env.new && cat > {dir}/stdin.json && cp \"$SVCTL_STDERR_FILE\" {dir}/tail.txt && mv {dir}/env.new {dir}/env.txt"
      on_errored: "echo $$ > {dir}/hang.pid; exec sleep 1000"
      timeout: 1s
      interval: 1h
"#,
            crash = fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    let env_path = h.file("env.txt");
    h.wait_until("the on_exit hook ran", || env_path.exists());
    let env = env_file(&env_path);
    assert_eq!(env["SVCTL_APP"], "hooked", "{env:?}");
    assert_eq!(env["SVCTL_INSTANCE"], "0");
    assert_eq!(env["SVCTL_EVENT"], "exit");
    assert_eq!(env["SVCTL_HOOK"], "on_exit");
    assert_eq!(env["SVCTL_CAUSE"], "exited");
    assert_eq!(env["SVCTL_EXIT_CODE"], "7");
    assert_eq!(env["SVCTL_SIGNAL"], "");
    // The count as the exit left it (a restart without delay is already counted).
    assert!(env["SVCTL_RESTARTS"].parse::<u32>().is_ok(), "{env:?}");
    assert_eq!(env["SVCTL_EVENTS_FOLDED"], "1");
    assert!(
        env["SVCTL_PID"].parse::<i32>().is_ok_and(|p| p > 1),
        "{env:?}"
    );
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(h.file("stdin.json")).unwrap()).unwrap();
    assert_eq!(
        (stdin["event"].as_str(), stdin["exit_code"].as_i64()),
        (Some("exit"), Some(7))
    );
    let tail = std::fs::read_to_string(h.file("tail.txt")).unwrap();
    assert!(tail.contains("crashing with 7"), "{tail}");

    // on_errored hangs: at its timeout its group is killed and the failure logged.
    h.wait_status("hooked", 0, "errored");
    let pid_path = h.file("hang.pid");
    h.wait_until("the on_errored hook started", || {
        std::fs::read_to_string(&pid_path).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    h.wait_until("the hanging hook was killed at its timeout", || {
        h.log()
            .contains("was killed (its process group) after its timeout of 1000 ms")
    });
    h.wait_until("the hook's process is gone", || !pid_alive(pid));
    h.ok(&["ping"]);
}

#[test]
fn a_storm_of_crash_looping_apps_runs_each_apps_hook_once_per_interval_and_list_answers() {
    const APPS: usize = 200;
    let h = Home::new();
    let runs = h.file("runs.txt");
    let mut yaml = String::from("apps:\n");
    for i in 0..APPS {
        yaml += &format!(
            "  - name: s{i}\n    script: {}\n    restart_delay: 300\n    max_restarts: 100000\n    hooks:\n      on_exit: \"echo $SVCTL_APP >> {}\"\n      interval: 1h\n",
            fixture("crash.sh"),
            runs.display()
        );
    }
    let file = h.ecosystem("storm.yaml", &yaml);
    h.ok(&["start", &file]);
    let lines = || std::fs::read_to_string(&runs).unwrap_or_default();
    h.wait_until("every app's hook ran once", || {
        lines().lines().count() >= APPS
    });
    // Every app crashes several more times; `list` answers all along, and no hook runs again
    // within its interval (the exits are folded into the next run).
    h.wait_until("every app restarted 3 more times", || {
        let list = h.list();
        assert_eq!(list.len(), APPS);
        list.iter()
            .all(|p| p["restarts"].as_u64().unwrap_or(0) >= 4)
    });
    let text = lines();
    let mut per_app: BTreeMap<&str, usize> = BTreeMap::new();
    for l in text.lines() {
        *per_app.entry(l).or_default() += 1;
    }
    assert_eq!(per_app.len(), APPS, "{per_app:?}");
    assert!(per_app.values().all(|n| *n == 1), "{per_app:?}");
    h.ok(&["stop", "all"]);
}

#[test]
fn check_warns_of_a_hook_program_that_cannot_be_found_and_refuses_an_unknown_hook() {
    let h = Home::empty();
    let missing = h.ecosystem(
        "missing.yaml",
        "apps:\n  - name: a\n    script: sleep\n    hooks:\n      on_exit: no-such-notifier --now\n",
    );
    let out = h.svctl(&["check", &missing]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "missing.yaml:5:16: apps[0].hooks.on_exit: `no-such-notifier` is not an executable file or a command in PATH"
        ),
        "{}",
        stderr(&out)
    );
    let typo = h.ecosystem(
        "typo.yaml",
        "apps:\n  - name: a\n    script: sleep\n    hooks:\n      on_exti: logger x\n      timeout: 0\n",
    );
    let out = h.svctl(&["check", &typo]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("typo.yaml:5:7: apps[0].hooks.on_exti: unknown hook"),
        "{err}"
    );
    assert!(err.contains("did you mean `on_exit`?"), "{err}");
    assert!(
        err.contains("apps[0].hooks.timeout: must be more than 0"),
        "{err}"
    );
    let out = h.svctl(&["daemon", "--hook", "on_crash=true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown hook event `on_crash`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_reader_that_does_not_read_is_told_how_many_events_it_missed() {
    use std::io::Write;
    let h = Home::new();
    let mut s = h.connect();
    let send = |s: &mut std::os::unix::net::UnixStream, v: Value| {
        let body = serde_json::to_vec(&v).unwrap();
        s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
        s.write_all(&body).unwrap();
    };
    send(
        &mut s,
        serde_json::json!({"type": "hello", "protocol": 1, "client_version": "test"}),
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    send(
        &mut s,
        serde_json::json!({"type": "events", "follow": true}),
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "events");
    // Now this reader stops reading while a crash storm publishes thousands of events.
    let file = h.ecosystem(
        "storm.yaml",
        &format!(
            "apps:\n  - name: storm\n    script: {}\n    instances: 20\n    max_restarts: 100000\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    // 6,000+ events: several times what the bus (1,024) and the socket's buffer hold together.
    h.wait_until("the storm made 1500 restarts (6000+ events)", || {
        h.list()
            .iter()
            .map(|p| p["restarts"].as_u64().unwrap_or(0))
            .sum::<u64>()
            >= 1500
    });
    let mut dropped = 0;
    while dropped == 0 {
        let frame = read_frame(&mut s).expect("the stream goes on");
        assert_eq!(frame["type"], "events", "{frame}");
        dropped = frame["dropped"].as_u64().unwrap_or(0);
    }
    assert!(dropped > 0);
    h.ok(&["stop", "all"]);
}
