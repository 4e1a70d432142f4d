//! PM2 parity at the CLI edge (issue 13): failed starts exit 1, read-only commands never start
//! a daemon, empty `all` is an error, starting a program again, PM2's per-app flags, files as
//! targets and from standard input, `jlist`/`prettylist`, ids, `logs --nostream --raw`, and
//! PM2 commands svctl does not need.

use crate::harness::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn write(path: &std::path::Path, text: &str, mode: u32) -> String {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path.display().to_string()
}

fn describe(h: &Home, name: &str) -> Value {
    let text = h.ok(&["describe", name, "--json"]);
    let v: Value = serde_json::from_str(&text).expect("describe --json");
    v[0].clone()
}

#[test]
fn a_start_that_leaves_nothing_running_exits_1_with_the_os_error() {
    let h = Home::new();
    // Not executable, no shebang, no known extension: exec says permission denied.
    let denied = write(&h.file("denied.bin"), "not a program\n", 0o644);
    let out = h.svctl(&["start", &denied]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("errored"),
        "the table comes first: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("svctl: error: nothing is running: denied:0 could not start: "),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");

    // Executable but not a program the kernel knows.
    let garbage = write(&h.file("garbage"), "\x7fELF but not really\n", 0o755);
    let out = h.svctl(&["start", &garbage, "--name", "garbage"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Exec format error"),
        "{}",
        stderr(&out)
    );

    // restart says the same; a start of something that runs is still a success.
    let out = h.svctl(&["restart", "denied"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    h.ok(&["start", "sleep", "--name", "fine", "--", "1000"]);
    h.ok(&["restart", "fine"]);
}

#[test]
fn read_only_commands_never_start_the_daemon() {
    let mut h = Home::new();
    h.ok(&["start", "sleep", "--name", "nap", "--", "1000"]);
    let pid = h.wait_status("nap", 0, "online")["pid"].as_i64().unwrap() as i32;
    h.ok(&["kill"]);
    h.wait_daemon_exit();
    h.wait_until("the app is gone", || !pid_alive(pid));

    // Without --no-autostart: each is free to start a daemon, and none may.
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["jlist"],
        vec!["prettylist"],
        vec!["describe", "nap"],
        vec!["logs", "nap", "--nostream"],
        vec!["ping"],
    ] {
        let out = h.run(&mut h.cmd(&args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("svctl: error: the daemon is not running\nhint: `svctl start "),
            "{args:?}: {err}"
        );
        assert!(err.contains("brings back nap"), "{args:?}: {err}");
    }
    // Had any of them started a daemon, it would answer now.
    let out = h.svctl(&["ping"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a read-only command started a daemon"
    );

    // history and why read the database.
    let text = h.ok(&["history", "nap"]);
    assert!(text.contains("stopped"), "{text}");
    h.ok(&["why", "nap"]);

    // A command that acts starts the daemon as before, and with it the app.
    let out = h.run(&mut h.cmd(&["start", "nap"]));
    h.succeeded("start nap (autostart)", &out);
    h.wait_status("nap", 0, "online");
    h.succeeded("kill", &h.run(&mut h.cmd(&["kill"])));
}

#[test]
fn acting_on_all_with_no_app_exits_1() {
    let h = Home::new();
    for verb in ["restart", "stop", "delete", "reset"] {
        let out = h.svctl(&[verb, "all"]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", stdout(&out));
        assert!(
            stderr(&out).starts_with("svctl: error: `all` names no app: no app is known yet"),
            "{verb}: {}",
            stderr(&out)
        );
    }
    assert!(h.ok(&["list"]).contains("no apps"));
    h.ok(&["logs", "--nostream"]);
    h.ok(&["flush"]);
}

#[test]
fn starting_a_program_again_restarts_it_and_another_needs_force() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "nap", "--", "1000"]);
    let first = h.wait_status("nap", 0, "online");
    let out = h.ok(&["start", "sleep", "--name", "nap", "--", "1000"]);
    assert!(
        out.starts_with("[svctl] restarted nap (it already ran sleep)"),
        "{out}"
    );
    let again = h.wait_status("nap", 0, "online");
    assert_ne!(first["pid"], again["pid"]);
    assert_eq!(again["restarts"], 1);

    // Another program under that name is refused, and nothing changes.
    let ticker = fixture("ticker.sh");
    let out = h.svctl(&["start", &ticker, "--name", "nap"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "svctl: error: an app called `nap` already runs sleep; not replacing it with {ticker}"
        )),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(h.proc("nap", 0).unwrap()["pid"], again["pid"]);
    assert_eq!(describe(&h, "nap")["spec"]["script"], "sleep");

    // --force (-f) replaces it.
    let out = h.ok(&["start", &ticker, "--name", "nap", "-f"]);
    assert!(out.starts_with("[svctl] replaced nap: "), "{out}");
    assert_eq!(describe(&h, "nap")["spec"]["script"], ticker.as_str());
    h.wait_status_where("nap", 0, "online with a new pid", |p| {
        p["status"] == "online" && p["pid"] != again["pid"]
    });
}

#[test]
fn pm2_flags_set_the_ecosystem_keys() {
    let h = Home::new();
    let out = h.run(
        h.cmd(&[
            "--no-autostart",
            "start",
            "sleep",
            "--name",
            "job",
            "-i",
            "2",
            "--max-restarts",
            "3",
            "--kill-timeout",
            "2s",
            "--min-uptime",
            "5000",
            "--restart-delay",
            "250",
            "--max-memory-restart",
            "200M",
            "--namespace",
            "batch",
            "--no-autorestart",
            "--stop-exit-codes",
            "0",
            "3",
            "-c",
            "0 3 * * *",
            "-o",
            "out.log",
            "-e",
            "err.log",
            "--merge-logs",
            "--time",
            "--",
            "1000",
        ])
        .current_dir(h.path()),
    );
    h.succeeded("start with PM2 flags", &out);
    let spec = &describe(&h, "job")["spec"];
    assert_eq!(spec["instances"], 2);
    assert_eq!(spec["max_restarts"], 3);
    assert_eq!(spec["kill_timeout_ms"], 2000);
    assert_eq!(spec["min_uptime_ms"], 5000);
    assert_eq!(spec["restart_delay_ms"], 250);
    assert_eq!(spec["max_memory_restart"], 200 * 1024 * 1024);
    assert_eq!(spec["namespace"], "batch");
    assert_eq!(spec["autorestart"], false);
    assert_eq!(spec["stop_exit_codes"], serde_json::json!([0, 3]));
    assert_eq!(spec["cron_restart"], "0 3 * * *");
    assert_eq!(spec["merge_logs"], true);
    assert!(spec["log_date_format"].is_string(), "{spec}");
    assert_eq!(spec["args"], serde_json::json!(["1000"]));
    let out_file = h.file("out.log").display().to_string();
    assert!(
        spec["out_file"].to_string().contains(&out_file),
        "{}",
        spec["out_file"]
    );
    h.wait_status("job", 1, "online");
    h.ok(&["stop", "batch"]);

    // Each flag is checked as its key, with the file's message, before anything starts.
    for (flags, message) in [
        (
            vec!["--max-restarts", "-1"],
            "svctl: error: --max-restarts: -1 is out of range",
        ),
        (
            vec!["--max-memory-restart", "300MB"],
            "svctl: error: --max-memory-restart: `300MB`",
        ),
        (
            vec!["--stop-exit-codes", "256"],
            "svctl: error: --stop-exit-codes: 256 is out of range",
        ),
        (vec!["-c", "tomorrow"], "svctl: error: --cron-restart: "),
        (
            vec!["--kill-timeout", "soon"],
            "svctl: error: --kill-timeout: ",
        ),
        (vec!["-i", "many"], "svctl: error: --instances: "),
    ] {
        let mut args = vec!["start", "sleep", "--name", "bad"];
        args.extend(flags.iter().copied());
        let out = h.svctl(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(message),
            "{flags:?}: {}",
            stderr(&out)
        );
    }
    assert!(h.proc("bad", 0).is_none());
    // --env names a file's block; a program has none.
    let out = h.svctl(&["start", "sleep", "--name", "bad", "--env", "production"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_interpreter_follows_the_extension_and_can_be_none_or_missing() {
    let h = Home::new();
    // Not executable, no shebang: `.sh` runs with bash.
    let script = write(&h.file("job.sh"), "exec sleep 1000\n", 0o644);
    h.ok(&["start", &script]);
    h.wait_status("job", 0, "online");
    let spec = &describe(&h, "job")["spec"];
    assert_eq!(spec["interpreter"], "bash", "{spec}");

    // --interpreter none executes the file itself: here, permission denied.
    let out = h.svctl(&[
        "start",
        &script,
        "--name",
        "direct",
        "--interpreter",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );

    // A missing interpreter is said before anything is started.
    let out = h.svctl(&[
        "start",
        &script,
        "--name",
        "nope",
        "--interpreter",
        "no-such-interpreter-xyz",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the interpreter `no-such-interpreter-xyz`, which is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(h.proc("nope", 0).is_none());
}

#[test]
fn stop_delete_and_reset_take_a_file_and_start_reads_standard_input() {
    let h = Home::new();
    let yaml = "apps:\n  - name: a\n    script: sleep\n    args: \"1000\"\n  - name: b\n    script: sleep\n    args: \"1000\"\n";
    let file = h.ecosystem("eco.yaml", yaml);
    // `start -` reads the file from standard input.
    let mut cmd = h.cmd(&["--no-autostart", "start", "-"]);
    cmd.stdin(Stdio::from(std::fs::File::open(&file).unwrap()));
    h.succeeded("start -", &h.run(&mut cmd));
    h.wait_status("a", 0, "online");
    h.wait_status("b", 0, "online");
    h.ok(&["start", "sleep", "--name", "other", "--", "1000"]);
    h.ok(&["restart", "a"]);
    assert_eq!(h.wait_status("a", 0, "online")["restarts"], 1);

    h.ok(&["reset", &file]);
    assert_eq!(h.proc("a", 0).unwrap()["restarts"], 0);

    let out = h.ok(&["stop", &file]);
    assert!(out.starts_with("[svctl] stopped a, b ("), "{out}");
    assert_eq!(h.status("a", 0).as_deref(), Some("stopped"));
    assert_eq!(h.status("b", 0).as_deref(), Some("stopped"));
    assert_eq!(h.status("other", 0).as_deref(), Some("online"));

    h.ok(&["delete", &file]);
    let names: Vec<Value> = h.list().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, vec![Value::from("other")]);
    let out = h.svctl(&["stop", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("none of the apps of"),
        "{}",
        stderr(&out)
    );

    // /dev/stdin is the file on standard input, never a program.
    let mut cmd = h.cmd(&["--no-autostart", "start", "/dev/stdin"]);
    cmd.stdin(Stdio::from(std::fs::File::open(&file).unwrap()));
    h.succeeded("start /dev/stdin", &h.run(&mut cmd));
    h.wait_status("a", 0, "online");
    // Apps from standard input have no file to read again.
    assert!(describe(&h, "a")["spec"]["source"].is_null());
}

#[test]
fn jlist_prettylist_ids_and_raw_logs() {
    let h = Home::new();
    h.ok(&["start", &fixture("ticker.sh"), "--name", "tick", "-i", "2"]);
    h.ok(&["start", "sleep", "--name", "nap", "--", "1000"]);
    h.wait_status("tick", 1, "online");
    h.wait_status("nap", 0, "online");

    let line = h.ok(&["jlist"]);
    assert_eq!(line.lines().count(), 1, "{line}");
    let procs: Vec<Value> = serde_json::from_str(&line).expect("jlist is JSON");
    assert_eq!(procs.len(), 3);
    let pretty = h.ok(&["prettylist"]);
    assert!(pretty.lines().count() > 3, "{pretty}");
    assert_eq!(
        serde_json::from_str::<Value>(&pretty)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Ids: small, distinct, shown in the table, usable as targets.
    let mut ids: Vec<u64> = procs.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{procs:?}");
    assert!(ids.iter().all(|i| *i < 3), "{ids:?}");
    let table = h.ok(&["list"]);
    assert!(table.lines().nth(1).unwrap().contains("id"), "{table}");
    let tick1 = h.proc("tick", 1).unwrap();
    let id = tick1["id"].to_string();
    h.ok(&["restart", &id]);
    let after = h.wait_status_where("tick", 1, "restarted", |p| p["restarts"] == 1);
    assert_eq!(after["id"], tick1["id"], "an id is stable across restarts");
    assert_eq!(h.proc("tick", 0).unwrap()["restarts"], 0);
    assert_eq!(h.proc("nap", 0).unwrap()["restarts"], 0);

    // logs --nostream --raw: the lines as written, no prefix, and it returns.
    let mut out = String::new();
    h.wait_until("tick:0 wrote a line", || {
        out = h.ok(&[
            "logs",
            "tick:0",
            "--nostream",
            "--raw",
            "--out",
            "--lines",
            "3",
        ]);
        !out.is_empty()
    });
    assert!(
        out.lines().all(|l| l.starts_with("tick ")),
        "raw lines: {out}"
    );
    let prefixed = h.ok(&["logs", "tick:0", "--nostream", "--out", "--lines", "1"]);
    assert!(prefixed.starts_with("tick:0 | tick "), "{prefixed}");
}

#[test]
fn pm2_save_and_resurrect_say_what_svctl_does() {
    let h = Home::new();
    let out = h.ok(&["save"]);
    assert!(out.contains("nothing to save"), "{out}");
    assert!(h.ok(&["dump"]).contains("nothing to save"));
    let out = h.ok(&["resurrect"]);
    assert!(
        out.contains("brings back the apps that should run"),
        "{out}"
    );
    // Not clap's did-you-mean `reset`, which would wipe the restart counters.
    assert!(!out.contains("reset"), "{out}");
}
