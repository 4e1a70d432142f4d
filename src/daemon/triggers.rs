//! Owns the two restart triggers that come from outside the process: `cron_restart` (when the
//! next match of the pattern is, in local time) and `watch` (which file changes count, and the
//! inotify watcher that reports them).

use chrono::{DateTime, Local};
use globset::{Glob, GlobSet, GlobSetBuilder};
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};

/// Milliseconds from `now` to the next match of `pattern` (5 or 6 fields), or `None` when it
/// never matches again or cannot be read.
pub fn next_cron_delay(pattern: &str, now: &DateTime<Local>) -> Option<u64> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(pattern)
        .ok()?;
    let next = cron.find_next_occurrence(now, false).ok()?;
    Some((next - *now).num_milliseconds().max(0) as u64)
}

/// Which changed paths restart an app.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    roots: Vec<PathBuf>,
    ignore: GlobSet,
    /// svctl's own files (logs) never trigger a restart, or an app logging would loop.
    excluded: Vec<PathBuf>,
}

/// Always ignored, as PM2 and most watchers do.
const DEFAULT_IGNORES: [&str; 2] = [".git", "node_modules"];

impl WatchFilter {
    pub fn new(roots: &[PathBuf], patterns: &[String], excluded: Vec<PathBuf>) -> WatchFilter {
        let mut b = GlobSetBuilder::new();
        for p in DEFAULT_IGNORES
            .iter()
            .copied()
            .chain(patterns.iter().map(String::as_str))
        {
            // The loader refused patterns that are not globs; one that is not (a stored spec
            // of an older svctl) is left out with a warning rather than stopping the watcher.
            for g in crate::config::load::watch_ignore_globs(p) {
                match Glob::new(&g) {
                    Ok(glob) => {
                        b.add(glob);
                    }
                    Err(e) => tracing::warn!("ignore_watch `{p}` is not a valid glob: {e}"),
                }
            }
        }
        WatchFilter {
            roots: roots.to_vec(),
            ignore: b.build().unwrap_or_else(|_| GlobSet::empty()),
            excluded,
        }
    }

    pub fn relevant(&self, path: &Path) -> bool {
        if self.excluded.iter().any(|e| path.starts_with(e)) {
            return false;
        }
        let rel = self
            .roots
            .iter()
            .find_map(|r| path.strip_prefix(r).ok())
            .unwrap_or(path);
        !self.ignore.is_match(rel) && !self.ignore.is_match(path)
    }
}

/// Starts watching `filter`'s roots recursively; `changed` is called (on the watcher's thread)
/// once per event that touches a relevant path.
pub fn watch(
    filter: WatchFilter,
    changed: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let roots = filter.roots.clone();
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if matches!(ev.kind, EventKind::Access(_)) {
            return;
        }
        if ev.paths.iter().any(|p| filter.relevant(p)) {
            changed();
        }
    })?;
    for r in &roots {
        w.watch(r, RecursiveMode::Recursive)?;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cron_delays() {
        let now = Local.with_ymd_and_hms(2026, 1, 1, 10, 0, 30).unwrap();
        assert_eq!(next_cron_delay("*/10 * * * * *", &now), Some(10_000));
        assert_eq!(
            next_cron_delay("0 11 * * *", &now),
            Some(3_600_000 - 30_000)
        );
        assert_eq!(next_cron_delay("not a pattern", &now), None);
    }

    #[test]
    fn watch_filter_ignores_globs_defaults_and_own_logs() {
        let root = PathBuf::from("/srv/app");
        let f = WatchFilter::new(
            std::slice::from_ref(&root),
            &["*.log".into(), "tmp".into(), "build/cache".into()],
            vec![PathBuf::from("/srv/app/logs")],
        );
        assert!(f.relevant(Path::new("/srv/app/src/main.py")));
        assert!(!f.relevant(Path::new("/srv/app/out.log")));
        assert!(!f.relevant(Path::new("/srv/app/deep/x.log")));
        assert!(!f.relevant(Path::new("/srv/app/tmp/a")));
        assert!(!f.relevant(Path::new("/srv/app/a/tmp")));
        assert!(!f.relevant(Path::new("/srv/app/build/cache/x")));
        assert!(f.relevant(Path::new("/srv/app/build/out.bin")));
        assert!(!f.relevant(Path::new("/srv/app/node_modules/x/index.js")));
        assert!(!f.relevant(Path::new("/srv/app/.git/HEAD")));
        assert!(!f.relevant(Path::new("/srv/app/logs/app-out.log")));
    }
}
