//! Owns what an app is and what it runs: `name` (and `append_env_to_name`), `namespace`,
//! `script`, `cwd`, `args`, `interpreter`, `interpreter_args`; the one app-name rule
//! ([`name_problem`]); resolving the script against `cwd` and picking an interpreter from a
//! shebang or the extension, as PM2 does.

use super::field::bound;
use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use std::path::{Path, PathBuf};

/// Why a name cannot name an app (or a namespace), if it cannot. The only name rule: any
/// printable name PM2 accepts (spaces, dots, `/`, `@`…) except what would not work as a target.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("a name cannot be empty or only spaces")
    } else if name == "all" {
        Some("`all` is a target word and cannot be an app name")
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Some("a name cannot be only digits (a number reads as an id)")
    } else if name
        .rsplit_once(':')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("a name cannot end in `:` and digits (`web:1` reads as instance 1 of `web`)")
    } else if name.chars().any(char::is_control) {
        Some("a name cannot contain control characters (tabs, newlines…)")
    } else if name.chars().count() > 128 {
        Some("a name is at most 128 characters")
    } else {
        None
    }
}

fn valid_name(name: &str) -> Result<(), String> {
    name_problem(name).map_or(Ok(()), |why| Err(why.to_string()))
}

fn valid_script(script: &str) -> Result<(), String> {
    if script.trim().is_empty() {
        return Err("the script cannot be empty".into());
    }
    Ok(())
}

/// The bounds of this section on a finished spec (the name is checked first, by the caller).
pub(super) fn check(spec: &AppSpec) -> Result<(), String> {
    bound("script", valid_script(&spec.script))?;
    bound("namespace", valid_name(&spec.namespace))
}

/// What the rest of the app needs to know about its identity once every section is read.
pub(super) struct Identity {
    /// The script as written, when valid.
    script: Option<String>,
    name_ok: bool,
    interpreter_given: bool,
}

impl Identity {
    /// Both a script and a name: the app can be built.
    pub fn complete(&self) -> bool {
        self.script.is_some() && self.name_ok
    }

    /// The program: absolute when it names a file, kept for PATH lookup when a bare word; and
    /// its interpreter, when the file did not name one.
    pub fn resolve_program(&self, spec: &mut AppSpec) {
        let Some(s) = &self.script else { return };
        let candidate = spec.cwd.join(expand_home(s));
        if s.contains('/') || candidate.is_file() {
            spec.script = crate::paths::normalize(&candidate).display().to_string();
        }
        if self.interpreter_given {
            return;
        }
        let p = Path::new(&spec.script);
        if p.is_file() {
            match shebang(p) {
                Some(_) if is_executable(p) => {}
                Some(words) => {
                    // Not executable: run its shebang's interpreter, as PM2 does.
                    spec.interpreter = words.first().cloned();
                    let mut rest: Vec<String> = words[1..].to_vec();
                    rest.append(&mut spec.interpreter_args);
                    spec.interpreter_args = rest;
                }
                None => spec.interpreter = interpreter_for_extension(s).map(str::to_string),
            }
        } else if s.contains('/') {
            spec.interpreter = interpreter_for_extension(s).map(str::to_string);
        }
    }
}

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) -> Identity {
    // cwd first: other paths are relative to it.
    if let Some(c) = keys.get("cwd").and_then(|f| f.str(ctx)) {
        spec.cwd = crate::paths::normalize(&ctx.dir.join(expand_home(&c)));
    }
    let script = match keys.get("script") {
        Some(f) => f
            .str(ctx)
            .and_then(|s| f.valid(ctx, valid_script(&s)).map(|()| s)),
        None => {
            ctx.problem(
                keys.at,
                keys.path,
                "missing required field `script` (the program to run)",
            );
            None
        }
    };
    let name = match keys.get("name") {
        Some(f) => f
            .str(ctx)
            .and_then(|n| f.valid(ctx, valid_name(&n)).map(|()| n)),
        None => script.as_ref().and_then(|s| {
            Path::new(s)
                .file_stem()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        }),
    };
    if let Some(n) = &name {
        spec.name = n.clone();
        // PM2: `--env prod` with `append_env_to_name: true` names the app `web-prod`.
        if let Some(f) = keys.get("append_env_to_name")
            && f.bool(ctx) == Some(true)
            && let Some(env) = ctx.env_name
        {
            let full = format!("{n}-{env}");
            if f.valid(ctx, valid_name(&full)).is_some() {
                spec.name = full;
            }
        }
    }
    if let Some(s) = &script {
        spec.script = s.clone();
    }
    if let Some(f) = keys.get("namespace")
        && let Some(ns) = f.str(ctx)
        && f.valid(ctx, valid_name(&ns)).is_some()
    {
        spec.namespace = ns;
    }
    if let Some(f) = keys.get("args")
        && let Some(a) = f.args(ctx)
    {
        spec.args = a;
    }
    let mut interpreter_given = false;
    if let Some(f) = keys.get("interpreter")
        && let Some(i) = f.str(ctx)
    {
        interpreter_given = true;
        spec.interpreter = (i != "none" && !i.is_empty()).then_some(i);
    }
    if let Some(f) = keys.get("interpreter_args")
        && let Some(a) = f.args(ctx)
    {
        spec.interpreter_args = a;
    }
    Identity {
        script,
        name_ok: name.is_some(),
        interpreter_given,
    }
}

/// A path as written in the file, `~/` meaning the home directory.
pub(super) fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// PM2 picks an interpreter by extension when the script has none of its own.
fn interpreter_for_extension(script: &str) -> Option<&'static str> {
    let ext = Path::new(script).extension()?.to_str()?;
    Some(match ext {
        "js" | "cjs" | "mjs" => "node",
        "py" => "python3",
        "sh" => "bash",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "ts" => "ts-node",
        "coffee" => "coffee",
        "ls" => "lsc",
        _ => return None,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter named by a script's `#!` line, with its arguments.
fn shebang(p: &Path) -> Option<Vec<String>> {
    use std::io::Read;
    let mut buf = [0u8; 256];
    let n = std::fs::File::open(p).ok()?.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    let line = head.strip_prefix("#!")?.lines().next()?;
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}
