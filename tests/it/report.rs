//! `svctl report` on a scripted incident with a real daemon: a crash loop that ends errored, an
//! app restarted at its memory limit, a steady app, and deployments through `apply`; every
//! format is rendered and its numbers checked against `history`, and the HTML is opened in a
//! real headless browser (skipped without chromium). Bad windows, unknown apps and unreadable
//! databases give a clear error, not an empty page.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn steady_file(h: &Home, release: &str) -> String {
    h.ecosystem(
        "steady.yaml",
        &format!(
            "apps:\n  - name: steady\n    script: sleep\n    args: \"1000\"\n    env:\n      RELEASE: {release}\n"
        ),
    )
}

/// Runs the incident: the crashing apps started from a file (a deployment), the loop ends
/// errored and the other is restarted at its memory limit, then stopped; then two applies of the steady
/// app, the second changing it (a reload). Nothing exits after it returns.
fn incident(h: &Home) {
    let crashers = h.ecosystem(
        "crashers.yaml",
        &format!(
            "apps:\n  - name: loop\n    script: {nasty}\n    restart_delay: 100\n    min_uptime: 1s\n    max_restarts: 5\n\
             \x20 - name: grow\n    script: {grow}\n    args: [\"120\"]\n    max_memory_restart: 50M\n    memory_check_interval: 200\n    restart_delay: 100\n",
            nasty = fixture("nasty.sh"),
            grow = fixture("grow.sh"),
        ),
    );
    // It may say that `loop` failed to start: what counts is what the history records.
    h.svctl(&["start", &crashers]);
    h.wait_status("loop", 0, "errored");
    h.wait_until("grow is restarted at its memory limit", || {
        h.history(&["grow", "--since", "1h", "--limit", "10000"])
            .iter()
            .any(|e| e["cause"] == "memory_limit")
    });
    // A memory restart follows at once: stop it so that the history holds still.
    h.ok(&["stop", "grow"]);
    h.wait_status("grow", 0, "stopped");
    h.ok(&["apply", &steady_file(h, "r1")]);
    h.wait_status("steady", 0, "online");
    h.ok(&["apply", &steady_file(h, "r2")]);
    h.wait_until("steady is reloaded", || {
        h.history(&["steady", "--since", "1h", "--limit", "10000"])
            .iter()
            .any(|e| e["cause"] == "reload")
    });
}

fn causes_in_history(h: &Home, app: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in h.history(&[app, "--since", "1h", "--limit", "10000"]) {
        *out.entry(e["cause"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

fn failure(h: &Home, args: &[&str]) -> (i32, String) {
    let out = h.svctl(args);
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).is_empty(),
        "no page on failure: {}",
        stdout(&out)
    );
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[test]
fn a_scripted_incident_is_reported_in_every_format_with_the_numbers_of_history() {
    let mut h = Home::new();
    incident(&h);
    // The report reads the database: it works with the daemon gone.
    h.kill_daemon();

    let json: Value = {
        let text = h.ok(&["report", "--since", "5m", "--format", "json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let apps = json["apps"].as_array().unwrap();
    let names: Vec<&str> = apps.iter().filter_map(|a| a["app"].as_str()).collect();
    assert_eq!(names, ["grow", "loop", "steady"]);
    for a in apps {
        let name = a["app"].as_str().unwrap();
        let from_history = causes_in_history(&h, name);
        let from_report: BTreeMap<String, u64> = a["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["cause"].as_str().unwrap().to_string(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(from_report, from_history, "{name}");
        let total: u64 = from_history.values().sum();
        assert_eq!(a["exits"].as_u64(), Some(total), "{name}");
        let bucketed: u64 = a["exit_buckets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["counts"].as_object().unwrap().values())
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(
            bucketed, total,
            "{name}: the chart's buckets hold every exit"
        );
    }
    let loop_app = &apps[1];
    let newest = &h.history(&["loop", "--since", "1h", "--limit", "10000"])[0];
    assert_eq!(loop_app["causes"][0]["cause"], "exited");
    assert_eq!(loop_app["causes"][0]["last_stderr"], newest["stderr_tail"]);
    let findings = loop_app["findings"].to_string();
    assert!(
        findings.contains("no restart followed the last exit"),
        "{findings}"
    );
    let grow = &apps[0];
    assert_eq!(grow["max_memory_restart"].as_u64(), Some(50 << 20));
    let limit_restarts = causes_in_history(&h, "grow")["memory_limit"];
    assert!(
        grow["findings"].to_string().contains(&format!(
            "restarted by max_memory_restart (50 MB) {limit_restarts} time"
        )),
        "{}",
        grow["findings"]
    );
    assert!(
        !grow["memory"].as_array().unwrap().is_empty(),
        "the exit writes its minute"
    );
    let summary = &json["summary"];
    assert_eq!(
        summary["memory_limit_restarts"].as_u64(),
        Some(limit_restarts)
    );
    assert_eq!(summary["oom_kills"].as_u64(), Some(0));
    assert_eq!(summary["errored_now"], serde_json::json!(["loop:0"]));
    assert_eq!(summary["deployments"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        summary["restarts"][0]["app"], "loop",
        "the most exits first"
    );
    let steady = &apps[2];
    assert_eq!(steady["deployments"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        steady["manual_restarts"]
            .as_array()
            .map(|m| m.iter().filter_map(|b| b["count"].as_u64()).sum::<u64>()),
        Some(1),
        "the reload is marked"
    );
    let cmds = loop_app["commands"].to_string();
    assert!(
        cmds.contains("svctl history loop --cause exited --since"),
        "{cmds}"
    );
    // The command it prints gives the rows it counted.
    let cmd = loop_app["commands"][0].as_str().unwrap();
    let args = shlex::split(cmd).unwrap();
    let out = h.ok(&args[1..]
        .iter()
        .map(String::as_str)
        .chain(["--json"])
        .collect::<Vec<_>>());
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rows.len() as u64,
        loop_app["causes"][0]["count"].as_u64().unwrap()
    );

    // Markdown: the same numbers, tables, sparklines, and stderr that stays text.
    let md = h.ok(&["report", "--since", "5m", "--format", "md"]);
    let loop_exits = causes_in_history(&h, "loop")["exited"];
    assert!(
        md.contains(&format!("| loop | {loop_exits} | exited {loop_exits} |")),
        "{md}"
    );
    assert!(
        md.contains("## Summary") && md.contains("- Errored now: loop:0"),
        "{md}"
    );
    assert!(
        md.contains("| exited | ") && md.contains('█'),
        "a sparkline: {md}"
    );
    assert!(
        md.contains("````text\nboom <script>alert(1)</script> a|b ``` fence\n````"),
        "the stderr's own fence cannot close its block: {md}"
    );
    assert!(md.contains("| max_memory_restart | 50 MB |"), "{md}");

    // HTML: one file, nothing to fetch, no script, the stderr escaped.
    let page = h.file("report.html");
    h.ok(&["report", "--since", "5m", "-o", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; a|b"),
        "escaped stderr"
    );
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "no script element"
    );
    for fetch in ["src=", "@import", "url(", "<link"] {
        assert!(!html.contains(fetch), "fetches nothing: found {fetch}");
    }
    assert!(html.contains("<svg") && html.contains("prefers-color-scheme: dark"));
    assert!(html.contains("@media print"));
    browser(&h, &page);
    // `SVCTL_REPORT_KEEP=DIR` keeps the pages (the README's example is made this way).
    if let Some(dir) = std::env::var_os("SVCTL_REPORT_KEEP") {
        let dir = Path::new(&dir);
        std::fs::write(dir.join("report.md"), &md).unwrap();
        std::fs::copy(&page, dir.join("report.html")).unwrap();
        std::fs::copy(h.file("report.png"), dir.join("report.png")).ok();
    }
}

/// Opens the page in headless chromium: its text as the browser reads it, and a screenshot
/// whose charts have their colors.
fn browser(h: &Home, page: &Path) {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let url = format!("file://{}", page.display());
    let profile = h.file("chromium-profile");
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url)
        .stdin(std::process::Stdio::null());
        h.run_within(&mut c, Duration::from_secs(90))
    };
    let dom = stdout(&run(&["--dump-dom"]));
    assert!(
        dom.contains("Incident report") && dom.contains("Summary"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "stderr stays text"
    );
    assert!(!dom.contains("<script"), "no script element in the DOM");

    let shot = h.file("report.png");
    let out = run(&[
        "--window-size=1000,2600",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(shot.exists(), "no screenshot: {}", stderr(&out));
    let (width, pixels) = decode_rgb(&shot);
    // The stacked bars of the crash loop (exited) and of the memory limit are drawn.
    for (what, color) in [("exited", (230, 85, 13)), ("memory_limit", (140, 81, 10))] {
        let n = pixels.iter().filter(|p| near(**p, color)).count();
        assert!(
            n > 200,
            "{what}: {n} pixels of its color in the {width}px-wide screenshot"
        );
    }
}

fn near(p: (u8, u8, u8), c: (u8, u8, u8)) -> bool {
    p.0.abs_diff(c.0) < 8 && p.1.abs_diff(c.1) < 8 && p.2.abs_diff(c.2) < 8
}

/// The screenshot's width and its pixels as RGB.
fn decode_rgb(path: &Path) -> (u32, Vec<(u8, u8, u8)>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let step = info.color_type.samples();
    assert!(step >= 3, "a color screenshot: {:?}", info.color_type);
    let pixels = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| (p[0], p[1], p[2]))
        .collect();
    (info.width, pixels)
}

#[test]
fn bad_windows_unknown_apps_and_broken_databases_are_clear_errors() {
    let h = Home::new();
    h.ok(&["start", "sleep", "--name", "s", "--", "1000"]);
    h.wait_status("s", 0, "online");
    h.ok(&["stop", "s"]);
    h.wait_until("the stop is recorded", || {
        !h.history(&["s", "--since", "1h", "--limit", "10000"])
            .is_empty()
    });

    let (code, err) = failure(&h, &["report", "--since", "2999-01-01"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("svctl: error: --since: 2999-01-01 00:00:00 is in the future"),
        "{err}"
    );
    let (code, err) = failure(&h, &["report", "--since", "1h", "--until", "2h"]);
    assert_eq!(code, 2);
    assert!(err.contains("must be before --until"), "{err}");
    let (code, err) = failure(&h, &["report", "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("`yesterday` is neither a duration"), "{err}");
    let (code, err) = failure(&h, &["report", "--format", "pdf"]);
    assert_eq!(code, 2, "{err}");

    let (code, err) = failure(&h, &["report", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no history for an app called `nope`") && err.contains("hint: known: s"),
        "{err}"
    );
    let (code, err) = failure(
        &h,
        &["report", "--since", "2020-01-01", "--until", "2020-01-02"],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with(
            "svctl: error: no history between 2020-01-01 00:00:00 and 2020-01-02 00:00:00"
        ) && err.contains("hint: the history spans"),
        "{err}"
    );
    let (code, err) = failure(
        &h,
        &[
            "report",
            "s",
            "--since",
            "2020-01-01",
            "--until",
            "2020-01-02",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no history of `s` between"), "{err}");

    // A file that is not a database.
    let broken = Home::empty();
    std::fs::write(
        broken.file("svctl.db"),
        b"this is not sqlite, just text\n".repeat(200),
    )
    .unwrap();
    let (code, err) = failure(&broken, &["report"]);
    assert_eq!(code, 1);
    assert!(err.contains("is corrupt or not a database"), "{err}");
    // No database at all.
    let (code, err) = failure(&Home::empty(), &["report"]);
    assert_eq!(code, 1);
    assert!(err.contains("no history yet"), "{err}");
}
