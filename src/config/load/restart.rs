//! Owns when an app starts, restarts and how it is stopped: `autostart`, `autorestart`,
//! `stop_exit_codes`, `restart_delay`, `exp_backoff_restart_delay`, `min_uptime`,
//! `max_restarts`, `kill_timeout`, `kill_signal` and `treekill`.

use super::field::{bound, in_range};
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::{Located, Node};
use std::ops::RangeInclusive;

/// An exit code.
const EXIT_CODES: RangeInclusive<u64> = 0..=255;

/// A signal name as `kill_signal` takes it (`SIGTERM`, `term`, `15`…), in its canonical form.
pub(super) fn valid_signal(s: &str) -> Result<String, String> {
    crate::record::parse_signal(s)
        .map(|sig| sig.as_str().to_string())
        .ok_or_else(|| format!("`{s}` is not a signal (e.g. SIGINT, SIGTERM, SIGQUIT)"))
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    for (i, code) in spec.stop_exit_codes.iter().enumerate() {
        bound(
            &format!("stop_exit_codes[{i}]"),
            in_range((*code).into(), &EXIT_CODES),
        )?;
    }
    bound("kill_signal", valid_signal(&spec.kill_signal)).map(|_| ())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    for (key, value) in [
        ("autostart", &mut spec.autostart),
        ("autorestart", &mut spec.autorestart),
        ("treekill", &mut spec.treekill),
    ] {
        if let Some(f) = keys.get(key)
            && let Some(b) = f.bool(ctx)
        {
            *value = b;
        }
    }
    if let Some(f) = keys.get("stop_exit_codes") {
        let items: Vec<&Located> = match &f.at.node {
            Node::Seq(v) => v.iter().collect(),
            _ => vec![f.at],
        };
        let mut codes = Vec::new();
        for (i, it) in items.into_iter().enumerate() {
            if let Some(c) = f.item(&format!("[{i}]"), it).u64_in(ctx, EXIT_CODES) {
                codes.push(c as i32);
            }
        }
        spec.stop_exit_codes = codes;
    }
    for (key, value) in [
        ("restart_delay", &mut spec.restart_delay_ms),
        ("min_uptime", &mut spec.min_uptime_ms),
        ("kill_timeout", &mut spec.kill_timeout_ms),
    ] {
        if let Some(f) = keys.get(key)
            && let Some(d) = f.duration(ctx)
        {
            *value = d;
        }
    }
    if let Some(f) = keys.get("exp_backoff_restart_delay")
        && let Some(d) = f.duration(ctx)
    {
        spec.exp_backoff_restart_delay_ms = (d > 0).then_some(d);
    }
    // A file that sets neither delay gets svctl's default: failed runs that outlived
    // min_uptime back off (a deliberate difference from PM2, which restarts them at once).
    spec.default_backoff =
        keys.get("restart_delay").is_none() && keys.get("exp_backoff_restart_delay").is_none();
    if let Some(f) = keys.get("max_restarts")
        && let Some(n) = f.u64_in(ctx, 0..=u64::from(u32::MAX))
    {
        spec.max_restarts = n as u32;
    }
    if let Some(f) = keys.get("kill_signal")
        && let Some(s) = f.str(ctx)
        && let Some(sig) = f.valid(ctx, valid_signal(&s))
    {
        spec.kill_signal = sig;
    }
}
