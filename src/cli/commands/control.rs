//! Owns `kill`, `ping`, `describe` and PM2's `save`/`resurrect`: questions to the daemon, and
//! stopping it.

use super::answer_error;
use crate::cli::args::DescribeArgs;
use crate::cli::error::Failure;
use crate::cli::output::{self, Out};
use crate::cli::render;
use crate::ipc::client::{Client, ClientError};
use crate::ipc::{Request, Response};
use crate::paths::Paths;

/// `kill`: stops every app and the daemon, and returns once the daemon is gone.
pub async fn kill(paths: &Paths) -> Result<(), Failure> {
    let mut client = match Client::connect(paths).await {
        Ok(c) => c,
        Err(ClientError::NotRunning(_)) => {
            return output::line(format_args!(
                "no daemon is running for {}",
                paths.home.display()
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let pid = client.daemon_pid;
    match client.request(&Request::Kill).await? {
        Response::Killed { stopped } => {
            drop(client);
            // Wait even when stdout is gone: `kill` returns when the daemon is.
            let printed = output::line(format_args!(
                "stopped {stopped} process(es); daemon (pid {pid}) is exiting"
            ));
            wait_daemon_gone(pid).await;
            printed
        }
        other => answer_error(other),
    }
}

/// Waits (briefly) until the daemon process is gone, so `kill` returns when it is done.
async fn wait_daemon_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    while nix::sys::signal::kill(pid, None).is_ok() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// `ping`: only asks, so it never starts a daemon.
pub async fn ping(paths: &Paths) -> Result<(), Failure> {
    let mut client = super::connect_reading(paths).await?;
    match client.request(&Request::Ping).await? {
        Response::Pong {
            version,
            pid,
            uptime_ms,
            home,
            isolation,
            health,
        } => {
            output::line(format_args!(
                "pong: svctl daemon {version}, pid {pid}, up {}, home {home}\nruns kept in: {isolation}",
                render::duration_short(uptime_ms)
            ))?;
            output::line(format_args!(
                "history: {} row(s) waiting, {} dropped; daemon log: {} line(s) dropped",
                health.history_held, health.history_dropped, health.log_lines_dropped
            ))?;
            if let Some(why) = health.history_error {
                output::warning(format!("the history is not being written: {why}"));
            }
            if let Some(what) = health.history_recreated {
                output::warning(what);
            }
            Ok(())
        }
        other => answer_error(other),
    }
}

pub async fn describe(paths: &Paths, a: &DescribeArgs) -> Result<(), Failure> {
    let mut client = super::connect_reading(paths).await?;
    let req = Request::Describe {
        target: a.target.clone(),
    };
    let apps = match client.request(&req).await? {
        Response::Describe { apps } => apps,
        other => return answer_error(other),
    };
    if a.json {
        return output::json(&apps);
    }
    // The memory sparkline comes from the database; without it, describe still works.
    let reader = crate::store::Reader::open(&paths.db).ok();
    let since = crate::store::now_ms() - 3_600_000;
    let color = output::color();
    let now = crate::store::now_ms();
    let mut out = Out::lock();
    for d in &apps {
        let memory = reader
            .as_ref()
            .and_then(|r| r.memory(&d.spec.name, since).ok())
            .unwrap_or_default();
        let loops = super::loops::find(&paths.db, &d.instances, now);
        out.line(render::describe(d, &memory, &loops, color))?;
    }
    out.flush()
}

/// PM2's `save`/`dump`: the desired state is stored at every change, so there is nothing to do.
pub fn save() -> Result<(), Failure> {
    output::line(
        "[svctl] nothing to save: svctl stores which apps should run at every change, and the \
         next daemon brings them back by itself (after `svctl kill`, a crash or a reboot)",
    )
}

/// PM2's `resurrect`: a daemon brings back the apps that should run when it starts, so this
/// starts the daemon when it is not running, and says so.
pub async fn resurrect(paths: &Paths, autostart: bool) -> Result<(), Failure> {
    let mut client = Client::connect_or_start(paths, autostart).await?;
    output::line(format_args!(
        "[svctl] the daemon (pid {}, svctl {}) brings back the apps that should run by itself: there is no dump to load",
        client.daemon_pid, client.daemon_version
    ))?;
    super::print_list(&mut client, super::ListFormat::Table).await
}
