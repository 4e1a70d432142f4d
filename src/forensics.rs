//! Owns the answer to "why did it restart?": a pure analysis of an app's exit history (and its
//! memory minutes) into counts per cause, typical uptimes, exit codes and signals, the stderr of
//! the dominant crash, and plain-language findings. No I/O: the CLI reads the database and the
//! app's [`Settings`] and renders the [`Report`].
//!
//! Causes a user or svctl decided ([`Cause::is_requested`]: restarts, reloads, cron, watch,
//! memory limits, health restarts) are never the dominant crash; `memory_limit` and `unhealthy`
//! still get findings of their own, and `not_ready` (an unstable exit) is a crash.

use crate::record::Cause;
use crate::store::model::ExitRecord;
use crate::store::reader::MemoryMinute;
use serde::Serialize;
use std::collections::BTreeMap;

mod crash_loop;
mod deployments;
mod growth;
mod readiness;

use crash_loop::crash_loop_of;
pub use crash_loop::{CrashLoop, LOOP_MIN_EXITS, crash_loop, crash_looping, is_failure};
pub use deployments::{DEPLOY_WINDOW_MS, DeployFact, deployment_finding};
use growth::growth_per_min;
pub use readiness::Settings;

/// One cause's share of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseSummary {
    pub cause: Cause,
    pub count: u32,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Median uptime of the runs that ended this way.
    pub median_uptime_ms: u64,
    /// Exit code → count.
    pub exit_codes: BTreeMap<i32, u32>,
    /// Signal name → count.
    pub signals: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub app: String,
    pub since_ms: i64,
    pub exits: u32,
    pub by_cause: Vec<CauseSummary>,
    /// The crash cause with the most exits (not counting restarts a user or svctl asked for).
    pub dominant_crash: Option<Cause>,
    /// The stderr tail of the newest exit with the dominant crash cause.
    pub stderr_tail: Option<String>,
    pub findings: Vec<String>,
}

fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn uptime(e: &ExitRecord) -> u64 {
    (e.ended_at_ms - e.started_at_ms).max(0) as u64
}

/// `1.2 s`, `3 min`, `2.5 h`: for findings.
pub fn human_duration(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 1.0 {
        format!("{ms} ms")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// Analyses `exits` (any order) of one app since `since_ms`, with the app's `settings`.
pub fn analyse(
    app: &str,
    since_ms: i64,
    exits: &[ExitRecord],
    minutes: &[MemoryMinute],
    settings: &Settings,
) -> Report {
    let min_uptime_ms = settings.min_uptime_ms;
    let mut exits: Vec<&ExitRecord> = exits.iter().filter(|e| e.ended_at_ms >= since_ms).collect();
    exits.sort_by_key(|e| e.ended_at_ms);
    let mut groups: BTreeMap<Cause, Vec<&ExitRecord>> = BTreeMap::new();
    for e in &exits {
        groups.entry(e.cause).or_default().push(e);
    }
    let mut by_cause: Vec<CauseSummary> = groups
        .iter()
        .map(|(cause, es)| {
            let mut exit_codes = BTreeMap::new();
            let mut signals = BTreeMap::new();
            for e in es {
                if let Some(c) = e.exit_code {
                    *exit_codes.entry(c).or_insert(0) += 1;
                }
                if let Some(s) = &e.signal {
                    *signals.entry(s.clone()).or_insert(0) += 1;
                }
            }
            CauseSummary {
                cause: *cause,
                count: es.len() as u32,
                first_ms: es.first().map_or(0, |e| e.ended_at_ms),
                last_ms: es.last().map_or(0, |e| e.ended_at_ms),
                median_uptime_ms: median(es.iter().map(|e| uptime(e)).collect()),
                exit_codes,
                signals,
            }
        })
        .collect();
    by_cause.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(&b.cause)));
    let dominant_crash = by_cause
        .iter()
        .find(|c| !c.cause.is_requested())
        .map(|c| c.cause);
    let stderr_tail = dominant_crash.and_then(|cause| {
        exits
            .iter()
            .rev()
            .filter(|e| e.cause == cause)
            .find_map(|e| e.stderr_tail.clone())
    });

    let mut findings = Vec::new();
    let count = |c: Cause| groups.get(&c).map_or(0, Vec::len);

    // Crash loop: most of the newest runs were shorter than min_uptime; or, whatever
    // min_uptime says, a burst of failed runs by their rate and uptimes.
    let recent: Vec<&&ExitRecord> = exits.iter().rev().take(16).collect();
    let short = recent
        .iter()
        .filter(|e| !e.cause.is_requested() && uptime(e) < min_uptime_ms.max(1))
        .count();
    let looping = crash_loop_of(&exits, min_uptime_ms);
    if recent.len() >= 3 && short * 2 > recent.len() {
        let rate = looping
            .as_ref()
            .map(|l| format!("; {}", l.rate()))
            .unwrap_or_default();
        findings.push(format!(
            "crash loop: {short} of the last {} runs lasted under {} (min_uptime){rate}",
            recent.len(),
            human_duration(min_uptime_ms)
        ));
    } else if let Some(l) = looping {
        // Runs that outlive min_uptime: PM2's rule never calls them unstable.
        findings.push(l.describe());
    }
    if let Some(last) = exits.last()
        && !last.cause.is_requested()
        && last.cause != Cause::DaemonLost
        && last.next_delay_ms.is_none()
        && last.unstable
    {
        findings.push(format!(
            "no restart followed the last exit ({}): the app is errored (max_restarts reached) or does not autorestart",
            describe_exit(last)
        ));
    }
    let oom = count(Cause::OomKilled);
    if oom > 0 {
        let rss = groups[&Cause::OomKilled]
            .iter()
            .rev()
            .find_map(|e| e.rss_last_bytes)
            .map(|r| format!(" (RSS ~{} at the last sample)", mb(r)))
            .unwrap_or_default();
        findings.push(format!(
            "killed by the kernel OOM killer {oom} time{}{rss}",
            plural(oom)
        ));
    }
    let lim = count(Cause::MemoryLimit);
    if lim > 0 {
        let es = &groups[&Cause::MemoryLimit];
        let limit = es
            .iter()
            .rev()
            .find_map(|e| e.memory_limit_bytes)
            .map(|l| format!(" ({})", mb(l)))
            .unwrap_or_default();
        let growth = growth_per_min(es, &exits, minutes)
            .filter(|g| *g > 0.0)
            .map(|g| format!("; memory grows ~{}/min before each restart", mb(g as u64)))
            .unwrap_or_default();
        findings.push(format!(
            "restarted by max_memory_restart{limit} {lim} time{}{growth}",
            plural(lim)
        ));
    }
    if let Some(es) = groups.get(&Cause::Unhealthy) {
        findings.push(readiness::unhealthy(es, settings));
    }
    if let Some(es) = groups.get(&Cause::NotReady) {
        findings.push(readiness::not_ready(es, settings));
    }
    if let Some(sig) = groups.get(&Cause::Signaled) {
        let mut names: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for e in sig {
            let n = names.entry(e.signal.as_deref().unwrap_or("?")).or_default();
            n.0 += 1;
            n.1 += usize::from(e.core_dumped);
        }
        for (name, (n, cores)) in names {
            let core = if cores > 0 {
                format!(", {cores} with a core dump")
            } else {
                String::new()
            };
            let who = if name == "SIGKILL" {
                " not sent by svctl and with no OOM kill counted: another process or a person"
            } else {
                ""
            };
            findings.push(format!("killed by {name} {n} time{}{core}{who}", plural(n)));
        }
    }
    if let Some(ex) = groups.get(&Cause::Exited) {
        let mut codes: BTreeMap<i32, usize> = BTreeMap::new();
        for e in ex {
            *codes.entry(e.exit_code.unwrap_or(-1)).or_default() += 1;
        }
        let text: Vec<String> = codes
            .iter()
            .rev()
            .map(|(c, n)| format!("code {c} × {n}"))
            .collect();
        findings.push(format!(
            "exited by itself {} time{}: {}",
            ex.len(),
            plural(ex.len()),
            text.join(", ")
        ));
    }
    if let Some(sf) = groups.get(&Cause::SpawnFailed) {
        let err = sf
            .iter()
            .rev()
            .find_map(|e| e.error.clone())
            .unwrap_or_default();
        findings.push(format!(
            "could not be started {} time{}: {err}",
            sf.len(),
            plural(sf.len())
        ));
    }
    let lost = count(Cause::DaemonLost);
    if lost > 0 {
        findings.push(format!(
            "the svctl daemon itself ended {lost} time{} while this app ran (those runs were closed at the next start)",
            plural(lost)
        ));
    }
    let asked =
        count(Cause::Restarted) + count(Cause::Reload) + count(Cause::Cron) + count(Cause::Watch);
    if asked > 0 {
        findings.push(format!(
            "{asked} restart{} were asked for (restart or reload command, cron or watch), not crashes",
            plural(asked)
        ));
    }
    let killed = exits.iter().filter(|e| e.sigkill_needed).count();
    if killed > 0 {
        findings.push(format!(
            "{killed} stop{} needed SIGKILL: the app ignores its kill_signal for longer than kill_timeout",
            plural(killed)
        ));
    }
    if exits.is_empty() {
        findings.push("no exit recorded in this window".to_string());
    }
    Report {
        app: app.to_string(),
        since_ms,
        exits: exits.len() as u32,
        by_cause,
        dominant_crash,
        stderr_tail,
        findings,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `exited with code 3`, `SIGSEGV`, `spawn_failed: …`.
pub fn describe_exit(e: &ExitRecord) -> String {
    match (e.cause, e.exit_code, &e.signal) {
        (Cause::SpawnFailed, _, _) => {
            format!("spawn_failed: {}", e.error.as_deref().unwrap_or("?"))
        }
        (c, Some(code), _) => format!("{c}, code {code}"),
        (c, None, Some(sig)) => format!("{c}, {sig}"),
        (c, None, None) => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn exit(run: u64, cause: Cause, start: i64, up: i64) -> ExitRecord {
        ExitRecord {
            pid: Some(100 + run as i32),
            signal: match cause {
                Cause::Signaled => Some("SIGSEGV".into()),
                Cause::OomKilled => Some("SIGKILL".into()),
                _ => None,
            },
            core_dumped: cause == Cause::Signaled,
            unstable: up < 1000,
            next_delay_ms: Some(0),
            stderr_tail: Some(format!(
                "Traceback run {run}\nImportError: no module named flask"
            )),
            ..ExitRecord::sample("flask-app", run, cause, start + up, up)
        }
    }

    #[test]
    fn a_crash_loop_is_named_with_its_stderr() {
        let exits: Vec<ExitRecord> = (1..=16)
            .map(|r| {
                exit(
                    r,
                    Cause::Exited,
                    1_000_000 + r as i64 * 1000,
                    if r == 1 { 5000 } else { 200 },
                )
            })
            .collect();
        let r = analyse("flask-app", 0, &exits, &[], &Settings::new(1000));
        assert_eq!(r.exits, 16);
        assert_eq!(r.dominant_crash, Some(Cause::Exited));
        assert_eq!(r.by_cause[0].count, 16);
        assert_eq!(r.by_cause[0].exit_codes[&1], 16);
        assert_eq!(r.by_cause[0].median_uptime_ms, 200);
        assert!(
            r.findings[0].starts_with("crash loop: 15 of the last 16 runs lasted under 1.0 s"),
            "{:?}",
            r.findings
        );
        assert!(r.stderr_tail.as_deref().unwrap().contains("run 16"));
    }

    #[test]
    fn oom_memory_limit_and_signals_are_explained() {
        let mut exits = Vec::new();
        for r in 0..3 {
            let mut e = exit(r, Cause::OomKilled, r as i64 * 100_000, 60_000);
            e.rss_last_bytes = Some(290 << 20);
            exits.push(e);
        }
        for r in 3..11 {
            let mut e = exit(r, Cause::MemoryLimit, r as i64 * 1_000_000, 30 * 60_000);
            e.rss_last_bytes = Some(301 << 20);
            e.memory_limit_bytes = Some(300 << 20);
            exits.push(e);
        }
        exits.push(exit(11, Cause::Signaled, 20_000_000, 50_000));
        let r = analyse("collector", 0, &exits, &[], &Settings::new(1000));
        let f = r.findings.join("\n");
        assert!(
            f.contains("killed by the kernel OOM killer 3 times (RSS ~290 MB at the last sample)"),
            "{f}"
        );
        assert!(
            f.contains("restarted by max_memory_restart (300 MB) 8 times; memory grows ~10 MB/min"),
            "{f}"
        );
        assert!(
            f.contains("killed by SIGSEGV 1 time, 1 with a core dump"),
            "{f}"
        );
        assert_eq!(r.dominant_crash, Some(Cause::OomKilled));
    }

    #[test]
    fn growth_comes_from_memory_minutes_when_there_are_some() {
        let mut e = exit(1, Cause::MemoryLimit, 0, 10 * 60_000);
        e.rss_last_bytes = Some(300 << 20);
        e.memory_limit_bytes = Some(300 << 20);
        let minutes: Vec<MemoryMinute> = (0..10)
            .map(|m| MemoryMinute {
                instance: 0,
                minute_ms: m * 60_000,
                min_bytes: (100 + 20 * m as u64) << 20,
                avg_bytes: (100 + 20 * m as u64) << 20,
                max_bytes: (100 + 20 * m as u64) << 20,
            })
            .collect();
        let r = analyse("a", 0, &[e], &minutes, &Settings::new(1000));
        assert!(
            r.findings.iter().any(|f| f.contains("~20 MB/min")),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn requested_restarts_are_not_crashes_and_the_window_applies() {
        let exits = vec![
            exit(1, Cause::Restarted, 0, 100_000),
            exit(2, Cause::Restarted, 200_000, 100_000),
            exit(3, Cause::Exited, 400_000, 100_000),
        ];
        let r = analyse("a", 0, &exits, &[], &Settings::new(1000));
        assert_eq!(r.dominant_crash, Some(Cause::Exited));
        assert!(
            r.findings
                .iter()
                .any(|f| f.starts_with("2 restarts were asked for"))
        );
        assert!(!r.findings.iter().any(|f| f.starts_with("crash loop")));
        let late = analyse("a", 450_000, &exits, &[], &Settings::new(1000));
        assert_eq!(late.exits, 1);
        let none = analyse("a", 10_000_000, &exits, &[], &Settings::new(1000));
        assert_eq!(none.findings, vec!["no exit recorded in this window"]);
    }
}
