//! `svctl monit` in a real terminal: tmux runs a shell, the test types the command, reads the
//! screen with `capture-pane`, restarts an app with a key, shrinks the window, quits with `q`,
//! and checks the shell is back in a sane terminal. Skipped without tmux.

use crate::harness::{BIN, BUDGET, Home, run_within};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(home: &Home) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("svtmux")
            .tempdir_in("/tmp")
            .unwrap();
        let t = Tmux {
            socket: dir.path().join("sock"),
            _dir: dir,
        };
        let shell = format!(
            "env -i PATH=/usr/bin:/bin TERM=xterm-256color SVCTL_HOME={} PS1='shell$ ' sh",
            home.path().display()
        );
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            &shell,
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(args);
        let out = run_within(&mut cmd, crate::harness::CLI_DEADLINE, String::new);
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + BUDGET;
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: the screen is\n{s}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn monit_shows_apps_restarts_with_a_key_and_leaves_the_terminal_sane() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: ticker\n    script: sh\n    args: [\"-c\", \"while :; do echo tick-line; sleep 0.2; done\"]\n",
    );
    h.ok(&["start", &file]);
    let before = h.wait_status("ticker", 0, "online");
    // Not a terminal: refused, with the command to use instead.
    let out = h.svctl(&["monit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("svctl list"),
        "{out:?}"
    );
    let Some(t) = Tmux::start(&h) else { return };
    t.wait_screen("the shell prompt", |s| s.contains("shell$"));
    t.keys(&[&format!("{BIN} monit"), "Enter"]);
    let s = t.wait_screen("monit shows the app and its log", |s| {
        s.contains("svctl monit · 1 instance(s)") && s.contains("ticker") && s.contains("tick-line")
    });
    assert!(s.contains("q quit"), "{s}");
    t.keys(&["r"]);
    h.wait_status_where("ticker", 0, "restarted by the key", |p| {
        p["status"] == "online" && p["pid"] != before["pid"] && p["manual_restarts"] == 1
    });
    let history = h.ok(&["history", "ticker", "--json"]);
    assert!(history.contains("\"restarted\""), "{history}");
    t.wait_screen("the outcome on the status line", |s| {
        s.contains("restarted ticker:0")
    });
    // Too small: said, not drawn; big again: drawn again.
    t.run(&["resize-window", "-t", "t", "-x", "60", "-y", "20"]);
    t.wait_screen("too small is said", |s| s.contains("needs at least 80×24"));
    t.run(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    t.wait_screen("drawn again at 80×24", |s| {
        s.contains("ticker") && s.contains("q quit")
    });
    t.keys(&["q"]);
    t.wait_screen("the shell is back", |s| {
        !s.contains("svctl monit ·") && s.contains("shell$")
    });
    let alt = t.run(&["display-message", "-p", "-t", "t", "#{alternate_on}"]);
    assert_eq!(
        String::from_utf8_lossy(&alt.stdout).trim(),
        "0",
        "the alternate screen was left"
    );
    // Echo and line editing work again: the typed command shows and runs.
    t.keys(&["echo sane-$((40+2))", "Enter"]);
    t.wait_screen("the shell echoes and runs a line", |s| {
        s.contains("echo sane-$((40+2))") && s.contains("sane-42")
    });
}
