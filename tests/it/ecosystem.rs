//! Ecosystem-file effects against a real daemon: env switching, cron and watch restarts, and
//! `svctl check`.

use crate::harness::*;

/// An app that prints its environment variable GREETING once, then sleeps.
fn greeter(h: &Home) -> String {
    h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: greet\n    script: bash\n    args: [\"-c\", \"echo \\\"greeting=$GREETING shell=$FROM_SHELL\\\"; exec sleep 1000\"]\n    env:\n      GREETING: dev\n    env_production:\n      GREETING: prod\n",
    )
}

fn last_greeting(h: &Home) -> String {
    let log = h.file("logs/greet-out.log");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

fn wait_greeting(h: &Home, want: &str) {
    h.wait_until(&format!("the app prints {want:?}"), || {
        last_greeting(h) == want
    });
}

#[test]
fn env_blocks_switch_and_restarts_keep_or_refresh_the_env() {
    let h = Home::new();
    let file = greeter(&h);
    let out = h.run(
        h.cmd(&["--no-autostart", "start", &file, "--env", "production"])
            .env("FROM_SHELL", "one"),
    );
    h.succeeded("start --env production", &out);
    wait_greeting(&h, "greeting=prod shell=one");
    // A plain restart keeps the env the app was started with, whatever the caller's shell has.
    let out = h.run(
        h.cmd(&["--no-autostart", "restart", "greet"])
            .env("FROM_SHELL", "two"),
    );
    h.succeeded("restart", &out);
    h.wait_until("a new run printed", || {
        std::fs::read_to_string(h.file("logs/greet-out.log")).is_ok_and(|t| t.lines().count() == 2)
    });
    assert_eq!(last_greeting(&h), "greeting=prod shell=one");
    // --update-env takes the caller's environment.
    let out = h.run(
        h.cmd(&["--no-autostart", "restart", "greet", "--update-env"])
            .env("FROM_SHELL", "three"),
    );
    h.succeeded("restart --update-env", &out);
    wait_greeting(&h, "greeting=prod shell=three");
    // --env re-reads the file; a name no block has is refused (issue 13), nothing changes.
    let out = h.svctl(&["restart", "greet", "--env", "nothing"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    h.ok(&["restart", "greet", "--env", "production"]);
    wait_greeting(&h, "greeting=prod shell=three");
}

#[test]
fn a_six_field_cron_restarts_the_app_and_records_cron() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: nightly\n    script: sleep\n    args: \"1000\"\n    cron_restart: \"*/2 * * * * *\"\n",
    );
    h.ok(&["start", &file]);
    h.wait_until("a cron restart", || {
        let text = h.ok(&["history", "nightly", "--json"]);
        text.contains("\"cause\": \"cron\"")
    });
    let p = h.wait_status("nightly", 0, "online");
    assert!(p["auto_restarts"].as_u64().unwrap_or(0) >= 1, "{p}");
}

#[test]
fn a_change_in_a_watched_folder_restarts_the_app_and_ignored_ones_do_not() {
    let h = Home::new();
    let src = h.file("src");
    std::fs::create_dir(&src).unwrap();
    // `probe` watches the same folder with nothing ignored and a much longer quiet period. Its
    // watch restart after a change to an ignored file is the sign that `dev`'s watcher saw that
    // change too and that, had the change counted, `dev`'s shorter quiet period would have
    // ended and restarted it long before (both watchers feed the daemon's one timer queue).
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: dev\n    script: sleep\n    args: \"1000\"\n    watch: [\"{src}\"]\n    ignore_watch: [\"*.tmp\"]\n    watch_delay: 200\n  - name: probe\n    script: sleep\n    args: \"1000\"\n    watch: [\"{src}\"]\n    watch_delay: 2500\n",
            src = src.display()
        ),
    );
    h.ok(&["start", &file]);
    let first = h.wait_status("dev", 0, "online")["pid"].clone();
    h.wait_status("probe", 0, "online");

    std::fs::write(src.join("scratch.tmp"), "x").unwrap();
    let mut rows = Vec::new();
    h.wait_until("probe restarts for the change to scratch.tmp", || {
        rows = h.history(&["probe"]);
        !rows.is_empty()
    });
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["cause"], "watch", "{rows:?}");
    let rows = h.history(&["dev"]);
    assert!(rows.is_empty(), "an ignored file restarted dev: {rows:?}");
    let p = h.proc("dev", 0).unwrap();
    assert_eq!(
        (&p["pid"], &p["restarts"]),
        (&first, &serde_json::json!(0)),
        "{p}"
    );

    // A watched file: exactly one restart, caused by the watch.
    std::fs::write(src.join("main.py"), "print(1)\n").unwrap();
    let mut rows = Vec::new();
    h.wait_until("dev's exit for the change is recorded", || {
        rows = h.history(&["dev"]);
        !rows.is_empty()
    });
    let p = h.wait_status_where("dev", 0, "online after a restart", |p| {
        p["status"] == "online" && p["pid"] != first
    });
    assert_eq!(p["restarts"], 1, "{p}");
    assert_eq!(rows.len(), 1, "one quiet period, one restart: {rows:?}");
    assert_eq!(rows[0]["cause"], "watch", "{rows:?}");
    let why: serde_json::Value = serde_json::from_str(&h.ok(&["why", "dev", "--json"])).unwrap();
    assert_eq!(why["exits"], 1, "{why}");
    let causes = why["by_cause"].as_array().expect("by_cause");
    assert_eq!(causes.len(), 1, "{why}");
    assert_eq!(
        (&causes[0]["cause"], &causes[0]["count"]),
        (&"watch".into(), &1.into()),
        "{why}"
    );
}

#[test]
fn check_validates_without_starting_anything() {
    let h = Home::empty();
    let good = h.ecosystem(
        "good.yaml",
        "apps:\n  - name: a\n    script: sleep\n    args: \"5\"\n    env:\n      TOKEN: secret\n",
    );
    let out = h.ok(&["check", &good]);
    assert!(
        out.contains("sleep 5") && out.contains("TOKEN") && !out.contains("secret"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&h.ok(&["check", &good, "--json"])).unwrap();
    assert_eq!(json["apps"][0]["name"], "a");
    let bad = h.ecosystem(
        "bad.yaml",
        "apps:\n  - name: a\n    script: sleep\n    instance: 2\n",
    );
    let out = h.svctl(&["check", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.yaml:4:5: apps[0].instance: unknown field"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("did you mean `instances`?"));
    assert!(!h.file("svctl.sock").exists(), "check starts no daemon");
}

fn count_cause(h: &Home, app: &str, cause: &str) -> usize {
    h.history(&[app])
        .iter()
        .filter(|r| r["cause"] == cause)
        .count()
}

/// Every trigger a spec declares is armed whatever path brought the app back: a new daemon
/// (as under systemd, after `svctl kill`) and a plain `restart APP` in it.
#[test]
fn cron_and_watch_hold_across_a_daemon_restart_and_a_restart_of_the_app() {
    let mut h = Home::new();
    let dir = h.file("watched");
    std::fs::create_dir_all(&dir).expect("watched dir");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: nightly\n    script: sleep\n    args: \"1000\"\n    cron_restart: \"*/2 * * * * *\"\n  - name: dev\n    script: sleep\n    args: \"1000\"\n    watch: [\"{}\"]\n    watch_delay: 100\n",
            dir.display()
        ),
    );
    h.ok(&["start", &file]);
    h.wait_until("a first cron restart", || {
        count_cause(&h, "nightly", "cron") >= 1
    });
    h.ok(&["kill"]);
    assert_eq!(h.wait_daemon_exit(), Some(0));
    let before = count_cause(&h, "nightly", "cron");
    // The daemon as systemd runs it: restored apps only, no file given.
    h.start_daemon();
    h.wait_status("nightly", 0, "online");
    h.wait_until("a cron restart from the restored daemon", || {
        count_cause(&h, "nightly", "cron") > before
    });
    h.wait_status("dev", 0, "online");
    std::fs::write(dir.join("a.txt"), "1").expect("write");
    h.wait_until("a watch restart from the restored daemon", || {
        count_cause(&h, "dev", "watch") >= 1
    });
    // A restart of the app in that daemon keeps its trigger.
    h.ok(&["restart", "nightly"]);
    let after_restart = count_cause(&h, "nightly", "cron");
    h.wait_until("a cron restart after `restart nightly`", || {
        count_cause(&h, "nightly", "cron") > after_restart
    });
}
