//! Owns where an app's output goes and how it is written: `out_file`, `error_file`,
//! `log_file` (true: `<name>.log` in cwd), `disable_logs`, `merge_logs`, `time`,
//! `log_date_format`, `log_type`, rotation (`log_max_size`, `log_retain`), and the app's other
//! file, `pid_file`. Also PM2's rule for `-<n>` instance suffixes (`instance_log_suffix`).

use super::field::{Field, bound, describe, in_range};
use super::identity::expand_home;
use super::{AppKeys, Ctx};
use crate::config::node::Node;
use crate::config::{AppSpec, LogTarget};
use std::ops::RangeInclusive;
use std::path::Path;

/// Rotated files kept.
const RETAIN: RangeInclusive<u64> = 0..=1000;

/// 0 turns rotation off (as supervisord's `logfile_maxbytes=0`); below 4K rotation would
/// churn.
fn valid_max_size(bytes: u64) -> Result<u64, String> {
    if bytes != 0 && bytes < 4096 {
        return Err("at least 4K (or 0: no rotation)".into());
    }
    Ok(bytes)
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(b) = spec.log_max_size {
        bound("log_max_size", valid_max_size(b))?;
    }
    if let Some(n) = spec.log_retain {
        bound("log_retain", in_range(n.into(), &RETAIN))?;
    }
    Ok(())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    let cwd = spec.cwd.clone();
    if let Some(f) = keys.get("out_file")
        && let Some(t) = log_target(&f, ctx, &cwd)
    {
        spec.out_file = t;
    }
    if let Some(f) = keys.get("error_file")
        && let Some(t) = log_target(&f, ctx, &cwd)
    {
        spec.error_file = t;
    }
    if let Some(f) = keys.get("log_file") {
        spec.log_file = match &f.at.node {
            // PM2: `log_file: true` means the default combined file.
            Node::Bool(true) => LogTarget::File(cwd.join(format!("{}.log", spec.name))),
            _ => log_target(&f, ctx, &cwd).unwrap_or_default(),
        };
    }
    if let Some(f) = keys.get("disable_logs")
        && f.bool(ctx) == Some(true)
    {
        spec.out_file = LogTarget::Disabled;
        spec.error_file = LogTarget::Disabled;
        spec.log_file = LogTarget::Disabled;
    }
    match keys.get("merge_logs").map(|f| f.bool(ctx)) {
        Some(Some(b)) => {
            spec.merge_logs = b;
            spec.instance_log_suffix = !b;
        }
        Some(None) => {}
        // PM2 merges by default only when the file gives no `instances` and no cluster mode;
        // otherwise every instance's files get `-<n>`, even with one instance.
        None => {
            let cluster = keys
                .get("exec_mode")
                .and_then(|f| f.at.node.scalar_text())
                .is_some_and(|m| m.starts_with("cluster"));
            spec.instance_log_suffix = keys.get("instances").is_some() || cluster;
        }
    }
    if let Some(f) = keys.get("pid_file")
        && let Some(p) = f.str(ctx)
    {
        if p.trim().is_empty() {
            f.problem(ctx, "expected a file path, found an empty string");
        } else {
            let path = crate::paths::normalize(&cwd.join(expand_home(&p)));
            if let Some(dir) = path.parent()
                && !dir.is_dir()
            {
                ctx.warnings.push(format!(
                    "{}: app `{}`: pid_file: the folder {} does not exist; the pid file will not be written (the app starts anyway)",
                    ctx.file.display(),
                    spec.name,
                    dir.display()
                ));
            }
            spec.pid_file = Some(path);
        }
    }
    if let Some(f) = keys.get("time")
        && f.bool(ctx) == Some(true)
        && spec.log_date_format.is_none()
    {
        spec.log_date_format = Some("YYYY-MM-DDTHH:mm:ss.SSSZ".into());
    }
    if let Some(f) = keys.get("log_date_format")
        && let Some(fmt) = f.str(ctx)
    {
        spec.log_date_format = Some(fmt);
    }
    if let Some(f) = keys.get("log_type")
        && let Some(t) = f.str(ctx)
    {
        match t.as_str() {
            "json" => spec.log_json = true,
            "raw" | "" => {}
            _ => f.problem(
                ctx,
                format!("`{t}` is not a log type: use json (or leave it out)"),
            ),
        }
    }
    if let Some(f) = keys.get("log_max_size")
        && let Some(b) = f.size(ctx)
        && let Some(b) = f.valid(ctx, valid_max_size(b))
    {
        spec.log_max_size = Some(b);
    }
    if let Some(f) = keys.get("log_retain")
        && let Some(n) = f.u64_in(ctx, RETAIN)
    {
        spec.log_retain = Some(n as u32);
    }
}

fn log_target(f: &Field, ctx: &mut Ctx, cwd: &Path) -> Option<LogTarget> {
    match &f.at.node {
        Node::Bool(false) | Node::Null => Some(LogTarget::Disabled),
        Node::Str(s) if s == "/dev/null" || s.eq_ignore_ascii_case("null") => {
            Some(LogTarget::Disabled)
        }
        Node::Str(s) if !s.trim().is_empty() => Some(LogTarget::File(cwd.join(expand_home(s)))),
        other => {
            f.problem(
                ctx,
                format!("expected a file path, found {}", describe(other)),
            );
            None
        }
    }
}
