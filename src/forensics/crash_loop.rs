//! Owns what a crash loop is: a burst of failed runs, by their rate and uptimes rather than by
//! `min_uptime` alone (a run of 1.2 s with a `min_uptime` of 1 s is "stable" for PM2's rule,
//! and such a loop never reaches `max_restarts`). `why` names it; `list` and `describe` can flag
//! an app with [`crash_looping`].

use super::{human_duration, median, uptime};
use crate::record::Cause;
use crate::store::model::ExitRecord;
use serde::Serialize;

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

/// Whether a run that ended with `cause` and `exit_code` failed, as a crash loop counts it: a
/// non-zero exit, or a signal svctl did not send (a requested stop, memory limit, health
/// restart, reload, cron or watch is not a failure; a spawn failure is errored at once and does
/// not loop; a run that never became ready is unstable, so `max_restarts` ends its loop).
/// `list` uses it on an instance's last exit to decide whether to look further.
pub fn is_failure(cause: Cause, exit_code: Option<i32>) -> bool {
    match cause {
        Cause::Exited => exit_code != Some(0),
        Cause::Signaled | Cause::OomKilled => true,
        _ => false,
    }
}

fn failed(e: &ExitRecord) -> bool {
    is_failure(e.cause, e.exit_code)
}

/// The newest burst of failed runs of one instance, if it is a crash loop: at least
/// [`LOOP_MIN_EXITS`] failed runs in a row, each ending soon after the one before, with a median
/// uptime under 60 s or under 10 × `min_uptime` — whatever `min_uptime` says about each run.
/// `exits` in any order; instances are taken one at a time, the loudest loop wins.
pub fn crash_loop(exits: &[ExitRecord], min_uptime_ms: u64) -> Option<CrashLoop> {
    let refs: Vec<&ExitRecord> = exits.iter().collect();
    crash_loop_of(&refs, min_uptime_ms)
}

pub(super) fn crash_loop_of(exits: &[&ExitRecord], min_uptime_ms: u64) -> Option<CrashLoop> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::exit;
    use super::super::*;

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
        let r = analyse("flask-app", 0, &exits, &[], &Settings::new(1000));
        assert_eq!(
            r.findings[0],
            "77 exits in 93 s, each after about 1.2 s: a crash loop just above min_uptime (1.0 s): \
             each run counts as stable, so max_restarts never stops it",
        );
        let l = crash_loop(&exits, 1000).unwrap();
        assert_eq!((l.exits, l.median_uptime_ms), (77, 1200));
        // Runs of 20 s with a 5 s min_uptime: still a loop (under 60 s).
        let r = analyse("a", 0, &slow_loop(6, 20_000), &[], &Settings::new(5000));
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
}
