//! Owns what a report says, as data: built once by `gather`, then rendered as HTML, Markdown
//! or JSON (this is the JSON, documented in `docs/REPORT.md`; fields are only ever added).

use crate::record::Cause;
use crate::store::report::MemoryBucket;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The version of this document's shape.
    pub format: u32,
    pub generated_at_ms: i64,
    pub since_ms: i64,
    pub until_ms: i64,
    /// The width of each bucket of `apps[].exit_buckets`.
    pub bucket_ms: i64,
    /// The width of each point of `apps[].memory`.
    pub memory_bucket_ms: i64,
    /// The database it was read from.
    pub database: String,
    pub summary: Summary,
    pub apps: Vec<AppReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Apps with exits in the window, the most first.
    pub restarts: Vec<AppRestarts>,
    pub oom_kills: u32,
    pub memory_limit_restarts: u32,
    /// `app:instance` of instances left errored: should run, no run open, and the last exit
    /// was not followed by a restart.
    pub errored_now: Vec<String>,
    pub crash_looping_now: Vec<LoopNow>,
    /// Log bytes lost are counted by the running daemon only (`svctl describe`), not stored.
    pub output_lost: Option<u64>,
    pub deployments: Vec<DeploymentMark>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppRestarts {
    pub app: String,
    pub exits: u32,
    pub by_cause: BTreeMap<Cause, u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoopNow {
    pub app: String,
    pub instance: u32,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentMark {
    pub id: u64,
    pub at_ms: i64,
    pub kind: String,
    pub result: Option<String>,
    pub file: Option<String>,
    /// Apps it added, changed or removed.
    pub apps: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppReport {
    pub app: String,
    /// Whether the app still exists (deleted apps keep their history).
    pub exists: bool,
    pub exits: u32,
    /// Per cause, the most first.
    pub causes: Vec<CauseReport>,
    /// Only buckets with exits; `bucket` counts from `since_ms` in `bucket_ms`.
    pub exit_buckets: Vec<ExitBucket>,
    pub memory: Vec<MemoryBucket>,
    pub max_memory_restart: Option<u64>,
    pub memory_max: Option<u64>,
    pub deployments: Vec<DeploymentMark>,
    /// Spawns of a `restart` or `reload`, per bucket (only buckets with some).
    pub manual_restarts: Vec<BucketCount>,
    /// The `why` findings, from the newest `findings_from` exits of the window.
    pub findings: Vec<String>,
    pub findings_from: u32,
    /// Commands to dig further.
    pub commands: Vec<String>,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CauseReport {
    pub cause: Cause,
    pub count: u32,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The median uptime of the runs that ended this way.
    pub typical_uptime_ms: u64,
    pub last_stderr: Option<String>,
    pub last_stderr_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitBucket {
    pub bucket: u32,
    pub counts: BTreeMap<Cause, u32>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct BucketCount {
    pub bucket: u32,
    pub count: u32,
}

impl Report {
    /// The report's window, for its buckets and time labels.
    pub fn window(&self) -> super::window::Window {
        super::window::Window {
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        }
    }
}

impl AppReport {
    /// Exits per bucket (all of them, empty ones too), by cause.
    pub fn dense_exits(&self, buckets: u32) -> BTreeMap<Cause, Vec<u64>> {
        let mut out: BTreeMap<Cause, Vec<u64>> = BTreeMap::new();
        for b in &self.exit_buckets {
            for (cause, n) in &b.counts {
                let row = out
                    .entry(*cause)
                    .or_insert_with(|| vec![0; buckets as usize]);
                if let Some(slot) = row.get_mut(b.bucket as usize) {
                    *slot += u64::from(*n);
                }
            }
        }
        out
    }

    /// Exits per bucket, all causes together.
    pub fn dense_totals(&self, buckets: u32) -> Vec<u64> {
        let mut out = vec![0; buckets as usize];
        for b in &self.exit_buckets {
            if let Some(slot) = out.get_mut(b.bucket as usize) {
                *slot += b.counts.values().map(|n| u64::from(*n)).sum::<u64>();
            }
        }
        out
    }
}

/// A color per cause, the same in every chart and legend: crashes warm, requested restarts cool.
pub fn cause_color(c: Cause) -> (u8, u8, u8) {
    match c {
        Cause::Exited => (230, 85, 13),
        Cause::Signaled => (197, 27, 138),
        Cause::OomKilled => (203, 24, 29),
        Cause::MemoryLimit => (140, 81, 10),
        Cause::Restarted => (49, 130, 189),
        Cause::Stopped => (150, 150, 150),
        Cause::Cron => (107, 174, 214),
        Cause::Watch => (158, 202, 225),
        Cause::SpawnFailed => (84, 39, 143),
        Cause::DaemonLost => (99, 99, 99),
        Cause::NotReady => (253, 174, 107),
        Cause::Unhealthy => (253, 141, 60),
        Cause::Reload => (65, 171, 93),
    }
}
