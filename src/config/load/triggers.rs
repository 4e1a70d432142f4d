//! Owns what restarts an app besides a crash: `cron_restart` (a 5- or 6-field pattern; 0 or
//! false turns it off), `watch` (true: the app's cwd; or paths), `ignore_watch` (globs, each
//! checked here so a bad one never reaches the daemon's watcher) and `watch_delay`.

use super::field::bound;
use super::identity::expand_home;
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;
use globset::{Glob, GlobSetBuilder};

/// A cron pattern of 5 fields (minute…) or 6 (second first), as PM2 accepts.
pub fn check_cron(p: &str) -> Result<(), String> {
    let fields = p.split_whitespace().count();
    if !p.trim().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "`{p}` has {fields} fields: a cron pattern has 5 (minute hour day month weekday) or 6 (second first)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(p)
        .map(|_| ())
        .map_err(|e| format!("`{p}` is not a valid cron pattern: {e}"))
}

/// The globs one `ignore_watch` pattern stands for: a bare name matches that file or folder
/// anywhere; a pattern with a slash matches relative paths; either also matches everything
/// below a matched folder.
pub fn watch_ignore_globs(pattern: &str) -> [String; 4] {
    let p = pattern.trim_start_matches("./").trim_end_matches('/');
    [
        p.to_string(),
        format!("**/{p}"),
        format!("{p}/**"),
        format!("**/{p}/**"),
    ]
}

/// An `ignore_watch` pattern the daemon's watcher can use.
fn valid_ignore_glob(pattern: &str) -> Result<(), String> {
    let mut set = GlobSetBuilder::new();
    for g in watch_ignore_globs(pattern) {
        let glob =
            Glob::new(&g).map_err(|e| format!("`{pattern}` is not a valid glob: {}", e.kind()))?;
        set.add(glob);
    }
    set.build()
        .map(|_| ())
        .map_err(|e| format!("`{pattern}` is not a usable glob: {}", e.kind()))
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(p) = &spec.cron_restart {
        bound("cron_restart", check_cron(p))?;
    }
    for (i, p) in spec.ignore_watch.iter().enumerate() {
        bound(&format!("ignore_watch[{i}]"), valid_ignore_glob(p))?;
    }
    Ok(())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("cron_restart") {
        let pattern = match &f.at.node {
            Node::Int(0) | Node::Bool(false) | Node::Null => None,
            _ => f
                .str(ctx)
                .filter(|p| p.trim() != "0" && !p.trim().is_empty()),
        };
        if let Some(p) = pattern
            && f.valid(ctx, check_cron(&p)).is_some()
        {
            spec.cron_restart = Some(p.trim().to_string());
        }
    }
    if let Some(f) = keys.get("watch") {
        spec.watch = match &f.at.node {
            Node::Bool(true) => vec![spec.cwd.clone()],
            Node::Bool(false) | Node::Null => Vec::new(),
            _ => f
                .words(ctx)
                .unwrap_or_default()
                .into_iter()
                .map(|p| spec.cwd.join(expand_home(&p)))
                .collect(),
        };
    }
    if let Some(f) = keys.get("ignore_watch")
        && let Some(items) = f.items(ctx)
    {
        spec.ignore_watch = items
            .into_iter()
            .filter_map(|(p, item)| item.valid(ctx, valid_ignore_glob(&p)).map(|()| p))
            .collect();
    }
    if let Some(f) = keys.get("watch_delay")
        && let Some(d) = f.duration(ctx)
    {
        spec.watch_delay_ms = d;
    }
}
