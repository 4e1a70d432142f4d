//! Owns the hard limits the kernel enforces through the run's cgroup: `memory_max` (a size),
//! `pids_max`, `cpu_weight` (1–10000, 100 being an even share) and `cpu_max` (a share of
//! CPUs: `150%` or `1.5`). Whether the host can enforce them is the daemon's to say (`check`
//! warns when this machine runs without cgroups); their bounds are checked here.

use super::field::{bound, in_range};
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;
use std::ops::RangeInclusive;

/// The kernel's own ceiling for `pids.max` (`PID_MAX_LIMIT`).
pub const PIDS: RangeInclusive<u64> = 1..=4_194_304;
/// cgroup v2's `cpu.weight` range.
pub const WEIGHT: RangeInclusive<u64> = 1..=10_000;
/// 1 % of one CPU to 1000 CPUs.
pub const CPU_PERCENT: RangeInclusive<u64> = 1..=100_000;
/// Under this a cgroup cannot even hold a shell.
const MEMORY_MIN: u64 = 1 << 20;

fn valid_memory_max(b: u64) -> Result<u64, String> {
    if b < MEMORY_MIN {
        return Err(format!(
            "{b} bytes is under 1 MiB — a bare number is bytes; did you mean {b}M?"
        ));
    }
    Ok(b)
}

/// `cpu_max`: `150%`, or a number of CPUs (`1.5`, `2`) → percent of one CPU.
pub fn cpu_percent(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let percent = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>(),
        None => t.parse::<f64>().map(|cpus| cpus * 100.0),
    }
    .map_err(|_| format!("`{text}` is not a share of CPUs (150%, or 1.5 for one and a half)"))?;
    if !percent.is_finite() {
        return Err(format!("`{text}` is not a share of CPUs"));
    }
    let p = percent.round();
    in_range(p as i128, &CPU_PERCENT)
        .map_err(|_| format!("`{text}` is out of range: from 1% of one CPU to 1000 CPUs (100000%)"))
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(b) = spec.memory_max {
        bound("memory_max", valid_memory_max(b))?;
    }
    if let Some(n) = spec.pids_max {
        bound("pids_max", in_range(n.into(), &PIDS))?;
    }
    if let Some(w) = spec.cpu_weight {
        bound("cpu_weight", in_range(w.into(), &WEIGHT))?;
    }
    if let Some(p) = spec.cpu_max_percent {
        bound("cpu_max", in_range(p.into(), &CPU_PERCENT))?;
    }
    Ok(())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("memory_max")
        && let Some(b) = f.size(ctx)
        && let Some(b) = f.valid(ctx, valid_memory_max(b))
    {
        spec.memory_max = Some(b);
        if let Some(soft) = spec.max_memory_restart.filter(|s| *s >= b) {
            ctx.warnings.push(format!(
                "{}:{}:{}: {}: the kernel kills at {b} bytes, before max_memory_restart \
                 ({soft} bytes) can restart gracefully; set max_memory_restart below it",
                ctx.file.display(),
                f.at.line,
                f.at.column,
                f.path
            ));
        }
    }
    if let Some(f) = keys.get("pids_max")
        && let Some(n) = f.u64_in(ctx, PIDS)
    {
        spec.pids_max = Some(n);
    }
    if let Some(f) = keys.get("cpu_weight")
        && let Some(n) = f.u64_in(ctx, WEIGHT)
    {
        spec.cpu_weight = Some(n);
    }
    if let Some(f) = keys.get("cpu_max") {
        let text = match &f.at.node {
            Node::Str(s) => Some(s.clone()),
            Node::Int(_) | Node::Float(_) => f.at.node.scalar_text(),
            other => {
                f.problem(
                    ctx,
                    format!(
                        "expected a share of CPUs (150%, or 1.5), found {}",
                        super::field::describe(other)
                    ),
                );
                None
            }
        };
        if let Some(p) = text.and_then(|t| f.valid(ctx, cpu_percent(&t))) {
            spec.cpu_max_percent = Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_shares_in_both_forms() {
        assert_eq!(cpu_percent("150%"), Ok(150));
        assert_eq!(cpu_percent(" 50 % "), Ok(50));
        assert_eq!(cpu_percent("1.5"), Ok(150));
        assert_eq!(cpu_percent("2"), Ok(200));
        assert_eq!(cpu_percent("0.25"), Ok(25));
        for bad in ["", "fast", "0", "0%", "-1", "1001", "inf", "NaN"] {
            assert!(cpu_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_of_a_spec_from_the_socket() {
        let mut s = AppSpec::with_defaults("a", "sleep", std::path::PathBuf::from("/tmp"));
        assert_eq!(check(&s), Ok(()));
        s.memory_max = Some(1000);
        assert!(check(&s).unwrap_err().starts_with("memory_max: 1000 bytes"));
        s.memory_max = Some(64 << 20);
        s.pids_max = Some(0);
        assert!(check(&s).unwrap_err().starts_with("pids_max"));
        s.pids_max = Some(10);
        s.cpu_weight = Some(10_001);
        assert!(check(&s).unwrap_err().starts_with("cpu_weight"));
        s.cpu_weight = Some(100);
        s.cpu_max_percent = Some(0);
        assert!(check(&s).unwrap_err().starts_with("cpu_max"));
    }
}
