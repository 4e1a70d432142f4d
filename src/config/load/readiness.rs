//! Owns when an instance counts as ready and healthy, and how it is reloaded: `wait_ready`
//! (READY=1 on `$NOTIFY_SOCKET`), `ready_log_line` (a regex), `ready` and `health` (probes:
//! `http`, `tcp` or `exec`, with their timing), `listen_timeout` (the readiness deadline),
//! `watchdog` (WATCHDOG=1 at least this often), `listen` (sockets svctl opens and passes to
//! every instance) and `reload_signal` (reload in place instead of replacing processes).

use super::field::{Field, bound, describe};
use super::restart::valid_signal;
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;
use crate::config::probe::{ListenAddr, Probe, ProbeKind, parse_host_port, parse_http_url};

/// `listen_timeout` when a readiness method is set and the file gives none (PM2's default).
pub const DEFAULT_LISTEN_TIMEOUT_MS: u64 = 3000;

/// A regex `ready_log_line` can use.
pub fn valid_regex(r: &str) -> Result<(), String> {
    regex::Regex::new(r).map(|_| ()).map_err(|e| {
        // The regex crate draws the pattern with a caret over several lines; one line here.
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        format!("`{r}` is not a valid regex: {why}")
    })
}

fn valid_kind(kind: &ProbeKind) -> Result<(), String> {
    match kind {
        ProbeKind::Http(url) => parse_http_url(url).map(|_| ()),
        ProbeKind::Tcp(addr) => parse_host_port(addr).map(|_| ()),
        ProbeKind::Exec(cmd) if cmd.trim().is_empty() => Err("the command is empty".into()),
        ProbeKind::Exec(_) => Ok(()),
    }
}

fn valid_probe(p: &Probe) -> Result<(), String> {
    valid_kind(&p.kind)?;
    if p.interval_ms == 0 {
        return Err("interval must be more than 0".into());
    }
    if p.timeout_ms == 0 {
        return Err("timeout must be more than 0".into());
    }
    if !(1..=1000).contains(&p.failures) {
        return Err(format!(
            "failures: {} is out of range (1 to 1000)",
            p.failures
        ));
    }
    Ok(())
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    if let Some(r) = &spec.ready_log_line {
        bound("ready_log_line", valid_regex(r))?;
    }
    if let Some(p) = &spec.ready {
        bound("ready", valid_probe(p))?;
    }
    if let Some(p) = &spec.health {
        bound("health", valid_probe(p))?;
    }
    if spec.watchdog_ms == Some(0) {
        return Err("watchdog: must be more than 0".into());
    }
    if let Some(s) = &spec.reload_signal {
        bound("reload_signal", valid_signal(s))?;
    }
    Ok(())
}

/// Reads a probe mapping: exactly one of `http`, `tcp`, `exec`, and its timing.
fn probe(f: &Field, ctx: &mut Ctx, health: bool) -> Option<Probe> {
    let Node::Map(entries) = &f.at.node else {
        f.problem(
            ctx,
            format!(
                "expected a probe (http: URL, tcp: HOST:PORT or exec: COMMAND, with interval, timeout…), found {}",
                describe(&f.at.node)
            ),
        );
        return None;
    };
    let mut p = Probe {
        kind: ProbeKind::Exec(String::new()),
        interval_ms: if health { 10_000 } else { 500 },
        timeout_ms: 1000,
        initial_delay_ms: 0,
        failures: 3,
    };
    let mut kinds = Vec::new();
    let mut ok = true;
    for (k, v) in entries {
        let key = k.node.scalar_text().unwrap_or_default();
        let item = f.item(&format!(".{key}"), v);
        match key.as_str() {
            "http" | "tcp" | "exec" => {
                let Some(text) = item.str(ctx) else {
                    ok = false;
                    continue;
                };
                let kind = match key.as_str() {
                    "http" => ProbeKind::Http(text.trim().to_string()),
                    "tcp" => ProbeKind::Tcp(text.trim().to_string()),
                    _ => ProbeKind::Exec(text),
                };
                if item.valid(ctx, valid_kind(&kind)).is_none() {
                    ok = false;
                }
                kinds.push(kind);
            }
            "interval" | "timeout" | "initial_delay" => match item.duration(ctx) {
                Some(0) if key != "initial_delay" => {
                    item.problem(ctx, "must be more than 0");
                    ok = false;
                }
                Some(ms) if key == "interval" => p.interval_ms = ms,
                Some(ms) if key == "timeout" => p.timeout_ms = ms,
                Some(ms) => p.initial_delay_ms = ms,
                None => ok = false,
            },
            "failures" if health => match item.u64_in(ctx, 1..=1000) {
                Some(n) => p.failures = n as u32,
                None => ok = false,
            },
            _ => {
                let known = if health {
                    "http, tcp, exec, interval, timeout, initial_delay, failures"
                } else {
                    "http, tcp, exec, interval, timeout, initial_delay"
                };
                ctx.problem_hint(
                    k,
                    &item.path,
                    "unknown probe setting",
                    format!("known: {known}"),
                );
                ok = false;
            }
        }
    }
    match kinds.len() {
        1 => p.kind = kinds.remove(0),
        0 => {
            f.problem(
                ctx,
                "a probe needs one of http: URL, tcp: HOST:PORT, exec: COMMAND",
            );
            return None;
        }
        _ => {
            f.problem(ctx, "a probe has exactly one of http, tcp, exec");
            return None;
        }
    }
    ok.then_some(p)
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("wait_ready")
        && let Some(b) = f.bool(ctx)
    {
        spec.wait_ready = b;
    }
    if let Some(f) = keys.get("ready_log_line")
        && let Some(r) = f.str(ctx)
        && f.valid(ctx, valid_regex(&r)).is_some()
    {
        spec.ready_log_line = Some(r);
    }
    if let Some(f) = keys.get("ready") {
        spec.ready = probe(&f, ctx, false);
    }
    if let Some(f) = keys.get("health") {
        spec.health = probe(&f, ctx, true);
    }
    if let Some(f) = keys.get("listen_timeout")
        && let Some(ms) = f.duration(ctx)
    {
        if ms == 0 {
            f.problem(ctx, "must be more than 0");
        } else {
            spec.listen_timeout_ms = Some(ms);
        }
    }
    if let Some(f) = keys.get("watchdog")
        && let Some(ms) = f.duration(ctx)
    {
        if ms == 0 {
            f.problem(ctx, "must be more than 0");
        } else {
            spec.watchdog_ms = Some(ms);
        }
    }
    if let Some(f) = keys.get("listen")
        && let Some(items) = f.items(ctx)
    {
        let mut out = Vec::new();
        for (text, item) in items {
            let Some(addr) = item.valid(ctx, ListenAddr::parse(&text)) else {
                continue;
            };
            let addr = match addr {
                // A relative socket path is the app's, like its other paths.
                ListenAddr::Unix(p) if !p.starts_with('$') => {
                    ListenAddr::Unix(spec.cwd.join(p).display().to_string())
                }
                other => other,
            };
            // A socket per instance: each instance's address must resolve and be valid.
            if addr.per_instance() {
                let file = spec.env_file_vars();
                let bad = (0..spec.instances).find_map(|i| {
                    let env = spec.environment_with(&file, i);
                    addr.resolve(&env).err().map(|e| (i, e))
                });
                if let Some((i, e)) = bad {
                    item.problem(ctx, format!("instance {i}: {e}"));
                    continue;
                }
            }
            out.push(addr);
        }
        spec.listen = out;
    }
    if let Some(f) = keys.get("reload_signal")
        && let Some(s) = f.str(ctx)
        && let Some(sig) = f.valid(ctx, valid_signal(&s))
    {
        spec.reload_signal = Some(sig);
    }
}
