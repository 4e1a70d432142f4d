//! Owns memory restarts: `max_memory_restart` (a size; a bare number under 1 MiB is warned
//! about, as it is most likely meant as megabytes), `memory_check_interval` and
//! `max_memory_samples`.

use super::field::{bound, in_range};
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use std::ops::RangeInclusive;

/// Consecutive samples over the limit before a restart.
const SAMPLES: RangeInclusive<u64> = 1..=1000;

/// Sampling faster than this would cost more than it tells.
fn valid_check_interval(ms: u64) -> Result<u64, String> {
    if ms < 100 {
        return Err("at least 100 ms".into());
    }
    Ok(ms)
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(ms) = spec.memory_check_interval_ms {
        bound("memory_check_interval", valid_check_interval(ms))?;
    }
    bound(
        "max_memory_samples",
        in_range(spec.max_memory_samples.into(), &SAMPLES),
    )
    .map(|_| ())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("max_memory_restart")
        && let Some(b) = f.size(ctx)
    {
        if b < 1 << 20 {
            ctx.warnings.push(format!(
                "{}:{}:{}: {}: {b} bytes is under 1 MiB — a bare number is bytes; did you mean {b}M?",
                ctx.file.display(),
                f.at.line,
                f.at.column,
                f.path
            ));
        }
        spec.max_memory_restart = (b > 0).then_some(b);
    }
    if let Some(f) = keys.get("memory_check_interval")
        && let Some(d) = f.duration(ctx)
        && let Some(d) = f.valid(ctx, valid_check_interval(d))
    {
        spec.memory_check_interval_ms = Some(d);
    }
    if let Some(f) = keys.get("max_memory_samples")
        && let Some(n) = f.u64_in(ctx, SAMPLES)
    {
        spec.max_memory_samples = n as u32;
    }
}
