//! Readiness, health checks, sockets owned by svctl and reloads, with real processes: a small
//! Python HTTP app (`tests/fixtures/web.py`) and real HTTP requests.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn has_python() -> bool {
    let ok = std::process::Command::new("python3")
        .arg("-c")
        .arg("import http.server")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: python3 is not installed");
    }
    ok
}

/// A free port on the loopback.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One GET on a new connection: the body, or why it failed.
fn get(port: u16, path: &str) -> Result<String, String> {
    let addr = format!("127.0.0.1:{port}");
    let mut s = TcpStream::connect(&addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
        return Err(format!("answer: {:?}", answer.lines().next()));
    }
    Ok(answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string())
}

fn app(name: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    script: python3\n    args: [\"-u\", \"{}\"]\n{extra}",
        fixture("web.py")
    )
}

#[test]
fn wait_ready_keeps_an_instance_launching_until_ready_1_and_ignores_outsiders() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let gate = h.file("gate");
    let status_file = h.file("status");
    let extra = format!(
        "    wait_ready: true\n    listen_timeout: 60s\n    env:\n      READY: notify\n      GATE: {}\n      OUTSIDER_STATUS: {}\n      PORT: \"{}\"\n",
        gate.display(),
        status_file.display(),
        free_port()
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("web", &extra)));
    // `start` answers once settled: launching is not settled, so start it in the background.
    let start = h.spawn(&mut h.cmd(&["start", &file]));
    h.wait_status("web", 0, "launching");
    // A process that is not the app says READY=1, then a garbage datagram: both ignored.
    let outsider = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    outsider
        .send_to(b"READY=1", h.file("notify.sock"))
        .expect("send");
    outsider
        .send_to(&[0xff, 0xfe, b'\n', 0], h.file("notify.sock"))
        .expect("send");
    // The app itself says STATUS= afterwards: once it shows, the outsider's datagrams were
    // handled before it.
    std::fs::write(&status_file, "warming up").expect("status");
    h.wait_until("the app's STATUS= is shown", || {
        h.proc("web", 0)
            .is_some_and(|p| p["notify_status"] == "warming up")
    });
    assert_eq!(h.status("web", 0).as_deref(), Some("launching"));
    std::fs::write(&gate, "").expect("gate");
    h.wait_status("web", 0, "online");
    let out = h.finish(start);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = h.proc("web", 0).expect("web");
    assert_eq!(p["notify_status"], "serving v1");
    let described = h.ok(&["describe", "web"]);
    assert!(described.contains("serving v1"), "{described}");
}

#[test]
fn ready_log_line_and_an_http_probe_say_ready() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let (gate1, gate2) = (h.file("gate1"), h.file("gate2"));
    let port = free_port();
    let yaml = format!(
        "apps:\n{}{}",
        app(
            "logged",
            &format!(
                "    ready_log_line: \"^listening\"\n    listen_timeout: 60s\n    env:\n      READY: log\n      GATE: {}\n      PORT: \"{}\"\n",
                gate1.display(),
                free_port()
            )
        ),
        app(
            "probed",
            &format!(
                "    ready:\n      http: http://127.0.0.1:{port}/health\n      interval: 100ms\n      timeout: 1s\n    listen_timeout: 60s\n    env:\n      GATE: {}\n      PORT: \"{port}\"\n",
                gate2.display()
            )
        )
    );
    let file = h.ecosystem("eco.yaml", &yaml);
    let start = h.spawn(&mut h.cmd(&["start", &file]));
    h.wait_status("logged", 0, "launching");
    h.wait_status("probed", 0, "launching");
    std::fs::write(&gate1, "").expect("gate");
    h.wait_status("logged", 0, "online");
    assert_eq!(h.status("probed", 0).as_deref(), Some("launching"));
    std::fs::write(&gate2, "").expect("gate");
    h.wait_status("probed", 0, "online");
    assert!(h.finish(start).status.success());
}

#[test]
fn a_missed_listen_timeout_ends_the_run_as_not_ready_and_the_policy_applies() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let extra = format!(
        "    wait_ready: true\n    listen_timeout: 300ms\n    kill_timeout: 500ms\n    max_restarts: 2\n    env:\n      READY: none\n      PORT: \"{}\"\n",
        free_port()
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("mute", &extra)));
    let out = h.svctl(&["start", &file]);
    // Never ready: every run ends as not_ready, unstable, so max_restarts ends in errored.
    h.wait_status("mute", 0, "errored");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rows = h.history(&["mute"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["cause"], "not_ready", "{r}");
        assert_eq!(r["unstable"], true, "{r}");
    }
}

#[test]
fn an_app_whose_health_check_stops_answering_is_restarted_as_unhealthy() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let port = free_port();
    let sick = h.file("sick");
    let extra = format!(
        "    health:\n      http: http://127.0.0.1:{port}/health\n      interval: 200ms\n      timeout: 300ms\n      failures: 2\n      initial_delay: 2s\n    ready:\n      tcp: 127.0.0.1:{port}\n      interval: 50ms\n    listen_timeout: 20s\n    env:\n      PORT: \"{port}\"\n      SICK: {}\n",
        sick.display()
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("web", &extra)));
    h.ok(&["start", &file]);
    let pid = h.wait_status("web", 0, "online")["pid"].clone();
    h.wait_until("the app answers", || get(port, "/").is_ok());
    h.wait_until("a passed health check shows", || {
        h.proc("web", 0).is_some_and(|p| p["health"] == "ok")
    });
    let table = h.ok(&["list"]);
    assert!(
        table.contains("health") && table.contains(" ok "),
        "{table}"
    );
    std::fs::write(&sick, "").expect("sick");
    h.wait_until("a failed check shows", || {
        h.proc("web", 0)
            .is_some_and(|p| p["health"] == "failing 1/2" || p["pid"] != pid)
    });
    h.wait_until("an unhealthy restart", || {
        h.history(&["web"])
            .iter()
            .any(|r| r["cause"] == "unhealthy")
    });
    std::fs::remove_file(&sick).expect("well again");
    let p = h.wait_status("web", 0, "online");
    assert_ne!(p["pid"], pid);
    let row = h
        .history(&["web"])
        .into_iter()
        .find(|r| r["cause"] == "unhealthy")
        .expect("the row");
    let described = h.ok(&["describe", "web"]);
    assert!(described.contains("last failed check"), "{described}");
    let error = row["error"].as_str().unwrap_or("");
    assert!(
        error.contains(&format!(
            "GET http://127.0.0.1:{port}/health: timed out after 300 ms"
        )),
        "{row}"
    );
}

/// A client making requests back to back on new connections until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU32::new(0));
        let (s, f) = (stop.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let mut answers = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match get(port, "/") {
                    Ok(body) => answers.push(body),
                    Err(e) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        answers.push(format!("FAILED {e}"));
                    }
                }
            }
            answers
        });
        Load {
            stop,
            failed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let answers = self
            .thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (self.failed.load(Ordering::Relaxed), answers)
    }
}

fn shared_socket_app(port: u16, version: &str, extra_env: &str) -> String {
    format!(
        "apps:\n{}",
        app(
            "web",
            &format!(
                "    instances: 4\n    listen: [\"tcp://127.0.0.1:{port}\"]\n    ready_log_line: \"^listening\"\n    listen_timeout: 20s\n    kill_timeout: 3s\n    env:\n      READY: log\n      VERSION: {version}\n{extra_env}"
            )
        )
    )
}

/// Four instances of v1 on one shared socket, serving: the home, the port, the file, the pids.
fn four_serving_v1() -> (Home, u16, String, Vec<serde_json::Value>) {
    let h = Home::new();
    let port = free_port();
    let file = h.ecosystem("eco.yaml", &shared_socket_app(port, "v1", ""));
    h.ok(&["start", &file]);
    let old: Vec<serde_json::Value> = (0..4)
        .map(|i| h.wait_status("web", i, "online")["pid"].clone())
        .collect();
    h.wait_until("the app answers", || get(port, "/").is_ok());
    (h, port, file, old)
}

#[test]
fn a_reload_under_load_loses_no_request_and_then_serves_the_new_version() {
    if !has_python() {
        return;
    }
    let (h, port, file, old) = four_serving_v1();
    let load = Load::start(port);
    std::fs::write(h.file("eco.yaml"), shared_socket_app(port, "v2", "")).expect("v2");
    let out = h.svctl_within(Duration::from_secs(120), &["reload", &file]);
    h.succeeded("reload", &out);
    // After the reload answered, every request is served by the new version.
    let after: Vec<String> = (0..20)
        .map(|_| get(port, "/").unwrap_or_else(|e| e))
        .collect();
    let (failed, answers) = load.finish();
    assert_eq!(
        failed,
        0,
        "failed requests during the reload: {:?}",
        answers
            .iter()
            .filter(|a| a.starts_with("FAILED"))
            .collect::<Vec<_>>()
    );
    assert!(
        answers.len() > 20,
        "the load ran: {} requests",
        answers.len()
    );
    assert!(after.iter().all(|a| a.starts_with("v2 ")), "{after:?}");
    for i in 0..4 {
        let p = h.proc("web", i).expect("instance");
        assert_eq!(p["status"], "online");
        assert!(!old.contains(&p["pid"]), "instance {i} was replaced");
    }
    let rows = h.history(&["web"]);
    assert_eq!(
        rows.iter().filter(|r| r["cause"] == "reload").count(),
        4,
        "{rows:?}"
    );
}

#[test]
fn a_reload_to_a_version_that_cannot_start_stops_and_the_old_processes_keep_serving() {
    if !has_python() {
        return;
    }
    let (h, port, file, old) = four_serving_v1();
    std::fs::write(
        h.file("eco.yaml"),
        shared_socket_app(port, "v2", "      EXIT_AT_START: \"3\"\n"),
    )
    .expect("v2");
    let load = Load::start(port);
    let out = h.svctl_within(Duration::from_secs(120), &["reload", &file]);
    let (failed, _) = load.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("svctl: error: reload stopped at web:0: its new process"),
        "{err}"
    );
    assert!(
        err.contains("v2 refuses to start"),
        "the stderr tail: {err}"
    );
    assert_eq!(failed, 0, "the old processes kept serving");
    for (i, pid) in old.iter().enumerate() {
        let p = h.proc("web", i as u64).expect("instance");
        assert_eq!(
            (&p["status"], &p["pid"]),
            (&serde_json::json!("online"), pid)
        );
    }
    assert!(get(port, "/").is_ok_and(|b| b.starts_with("v1 ")));
}

#[test]
fn reload_signal_reloads_in_place_and_the_pid_stays() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let extra = format!(
        "    reload_signal: SIGHUP\n    min_uptime: 300ms\n    env:\n      READY: log\n      PORT: \"{}\"\n",
        free_port()
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("inplace", &extra)));
    h.ok(&["start", &file]);
    let pid = h.wait_status("inplace", 0, "online")["pid"].clone();
    // The app handles SIGHUP once it has started; a SIGHUP before that would end it.
    h.wait_until("the app has started", || {
        h.ok(&["logs", "inplace", "--no-follow"])
            .contains("listening")
    });
    let out = h.svctl_within(Duration::from_secs(60), &["reload", "inplace"]);
    h.succeeded("reload", &out);
    h.wait_until("the app saw the signal", || {
        h.ok(&["logs", "inplace", "--no-follow"])
            .contains("reloaded")
    });
    let p = h.proc("inplace", 0).expect("app");
    assert_eq!((&p["pid"], &p["restarts"]), (&pid, &serde_json::json!(0)));
}

#[test]
fn per_instance_ports_are_reloaded_stop_first_one_at_a_time() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let base = free_port();
    let extra = format!(
        "    instances: 2\n    increment_var: PORT\n    min_uptime: 200ms\n    env:\n      PORT: \"{base}\"\n"
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("ports", &extra)));
    h.ok(&["start", &file]);
    let old: Vec<serde_json::Value> = (0..2)
        .map(|i| h.wait_status("ports", i, "online")["pid"].clone())
        .collect();
    let out = h.svctl_within(Duration::from_secs(60), &["reload", "ports"]);
    h.succeeded("reload", &out);
    for (i, pid) in old.iter().enumerate() {
        let p = h.proc("ports", i as u64).expect("instance");
        assert_eq!(p["status"], "online");
        assert_ne!(&p["pid"], pid);
    }
    assert_eq!(
        h.history(&["ports"])
            .iter()
            .filter(|r| r["cause"] == "reload")
            .count(),
        2
    );
    let unknown = h.svctl(&["reload", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("ports"),
        "names the known apps: {}",
        stderr(&unknown)
    );
}

/// Per-instance ports held by svctl (`listen: tcp://…:$PORT` with `increment_var: PORT`): each
/// instance's port never refuses a connection during a reload, so a balancer in front never
/// marks one down.
#[test]
fn per_instance_sockets_held_by_svctl_never_refuse_during_a_reload() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let base = free_port();
    // Two consecutive free ports: retry until the next one is free too.
    let base = (0..50)
        .map(|i| base.wrapping_add(i * 2))
        .find(|p| {
            std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()
        })
        .expect("two free ports");
    let yaml = |version: &str| {
        format!(
            "apps:\n{}",
            app(
                "web",
                &format!(
                    "    instances: 2\n    increment_var: PORT\n    listen: [\"tcp://127.0.0.1:$PORT\"]\n    ready_log_line: \"^listening\"\n    listen_timeout: 20s\n    env:\n      PORT: \"{base}\"\n      READY: log\n      VERSION: {version}\n"
                )
            )
        )
    };
    let file = h.ecosystem("eco.yaml", &yaml("v1"));
    h.ok(&["start", &file]);
    h.wait_status("web", 0, "online");
    h.wait_status("web", 1, "online");
    for port in [base, base + 1] {
        h.wait_until("each instance answers on its own port", || {
            get(port, "/").is_ok()
        });
    }
    let (a, b) = (Load::start(base), Load::start(base + 1));
    std::fs::write(h.file("eco.yaml"), yaml("v2")).expect("v2");
    let out = h.svctl_within(Duration::from_secs(120), &["reload", &file]);
    h.succeeded("reload", &out);
    let ((fa, _), (fb, _)) = (a.finish(), b.finish());
    assert_eq!(
        (fa, fb),
        (0, 0),
        "a port refused a connection during the reload"
    );
    for port in [base, base + 1] {
        assert!(get(port, "/").is_ok_and(|body| body.starts_with("v2 ")));
    }
}

#[test]
fn an_app_that_stops_sending_watchdog_is_restarted_as_unhealthy() {
    if !has_python() {
        return;
    }
    let h = Home::new();
    let hang = h.file("hang");
    let extra = format!(
        "    watchdog: 1500ms\n    env:\n      KEEPALIVE: {}\n      PORT: \"{}\"\n",
        hang.display(),
        free_port()
    );
    let file = h.ecosystem("eco.yaml", &format!("apps:\n{}", app("beat", &extra)));
    h.ok(&["start", &file]);
    let pid = h.wait_status("beat", 0, "online")["pid"].clone();
    // Keepalives arrive: the app outlives several watchdog periods without a restart. The
    // period is armed at spawn, so it leaves room for a slow interpreter start on a loaded host.
    h.wait_until("three watchdog periods pass", || {
        h.proc("beat", 0)
            .is_some_and(|p| p["uptime_ms"].as_u64().unwrap_or(0) > 4500)
    });
    assert_eq!(h.proc("beat", 0).expect("app")["pid"], pid);
    assert!(h.history(&["beat"]).is_empty());
    std::fs::write(&hang, "").expect("hang");
    h.wait_until("an unhealthy restart", || {
        h.history(&["beat"])
            .iter()
            .any(|r| r["cause"] == "unhealthy")
    });
    let row = h
        .history(&["beat"])
        .into_iter()
        .find(|r| r["cause"] == "unhealthy")
        .expect("the row");
    assert_eq!(row["error"], "no WATCHDOG=1 within 1500 ms", "{row}");
}
