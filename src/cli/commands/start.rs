//! Owns `start` and `restart`: from an ecosystem file, a known app, or a program to run as a new
//! app (as `pm2 start app.sh`).

use super::{act, answer_error, caller_env, done_then_list, print_list};
use crate::cli::args::{RestartArgs, StartArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::{self, AppSpec, LoadOptions};
use crate::ipc::client::Client;
use crate::ipc::{ErrorKind, Request, Response};
use crate::paths::Paths;
use std::path::Path;

/// `restart`: a file restarts its apps with the file's settings; `--env` re-reads each app's
/// ecosystem file; `--update-env` sends this shell's environment.
pub async fn restart(paths: &Paths, autostart: bool, a: &RestartArgs) -> Result<(), Failure> {
    if config::is_ecosystem_path(Path::new(&a.target)) {
        let start = StartArgs {
            target: a.target.clone(),
            only: Vec::new(),
            env: a.env.clone(),
            name: None,
            instances: None,
            args: Vec::new(),
        };
        return self::start(paths, autostart, &start).await;
    }
    let update_env = a.update_env.then(caller_env);
    let Some(env) = &a.env else {
        let req = Request::Restart {
            target: a.target.clone(),
            update_env,
        };
        return act(paths, autostart, req).await;
    };
    // --env NAME: reload each targeted app from the file it came from.
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::Describe {
        target: a.target.clone(),
    };
    let apps = match client.request(&req).await? {
        Response::Describe { apps } => apps,
        other => return answer_error(other),
    };
    let opts = LoadOptions {
        env_name: Some(env.clone()),
    };
    let mut specs = Vec::new();
    for d in apps {
        let Some(source) = &d.spec.source else {
            return Err(Failure::usage(format!(
                "`{}` was not started from an ecosystem file, so it has no env_{env} block",
                d.spec.name
            )));
        };
        let loaded = config::load_file(source, &opts).map_err(|e| Failure::config(&e))?;
        let Some(mut spec) = loaded.apps.into_iter().find(|s| s.name == d.spec.name) else {
            return Err(Failure::usage(format!(
                "{}: no longer declares `{}`",
                source.display(),
                d.spec.name
            )));
        };
        spec.base_env = update_env.clone().unwrap_or(d.spec.base_env);
        specs.push(spec);
    }
    match client.request(&Request::Start { apps: specs }).await? {
        Response::Done { .. } => {
            output::line(format_args!(
                "[svctl] restarted {} with env_{env}",
                a.target
            ))?;
            print_list(&mut client, false).await
        }
        other => answer_error(other),
    }
}

pub async fn start(paths: &Paths, autostart: bool, a: &StartArgs) -> Result<(), Failure> {
    if config::is_ecosystem_path(Path::new(&a.target)) {
        return start_file(paths, autostart, a).await;
    }
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::StartTarget {
        target: a.target.clone(),
    };
    match client.request(&req).await? {
        Response::Error {
            kind: ErrorKind::NotFound,
            message,
            known,
        } => {
            // Not a known app: maybe a program to run as a new app, as `pm2 start app.sh`.
            let Some(spec) = program_spec(a)? else {
                return answer_error(Response::Error {
                    kind: ErrorKind::NotFound,
                    message: format!(
                        "{message}, and it is neither an ecosystem file nor a program found in PATH"
                    ),
                    known,
                });
            };
            let answer = client.request(&Request::Start { apps: vec![spec] }).await?;
            done_then_list(&mut client, answer).await
        }
        other => done_then_list(&mut client, other).await,
    }
}

/// `start FILE [--only A,B] [--env NAME]`.
async fn start_file(paths: &Paths, autostart: bool, a: &StartArgs) -> Result<(), Failure> {
    let opts = LoadOptions {
        env_name: a.env.clone(),
    };
    let loaded = config::load_file(Path::new(&a.target), &opts).map_err(|e| Failure::config(&e))?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    let mut apps = loaded.apps;
    if !a.only.is_empty() {
        let unknown: Vec<&str> = a
            .only
            .iter()
            .filter(|n| !apps.iter().any(|s| &s.name == *n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = apps.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::usage(format!(
                "--only names apps that {} does not have: {}",
                a.target,
                unknown.join(", ")
            ))
            .hint(format!("known: {}", names.join(", "))));
        }
        apps.retain(|s| a.only.contains(&s.name));
    }
    let env = caller_env();
    for s in &mut apps {
        s.base_env = env.clone();
    }
    act(paths, autostart, Request::Start { apps }).await
}

/// A new app for `svctl start PROGRAM [--name N] [-- ARGS]`, or `None` when PROGRAM is
/// neither a file nor a command in PATH.
fn program_spec(a: &StartArgs) -> Result<Option<AppSpec>, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::failed_by("reading the current directory", &e))?;
    let target = Path::new(&a.target);
    let script = if a.target.contains('/') || cwd.join(target).is_file() {
        let full = cwd.join(target);
        if !full.is_file() {
            return Ok(None);
        }
        full.display().to_string()
    } else if find_in_path(&a.target) {
        a.target.clone()
    } else {
        return Ok(None);
    };
    let stem = target
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("app")
        .to_string();
    let name = a.name.clone().unwrap_or(stem);
    if let Some(why) = crate::config::name_problem(&name) {
        return Err(
            Failure::usage(format!("`{name}` cannot be an app name: {why}"))
                .hint("pass --name NAME"),
        );
    }
    let mut spec = AppSpec::with_defaults(&name, &script, cwd);
    spec.args = a.args.clone();
    spec.instances = a.instances.unwrap_or(1).max(1);
    spec.base_env = caller_env();
    Ok(Some(spec))
}

fn find_in_path(cmd: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(cmd))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}
