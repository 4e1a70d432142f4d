//! `svctl reload TARGET|FILE`: replaces instances without downtime, one (or `--parallel N`) at
//! a time. With a file, its specs replace the running ones and its new apps start.

use super::{act_then_check, caller_env, file};
use crate::cli::args::ReloadArgs;
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::LoadOptions;
use crate::deploy::DeployKind;
use crate::ipc::Request;
use crate::ipc::client::Client;
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
        let env = std::sync::Arc::new(caller_env());
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
    let apps = super::start::specs_with_env(&mut client, &a.target, env, update_env).await?;
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
