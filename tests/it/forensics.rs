//! The forensic record: every exit with its cause, `history`, `why`, `reset`, memory limits and
//! kernel OOM kills, against real processes.

use crate::harness::*;
use serde_json::Value;

fn wait_history(h: &Home, target: &str, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut rows = Vec::new();
    h.wait_until(what, || {
        rows = h.history(&[target]);
        cond(&rows)
    });
    rows
}

#[test]
fn exit_codes_signals_and_kills_are_told_apart() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: three\n    script: {c}\n    args: \"3\"\n    autorestart: false\n  - name: segv\n    script: {s}\n    autorestart: false\n  - name: victim\n    script: sleep\n    args: \"1000\"\n    autorestart: false\n",
            c = fixture("crash.sh"),
            s = fixture("segv.sh")
        ),
    );
    h.ok(&["start", &file]);
    let pid = h.wait_status("victim", 0, "online")["pid"]
        .as_i64()
        .unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let three = wait_history(&h, "three", "three's exit is recorded", |r| !r.is_empty());
    assert_eq!(three[0]["cause"], "exited");
    assert_eq!(three[0]["exit_code"], 3);
    assert!(
        three[0]["stderr_tail"]
            .as_str()
            .unwrap_or("")
            .contains("crashing with 3"),
        "{:?}",
        three[0]
    );

    let segv = wait_history(&h, "segv", "segv's exit is recorded", |r| !r.is_empty());
    assert_eq!(segv[0]["cause"], "signaled");
    assert_eq!(segv[0]["signal"], "SIGSEGV");

    let victim = wait_history(&h, "victim", "victim's exit is recorded", |r| !r.is_empty());
    assert_eq!(
        victim[0]["cause"], "signaled",
        "a kill -9 from outside is not an OOM kill"
    );
    assert_eq!(victim[0]["signal"], "SIGKILL");
    assert_eq!(victim[0]["pid"], pid);

    // Filters.
    let text = h.ok(&["history", "--cause", "signaled", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let out = h.svctl(&["history", "--cause", "crashed"]);
    assert_eq!(out.status.code(), Some(2));
    let out = h.svctl(&["history", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("three"), "{}", stderr(&out));
    let table = h.ok(&["history"]);
    assert!(
        table.contains("SIGSEGV") && table.contains("three:0"),
        "{table}"
    );
}

#[test]
fn why_names_a_crash_loop_and_shows_its_stderr() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: loop\n    script: {}\n    args: \"3\"\n    max_restarts: 5\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    h.wait_status("loop", 0, "errored");
    let rows = wait_history(&h, "loop", "five exits are recorded", |r| r.len() == 5);
    assert!(
        rows.iter()
            .all(|r| r["cause"] == "exited" && r["unstable"] == true)
    );
    let why = h.ok(&["why", "loop"]);
    assert!(
        why.contains("crash loop: 5 of the last 5 runs lasted under"),
        "{why}"
    );
    assert!(why.contains("no restart followed the last exit"), "{why}");
    assert!(why.contains("| crashing with 3"), "{why}");
    assert!(why.contains("code 3 × 5"), "{why}");
    let json: Value = serde_json::from_str(&h.ok(&["why", "loop", "--json"])).unwrap();
    assert_eq!(json["exits"], 5);
    assert_eq!(json["dominant_crash"], "exited");

    // reset zeroes the counters and keeps the history.
    h.ok(&["reset", "loop"]);
    let p = h.proc("loop", 0).unwrap();
    assert_eq!(
        (p["restarts"].as_u64(), p["unstable_restarts"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(h.history(&["loop"]).len(), 5);
}

#[test]
fn restart_stop_and_describe_split_the_counters() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "s", "--", "1000"]);
    h.wait_status("s", 0, "online");
    h.ok(&["restart", "s"]);
    h.ok(&["stop", "s"]);
    let rows = wait_history(&h, "s", "two exits", |r| r.len() == 2);
    assert_eq!(rows[0]["cause"], "stopped");
    assert_eq!(rows[1]["cause"], "restarted");
    let p = h.proc("s", 0).unwrap();
    assert_eq!(
        (p["auto_restarts"].as_u64(), p["manual_restarts"].as_u64()),
        (Some(0), Some(1))
    );
    let d = h.ok(&["describe", "s"]);
    assert!(d.contains("0 automatic, 1 manual"), "{d}");
}

fn memory_limit_case(child: bool) {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: grow\n    script: {}\n    args: [\"120\"{}]\n    max_memory_restart: 50M\n    memory_check_interval: 200\n    restart_delay: 60000\n",
            fixture("grow.sh"),
            if child { ", \"child\"" } else { "" }
        ),
    );
    h.ok(&["start", &file]);
    let rows = wait_history(&h, "grow", "a memory_limit exit", |r| {
        r.iter().any(|e| e["cause"] == "memory_limit")
    });
    let e = rows.iter().find(|e| e["cause"] == "memory_limit").unwrap();
    let rss = e["rss_last_bytes"].as_u64().unwrap();
    assert!(rss > 50 << 20, "RSS at the breach {rss} is over the limit");
    assert_eq!(e["memory_limit_bytes"].as_u64(), Some(50 << 20));
    // A memory restart is immediate and the new run grows past the limit again within a
    // second: once it is stopped, `why` counts the restarts the history has.
    h.ok(&["stop", "grow"]);
    h.wait_status("grow", 0, "stopped");
    h.wait_until("why counts the memory restarts of the history", || {
        let n = h
            .history(&["grow"])
            .iter()
            .filter(|e| e["cause"] == "memory_limit")
            .count();
        let times = if n == 1 {
            "1 time".into()
        } else {
            format!("{n} times")
        };
        h.ok(&["why", "grow"])
            .contains(&format!("restarted by max_memory_restart (50 MB) {times}"))
    });
}

#[test]
fn a_growing_process_is_restarted_at_its_memory_limit() {
    memory_limit_case(false);
}

#[test]
fn memory_held_by_children_counts_toward_the_limit() {
    memory_limit_case(true);
}

/// A real kernel OOM kill in a memory cgroup with a small limit (needs root and cgroup v1 or v2
/// with the memory controller).
#[test]
fn a_kernel_oom_kill_is_recorded_as_oom_killed() {
    let Some(cg) = MemoryCgroup::create(32 << 20) else {
        eprintln!("skipped: needs root and a writable memory cgroup (v1 or v2)");
        return;
    };
    let h = Home::new();
    let script = h.file("oom.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\necho $$ > {}\nx=$(head -c 300M /dev/zero | tr '\\0' x)\nsleep 1000\n",
            cg.procs_file().display()
        ),
    )
    .unwrap();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: hog\n    script: {}\n    interpreter: bash\n    autorestart: false\n",
            script.display()
        ),
    );
    h.ok(&["start", &file]);
    let rows = wait_history(&h, "hog", "the OOM kill is recorded", |r| !r.is_empty());
    assert_eq!(rows[0]["cause"], "oom_killed", "{:?}", rows[0]);
    // "confirmed" exactly when the kernel log names the pid, as the test reads it too.
    let pid = rows[0]["pid"].as_i64().expect("pid") as i32;
    let want = match svctl::proc::oom::kmsg_confirms(pid) {
        Some(true) => "confirmed",
        Some(false) | None => "likely",
    };
    assert_eq!(rows[0]["oom_confidence"], want, "{:?}", rows[0]);
    let why = h.ok(&["why", "hog"]);
    assert!(
        why.contains("killed by the kernel OOM killer 1 time"),
        "{why}"
    );
}

/// A memory cgroup made for one test and removed after it.
struct MemoryCgroup {
    dir: std::path::PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    fn create(limit: u64) -> Option<MemoryCgroup> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let name = format!("svctl-test-{}", std::process::id());
        let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
        let (dir, v2) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(&name), false)
        } else if std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
        {
            (std::path::Path::new("/sys/fs/cgroup").join(&name), true)
        } else {
            return None;
        };
        std::fs::create_dir(&dir).ok()?;
        let cg = MemoryCgroup { dir, v2 };
        // The limit is what the test needs; without it, the test is skipped. Swap would let
        // the hog escape the limit: where the kernel has the knob, it must take the value.
        let ok = if cg.v2 {
            let set = std::fs::write(cg.dir.join("memory.max"), limit.to_string()).is_ok();
            set_knob_if_present(&cg.dir, "memory.swap.max", "0");
            set
        } else {
            let set =
                std::fs::write(cg.dir.join("memory.limit_in_bytes"), limit.to_string()).is_ok();
            set_knob_if_present(&cg.dir, "memory.memsw.limit_in_bytes", &limit.to_string());
            set
        };
        ok.then_some(cg)
    }

    fn procs_file(&self) -> std::path::PathBuf {
        self.dir.join("cgroup.procs")
    }
}

/// Writes `value` to the cgroup file `knob` when this kernel has that file; one that exists
/// must take the value.
fn set_knob_if_present(dir: &std::path::Path, knob: &str, value: &str) {
    let path = dir.join(knob);
    if path.exists() {
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The test's daemon stopped its apps; the cgroup is empty and can go.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
