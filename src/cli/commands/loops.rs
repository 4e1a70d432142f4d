//! Owns finding the crash-looping instances that `list` and `describe` flag: read from the
//! database (read-only, beside the daemon), never a reason to fail. Only instances whose last
//! exit was a recent failure are looked up, all in one query, so a thousand healthy apps cost
//! nothing and a thousand looping ones a bounded read.

use crate::cli::render::Loops;
use crate::forensics;
use crate::ipc::ProcessInfo;
use crate::store::Reader;
use std::collections::BTreeMap;
use std::path::Path;

/// Exits read per instance: a loop needs [`forensics::LOOP_MIN_EXITS`]; more tell its size.
const EXITS_PER_INSTANCE: u32 = 30;
/// An instance whose last failure is older than this is not looked at.
const RECENT_MS: i64 = 15 * 60_000;
/// Instances looked up at most, the most recently failed first: in a crash storm of hundreds
/// of apps, `list` stays quick and still flags the loops that matter now.
const MAX_LOOKED_UP: usize = 32;

/// The instances of `procs` that crash-loop now, by `(app, instance)`. Empty when the database
/// cannot be read.
pub fn find(db: &Path, procs: &[ProcessInfo], now_ms: i64) -> Loops {
    let mut recent: Vec<&ProcessInfo> = procs
        .iter()
        // A stopped or errored instance loops no more, whatever its last exits were.
        .filter(|p| p.status.has_process() || p.status == crate::record::Status::WaitingRestart)
        .filter(|p| {
            p.last_exit.as_ref().is_some_and(|e| {
                forensics::is_failure(e.cause, e.exit_code) && now_ms - e.ended_at_ms <= RECENT_MS
            })
        })
        .collect();
    recent.sort_by_key(|p| std::cmp::Reverse(p.last_exit.as_ref().map_or(0, |e| e.ended_at_ms)));
    let candidates: Vec<(String, u32)> = recent
        .into_iter()
        .take(MAX_LOOKED_UP)
        .map(|p| (p.name.clone(), p.instance))
        .collect();
    if candidates.is_empty() || !db.exists() {
        return Loops::new();
    }
    let Ok(reader) = Reader::open(db) else {
        return Loops::new();
    };
    let Ok(exits) = reader.recent_exits(&candidates, EXITS_PER_INSTANCE) else {
        return Loops::new();
    };
    let mut by_instance: BTreeMap<(String, u32), Vec<_>> = BTreeMap::new();
    for e in exits {
        by_instance
            .entry((e.app.clone(), e.instance))
            .or_default()
            .push(e);
    }
    // Only apps with enough failures need their min_uptime.
    let mut apps: Vec<String> = by_instance
        .iter()
        .filter(|(_, es)| es.len() >= forensics::LOOP_MIN_EXITS)
        .map(|((app, _), _)| app.clone())
        .collect();
    apps.dedup();
    let min_uptimes: BTreeMap<String, u64> = reader
        .min_uptimes(&apps)
        .unwrap_or_default()
        .into_iter()
        .collect();
    by_instance
        .into_iter()
        .filter_map(|(key, exits)| {
            let min_uptime = min_uptimes
                .get(&key.0)
                .copied()
                .unwrap_or(crate::config::spec::DEFAULT_MIN_UPTIME_MS);
            forensics::crash_looping(&exits, now_ms, min_uptime).map(|l| (key, l))
        })
        .collect()
}
