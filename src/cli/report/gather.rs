//! Owns reading a report's data from the database: the aggregates come from SQL
//! (`store::report`), the findings from `forensics::analyse` — the same `why` — over the newest
//! exits of each app, and the state each instance was left in from its last exits.

use super::model::*;
use super::window::{Window, stamp};
use crate::forensics;
use crate::record::Cause;
use crate::store::report::{AppLimits, Scope};
use crate::store::{Reader, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// The `why` findings of an app are drawn from at most this many of its newest exits in the
/// window: enough for every finding (a crash loop looks at the last 16), bounded whatever the
/// history holds.
pub const FINDINGS_EXITS: u32 = 500;
/// Exits per instance read to tell a crash loop now.
const LOOP_EXITS: u32 = 30;

/// Reads everything a report of `apps` (all when empty) over `w` shows.
pub fn gather(
    reader: &Reader,
    db: &str,
    apps: &[String],
    w: Window,
    now_ms: i64,
) -> Result<Report, StoreError> {
    let bucket_ms = w.exit_bucket_ms();
    let memory_bucket_ms = w.memory_bucket_ms();
    let scope = Scope {
        apps: apps.to_vec(),
        since_ms: w.since_ms,
        until_ms: w.until_ms,
        bucket_ms,
    };
    let stats = reader.cause_stats(&scope)?;
    let pairs: Vec<(String, Cause)> = stats.iter().map(|s| (s.app.clone(), s.cause)).collect();
    let buckets = reader.exit_buckets(&scope, &pairs)?;
    let manual = reader.manual_buckets(&scope)?;
    let newest: Vec<i64> = stats.iter().map(|s| s.newest_id).collect();
    let tails = reader.tails(&newest)?;
    let limits: BTreeMap<String, AppLimits> = reader
        .app_limits()?
        .into_iter()
        .map(|l| (l.app.clone(), l))
        .collect();
    let deployments: Vec<_> = reader
        .deployments(None, Some(w.since_ms), 10_000)?
        .into_iter()
        .filter(|d| d.started_at_ms < w.until_ms)
        .collect();

    // The apps: those asked for, or every app that exists or exited in the window.
    let names: BTreeSet<String> = if apps.is_empty() {
        limits
            .keys()
            .cloned()
            .chain(stats.iter().map(|s| s.app.clone()))
            .collect()
    } else {
        apps.iter().cloned().collect()
    };

    let mut out = Vec::new();
    for name in &names {
        let mut causes: Vec<CauseReport> = stats
            .iter()
            .filter(|s| &s.app == name)
            .map(|s| {
                let tail = tails.iter().find(|t| &t.app == name && t.cause == s.cause);
                CauseReport {
                    cause: s.cause,
                    count: s.count,
                    first_ms: s.first_ms,
                    last_ms: s.last_ms,
                    typical_uptime_ms: s.median_uptime_ms,
                    last_stderr: tail.map(|t| t.stderr_tail.clone()),
                    last_stderr_at_ms: tail.map(|t| t.ended_at_ms),
                }
            })
            .collect();
        causes.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(&b.cause)));
        let exits: u32 = causes.iter().map(|c| c.count).sum();
        let mut exit_buckets: BTreeMap<u32, BTreeMap<Cause, u32>> = BTreeMap::new();
        for b in buckets.iter().filter(|b| &b.app == name) {
            *exit_buckets
                .entry(b.bucket)
                .or_default()
                .entry(b.cause)
                .or_default() += b.count;
        }
        let lim = limits.get(name);
        let app_deploys: Vec<DeploymentMark> = deployments
            .iter()
            .filter(|d| d.touches(name))
            .map(mark)
            .collect();
        let (findings, findings_from) = findings(reader, name, &scope, &deployments)?;
        out.push(AppReport {
            app: name.clone(),
            exists: lim.is_some(),
            exits,
            exit_buckets: exit_buckets
                .into_iter()
                .map(|(bucket, counts)| ExitBucket { bucket, counts })
                .collect(),
            memory: reader.memory_buckets(name, &scope, memory_bucket_ms)?,
            max_memory_restart: lim.and_then(|l| l.max_memory_restart),
            memory_max: lim.and_then(|l| l.memory_max),
            deployments: app_deploys,
            manual_restarts: manual
                .iter()
                .filter(|m| &m.app == name)
                .map(|m| BucketCount {
                    bucket: m.bucket,
                    count: m.count,
                })
                .collect(),
            findings,
            findings_from,
            commands: commands(name, db, &causes, w),
            sql: sql(name, w),
            causes,
        });
    }

    let mut restarts: Vec<AppRestarts> = out
        .iter()
        .filter(|a| a.exits > 0)
        .map(|a| AppRestarts {
            app: a.app.clone(),
            exits: a.exits,
            by_cause: a.causes.iter().map(|c| (c.cause, c.count)).collect(),
        })
        .collect();
    restarts.sort_by(|a, b| b.exits.cmp(&a.exits).then(a.app.cmp(&b.app)));
    let count_of = |cause: Cause| -> u32 {
        stats
            .iter()
            .filter(|s| s.cause == cause && names.contains(&s.app))
            .map(|s| s.count)
            .sum()
    };
    let (errored_now, crash_looping_now) = state_now(reader, &names, &limits, now_ms)?;
    let summary = Summary {
        oom_kills: count_of(Cause::OomKilled),
        memory_limit_restarts: count_of(Cause::MemoryLimit),
        restarts,
        errored_now,
        crash_looping_now,
        output_lost: None,
        deployments: deployments
            .iter()
            .filter(|d| apps.is_empty() || apps.iter().any(|a| d.touches(a)))
            .map(mark)
            .collect(),
    };
    Ok(Report {
        format: 1,
        generated_at_ms: now_ms,
        since_ms: w.since_ms,
        until_ms: w.until_ms,
        bucket_ms,
        memory_bucket_ms,
        database: db.to_string(),
        summary,
        apps: out,
    })
}

fn mark(d: &crate::store::Deployment) -> DeploymentMark {
    DeploymentMark {
        id: d.id,
        at_ms: d.started_at_ms,
        kind: d.kind.clone(),
        result: d.result.clone(),
        file: d.file.clone(),
        apps: d
            .plan
            .apps
            .iter()
            .filter(|a| d.touches(&a.name))
            .map(|a| a.name.clone())
            .collect(),
    }
}

/// `why` over the newest [`FINDINGS_EXITS`] exits of the window, with the memory minutes and
/// deployments they span.
fn findings(
    reader: &Reader,
    app: &str,
    scope: &Scope,
    deployments: &[crate::store::Deployment],
) -> Result<(Vec<String>, u32), StoreError> {
    let exits = reader.window_exits(app, scope, FINDINGS_EXITS)?;
    let from = exits
        .iter()
        .map(|e| e.started_at_ms)
        .min()
        .unwrap_or(scope.since_ms)
        .max(scope.since_ms - 3_600_000);
    let minutes = reader.memory_between(app, from, scope.until_ms)?;
    let spec = reader.app_spec(app).ok().flatten();
    let settings = forensics::Settings::of(spec.as_ref());
    let mut report = forensics::analyse(app, scope.since_ms, &exits, &minutes, &settings);
    let facts: Vec<forensics::DeployFact> = deployments
        .iter()
        .filter_map(|d| forensics::DeployFact::of(d, app))
        .collect();
    if let Some(f) = forensics::deployment_finding(app, &exits, &facts) {
        report.findings.insert(0, f);
    }
    Ok((report.findings, exits.len() as u32))
}

/// The instances left errored, and those crash-looping now.
fn state_now(
    reader: &Reader,
    names: &BTreeSet<String>,
    limits: &BTreeMap<String, AppLimits>,
    now_ms: i64,
) -> Result<(Vec<String>, Vec<LoopNow>), StoreError> {
    let states: Vec<_> = reader
        .instance_states()?
        .into_iter()
        .filter(|s| names.contains(&s.app) && s.should_run)
        .collect();
    let keys: Vec<(String, u32)> = states.iter().map(|s| (s.app.clone(), s.instance)).collect();
    let exits = reader.recent_exits(&keys, LOOP_EXITS)?;
    let mut errored = Vec::new();
    let mut looping = Vec::new();
    for s in &states {
        let mut mine: Vec<_> = exits
            .iter()
            .filter(|e| e.app == s.app && e.instance == s.instance)
            .cloned()
            .collect();
        mine.sort_by_key(|e| e.ended_at_ms);
        let Some(last) = mine.last() else { continue };
        // No run open and no restart planned after a failure: the daemon gave up on it.
        if !s.open_run && last.next_delay_ms.is_none() && !last.cause.is_requested() {
            errored.push(format!("{}:{}", s.app, s.instance));
            continue;
        }
        let min_uptime = limits
            .get(&s.app)
            .and_then(|l| l.min_uptime_ms)
            .unwrap_or(crate::config::spec::DEFAULT_MIN_UPTIME_MS);
        if let Some(l) = forensics::crash_looping(&mine, now_ms, min_uptime) {
            looping.push(LoopNow {
                app: s.app.clone(),
                instance: s.instance,
                description: l.describe(),
            });
        }
    }
    Ok((errored, looping))
}

/// `svctl history` for each cause of the window, newest first, as many rows as it had.
fn commands(app: &str, db: &str, causes: &[CauseReport], w: Window) -> Vec<String> {
    let q = |s: &str| shlex::try_quote(s).map_or_else(|_| format!("'{s}'"), |c| c.into_owned());
    let since = q(&stamp(w.since_ms));
    let mut out: Vec<String> = causes
        .iter()
        .map(|c| {
            format!(
                "svctl history {} --cause {} --since {since} --limit {}",
                q(app),
                c.cause,
                c.count
            )
        })
        .collect();
    out.push(format!("svctl why {} --since {since}", q(app)));
    out.push(format!("sqlite3 -readonly {} {}", q(db), q(&sql(app, w))));
    out
}

/// The query behind the causes table, to run with `sqlite3` on the database.
fn sql(app: &str, w: Window) -> String {
    format!(
        "SELECT cause, count(*) AS exits, avg(uptime_ms) AS avg_uptime_ms, \
         datetime(max(ended_at_ms) / 1000, 'unixepoch', 'localtime') AS last \
         FROM runs WHERE app = '{}' AND ended_at_ms >= {} AND ended_at_ms < {} \
         GROUP BY cause ORDER BY exits DESC;",
        app.replace('\'', "''"),
        w.since_ms,
        w.until_ms
    )
}
