//! Owns `start` and `restart`: from an ecosystem file (or standard input), a known app, or a
//! program to run as a new app (as `pm2 start app.sh`, see `program`).

use super::ListFormat;
use super::{act_then_check, answer_error, caller_env, check_started, file, print_list, program};
use crate::cli::args::{RestartArgs, StartArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::{self, LoadOptions};
use crate::deploy::DeployKind;
use crate::ipc::client::Client;
use crate::ipc::{ErrorKind, Request, Response};
use crate::paths::Paths;

/// `restart`: a file restarts its apps with the file's settings; `--env` re-reads each app's
/// ecosystem file; `--update-env` sends this shell's environment.
pub async fn restart(paths: &Paths, autostart: bool, a: &RestartArgs) -> Result<(), Failure> {
    if file::is_file_target(&a.target) {
        return start_file(paths, autostart, &a.target, &[], a.env.clone()).await;
    }
    let update_env = a.update_env.then(caller_env);
    let Some(env) = &a.env else {
        let req = Request::Restart {
            target: a.target.clone(),
            update_env,
        };
        return act_then_check(paths, autostart, req).await;
    };
    // --env NAME: reload each targeted app from the file it came from.
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let specs = specs_with_env(&mut client, &a.target, env, update_env).await?;
    match client
        .request(&Request::Start {
            apps: specs,
            meta: None,
        })
        .await?
    {
        Response::Done { processes, .. } => {
            output::line(format_args!(
                "[svctl] restarted {} with env_{env}",
                a.target
            ))?;
            print_list(&mut client, ListFormat::Table).await?;
            check_started(&processes)
        }
        other => answer_error(other),
    }
}

/// The specs of the target's apps read again from their ecosystem files with `env_NAME`
/// (`restart`/`reload --env NAME`); `update_env` replaces their caller environment.
pub async fn specs_with_env(
    client: &mut Client,
    target: &str,
    env: &str,
    update_env: Option<std::collections::BTreeMap<String, String>>,
) -> Result<Vec<crate::config::AppSpec>, Failure> {
    let req = Request::Describe {
        target: target.to_string(),
    };
    let apps = match client.request(&req).await? {
        Response::Describe { apps } => apps,
        other => return answer_error(other).map(|()| Vec::new()),
    };
    let opts = LoadOptions {
        env_name: Some(env.to_string()),
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
        spec.base_env = update_env
            .clone()
            .map_or(d.spec.base_env, std::sync::Arc::new);
        specs.push(spec);
    }
    Ok(specs)
}

pub async fn start(paths: &Paths, autostart: bool, a: &StartArgs) -> Result<(), Failure> {
    if file::is_file_target(&a.target) {
        if a.app.any() || !a.args.is_empty() || a.force {
            return Err(Failure::usage(format!(
                "the per-app flags and `--` arguments go with a program; {} sets its apps itself",
                a.target
            ))
            .hint("change the file, or `svctl check` it to see what each app runs"));
        }
        return start_file(paths, autostart, &a.target, &a.only, a.env.clone()).await;
    }
    if !a.only.is_empty() {
        return Err(Failure::usage(format!(
            "--only picks apps of an ecosystem file, and `{}` is not one",
            a.target
        )));
    }
    // With per-app flags the target is a program; without, a known app comes first.
    let program_only = a.app.any() || !a.args.is_empty() || a.env.is_some() || a.force;
    if program_only {
        // Checked before a daemon is started for it.
        let Some(spec) = program::spec(a)? else {
            return Err(Failure::failed(format!(
                "`{}` is neither an ecosystem file nor a program found in PATH",
                a.target
            )));
        };
        let mut client = Client::connect_or_start(paths, autostart).await?;
        return program::start(&mut client, spec, a.force).await;
    }
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::StartTarget {
        target: a.target.clone(),
    };
    match crate::cli::progress::request(paths, &mut client, &req).await? {
        Response::Error {
            kind: ErrorKind::NotFound,
            message,
            known,
        } => {
            let Some(spec) = program::spec(a)? else {
                return answer_error(Response::Error {
                    kind: ErrorKind::NotFound,
                    message: format!(
                        "{message}, and it is neither an ecosystem file nor a program found in PATH"
                    ),
                    known,
                });
            };
            program::start(&mut client, spec, a.force).await
        }
        Response::Done { message, processes } => {
            output::line(format_args!("[svctl] {message}"))?;
            print_list(&mut client, ListFormat::Table).await?;
            check_started(&processes)
        }
        other => answer_error(other),
    }
}

/// `start FILE [--only A,B] [--env NAME]` (and `restart FILE`); `-` is standard input.
async fn start_file(
    paths: &Paths,
    autostart: bool,
    target: &str,
    only: &[String],
    env: Option<String>,
) -> Result<(), Failure> {
    let meta = super::apply::meta(target, env.clone(), DeployKind::Start);
    let loaded = file::load(target, &LoadOptions { env_name: env })?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    let mut apps = select_only(loaded.apps, only, target)?;
    let env = std::sync::Arc::new(caller_env());
    for s in &mut apps {
        s.base_env = env.clone();
    }
    let meta = Some(meta);
    act_then_check(paths, autostart, Request::Start { apps, meta }).await
}

/// The apps of a file `--only` names (all without it); a name the file lacks is an error.
pub fn select_only(
    apps: Vec<crate::config::AppSpec>,
    only: &[String],
    target: &str,
) -> Result<Vec<crate::config::AppSpec>, Failure> {
    let mut apps = apps;
    if !only.is_empty() {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|n| !apps.iter().any(|s| &s.name == *n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = apps.iter().map(|s| s.name.as_str()).collect();
            return Err(Failure::usage(format!(
                "--only names apps that {target} does not have: {}",
                unknown.join(", ")
            ))
            .hint(format!("known: {}", names.join(", "))));
        }
        apps.retain(|s| only.contains(&s.name));
    }
    Ok(apps)
}
