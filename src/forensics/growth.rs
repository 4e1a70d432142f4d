//! Owns the memory growth rate of `why`: bytes per minute from the per-minute memory rows and
//! the exits' exact times, not from whole minutes.

use super::uptime;
use crate::store::model::ExitRecord;
use crate::store::reader::MemoryMinute;

/// How fast memory grew, in bytes per minute, over the runs that ended by `memory_limit`: the
/// median of each run's least-squares slope. A run's points are its per-minute rows, each at
/// the middle of the part of that minute the run lived (for a steady leak the average of a
/// span is the value at its middle), and the RSS at the breach at the exit's exact time. Two
/// runs in one minute share one row, the later run's (it is written last): a row belongs to
/// the latest run of its instance that started before the minute ended. Only when no run has
/// a row (old history) is the RSS at the breach over the uptime used, which counts the
/// memory at start as growth.
pub(super) fn growth_per_min(
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

#[cfg(test)]
mod tests {
    use super::super::tests::exit;
    use super::super::*;
    use super::*;
    use std::collections::BTreeMap;

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
        let r = analyse("collector", 0, &exits, &minutes, &Settings::new(1000));
        assert!(
            r.findings
                .iter()
                .any(|f| f.contains("memory grows ~5") && f.contains("MB/min")),
            "{:?}",
            r.findings
        );
    }
}
