//! Metrics: `svctl metrics` against `history`, counters across a daemon restart, the HTTP
//! endpoint under a crash storm and bad requests, and the real tools (`promtool`, a real
//! Prometheus server scraping the daemon).

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// The value of one sample whose name and labels are all given (`name{k="v",…}` in any order).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        let ok = n == name
            && labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        if ok { value.parse().ok() } else { None }
    })
}

/// The address the daemon's metrics endpoint listens on, from its log.
pub fn metrics_addr(h: &Home) -> String {
    let mut addr = String::new();
    h.wait_until("the metrics endpoint is up", || {
        let log = std::fs::read_to_string(h.file("daemon.log")).unwrap_or_default();
        if let Some(rest) = log.split("GET /healthz on http://").nth(1) {
            addr = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        !addr.is_empty()
    });
    addr
}

/// One HTTP/1.1 exchange of raw bytes (the client side of the test: the server is hyper).
pub fn http(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(BUDGET)).unwrap();
    s.write_all(request).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

pub fn get(addr: &str, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http(addr, req.as_bytes())
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `promtool` with `args` and `stdin`; `None` (and a "skipped" line) without it.
fn promtool(args: &[&str], stdin: &str) -> Option<std::process::Output> {
    if !have("promtool") {
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return None;
    }
    let mut c = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    Some(c.wait_with_output().unwrap())
}

#[test]
fn metrics_agree_with_history_pass_promtool_and_survive_a_daemon_restart() {
    let mut h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: crashy\n    script: {}\n    args: ['3']\n    max_restarts: 4\n  - name: steady\n    script: sleep\n    args: ['1000']\n    max_memory_restart: 300M\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    h.wait_status("crashy", 0, "errored");
    h.wait_status("steady", 0, "online");
    h.wait_until("the history has crashy's 4 exits", || {
        h.history(&["crashy", "--limit", "10000"]).len() == 4
    });
    let rows = h.history(&["crashy", "--limit", "10000"]);
    let mut by_cause: BTreeMap<String, f64> = BTreeMap::new();
    let mut restarted: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let cause = r["cause"].as_str().unwrap().to_string();
        *by_cause.entry(cause.clone()).or_default() += 1.0;
        if !r["next_delay_ms"].is_null() {
            *restarted.entry(cause).or_default() += 1.0;
        }
    }
    assert_eq!(by_cause.get("exited"), Some(&4.0), "{rows:?}");
    let text = h.ok(&["metrics"]);
    for (cause, n) in &by_cause {
        let labels = [("app", "crashy"), ("app_instance", "0"), ("cause", cause)];
        assert_eq!(
            sample(&text, "svctl_exits_total", &labels),
            Some(*n),
            "{text}"
        );
        assert_eq!(
            sample(&text, "svctl_restarts_total", &labels),
            restarted.get(cause).copied(),
            "{text}"
        );
    }
    let steady = [("app", "steady"), ("app_instance", "0")];
    assert_eq!(sample(&text, "svctl_up", &steady), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "svctl_memory_limit_bytes", &steady),
        Some((300u64 << 20) as f64)
    );
    let errored = [("app", "crashy"), ("status", "errored")];
    assert_eq!(sample(&text, "svctl_status", &errored), Some(1.0), "{text}");
    assert_eq!(sample(&text, "svctl_apps", &[]), Some(2.0));
    if let Some(out) = promtool(&["check", "metrics"], &text) {
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            stdout(&out),
            stderr(&out)
        );
    }

    // A new daemon counts on from the database: it brings crashy back, which crash-loops to
    // `errored` again, and its counters hold both daemons' exits, as the history does.
    h.ok(&["kill"]);
    h.wait_daemon_exit();
    h.start_daemon();
    h.wait_status("crashy", 0, "errored");
    let labels = [("app", "crashy"), ("cause", "exited")];
    h.wait_until("the counters hold the exits of both daemons", || {
        let again = h.ok(&["metrics"]);
        let rows = h.history(&["crashy", "--limit", "10000"]);
        let restarts = rows
            .iter()
            .filter(|r| !r["next_delay_ms"].is_null())
            .count();
        rows.len() == 8
            && sample(&again, "svctl_exits_total", &labels) == Some(8.0)
            && sample(&again, "svctl_restarts_total", &labels) == Some(restarts as f64)
    });
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(check) = promtool(&["check", "rules", "alerts.yml"], "") else {
        return;
    };
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    let test = promtool(&["test", "rules", "alerts_test.yml"], "").unwrap();
    assert!(test.status.success(), "{}{}", stdout(&test), stderr(&test));
    let dashboard = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/svctl.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(dashboard).unwrap()).unwrap();
    assert!(d["panels"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some() && d["title"] == "svctl");
}

#[test]
fn the_endpoint_answers_during_a_crash_storm_and_refuses_bad_requests() {
    let mut h = Home::empty();
    h.start_daemon_with(&["--metrics-addr", "127.0.0.1:0"]);
    let addr = metrics_addr(&h);
    let file = h.ecosystem(
        "storm.yaml",
        &format!(
            "apps:\n  - name: storm\n    script: {}\n    instances: 20\n    max_restarts: 100000\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    let mut scrapes = 0;
    h.wait_until(
        "ten scrapes during the storm, the last with 40+ restarts",
        || {
            let (code, body) = get(&addr, "/metrics");
            assert_eq!(code, 200, "{body}");
            assert!(body.contains("text/plain; version=0.0.4"), "{body}");
            scrapes += 1;
            let restarts: f64 = body
                .lines()
                .filter(|l| l.starts_with("svctl_restarts_total{"))
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum();
            scrapes >= 10 && restarts >= 40.0
        },
    );
    let (code, body) = get(&addr, "/healthz");
    assert_eq!((code, body.ends_with("ok\n")), (200, true), "{body}");
    assert_eq!(get(&addr, "/nope").0, 404);
    let post =
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(http(&addr, post).0, 405);
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ] {
        let (code, text) = http(&addr, garbage);
        assert!(code == 400 || code == 505, "{garbage:?} → {text}");
    }
    h.ok(&["ping"]);
    assert!(!h.log().contains("panicked"), "{}", h.log());
}

#[test]
fn a_metrics_address_that_is_not_loopback_or_cannot_be_bound_stops_the_daemon_at_start() {
    let h = Home::empty();
    let out = h.run(
        h.cmd(&["daemon", "--metrics-addr", "0.0.0.0:0"])
            .stdout(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--metrics-allow-remote"),
        "{}",
        stderr(&out)
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = h.run(
        h.cmd(&["daemon", "--metrics-addr", &port])
            .stdout(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "binding the metrics endpoint --metrics-addr {port}"
        )),
        "{}",
        stderr(&out)
    );
    let out = h.run(&mut h.cmd(&["daemon", "--metrics-addr", "nonsense"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_real_prometheus_scrapes_restart_counters_with_their_cause() {
    if !have("prometheus") {
        eprintln!("skipped: prometheus is not installed (apt-get install prometheus)");
        return;
    }
    let mut h = Home::empty();
    h.start_daemon_with(&["--metrics-addr", "127.0.0.1:0"]);
    let addr = metrics_addr(&h);
    let file = h.ecosystem(
        "eco.yaml",
        &format!(
            "apps:\n  - name: looper\n    script: {}\n    restart_delay: 200\n    max_restarts: 100000\n",
            fixture("crash.sh")
        ),
    );
    h.ok(&["start", &file]);
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_addr = web.local_addr().unwrap().to_string();
    drop(web);
    let config = h.file("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: svctl\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let storage = h.file("tsdb");
    let server = Running::spawn(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg(format!("--web.listen-address={web_addr}"))
            .stdin(Stdio::null()),
    );
    let query = "/api/v1/query?query=svctl_restarts_total%7Bapp%3D%22looper%22%7D";
    let answer = std::cell::RefCell::new(String::new());
    wait_for(
        "Prometheus reports looper's restart counter with its cause",
        BUDGET * 2,
        &mut || {
            let got = TcpStream::connect(&web_addr)
                .map(|_| get(&web_addr, query).1)
                .unwrap_or_default();
            *answer.borrow_mut() = got;
            answer.borrow().contains("\"cause\":\"exited\"")
        },
        || format!("{}\n{}\n{}", answer.borrow(), server.report(), h.log()),
    );
    let answer = answer.into_inner();
    assert!(answer.contains("\"app_instance\":\"0\""), "{answer}");
    assert!(answer.contains("\"job\":\"svctl\""), "{answer}");
    server.kill();
}
