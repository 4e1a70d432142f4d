//! `svctl reload TARGET|FILE`: replaces instances without downtime, one (or `--parallel N`) at
//! a time. With a file, its specs replace the running ones and its new apps start.

use super::{act_then_check, caller_env, file};
use crate::cli::args::ReloadArgs;
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::{self, LoadOptions};
use crate::deploy::DeployKind;
use crate::ipc::client::Client;
use crate::ipc::{Request, Response};
use crate::paths::Paths;

pub async fn reload(paths: &Paths, autostart: bool, a: &ReloadArgs) -> Result<(), Failure> {
    let update_env = a.update_env.then(caller_env);
    let parallel = a.parallel;
    if file::is_file_target(&a.target) {
        let meta = super::apply::meta(&a.target, a.env.clone(), DeployKind::Reload);
        let loaded = file::load(
            &a.target,
            &LoadOptions {
                env_name: a.env.clone(),
            },
        )?;
        for w in &loaded.warnings {
            output::warning(w);
        }
        let env = caller_env();
        let mut apps = loaded.apps;
        for s in &mut apps {
            s.base_env = env.clone();
        }
        let req = Request::Reload {
            target: None,
            apps,
            parallel,
            update_env: None,
            meta: Some(meta),
        };
        return act_then_check(paths, autostart, req).await;
    }
    let Some(env) = &a.env else {
        let req = Request::Reload {
            target: Some(a.target.clone()),
            apps: Vec::new(),
            parallel,
            update_env,
            meta: None,
        };
        return act_then_check(paths, autostart, req).await;
    };
    // --env NAME: the targeted apps' specs are read again from their files with env_NAME.
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::Describe {
        target: a.target.clone(),
    };
    let described = match client.request(&req).await? {
        Response::Describe { apps } => apps,
        other => return super::answer_error(other),
    };
    let opts = LoadOptions {
        env_name: Some(env.clone()),
    };
    let mut apps = Vec::new();
    for d in described {
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
        apps.push(spec);
    }
    drop(client);
    let req = Request::Reload {
        target: None,
        apps,
        parallel,
        update_env: None,
        meta: None,
    };
    act_then_check(paths, autostart, req).await
}
