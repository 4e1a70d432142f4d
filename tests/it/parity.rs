//! PM2 parity (issue 13) against the real daemon: `--env` typos, `env_file` read again at
//! restart, `append_env_to_name` and the `pm2:` key, log file names, JSON lines and `describe`,
//! logrotate's create mode and `reload-logs`, `pid_file`, and the one-port cluster warning.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn pid_of(h: &Home, name: &str) -> i64 {
    h.proc(name, 0)
        .and_then(|p| p["pid"].as_i64())
        .unwrap_or_default()
}

#[test]
fn an_env_typo_is_refused_and_nothing_starts() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: web\n    script: sleep\n    args: \"1000\"\n    env_production:\n      MODE: prod\n",
    );
    let out = h.svctl(&["start", &file, "--env", "prodution"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "eco.yaml:1:1: --env prodution: no app of this file has an `env_prodution` block"
        ) && err.contains("did you mean `env_production`"),
        "{err}"
    );
    assert!(h.list().is_empty(), "nothing was started");
    let out = h.svctl(&["check", &file, "--env", "prodution"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_edited_env_file_applies_at_the_next_restart() {
    let h = Home::new();
    std::fs::write(h.file(".env"), "GREETING=one\n").unwrap();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: greet\n    script: bash\n    args: [\"-c\", \"echo \\\"greeting=$GREETING\\\"; exec sleep 1000\"]\n    env_file: .env\n",
    );
    h.ok(&["start", &file]);
    let out = h.file("logs/greet-out.log");
    h.wait_until("the first value is printed", || {
        text(&out).contains("greeting=one")
    });
    std::fs::write(h.file(".env"), "GREETING=two\n").unwrap();
    h.ok(&["restart", "greet"]);
    h.wait_until("the edited value is printed", || {
        text(&out).contains("greeting=two")
    });
    // A file gone at a spawn: the app starts with the values it had at load, and a warning.
    std::fs::remove_file(h.file(".env")).unwrap();
    h.ok(&["restart", "greet", "--update-env"]);
    h.wait_until("the app starts without its env_file", || {
        text(&out).matches("greeting=").count() == 3
    });
    assert!(text(&out).ends_with("greeting=one\n"), "{}", text(&out));
    h.wait_until("the daemon log warns", || h.log().contains("env_file"));
}

#[test]
fn append_env_to_name_and_the_pm2_key() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "pm2:\n  - name: web\n    script: sleep\n    args: \"1000\"\n    append_env_to_name: true\n    env_prod:\n      MODE: prod\n",
    );
    h.ok(&["start", &file, "--env", "prod"]);
    h.wait_status("web-prod", 0, "online");
    assert!(h.proc("web", 0).is_none());
    assert!(h.file("logs/web-prod-out.log").exists());
}

#[test]
fn log_files_are_named_as_pm2_names_them_and_describe_lists_them() {
    let h = Home::new();
    let combined = h.file("all.log");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: my_app.v2\n    script: bash\n    args: [\"-c\", \"echo hello; echo oops >&2; exec sleep 1000\"]\n    instances: 1\n    log_file: {}\n    log_type: json\n    log_date_format: \"YYYY\"\n",
            combined.display()
        ),
    );
    h.ok(&["start", &file]);
    h.wait_status("my_app.v2", 0, "online");
    // PM2: non [A-Za-z0-9.-] characters become `-`; `instances` given: -0.
    let out = h.file("logs/my-app.v2-out-0.log");
    let err = h.file("logs/my-app.v2-error-0.log");
    h.wait_until("both streams are written", || {
        text(&out).contains("hello") && text(&err).contains("oops")
    });
    let line: Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["app_name"], "my_app.v2");
    assert_eq!(line["process_id"], 0);
    assert_eq!(line["type"], "out");
    assert_eq!(line["message"], "hello");
    let year = line["timestamp"].as_str().unwrap();
    assert!(year.len() == 4 && year.starts_with("20"), "{year}");
    let err_line: Value = serde_json::from_str(text(&err).lines().next().unwrap()).unwrap();
    assert_eq!(err_line["type"], "err");
    let combined_path = h.file("all-0.log");
    h.wait_until("the combined file has both", || {
        text(&combined_path).lines().count() == 2
    });
    let d: Value = serde_json::from_str(&h.ok(&["describe", "my_app.v2", "--json"])).unwrap();
    assert_eq!(d[0]["out_log"][0], out.display().to_string());
    assert_eq!(d[0]["err_log"][0], err.display().to_string());
    assert_eq!(d[0]["log_file"][0], combined_path.display().to_string());
    let shown = h.ok(&["describe", "my_app.v2"]);
    assert!(shown.contains("all-0.log"), "{shown}");
}

#[test]
fn logrotate_create_mode_and_reload_logs_lose_nothing() {
    let h = Home::new();
    let dir = h.file("applogs");
    let log = dir.join("tick.log");
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: tick\n    script: {}\n    out_file: {}\n",
            fixture("ticker.sh"),
            log.display()
        ),
    );
    h.ok(&["start", &file]);
    h.wait_until("ticks are written", || text(&log).contains("tick 2\n"));
    // logrotate without copytruncate: rename, no signal. The daemon notices on its own.
    std::fs::rename(&log, dir.join("tick.log.1")).unwrap();
    h.wait_until("ticks land in a new file at the path", || {
        text(&log).contains("tick ")
    });
    // With postrotate `svctl reload-logs`: at once.
    std::fs::rename(&log, dir.join("tick.log.2")).unwrap();
    let said = h.ok(&["reload-logs"]);
    assert!(said.contains("reopened 2 log file(s)"), "{said}");
    h.wait_until("ticks land in the reopened file", || {
        text(&log).contains("tick ")
    });
    // Nothing was lost across the files: the numbers follow each other.
    h.wait_until("a few more ticks", || text(&log).lines().count() >= 3);
    let mut numbers: Vec<u64> = ["tick.log.1", "tick.log.2", "tick.log"]
        .iter()
        .flat_map(|f| {
            text(&dir.join(f))
                .lines()
                .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    let n = numbers.len();
    numbers.dedup();
    assert_eq!(numbers.len(), n);
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap in {numbers:?}"
    );
    // A path that became unwritable: the app keeps running, the bytes are counted as lost.
    std::fs::rename(&dir, h.file("applogs.old")).unwrap();
    std::fs::write(&dir, b"a file where the folder was").unwrap();
    let said = h.ok(&["reload-logs"]);
    assert!(said.contains("could not be opened"), "{said}");
    h.wait_until("output is counted as lost", || {
        h.proc("tick", 0)
            .is_some_and(|p| p["log_bytes_lost"].as_u64().unwrap_or(0) > 0)
    });
    assert_eq!(h.status("tick", 0).as_deref(), Some("online"));
    std::fs::remove_file(&dir).unwrap();
    h.wait_until("writing resumes with a marker", || {
        text(&log).contains("bytes of output lost")
    });
}

#[test]
fn pid_file_follows_each_run_and_a_bad_path_is_only_a_warning() {
    let h = Home::new();
    let pidfile = h.file("run/web.pid");
    std::fs::create_dir_all(h.file("run")).unwrap();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: web\n    script: sleep\n    args: \"1000\"\n    pid_file: {}\n  - name: nowhere\n    script: sleep\n    args: \"1000\"\n    pid_file: {}\n",
            pidfile.display(),
            h.file("missing/dir/x.pid").display()
        ),
    );
    let out = h.svctl(&["start", &file]);
    h.succeeded("start", &out);
    assert!(
        stderr(&out).contains("pid_file: the folder"),
        "{}",
        stderr(&out)
    );
    h.wait_status("web", 0, "online");
    h.wait_until("the pid file holds the pid", || {
        text(&pidfile).trim() == pid_of(&h, "web").to_string()
    });
    let first = pid_of(&h, "web");
    h.ok(&["restart", "web"]);
    h.wait_until("the pid file holds the new pid", || {
        let now = pid_of(&h, "web");
        now != first && now != 0 && text(&pidfile).trim() == now.to_string()
    });
    let d: Value = serde_json::from_str(&h.ok(&["describe", "web", "--json"])).unwrap();
    assert_eq!(d[0]["pid_file"][0], pidfile.display().to_string());
    h.ok(&["stop", "web"]);
    h.wait_until("the pid file is removed", || !pidfile.exists());
    assert_eq!(h.status("nowhere", 0).as_deref(), Some("online"));
    h.wait_until("the daemon log warns", || {
        h.log().contains("pid_file") && h.log().contains("cannot write it")
    });
}

#[test]
fn cluster_mode_on_one_port_is_a_warning() {
    let h = Home::empty();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: api\n    script: sleep\n    exec_mode: cluster\n    instances: 3\n    port: 3000\n",
    );
    let out = h.svctl(&["check", &file]);
    h.succeeded("check", &out);
    let err = stderr(&out);
    assert!(
        err.contains("3 instances on one PORT (3000)") && err.contains("increment_var: PORT"),
        "{err}"
    );
}
