//! Owns `history` and `why`: they read the database directly (read-only, beside the running
//! daemon thanks to WAL), so they work even when the daemon is down.

use crate::cli::args::{HistoryArgs, WhyArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::cli::render::history as render;
use crate::forensics;
use crate::paths::Paths;
use crate::record::Cause;
use crate::store::{HistoryFilter, Reader};
use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};

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

pub(crate) fn open(paths: &Paths) -> Result<Option<Reader>, Failure> {
    if !paths.db.exists() {
        return Ok(None);
    }
    Reader::open(&paths.db)
        .map(Some)
        .map_err(|e| Failure::failed_by(format_args!("opening {}", paths.db.display()), &e))
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

pub(crate) fn unknown_app(reader: &Reader, name: &str) -> Failure {
    let known = reader.apps_with_history().unwrap_or_default();
    let f = Failure::failed(format!("no history for an app called `{name}`"));
    if known.is_empty() {
        f
    } else {
        f.hint(format!("known: {}", known.join(", ")))
    }
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
        .map_err(|e| Failure::usage_by("--cause", &e))?;
    let Some(reader) = open(paths)? else {
        return if a.json {
            output::line("[]")
        } else {
            output::line(format_args!(
                "no history yet: nothing has run in {}",
                paths.home.display()
            ))
        };
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
        .map_err(|e| Failure::failed_by("reading the history", &e))?;
    if a.json {
        return output::json(&rows);
    }
    if rows.is_empty() {
        return output::line("no exits match");
    }
    output::line(render::history_table(&rows))
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
        .map_err(|e| Failure::failed_by("reading the history", &e))?;
    let exits: Vec<_> = rows.into_iter().map(|r| r.exit).collect();
    let mut minutes = reader
        .memory(&name, since_ms - 3_600_000)
        .map_err(|e| Failure::failed_by("reading the memory samples", &e))?;
    if let Some(i) = instance {
        minutes.retain(|m| m.instance == i);
    }
    let spec = reader.app_spec(&name).ok().flatten();
    let settings = forensics::Settings::of(spec.as_ref());
    let mut report = forensics::analyse(&a.target, since_ms, &exits, &minutes, &settings);
    // Deployments shortly before the window can be what started its crashes.
    let deploys: Vec<forensics::DeployFact> = reader
        .deployments(Some(&name), Some(since_ms - 3_600_000), 1000)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| forensics::DeployFact::of(d, &name))
        .collect();
    if let Some(f) = forensics::deployment_finding(&name, &exits, &deploys) {
        report.findings.insert(0, f);
    }
    if a.json {
        return output::json(&report);
    }
    output::text(&render::why_report(&report, &exits, since_ms))
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
