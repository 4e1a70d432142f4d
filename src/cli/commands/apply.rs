//! Owns deployments on the command line: `apply FILE` (plan, then apply), `rollback` (apply the
//! specs a deployment stored), and `deployments` (read from the database, like `history`).

use super::start::select_only;
use super::{ListFormat, answer_error, caller_env, file, print_list};
use crate::cli::args::{ApplyArgs, DeploymentsArgs, RollbackArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::cli::render::deploy as render;
use crate::config::{AppSpec, LoadOptions};
use crate::deploy::{DeployKind, DeploymentMeta, Plan, sha256_hex};
use crate::ipc::client::Client;
use crate::ipc::{Request, Response};
use crate::paths::Paths;
use crate::record::Status;
use crate::store::{Deployment, Reader};
use std::path::Path;

/// Who deploys which file (its absolute path and SHA-256; none for standard input).
pub fn meta(target: &str, env: Option<String>, kind: DeployKind) -> DeploymentMeta {
    let (file, sha256) = if file::is_stdin(target) {
        (None, None)
    } else {
        let p = Path::new(target);
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let sha = std::fs::read(p).ok().map(|b| sha256_hex(&b));
        (Some(abs.display().to_string()), sha)
    };
    DeploymentMeta {
        file,
        sha256,
        env,
        uid: nix::unistd::getuid().as_raw(),
        kind,
        rollback_of: None,
    }
}

pub async fn apply(paths: &Paths, autostart: bool, a: &ApplyArgs) -> Result<(), Failure> {
    let meta = meta(&a.file, a.env.clone(), DeployKind::Apply);
    let loaded = file::load(
        &a.file,
        &LoadOptions {
            env_name: a.env.clone(),
        },
    )?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    let mut apps = select_only(loaded.apps, &a.only, &a.file)?;
    let env = std::sync::Arc::new(caller_env());
    for s in &mut apps {
        s.base_env = env.clone();
    }
    let source = if file::is_stdin(&a.file) {
        "standard input"
    } else {
        &a.file
    };
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let step = Step {
        prune: a.prune,
        parallel: a.parallel,
        dry_run: a.dry_run,
    };
    carry_out(paths, &mut client, apps, source, meta, step).await
}

#[derive(Debug, Clone, Copy)]
struct Step {
    prune: bool,
    parallel: u32,
    dry_run: bool,
}

/// Asks for the plan and prints it; unless a dry run, applies it and checks the outcome.
async fn carry_out(
    paths: &Paths,
    client: &mut Client,
    apps: Vec<AppSpec>,
    source: &str,
    meta: DeploymentMeta,
    step: Step,
) -> Result<(), Failure> {
    let req = Request::Plan {
        apps: apps.clone(),
        prune: step.prune,
    };
    let plan = match client.request(&req).await? {
        Response::Plan { plan } => plan,
        other => return answer_error(other),
    };
    output::text(&render::plan_text(&plan, source))?;
    if step.dry_run {
        return output::line("dry run: nothing was changed");
    }
    let req = Request::Apply {
        apps: apps.clone(),
        prune: step.prune,
        parallel: step.parallel,
        meta,
    };
    match crate::cli::progress::request(paths, client, &req).await? {
        Response::Done { message, .. } => {
            output::line(format_args!("[svctl] {message}"))?;
            print_list(client, ListFormat::Table).await?;
        }
        other => return answer_error(other),
    }
    let processes = match client.list().await? {
        Response::List { processes, .. } => processes,
        other => return answer_error(other),
    };
    let problems = outcome(&apps, &plan, &processes);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "the apps did not end as the file says: {}",
        problems.join("; ")
    ))
    .hint("`svctl why APP` shows why an app exits; `svctl deployments` the record"))
}

/// What differs from the file after an apply: missing or errored instances, instances beyond
/// the count, pruned apps still there.
fn outcome(apps: &[AppSpec], plan: &Plan, procs: &[crate::ipc::ProcessInfo]) -> Vec<String> {
    let mut problems = Vec::new();
    for s in apps.iter().filter(|s| s.autostart) {
        let mine: Vec<_> = procs.iter().filter(|p| p.name == s.name).collect();
        for i in 0..s.instances {
            match mine.iter().find(|p| p.instance == i) {
                None => problems.push(format!("{}:{i} is missing", s.name)),
                Some(p) if p.status == Status::Errored => {
                    problems.push(format!("{}:{i} is errored", s.name));
                }
                Some(_) => {}
            }
        }
        if mine.iter().any(|p| p.instance >= s.instances) {
            problems.push(format!(
                "{} has more than {} instance(s)",
                s.name, s.instances
            ));
        }
    }
    for name in plan.removed() {
        if procs.iter().any(|p| p.name == name) {
            problems.push(format!("{name} is still there"));
        }
    }
    problems
}

fn open(paths: &Paths) -> Result<Reader, Failure> {
    if !paths.db.exists() {
        return Err(Failure::failed(format!(
            "no deployments yet in {}",
            paths.home.display()
        )));
    }
    Reader::open(&paths.db)
        .map_err(|e| Failure::failed_by(format_args!("opening {}", paths.db.display()), &e))
}

pub fn deployments(paths: &Paths, a: &DeploymentsArgs) -> Result<(), Failure> {
    if !paths.db.exists() {
        return if a.json {
            output::line("[]")
        } else {
            output::line("no deployments yet")
        };
    }
    let rows = open(paths)?
        .deployments(a.app.as_deref(), None, a.limit)
        .map_err(|e| Failure::failed_by("reading the deployments", &e))?;
    if a.json {
        return output::json(&rows);
    }
    if rows.is_empty() {
        return output::line("no deployments yet: `svctl apply FILE` makes one");
    }
    output::line(render::deployments_table(&rows))
}

/// The deployment a rollback applies again: `--to`, or the one before the newest that
/// changed these apps (any app when none is named).
fn rollback_target(reader: &Reader, a: &RollbackArgs) -> Result<Deployment, Failure> {
    let read = |e| Failure::failed_by("reading the deployments", &e);
    if let Some(id) = a.to {
        return reader
            .deployment(id)
            .map_err(read)?
            .ok_or_else(|| Failure::failed(format!("no deployment #{id}")));
    }
    let mut rows = Vec::new();
    if a.apps.is_empty() {
        rows = reader.deployments(None, None, 2).map_err(read)?;
    } else {
        for d in reader.deployments(None, None, usize::MAX).map_err(read)? {
            if a.apps.iter().any(|n| d.touches(n)) {
                rows.push(d);
            }
            if rows.len() == 2 {
                break;
            }
        }
    }
    rows.into_iter().nth(1).ok_or_else(|| {
        Failure::failed("there is no deployment before the newest one to roll back to")
            .hint("`svctl deployments` lists them; `--to ID` picks one")
    })
}

pub async fn rollback(paths: &Paths, autostart: bool, a: &RollbackArgs) -> Result<(), Failure> {
    let target = rollback_target(&open(paths)?, a)?;
    let mut apps = target.specs.clone();
    if !a.apps.is_empty() {
        if let Some(n) = a.apps.iter().find(|n| !apps.iter().any(|s| &s.name == *n)) {
            return Err(Failure::failed(format!(
                "deployment #{} did not apply an app called `{n}`",
                target.id
            )));
        }
        apps.retain(|s| a.apps.contains(&s.name));
    }
    let meta = DeploymentMeta {
        file: target.file.clone(),
        sha256: target.sha256.clone(),
        env: target.env.clone(),
        uid: nix::unistd::getuid().as_raw(),
        kind: DeployKind::Rollback,
        rollback_of: Some(target.id),
    };
    let source = format!("deployment #{}", target.id);
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let step = Step {
        prune: false,
        parallel: a.parallel,
        dry_run: a.dry_run,
    };
    carry_out(paths, &mut client, apps, &source, meta, step).await
}
