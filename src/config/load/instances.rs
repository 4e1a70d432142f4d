//! Owns how many copies of an app run and how each knows its number: `instances` (a number,
//! `max`, 0 or -1 for every CPU, -N for all but N), `instance_var`, `increment_var`, and PM2's
//! `exec_mode` (cluster mode is Node's; svctl runs separate processes).

use super::field::{bound, in_range};
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;
use std::ops::RangeInclusive;

/// Copies of one app.
const INSTANCES: RangeInclusive<u64> = 1..=10_000;

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    bound("instances", in_range(spec.instances.into(), &INSTANCES)).map(|_| ())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("instances") {
        match &f.at.node {
            Node::Str(s) if s == "max" => spec.instances = cpus(),
            Node::Int(0 | -1) => spec.instances = cpus(),
            Node::Int(i) if *i < -1 => {
                // PM2: -N means "all CPUs but N".
                let n = i64::try_from(*i).unwrap_or(i64::MIN).unsigned_abs();
                spec.instances = (u64::from(cpus()).saturating_sub(n)).max(1) as u32;
            }
            _ => {
                if let Some(n) = f.u64_in(ctx, INSTANCES) {
                    spec.instances = n as u32;
                }
            }
        }
    }
    if let Some(f) = keys.get("instance_var")
        && let Some(v) = f.str(ctx)
    {
        spec.instance_var = v;
    }
    if let Some(f) = keys.get("increment_var")
        && let Some(v) = f.str(ctx)
    {
        spec.increment_var = Some(v);
    }
    if let Some(f) = keys.get("exec_mode")
        && let Some(m) = f.str(ctx)
    {
        match m.as_str() {
            "fork" | "fork_mode" => {}
            "cluster" | "cluster_mode" => {
                ctx.ignored.insert(
                    "exec_mode: cluster".into(),
                    "Node's cluster module; svctl runs `instances` separate processes",
                );
                if let Some(w) = one_port_warning(spec) {
                    ctx.warnings.push(format!("{}: {w}", ctx.file.display()));
                }
            }
            _ => f.problem(
                ctx,
                format!("`{m}` is not an exec mode: use fork or cluster"),
            ),
        }
    }
}

/// Cluster mode shares one port between Node workers; svctl's instances are separate processes,
/// so N of them given one fixed `PORT` race for it (one binds, the others exit, often with
/// code 0 and nothing on stderr): a silent crash loop. `increment_var: PORT` gives each its own.
pub(super) fn one_port_warning(spec: &AppSpec) -> Option<String> {
    if spec.instances < 2 || spec.increment_var.as_deref() == Some("PORT") {
        return None;
    }
    let port = spec
        .env
        .get("PORT")
        .or_else(|| spec.env_file_env.get("PORT"))?;
    Some(format!(
        "app `{}`: exec_mode: cluster with {} instances on one PORT ({port}): svctl runs {} \
         separate processes, which race for that port (one binds it, the others exit); give \
         each instance its own port with `increment_var: PORT` (PORT, PORT+1, …), or wait for \
         `listen:` (svctl holding the socket for them)",
        spec.name, spec.instances, spec.instances
    ))
}

fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
