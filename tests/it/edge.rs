//! The CLI edge: a closed stdout (`| head`) is a quiet success for every command, and every
//! failure is one `svctl: error: CONTEXT: CAUSE` line (then a report, then a `hint:`).

use crate::harness::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

/// How the reader of svctl's stdout goes away.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Reads one line, then closes: `svctl … | head -1`.
    OneLine,
    /// Closed before svctl starts, so its first write fails with EPIPE.
    Gone,
}

/// Waits for `child` with a deadline (killing it on time-out); returns its status and stderr.
fn finish(mut child: Child, what: &str) -> (ExitStatus, String) {
    let deadline = Instant::now() + BUDGET;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for svctl") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {BUDGET:?} after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).expect("read stderr");
    }
    (status, err)
}

/// Runs `svctl ARGS` with stdout into a pipe whose reader goes away; returns the line read (if
/// any), the exit status and stderr.
fn into_closed_pipe(cmd: &mut Command, reader: Reader, what: &str) -> (String, ExitStatus, String) {
    cmd.stderr(Stdio::piped());
    match reader {
        Reader::OneLine => {
            let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn svctl");
            let mut first = String::new();
            {
                let mut out = BufReader::new(child.stdout.take().expect("stdout"));
                out.read_line(&mut first).expect("read one line");
            } // the read end closes here
            let (status, err) = finish(child, what);
            (first, status, err)
        }
        Reader::Gone => {
            let (read_end, write_end) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
            drop(read_end);
            let child = cmd.stdout(write_end).spawn().expect("spawn svctl");
            // The Command keeps the write end; svctl holds the only other one.
            let (status, err) = finish(child, what);
            (String::new(), status, err)
        }
    }
}

fn assert_quiet_success(h: &Home, args: &[&str]) {
    for reader in [Reader::OneLine, Reader::Gone] {
        let what = format!("svctl {} ({reader:?})", args.join(" "));
        let mut all = vec!["--no-autostart"];
        all.extend_from_slice(args);
        let (first, status, err) = into_closed_pipe(&mut h.cmd(&all), reader, &what);
        assert!(
            status.success(),
            "{what}: {status}\nstderr: {err}\n{}",
            h.log()
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{what}: {err}"
        );
        assert_eq!(err, "", "{what}: nothing on stderr");
        if let Reader::OneLine = reader {
            assert!(!first.is_empty(), "{what} printed nothing");
        }
    }
}

/// A valid file of several apps, so `check` prints a long report.
fn many_apps_yaml() -> String {
    let mut yaml = String::from("apps:\n");
    for i in 0..200 {
        yaml.push_str(&format!(
            "  - name: app{i}\n    script: sleep\n    args: \"1000\"\n    env:\n      PORT: \"{i}\"\n"
        ));
    }
    yaml
}

#[test]
fn check_into_a_closed_pipe_is_a_quiet_success() {
    let h = Home::empty();
    let file = h.ecosystem("many.yaml", &many_apps_yaml());
    assert_quiet_success(&h, &["check", &file]);
    assert_quiet_success(&h, &["check", &file, "--json"]);
    assert!(!h.file("svctl.sock").exists(), "check starts no daemon");
}

#[test]
fn every_listing_into_a_closed_pipe_is_a_quiet_success() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: many\n    script: sleep\n    args: \"1000\"\n    instances: 30\n  - name: seq\n    script: seq\n    args: \"1 20000\"\n    autorestart: false\n",
    );
    h.ok(&["start", &file]);
    for i in 0..30 {
        h.wait_status("many", i, "online");
    }
    h.wait_until("seq wrote its 20000 lines", || {
        std::fs::read_to_string(h.file("logs/seq-out.log")).is_ok_and(|t| t.ends_with("20000\n"))
    });
    h.ok(&["restart", "many"]);
    h.ok(&["restart", "many"]);

    assert_quiet_success(&h, &["list"]);
    assert_quiet_success(&h, &["list", "--json"]);
    assert_quiet_success(&h, &["history", "many"]);
    assert_quiet_success(&h, &["history", "many", "--json"]);
    assert_quiet_success(&h, &["why", "many"]);
    assert_quiet_success(&h, &["why", "many", "--json"]);
    assert_quiet_success(&h, &["describe", "many"]);
    assert_quiet_success(&h, &["describe", "many", "--json"]);
    assert_quiet_success(&h, &["logs", "seq", "--lines", "20000", "--no-follow"]);
    assert_quiet_success(&h, &["logs", "seq", "--lines", "20000", "--json"]);
    // A follower ends when its reader does, though no new line comes (seq has finished).
    assert_quiet_success(&h, &["logs", "seq", "--lines", "100", "--follow"]);
    // The daemon is unharmed.
    h.ok(&["ping"]);
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[test]
fn an_unknown_app_is_one_error_line_and_a_hint_with_exit_1() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "known-one", "--", "1000"]);
    let out = h.svctl(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "svctl: error: no app, instance or namespace is called `nope`\nhint: known: known-one\n"
    );
    assert_eq!(stdout(&out), "");

    let out = h.svctl(&["history", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        first_line(&stderr(&out)),
        "svctl: error: no history for an app called `nope`"
    );
}

#[test]
fn an_invalid_file_is_one_error_line_then_its_report_with_exit_2() {
    let h = Home::empty();
    let file = h.ecosystem(
        "bad.yaml",
        "apps:\n  - name: a\n    script: sleep\n    instance: 2\n",
    );
    let out = h.svctl(&["check", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!("svctl: error: {file}: invalid ecosystem file")
    );
    assert!(
        lines[1].starts_with(&format!("{file}:4:5: apps[0].instance: unknown field")),
        "{err}"
    );
    assert!(err.contains("did you mean `instances`?"), "{err}");
    assert_eq!(stdout(&out), "");

    // A file that cannot be read: the OS error once, at the end of the line.
    let missing = h.file("missing.yaml").display().to_string();
    let out = h.svctl(&["check", &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("svctl: error: {missing}: ")),
        "{err}"
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn warnings_are_svctl_warning_lines_on_stderr() {
    let h = Home::empty();
    let file = h.ecosystem(
        "node.yaml",
        "apps:\n  - name: a\n    script: sleep\n    args: \"1000\"\n    vizion: true\n",
    );
    let out = h.svctl(&["check", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.is_empty());
    for line in err.lines() {
        assert!(line.starts_with("svctl: warning: "), "{err}");
    }
    assert!(err.contains("vizion"), "{err}");
    assert!(
        !stdout(&out).contains("warning"),
        "warnings are not in the report"
    );
}

#[test]
fn usage_errors_keep_clap_format_and_exit_2() {
    let h = Home::empty();
    let out = h.svctl(&["stop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    let out = h.svctl(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Usage"), "{}", stdout(&out));
}

#[test]
fn no_daemon_and_a_refused_home_are_error_lines() {
    let h = Home::empty();
    let out = h.svctl(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // `list` only reads: one error line, then a hint on what starts the daemon.
    assert!(
        err.starts_with("svctl: error: the daemon is not running\nhint: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = h.cmd(&["daemon"]).output().unwrap();
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("svctl: error: daemon: "),
        "{}",
        stderr(&out)
    );
}
