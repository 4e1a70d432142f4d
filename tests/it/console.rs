//! The operator commands: `scale` (persisted, with the next `increment_var` values), `signal`
//! (main process or group), and `env` (the environment a run got, secrets masked).

use crate::harness::{Home, fixture};

fn count(h: &Home, name: &str) -> usize {
    h.list().iter().filter(|p| p["name"] == name).count()
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn scale_adds_and_removes_the_highest_instances_and_is_kept() {
    let mut h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: web\n    script: sleep\n    args: \"600\"\n    increment_var: PORT\n    env:\n      PORT: \"4100\"\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("web", 0, "online");
    let out = h.ok(&["scale", "web", "+2"]);
    assert!(out.contains("scaled web from 1 to 3 instances"), "{out}");
    h.wait_status("web", 2, "online");
    let env = h.ok(&["env", "web:2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&env).unwrap();
    assert_eq!(v[0]["env"]["PORT"], "4102", "the next increment_var value");
    // Bad counts change nothing and exit 2.
    for bad in ["-3", "abc", "20000", "+9999", "0"] {
        let out = h.svctl(&["scale", "web", bad]);
        assert_eq!(code(&out), Some(2), "{bad}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
    assert_eq!(count(&h, "web"), 3);
    let out = h.svctl(&["scale", "nope", "2"]);
    assert_eq!(code(&out), Some(1), "{out:?}");
    // Down to 2: instance 2 goes, and its end is in the history.
    h.ok(&["scale", "web", "-1"]);
    assert_eq!(count(&h, "web"), 2);
    assert!(h.proc("web", 2).is_none());
    let history = h.ok(&["history", "web:2", "--json"]);
    assert!(history.contains("\"stopped\""), "{history}");
    // The new count is the app's: a new daemon brings back 2.
    h.ok(&["kill"]);
    h.wait_daemon_exit();
    h.start_daemon();
    h.wait_status("web", 1, "online");
    assert_eq!(count(&h, "web"), 2);
    h.ok(&["scale", "web", "1"]);
    assert_eq!(count(&h, "web"), 1);
}

#[test]
fn signal_reaches_the_main_process_or_its_group() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!("apps:\n  - name: sig\n    script: {}\n", fixture("usr1.sh")),
    );
    h.ok(&["start", &file]);
    h.wait_status("sig", 0, "online");
    let logs = || h.ok(&["logs", "sig", "--lines", "50", "--no-follow", "--out"]);
    h.wait_until("the app is ready", || logs().contains("ready"));
    let pid = h.proc("sig", 0).unwrap()["pid"].clone();
    let out = h.ok(&["signal", "SIGUSR1", "sig"]);
    assert!(
        out.contains("sent SIGUSR1 to the process of 1 instance"),
        "{out}"
    );
    h.wait_until("the main process says it got USR1", || {
        logs().contains("main-usr1")
    });
    assert!(
        !logs().contains("child-usr1"),
        "only the main process: {}",
        logs()
    );
    h.ok(&["signal", "usr1", "sig", "--group"]);
    h.wait_until("the child says it got USR1", || {
        logs().contains("child-usr1")
    });
    assert_eq!(h.proc("sig", 0).unwrap()["pid"], pid, "nothing restarted");
    let out = h.svctl(&["signal", "SIGNOPE", "sig"]);
    assert_eq!(code(&out), Some(2), "{out:?}");
    let out = h.svctl(&["signal", "HUP", "nope"]);
    assert_eq!(code(&out), Some(1), "{out:?}");
    h.ok(&["stop", "sig"]);
    let out = h.svctl(&["signal", "HUP", "sig"]);
    assert_eq!(code(&out), Some(1), "nothing runs: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running process"));
}

#[test]
fn env_shows_what_a_run_got_with_secrets_masked() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: e\n    script: sleep\n    args: \"600\"\n    env:\n      API_TOKEN: tok-123\n      DB_PASSWORD: pw\n      MODE: prod\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("e", 0, "online");
    let out = h.ok(&["env", "e"]);
    assert!(out.contains("MODE=prod"), "{out}");
    assert!(
        out.contains("API_TOKEN=***") && out.contains("DB_PASSWORD=***"),
        "{out}"
    );
    assert!(!out.contains("tok-123"), "{out}");
    assert!(
        out.contains("SVCTL_RUN_ID="),
        "what the process got, svctl's own too: {out}"
    );
    let out = h.ok(&["env", "e", "--show-secrets"]);
    assert!(out.contains("API_TOKEN=tok-123"), "{out}");
    // A stopped instance still shows what its last run got.
    h.ok(&["stop", "e"]);
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["env", "e", "--json"])).unwrap();
    assert_eq!(v[0]["env"]["MODE"], "prod");
    assert_eq!(v[0]["env"]["API_TOKEN"], "***");
    assert!(v[0]["pid"].is_null());
    assert_eq!(code(&h.svctl(&["env", "nope"])), Some(1));
}

#[test]
fn many_instances_get_plain_progress_lines_on_stderr_never_on_stdout() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: many\n    script: sleep\n    args: \"600\"\n    instances: 24\n",
    );
    let out = h.svctl(&["start", &file]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("[svctl] start: 24 instances…"), "{stderr}");
    assert!(!stdout.contains("24 instances…"), "{stdout}");
    let out = h.svctl(&["restart", "many"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[svctl] restart: 24 instances…"),
        "{stderr}"
    );
    // Few instances: nothing extra.
    let out = h.svctl(&["restart", "many:3"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // JSON stays JSON.
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["list", "--json"])).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(24));
}
