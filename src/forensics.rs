//! Owns the answer to "why did it restart?": a pure analysis of an app's exit history (and its
//! memory minutes) into counts per cause, typical uptimes, exit codes and signals, the stderr of
//! the dominant crash, and plain-language findings. No I/O: the CLI reads the database and
//! renders the [`Report`].

use crate::record::Cause;
use crate::store::model::ExitRecord;
use crate::store::reader::MemoryMinute;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// How fast memory grew, in bytes per minute, over the runs that ended by `memory_limit`: the
/// median of each run's least-squares slope. A run's points are its per-minute rows, each at
/// the middle of the part of that minute the run lived (for a steady leak the average of a
/// span is the value at its middle), and the RSS at the breach at the exit's exact time. Two
/// runs in one minute share one row, the later run's (it is written last): a row belongs to
/// the latest run of its instance that started before the minute ended. Only when no run has
/// a row (old history) is the RSS at the breach over the uptime used, which counts the
/// memory at start as growth.
fn growth_per_min(
    limit_exits: &[&ExitRecord],
    all: &[&ExitRecord],
    minutes: &[MemoryMinute],
) -> Option<f64> {
    let overlaps = |m: &MemoryMinute, e: &ExitRecord| {
        m.instance == e.instance
            && m.minute_ms < e.ended_at_ms
            && m.minute_ms + 60_000 > e.started_at_ms
    };
    let owner = |m: &MemoryMinute| {
        all.iter()
            .filter(|e| overlaps(m, e))
            .max_by_key(|e| e.started_at_ms)
            .map(|e| (e.instance, e.run))
    };
    let mut rates = Vec::new();
    let mut rough = Vec::new();
    for e in limit_exits {
        let mut points: Vec<(f64, f64)> = minutes
            .iter()
            .filter(|m| overlaps(m, e) && owner(m) == Some((e.instance, e.run)))
            .map(|m| {
                let from = m.minute_ms.max(e.started_at_ms);
                let to = (m.minute_ms + 60_000).min(e.ended_at_ms);
                ((from + to) as f64 / 2.0, m.avg_bytes as f64)
            })
            .collect();
        if points.is_empty() {
            let mins = uptime(e) as f64 / 60_000.0;
            if let Some(rss) = e.rss_last_bytes
                && mins > 0.0
            {
                rough.push(rss as f64 / mins);
            }
            continue;
        }
        if let Some(rss) = e.rss_last_bytes {
            points.push((e.ended_at_ms as f64, rss as f64));
        }
        if let Some(per_ms) = slope(&points) {
            rates.push(per_ms * 60_000.0);
        }
    }
    let mut rates = if rates.is_empty() { rough } else { rates };
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    Some(rates[rates.len() / 2])
}

/// The least-squares slope of `y` over `x`; `None` unless the points span some time.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    // Under a second between the points says nothing about a rate per minute.
    (sxx > 1000.0 * 1000.0 / 4.0).then(|| sxy / sxx)
}

/// Exits in a crash loop: at least this many in a row.
pub const LOOP_MIN_EXITS: usize = 5;
/// Two failed runs belong to one burst when the second ended at most this long after the first
/// plus its own uptime (a restart delay, backoff included, fits).
const LOOP_MAX_GAP_MS: i64 = 30_000;
/// A loop's runs are short: their median uptime is under this, or under 10 × `min_uptime`.
const LOOP_MAX_UPTIME_MS: u64 = 60_000;
/// `list` flags a loop whose last exit is at most this old (or 3 × its typical cycle).
const LOOP_RECENT_MS: i64 = 120_000;

/// A burst of failed runs: what `why` names and `list`/`describe` flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashLoop {
    pub exits: u32,
    /// From the start of the first run of the burst to the end of the last.
    pub span_ms: u64,
    pub median_uptime_ms: u64,
    pub min_uptime_ms: u64,
    pub last_exit_ms: i64,
}

impl CrashLoop {
    /// "77 exits in 93 s, each after about 1.2 s: a crash loop just above min_uptime (1.0 s)".
    pub fn describe(&self) -> String {
        let up = self.median_uptime_ms;
        let min = self.min_uptime_ms;
        let kind = if up < min {
            format!("a crash loop under min_uptime ({})", human_duration(min))
        } else if up < min.saturating_mul(3).max(min + 2000) {
            format!(
                "a crash loop just above min_uptime ({}): each run counts as stable, so max_restarts never stops it",
                human_duration(min)
            )
        } else {
            format!(
                "a crash loop of runs longer than min_uptime ({}), so max_restarts never stops it",
                human_duration(min)
            )
        };
        format!("{}: {kind}", self.rate())
    }

    /// "77 exits in 93 s, each after about 1.2 s".
    pub fn rate(&self) -> String {
        // Seconds up to 10 minutes: "93 s" says more than "2 min".
        let span = if self.span_ms < 600_000 {
            format!("{:.0} s", self.span_ms as f64 / 1000.0)
        } else {
            human_duration(self.span_ms)
        };
        format!(
            "{} exits in {span}, each after about {}",
            self.exits,
            human_duration(self.median_uptime_ms)
        )
    }
}

/// A failed run that svctl restarted on its own: a non-zero exit, or a signal svctl did not
/// send (a requested stop, memory limit, cron or watch is not a failure; a spawn failure is
/// errored at once and does not loop).
fn failed(e: &ExitRecord) -> bool {
    match e.cause {
        Cause::Exited => e.exit_code != Some(0),
        Cause::Signaled | Cause::OomKilled => true,
        _ => false,
    }
}

/// The newest burst of failed runs of one instance, if it is a crash loop: at least
/// [`LOOP_MIN_EXITS`] failed runs in a row, each ending soon after the one before, with a median
/// uptime under 60 s or under 10 × `min_uptime` — whatever `min_uptime` says about each run.
/// `exits` in any order; instances are taken one at a time, the loudest loop wins.
pub fn crash_loop(exits: &[ExitRecord], min_uptime_ms: u64) -> Option<CrashLoop> {
    let refs: Vec<&ExitRecord> = exits.iter().collect();
    crash_loop_of(&refs, min_uptime_ms)
}

fn crash_loop_of(exits: &[&ExitRecord], min_uptime_ms: u64) -> Option<CrashLoop> {
    let mut instances: Vec<u32> = exits.iter().map(|e| e.instance).collect();
    instances.sort_unstable();
    instances.dedup();
    instances
        .into_iter()
        .filter_map(|i| {
            let mut mine: Vec<&ExitRecord> =
                exits.iter().copied().filter(|e| e.instance == i).collect();
            mine.sort_by_key(|e| e.ended_at_ms);
            instance_loop(&mine, min_uptime_ms)
        })
        .max_by_key(|l| (l.exits, l.last_exit_ms))
}

fn instance_loop(exits: &[&ExitRecord], min_uptime_ms: u64) -> Option<CrashLoop> {
    let mut burst: Vec<&ExitRecord> = Vec::new();
    for e in exits.iter().rev() {
        if !failed(e) {
            break;
        }
        if let Some(next) = burst.last()
            && next.ended_at_ms - e.ended_at_ms > uptime(next) as i64 + LOOP_MAX_GAP_MS
        {
            break;
        }
        burst.push(e);
    }
    if burst.len() < LOOP_MIN_EXITS {
        return None;
    }
    let median_uptime_ms = median(burst.iter().map(|e| uptime(e)).collect());
    if median_uptime_ms >= LOOP_MAX_UPTIME_MS.max(min_uptime_ms.saturating_mul(10)) {
        return None;
    }
    let (first, last) = (burst[burst.len() - 1], burst[0]);
    Some(CrashLoop {
        exits: burst.len() as u32,
        span_ms: (last.ended_at_ms - first.started_at_ms).max(0) as u64,
        median_uptime_ms,
        min_uptime_ms,
        last_exit_ms: last.ended_at_ms,
    })
}

/// Whether an app is crash-looping now (for `list` and `describe`): a [`crash_loop`] whose last
/// exit is recent — within 2 minutes, or 3 of its typical run-and-restart cycles.
pub fn crash_looping(exits: &[ExitRecord], now_ms: i64, min_uptime_ms: u64) -> Option<CrashLoop> {
    let l = crash_loop(exits, min_uptime_ms)?;
    let cycle = (l.span_ms / u64::from(l.exits.max(1))) as i64;
    (now_ms - l.last_exit_ms <= LOOP_RECENT_MS.max(cycle.saturating_mul(3))).then_some(l)
}

/// Analyses `exits` (any order) of one app since `since_ms`.
pub fn analyse(
    app: &str,
    since_ms: i64,
    exits: &[ExitRecord],
    minutes: &[MemoryMinute],
    min_uptime_ms: u64,
) -> Report {
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
    let asked = count(Cause::Restarted) + count(Cause::Cron) + count(Cause::Watch);
    if asked > 0 {
        findings.push(format!(
            "{asked} restart{} were asked for (restart command, cron or watch), not crashes",
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

    fn exit(run: u64, cause: Cause, start: i64, up: i64) -> ExitRecord {
        ExitRecord {
            app: "flask-app".into(),
            instance: 0,
            run,
            pid: Some(100 + run as i32),
            started_at_ms: start,
            ended_at_ms: start + up,
            cause,
            exit_code: (cause == Cause::Exited).then_some(1),
            signal: match cause {
                Cause::Signaled => Some("SIGSEGV".into()),
                Cause::OomKilled => Some("SIGKILL".into()),
                _ => None,
            },
            core_dumped: cause == Cause::Signaled,
            unstable: up < 1000,
            sigkill_needed: false,
            next_delay_ms: Some(0),
            error: None,
            rss_last_bytes: None,
            rss_peak_bytes: None,
            memory_limit_bytes: None,
            oom_confidence: None,
            leftovers_killed: 0,
            stderr_tail: Some(format!(
                "Traceback run {run}\nImportError: no module named flask"
            )),
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
        let r = analyse("flask-app", 0, &exits, &[], 1000);
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
        let r = analyse("collector", 0, &exits, &[], 1000);
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
        let r = analyse("a", 0, &[e], &minutes, 1000);
        assert!(
            r.findings.iter().any(|f| f.contains("~20 MB/min")),
            "{:?}",
            r.findings
        );
    }

    /// gunicorn with an import error: exits with code 3 about 1.2 s after each start, restarted
    /// at once, just over the default min_uptime.
    fn slow_loop(n: u64, up: i64) -> Vec<ExitRecord> {
        (0..n)
            .map(|r| {
                let mut e = exit(r, Cause::Exited, 1_000_000 + r as i64 * (up + 10), up);
                e.unstable = false;
                e
            })
            .collect()
    }

    #[test]
    fn a_loop_just_above_min_uptime_is_named_by_its_rate() {
        let exits = slow_loop(77, 1200);
        let r = analyse("flask-app", 0, &exits, &[], 1000);
        assert_eq!(
            r.findings[0],
            "77 exits in 93 s, each after about 1.2 s: a crash loop just above min_uptime (1.0 s): \
             each run counts as stable, so max_restarts never stops it",
        );
        let l = crash_loop(&exits, 1000).unwrap();
        assert_eq!((l.exits, l.median_uptime_ms), (77, 1200));
        // Runs of 20 s with a 5 s min_uptime: still a loop (under 60 s).
        let r = analyse("a", 0, &slow_loop(6, 20_000), &[], 5000);
        assert!(
            r.findings[0].contains("a crash loop of runs longer than min_uptime (5.0 s)"),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn what_is_not_a_crash_loop() {
        // Four failures are not enough.
        assert_eq!(crash_loop(&slow_loop(4, 1200), 1000), None);
        // Runs of ten minutes are an app that fails now and then.
        assert_eq!(crash_loop(&slow_loop(10, 600_000), 1000), None);
        // But 10 × min_uptime raises the bound for apps that set a long one.
        assert!(crash_loop(&slow_loop(10, 600_000), 120_000).is_some());
        // Exit code 0 and requested restarts are not failures; they end a burst.
        let mut exits = slow_loop(10, 1200);
        for e in &mut exits[..5] {
            e.exit_code = Some(0);
        }
        assert_eq!(crash_loop(&exits, 1000).map(|l| l.exits), Some(5));
        exits[7].cause = Cause::Restarted;
        assert_eq!(crash_loop(&exits, 1000), None, "only 2 since the restart");
        // Exits far apart are not one burst.
        let spread: Vec<ExitRecord> = (0..10)
            .map(|r| exit(r, Cause::Signaled, r as i64 * 3_600_000, 1200))
            .collect();
        assert_eq!(crash_loop(&spread, 1000), None);
    }

    #[test]
    fn crash_looping_is_about_now() {
        let exits = slow_loop(20, 1200);
        let last = exits.iter().map(|e| e.ended_at_ms).max().unwrap();
        let l = crash_looping(&exits, last + 1000, 1000).expect("looping");
        assert_eq!(l.exits, 20);
        assert_eq!(crash_looping(&exits, last + 3_600_000, 1000), None);
        // Instances are looked at one by one: two instances interleaved are two loops.
        let mut two = slow_loop(12, 1200);
        for e in two.iter_mut().step_by(2) {
            e.instance = 1;
        }
        assert_eq!(crash_looping(&two, last, 1000).map(|l| l.exits), Some(6));
    }

    /// A collector leaking 550 MB/min from 50 MB, restarted at 300 MB (every ~27 s), sampled
    /// every second, its per-minute rows written as the daemon writes them: a run's partial
    /// minute at its exit, a later run in the same minute replacing that row.
    #[test]
    fn growth_is_measured_over_the_real_time_span() {
        let leak_per_ms = (550u64 << 20) as f64 / 60_000.0;
        let base = 50u64 << 20;
        let limit = 300u64 << 20;
        let mut exits = Vec::new();
        let mut rows: BTreeMap<i64, MemoryMinute> = BTreeMap::new();
        let mut t = 7_000i64; // not on a minute boundary
        for run in 0..12 {
            let start = t;
            let mut minute: Option<MemoryMinute> = None;
            let mut samples = (0i64, 0u64);
            let mut rss = base;
            let mut now = start;
            while rss <= limit {
                now += 1000;
                rss = base + ((now - start) as f64 * leak_per_ms) as u64;
                let m = now / 60_000 * 60_000;
                if minute.is_some_and(|x| x.minute_ms != m) {
                    let done = minute.take().unwrap();
                    rows.insert(done.minute_ms, done);
                    samples = (0, 0);
                }
                samples = (samples.0 + 1, samples.1 + rss);
                let x = minute.get_or_insert(MemoryMinute {
                    instance: 0,
                    minute_ms: m,
                    min_bytes: rss,
                    avg_bytes: rss,
                    max_bytes: rss,
                });
                x.max_bytes = rss;
                x.avg_bytes = samples.1 / samples.0 as u64;
            }
            if let Some(done) = minute {
                rows.insert(done.minute_ms, done);
            }
            let mut e = exit(run, Cause::MemoryLimit, start, now - start + 200);
            e.rss_last_bytes = Some(rss);
            e.memory_limit_bytes = Some(limit);
            t = e.ended_at_ms + 100;
            exits.push(e);
        }
        let minutes: Vec<MemoryMinute> = rows.into_values().collect();
        let refs: Vec<&ExitRecord> = exits.iter().collect();
        let g = growth_per_min(&refs, &refs, &minutes).unwrap() / (1 << 20) as f64;
        assert!((g - 550.0).abs() < 550.0 * 0.05, "{g:.0} MB/min");
        let r = analyse("collector", 0, &exits, &minutes, 1000);
        assert!(
            r.findings
                .iter()
                .any(|f| f.contains("memory grows ~5") && f.contains("MB/min")),
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
        let r = analyse("a", 0, &exits, &[], 1000);
        assert_eq!(r.dominant_crash, Some(Cause::Exited));
        assert!(
            r.findings
                .iter()
                .any(|f| f.starts_with("2 restarts were asked for"))
        );
        assert!(!r.findings.iter().any(|f| f.starts_with("crash loop")));
        let late = analyse("a", 450_000, &exits, &[], 1000);
        assert_eq!(late.exits, 1);
        let none = analyse("a", 10_000_000, &exits, &[], 1000);
        assert_eq!(none.findings, vec!["no exit recorded in this window"]);
    }
}
