//! Owns `history` and `why`: they read the database directly (read-only, beside the running
//! daemon thanks to WAL), so they work even when the daemon is down.

use super::Failure;
use super::args::{HistoryArgs, WhyArgs};
use super::render::{bytes, duration_short};
use crate::forensics::{self, describe_exit};
use crate::paths::Paths;
use crate::record::Cause;
use crate::store::{HistoryFilter, Reader};
use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
use comfy_table::{Table, presets};

/// `2h`, `30m`, `7d` back from `now_ms`, or a local date / date-time.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ms) = crate::config::units::duration_ms(text)
        && text.trim().ends_with(|c: char| c.is_ascii_alphabetic())
    {
        return Ok(now_ms - ms.min(i64::MAX as u64) as i64);
    }
    let t = text.trim();
    let local = |dt: NaiveDateTime| {
        Local
            .from_local_datetime(&dt)
            .earliest()
            .map(|d| d.timestamp_millis())
            .ok_or_else(|| format!("`{t}` does not exist in the local time zone"))
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(dt);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return local(dt);
    }
    Err(format!(
        "`{text}` is neither a duration back from now (30m, 2h, 7d) nor a date (2026-11-22 or 2026-11-22T10:00)"
    ))
}

pub fn local_time(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map_or_else(
        || ms.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn open(paths: &Paths) -> Result<Option<Reader>, Failure> {
    if !paths.db.exists() {
        return Ok(None);
    }
    Reader::open(&paths.db)
        .map(Some)
        .map_err(|e| Failure::failed(e.to_string()))
}

/// `NAME` or `NAME:INSTANCE`.
fn split_target(t: &str) -> Result<(String, Option<u32>), Failure> {
    match t.rsplit_once(':') {
        Some((name, i)) => i
            .parse()
            .map(|i| (name.to_string(), Some(i)))
            .map_err(|_| Failure::usage(format!("`{t}`: the instance after `:` must be a number"))),
        None => Ok((t.to_string(), None)),
    }
}

fn unknown_app(reader: &Reader, name: &str) -> Failure {
    let known = reader.apps_with_history().unwrap_or_default();
    let mut msg = format!("no history for an app called `{name}`");
    if !known.is_empty() {
        msg.push_str(&format!("\n  known: {}", known.join(", ")));
    }
    Failure::failed(msg)
}

pub fn history(paths: &Paths, a: &HistoryArgs) -> Result<(), Failure> {
    let now = crate::store::now_ms();
    let since_ms = a
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()
        .map_err(Failure::usage)?;
    let cause = a
        .cause
        .as_deref()
        .map(str::parse::<Cause>)
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let Some(reader) = open(paths)? else {
        if a.json {
            println!("[]");
        } else {
            println!(
                "no history yet: nothing has run in {}",
                paths.home.display()
            );
        }
        return Ok(());
    };
    let (apps, instance) = match &a.target {
        Some(t) => {
            let (name, i) = split_target(t)?;
            if !reader
                .apps_with_history()
                .unwrap_or_default()
                .contains(&name)
            {
                return Err(unknown_app(&reader, &name));
            }
            (vec![name], i)
        }
        None => (Vec::new(), None),
    };
    let rows = reader
        .history(&HistoryFilter {
            apps,
            instance,
            since_ms,
            cause,
            limit: Some(a.limit),
        })
        .map_err(|e| Failure::failed(e.to_string()))?;
    if a.json {
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| Failure::failed(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no exits match");
        return Ok(());
    }
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
    for r in &rows {
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
    println!("{t}");
    Ok(())
}

pub fn why(paths: &Paths, a: &WhyArgs) -> Result<(), Failure> {
    let now = crate::store::now_ms();
    let since_ms = parse_since(a.since.as_deref().unwrap_or("24h"), now).map_err(Failure::usage)?;
    let (name, instance) = split_target(&a.target)?;
    let Some(reader) = open(paths)? else {
        return Err(Failure::failed(format!(
            "no history yet in {}",
            paths.home.display()
        )));
    };
    if !reader
        .apps_with_history()
        .unwrap_or_default()
        .contains(&name)
    {
        return Err(unknown_app(&reader, &name));
    }
    let rows = reader
        .history(&HistoryFilter {
            apps: vec![name.clone()],
            instance,
            since_ms: Some(since_ms),
            cause: None,
            limit: Some(100_000),
        })
        .map_err(|e| Failure::failed(e.to_string()))?;
    let exits: Vec<_> = rows.into_iter().map(|r| r.exit).collect();
    let mut minutes = reader
        .memory(&name, since_ms - 3_600_000)
        .map_err(|e| Failure::failed(e.to_string()))?;
    if let Some(i) = instance {
        minutes.retain(|m| m.instance == i);
    }
    let spec = reader.app_spec(&name).ok().flatten();
    let min_uptime = spec
        .as_ref()
        .map_or(crate::config::spec::DEFAULT_MIN_UPTIME_MS, |s| {
            s.min_uptime_ms
        });
    let report = forensics::analyse(&a.target, since_ms, &exits, &minutes, min_uptime);
    if a.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::failed(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
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
        println!("{t}");
    }
    println!("\nfindings:");
    for f in &report.findings {
        println!("  - {f}");
    }
    if let (Some(cause), Some(tail)) = (report.dominant_crash, &report.stderr_tail) {
        println!("\nlast stderr of a `{cause}` exit:");
        for line in tail.lines() {
            println!("  | {line}");
        }
    }
    if let Some(last) = exits.iter().max_by_key(|e| e.ended_at_ms) {
        println!(
            "\nlast exit: {} at {}",
            describe_exit(last),
            local_time(last.ended_at_ms)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_dates() {
        let now = 10_000_000_000;
        assert_eq!(parse_since("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_since("30m", now), Ok(now - 1_800_000));
        assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400_000));
        let d = parse_since("2026-11-22", now).unwrap();
        let dt = parse_since("2026-11-22T10:00", now).unwrap();
        assert_eq!(dt - d, 10 * 3_600_000);
        assert!(parse_since("yesterday", now).is_err());
        assert!(
            parse_since("1500", now).is_err(),
            "a bare number is ambiguous"
        );
    }

    #[test]
    fn targets_split_on_the_instance() {
        assert_eq!(split_target("api").unwrap(), ("api".into(), None));
        assert_eq!(split_target("api:2").unwrap(), ("api".into(), Some(2)));
        assert!(split_target("api:x").is_err());
    }
}
