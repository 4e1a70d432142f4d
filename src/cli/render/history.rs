//! Owns the human output of `history` (a table of exits) and `why` (the forensics report).

use super::{bytes, duration_short};
use crate::forensics::{self, Report, describe_exit};
use crate::store::model::ExitRecord;
use crate::store::reader::HistoryRow;
use chrono::{Local, TimeZone};
use comfy_table::{Table, presets};
use std::fmt::Write;

pub fn local_time(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map_or_else(
        || ms.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// The table of `svctl history`.
pub fn history_table(rows: &[HistoryRow]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.force_no_tty();
    t.set_header(vec![
        "ended",
        "app",
        "run",
        "cause",
        "code/signal",
        "uptime",
        "rss",
        "next",
        "detail",
    ]);
    for r in rows {
        let e = &r.exit;
        let code = match (e.exit_code, &e.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) if e.core_dumped => format!("{s} (core)"),
            (None, Some(s)) => s.clone(),
            (None, None) => "-".into(),
        };
        let mut detail = Vec::new();
        if let Some(l) = e.memory_limit_bytes {
            detail.push(format!("limit {}", bytes(l)));
        }
        if let Some(c) = &e.oom_confidence {
            detail.push(format!("oom {c}"));
        }
        if e.sigkill_needed {
            detail.push("SIGKILL needed".into());
        }
        if e.leftovers_killed > 0 {
            detail.push(format!("{} leftover(s) killed", e.leftovers_killed));
        }
        if let Some(err) = &e.error {
            detail.push(err.clone());
        }
        t.add_row(vec![
            local_time(e.ended_at_ms),
            format!("{}:{}", e.app, e.instance),
            e.run.to_string(),
            e.cause.to_string(),
            code,
            duration_short((e.ended_at_ms - e.started_at_ms).max(0) as u64),
            e.rss_last_bytes.map_or("-".into(), bytes),
            e.next_delay_ms.map_or("-".into(), |d| format!("{d} ms")),
            detail.join("; "),
        ]);
    }
    t
}

/// The report of `svctl why`, each line ended.
pub fn why_report(report: &Report, exits: &[ExitRecord], since_ms: i64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} exit{} since {}",
        report.app,
        report.exits,
        if report.exits == 1 { "" } else { "s" },
        local_time(since_ms)
    );
    if !report.by_cause.is_empty() {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        t.force_no_tty();
        t.set_header(vec![
            "cause",
            "count",
            "first",
            "last",
            "typical uptime",
            "codes / signals",
        ]);
        for c in &report.by_cause {
            let mut cs: Vec<String> = c
                .exit_codes
                .iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect();
            cs.extend(c.signals.iter().map(|(k, n)| format!("{k}×{n}")));
            t.add_row(vec![
                c.cause.to_string(),
                c.count.to_string(),
                local_time(c.first_ms),
                local_time(c.last_ms),
                forensics::human_duration(c.median_uptime_ms),
                cs.join(" "),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    out.push_str("\nfindings:\n");
    for f in &report.findings {
        let _ = writeln!(out, "  - {f}");
    }
    if let (Some(cause), Some(tail)) = (report.dominant_crash, &report.stderr_tail) {
        let _ = writeln!(out, "\nlast stderr of a `{cause}` exit:");
        for line in tail.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    if let Some(last) = exits.iter().max_by_key(|e| e.ended_at_ms) {
        let _ = writeln!(
            out,
            "\nlast exit: {} at {}",
            describe_exit(last),
            local_time(last.ended_at_ms)
        );
    }
    out
}
