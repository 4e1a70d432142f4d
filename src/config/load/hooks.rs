//! Owns `hooks:`: a mapping of `on_exit`, `on_errored`, `on_memory_limit`, `on_oom_kill`,
//! `on_unhealthy`, `on_start` to a shell command, with `timeout` (how long a hook may run) and
//! `interval` (at most one run per app and event in it). A command whose program cannot be
//! found is a warning, not an error: it may exist on the host that runs the daemon.

use super::field::bound;
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::hooks::{HookOn, Hooks, command_problem};
use crate::config::node::Node;

const SETTINGS: &[&str] = &["timeout", "interval"];

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    for (ms, key) in [
        (spec.hooks.timeout_ms, "hooks.timeout"),
        (spec.hooks.interval_ms, "hooks.interval"),
    ] {
        if ms == Some(0) {
            bound(key, Err::<(), _>("must be more than 0".to_string()))?;
        }
    }
    Ok(())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    let Some(f) = keys.get("hooks") else {
        return;
    };
    let Node::Map(entries) = &f.at.node else {
        f.problem(
            ctx,
            format!(
                "expected a mapping of hooks (on_exit: COMMAND, …), found {}",
                f.at.node.kind()
            ),
        );
        return;
    };
    let mut hooks = Hooks::default();
    for (k, v) in entries {
        let key = k.node.scalar_text().unwrap_or_default();
        let item = f.item(&format!(".{key}"), v);
        if let Some(on) = HookOn::parse(&key) {
            let Some(command) = item.str(ctx) else {
                continue;
            };
            if command.trim().is_empty() {
                item.problem(ctx, "a hook needs a command");
                continue;
            }
            if let Some(why) = command_problem(&command) {
                ctx.warnings.push(format!(
                    "{}:{}:{}: {}: {why}; the hook will fail when it runs",
                    ctx.file.display(),
                    item.at.line,
                    item.at.column,
                    item.path
                ));
            }
            hooks.commands.insert(on, command);
            continue;
        }
        if SETTINGS.contains(&key.as_str()) {
            match item.duration(ctx) {
                Some(0) => item.problem(ctx, "must be more than 0"),
                Some(ms) if key == "timeout" => hooks.timeout_ms = Some(ms),
                Some(ms) => hooks.interval_ms = Some(ms),
                None => {}
            }
            continue;
        }
        let known = HookOn::ALL
            .iter()
            .map(|h| h.as_str())
            .chain(SETTINGS.iter().copied());
        let hint = match crate::config::fields::suggest(&key, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "known: {}, timeout, interval",
                HookOn::ALL.map(HookOn::as_str).join(", ")
            ),
        };
        ctx.problem_hint(k, &item.path, "unknown hook", hint);
    }
    spec.hooks = hooks;
}
