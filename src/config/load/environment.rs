//! Owns an app's variables: `env`, the `env_<name>` blocks (`--env NAME` merges one over `env`),
//! `env_file` (kept by path, read again at each spawn and merged under `env`), and `port` (PM2's shorthand for `PORT`). Values become
//! strings as PM2 makes them; lists and mappings become their JSON text.

use super::field::{Field, bound};
use super::identity::expand_home;
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;
use std::collections::BTreeMap;

/// The bound of a variable name: what `execve` can carry.
fn valid_var_name(key: &str) -> Result<(), String> {
    if key.is_empty() {
        Err("an environment variable needs a name".into())
    } else if key.contains(['=', '\0']) {
        Err("a variable name cannot contain `=` or NUL".into())
    } else {
        Ok(())
    }
}

pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    for (field, vars) in [
        ("env", &spec.env),
        ("base_env", &*spec.base_env),
        ("env_file", &spec.env_file_env),
    ] {
        for key in vars.keys() {
            bound(&format!("{field}.{key}"), valid_var_name(key))?;
        }
    }
    Ok(())
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    if let Some(f) = keys.get("env")
        && let Some(env) = env_map(&f, ctx)
    {
        spec.env = env;
    }
    if let Some(f) = keys.get("port")
        && let Some(p) = f.u64_in(ctx, 1..=65535)
    {
        spec.env.insert("PORT".into(), p.to_string());
    }
    for (env, at) in &keys.env_blocks {
        let f = Field {
            path: format!("{}.env_{env}", keys.path),
            at,
        };
        let Some(map) = env_map(&f, ctx) else {
            continue;
        };
        ctx.env_blocks_seen.insert(env.clone());
        if ctx.env_name == Some(env.as_str()) {
            spec.env.extend(map);
            spec.env_name = Some(env.clone());
        }
    }
    if let Some(f) = keys.get("env_file")
        && let Some(p) = f.str(ctx)
    {
        // Read now to report a missing or malformed file at once; the daemon reads it again
        // at every spawn, so an edited `.env` applies at the next start.
        let file = crate::paths::normalize(&spec.cwd.join(expand_home(&p)));
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_env_file(&text) {
                Ok(vars) => {
                    spec.env_file_env = vars;
                    spec.env_file = Some(file);
                }
                Err(e) => f.problem(ctx, format!("{}: {e}", file.display())),
            },
            Err(e) => f.problem(ctx, format!("cannot read {}: {e}", file.display())),
        }
    }
}

/// Reads a `.env` file: KEY=VALUE lines, `export ` allowed, quotes stripped, comments skipped.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE, found `{raw}`", n + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: `{k}` is not a variable name", n + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // An unquoted value ends at an inline comment.
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn env_map(f: &Field, ctx: &mut Ctx) -> Option<BTreeMap<String, String>> {
    match &f.at.node {
        Node::Map(entries) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = k.node.scalar_text().unwrap_or_default();
                if let Err(e) = valid_var_name(&key) {
                    let path = if key.is_empty() {
                        f.path.clone()
                    } else {
                        format!("{}.{key}", f.path)
                    };
                    ctx.problem(k, &path, e);
                    continue;
                }
                let value = match &v.node {
                    Node::Seq(_) | Node::Map(_) => v.node.to_json().to_string(),
                    other => other.scalar_text().unwrap_or_default(),
                };
                out.insert(key, value);
            }
            Some(out)
        }
        Node::Null => Some(BTreeMap::new()),
        other => {
            f.problem(
                ctx,
                format!("expected a mapping of variables, found {}", other.kind()),
            );
            None
        }
    }
}
