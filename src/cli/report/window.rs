//! Owns the time of a report: the window `--since`/`--until` name, checked against now, and
//! the size of the buckets its charts are cut into (sized to the window, on round steps).

use crate::cli::commands::history::parse_since;

/// The most exit buckets a chart has: a bar stays wide enough to see.
pub const MAX_EXIT_BUCKETS: i64 = 60;
/// The most memory points a chart has (a memory row is one minute; never finer than that).
pub const MAX_MEMORY_POINTS: i64 = 240;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Round bucket sizes, smallest first.
const STEPS: [i64; 16] = [
    10_000,
    30_000,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
];

/// `[since_ms, until_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_ms: i64,
    pub until_ms: i64,
}

impl Window {
    /// The window of `--since` (24 hours back by default) and `--until` (now by default), each
    /// a duration back from `now_ms` or a local date; a usage error when it starts in the
    /// future or does not start before it ends.
    pub fn parse(since: Option<&str>, until: Option<&str>, now_ms: i64) -> Result<Window, String> {
        let since_ms =
            parse_since(since.unwrap_or("24h"), now_ms).map_err(|e| format!("--since: {e}"))?;
        let until_ms = match until {
            Some(u) => parse_since(u, now_ms).map_err(|e| format!("--until: {e}"))?,
            None => now_ms,
        };
        if since_ms > now_ms {
            return Err(format!(
                "--since: {} is in the future (now is {})",
                stamp(since_ms),
                stamp(now_ms)
            ));
        }
        if since_ms >= until_ms {
            return Err(format!(
                "--since ({}) must be before --until ({})",
                stamp(since_ms),
                stamp(until_ms)
            ));
        }
        Ok(Window { since_ms, until_ms })
    }

    pub fn span_ms(&self) -> i64 {
        self.until_ms - self.since_ms
    }

    /// The bucket of the exit charts: the smallest round step that cuts the window into at most
    /// [`MAX_EXIT_BUCKETS`].
    pub fn exit_bucket_ms(&self) -> i64 {
        step_for(self.span_ms(), MAX_EXIT_BUCKETS, 10_000)
    }

    /// The bucket of the memory charts: at most [`MAX_MEMORY_POINTS`], at least one minute.
    pub fn memory_bucket_ms(&self) -> i64 {
        step_for(self.span_ms(), MAX_MEMORY_POINTS, MINUTE)
    }

    /// How many buckets of `bucket_ms` cover the window.
    pub fn buckets(&self, bucket_ms: i64) -> u32 {
        let b = bucket_ms.max(1);
        ((self.span_ms() + b - 1) / b).clamp(1, i64::from(u32::MAX)) as u32
    }

    /// The start of bucket `i`.
    pub fn bucket_start(&self, bucket_ms: i64, i: u32) -> i64 {
        self.since_ms + i64::from(i) * bucket_ms
    }
}

fn step_for(span_ms: i64, max_buckets: i64, floor: i64) -> i64 {
    let wanted = (span_ms + max_buckets - 1) / max_buckets;
    STEPS
        .iter()
        .copied()
        .filter(|s| *s >= floor)
        .find(|s| *s >= wanted)
        // Longer than 7 × 60 days: whole weeks.
        .unwrap_or_else(|| (wanted + 7 * DAY - 1) / (7 * DAY) * 7 * DAY)
}

/// `2026-11-22 10:00:00` in local time: how a report and its commands write a moment.
pub fn stamp(ms: i64) -> String {
    use chrono::{Local, TimeZone};
    Local.timestamp_millis_opt(ms).single().map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `3 s`, `5 min`, `2 h`, `1 d`: a bucket size.
pub fn step_name(ms: i64) -> String {
    match ms {
        m if m % DAY == 0 => format!("{} d", m / DAY),
        m if m % HOUR == 0 => format!("{} h", m / HOUR),
        m if m % MINUTE == 0 => format!("{} min", m / MINUTE),
        m => format!("{} s", m / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn the_window_defaults_to_the_last_day_and_is_checked() {
        let w = Window::parse(None, None, NOW).unwrap();
        assert_eq!((w.since_ms, w.until_ms), (NOW - DAY, NOW));
        let w = Window::parse(Some("2h"), Some("1h"), NOW).unwrap();
        assert_eq!((w.since_ms, w.until_ms), (NOW - 2 * HOUR, NOW - HOUR));
        let e = Window::parse(Some("1h"), Some("2h"), NOW).unwrap_err();
        assert!(
            e.starts_with("--since (") && e.contains("must be before --until"),
            "{e}"
        );
        let e = Window::parse(Some("2999-01-01"), None, NOW).unwrap_err();
        assert!(e.contains("is in the future"), "{e}");
        let e = Window::parse(Some("soon"), None, NOW).unwrap_err();
        assert!(e.starts_with("--since: `soon` is neither"), "{e}");
        assert!(
            Window::parse(None, Some("later"), NOW)
                .unwrap_err()
                .starts_with("--until:")
        );
        assert!(
            Window::parse(Some("1h"), Some("1h"), NOW).is_err(),
            "an empty window"
        );
    }

    #[test]
    fn buckets_are_round_and_sized_to_the_window() {
        let w = |span: i64| Window {
            since_ms: NOW - span,
            until_ms: NOW,
        };
        assert_eq!(w(DAY).exit_bucket_ms(), 30 * MINUTE);
        assert_eq!(w(DAY).buckets(30 * MINUTE), 48);
        assert_eq!(w(HOUR).exit_bucket_ms(), MINUTE);
        assert_eq!(w(5 * MINUTE).exit_bucket_ms(), 10_000);
        assert_eq!(w(30 * DAY).exit_bucket_ms(), 12 * HOUR);
        assert_eq!(w(365 * DAY).exit_bucket_ms(), 7 * DAY);
        assert_eq!(w(3650 * DAY).exit_bucket_ms(), 63 * DAY);
        assert_eq!(
            w(5 * MINUTE).memory_bucket_ms(),
            MINUTE,
            "never under a minute"
        );
        assert_eq!(w(30 * DAY).memory_bucket_ms(), 3 * HOUR);
        // A window that is not a whole number of buckets still covers its end.
        assert_eq!(w(DAY + 1).buckets(w(DAY + 1).exit_bucket_ms()), 49);
        for span in [1, 999, MINUTE, 7 * HOUR + 5, 13 * DAY, 400 * DAY] {
            let win = w(span);
            let b = win.exit_bucket_ms();
            assert!(i64::from(win.buckets(b)) <= MAX_EXIT_BUCKETS, "{span}");
            assert!(i64::from(win.buckets(b)) * b >= span, "{span}");
        }
        assert_eq!(step_name(30 * MINUTE), "30 min");
        assert_eq!(step_name(12 * HOUR), "12 h");
        assert_eq!(step_name(10_000), "10 s");
    }
}
