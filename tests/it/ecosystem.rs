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
    h.cmd(&["--no-autostart", "start", &file, "--env", "production"])
        .env("FROM_SHELL", "one")
        .output()
        .unwrap();
    wait_greeting(&h, "greeting=prod shell=one");
    // A plain restart keeps the env the app was started with, whatever the caller's shell has.
    let out = h
        .cmd(&["--no-autostart", "restart", "greet"])
        .env("FROM_SHELL", "two")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    h.wait_until("a new run printed", || {
        std::fs::read_to_string(h.file("logs/greet-out.log")).is_ok_and(|t| t.lines().count() == 2)
    });
    assert_eq!(last_greeting(&h), "greeting=prod shell=one");
    // --update-env takes the caller's environment.
    let out = h
        .cmd(&["--no-autostart", "restart", "greet", "--update-env"])
        .env("FROM_SHELL", "three")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    wait_greeting(&h, "greeting=prod shell=three");
    // --env re-reads the file: without the production block, `default`... here the dev value.
    h.ok(&["restart", "greet", "--env", "nothing"]);
    wait_greeting(&h, "greeting=dev shell=three");
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
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: dev\n    script: sleep\n    args: \"1000\"\n    watch: [\"{}\"]\n    ignore_watch: [\"*.tmp\"]\n    watch_delay: 200\n",
            src.display()
        ),
    );
    h.ok(&["start", &file]);
    let first = h.wait_status("dev", 0, "online")["pid"].clone();
    // An ignored file first, then, well after its quiet period would have ended, a real
    // change: if the first counted there would be two restarts.
    std::fs::write(src.join("scratch.tmp"), "x").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::fs::write(src.join("main.py"), "print(1)\n").unwrap();
    h.wait_until("a watch restart", || {
        h.ok(&["history", "dev", "--json"])
            .contains("\"cause\": \"watch\"")
    });
    let p = h.wait_status("dev", 0, "online");
    assert_ne!(p["pid"], first);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&h.ok(&["history", "dev", "--json"])).unwrap();
    assert_eq!(rows.len(), 1, "one quiet period, one restart: {rows:?}");
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
