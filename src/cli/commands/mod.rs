//! Owns the commands, one file per command or group (as pueue's `client/commands`), and what
//! the commands that talk to the daemon share: connecting, acting and then listing, and turning
//! an error answer into a failure.

pub mod control;
pub mod history;
pub mod local;
pub mod logs;
pub mod reload_logs;
pub mod start;

use super::args::{Cli, Command};
use super::error::Failure;
use super::{output, render};
use crate::ipc::client::Client;
use crate::ipc::{ErrorKind, Request, Response};
use crate::paths::Paths;

/// Runs a command that talks to the daemon.
pub async fn client_command(cli: &Cli, paths: &Paths) -> Result<(), Failure> {
    let autostart = !cli.no_autostart;
    match &cli.command {
        Command::Kill => control::kill(paths).await,
        Command::Ping => control::ping(paths, autostart).await,
        Command::List(a) => {
            let mut client = Client::connect_or_start(paths, autostart).await?;
            print_list(&mut client, a.json).await
        }
        Command::Describe(a) => control::describe(paths, autostart, a).await,
        Command::Stop(t) => {
            let target = t.target.clone();
            act(paths, autostart, Request::Stop { target }).await
        }
        Command::Restart(a) => start::restart(paths, autostart, a).await,
        Command::Delete(t) => {
            let target = t.target.clone();
            act(paths, autostart, Request::Delete { target }).await
        }
        Command::Start(a) => start::start(paths, autostart, a).await,
        Command::Logs(a) => logs::logs(paths, autostart, a).await,
        Command::Flush(a) => {
            let target = a.target.clone();
            act(paths, autostart, Request::Flush { target }).await
        }
        Command::ReloadLogs => reload_logs::reload_logs(paths).await,
        Command::Reset(t) => {
            let target = t.target.clone();
            act(paths, autostart, Request::Reset { target }).await
        }
        Command::Daemon
        | Command::Check(_)
        | Command::GenDocs { .. }
        | Command::Startup(_)
        | Command::Unstartup(_)
        | Command::History(_)
        | Command::Why(_) => Ok(()),
    }
}

/// Prints the process table (or its JSON), with the daemon's warnings on stderr.
pub async fn print_list(client: &mut Client, json: bool) -> Result<(), Failure> {
    match client.list().await? {
        Response::List {
            processes,
            warnings,
        } => {
            if json {
                return output::json(&processes);
            }
            for w in &warnings {
                output::warning(w);
            }
            if processes.is_empty() {
                output::line("no apps: start some with `svctl start ecosystem.yaml`")
            } else {
                output::line(render::process_table(&processes, output::color()))
            }
        }
        other => answer_error(other),
    }
}

/// Sends a request that changes processes, then prints the whole list as PM2 does.
pub async fn act(paths: &Paths, autostart: bool, req: Request) -> Result<(), Failure> {
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let answer = client.request(&req).await?;
    done_then_list(&mut client, answer).await
}

/// For a `Done` answer, prints its message and the list; anything else is a failure.
pub async fn done_then_list(client: &mut Client, answer: Response) -> Result<(), Failure> {
    match answer {
        Response::Done { message, .. } => {
            output::line(format_args!("[svctl] {message}"))?;
            print_list(client, false).await
        }
        other => answer_error(other),
    }
}

/// Maps an error or unexpected answer to a failure with the right exit code and a hint.
pub fn answer_error(resp: Response) -> Result<(), Failure> {
    match resp {
        Response::Error {
            kind,
            message,
            known,
        } => {
            let f = match kind {
                ErrorKind::BadRequest => Failure::usage(message),
                _ => Failure::failed(message),
            };
            Err(if known.is_empty() {
                f
            } else {
                f.hint(format!("known: {}", known.join(", ")))
            })
        }
        other => Err(Failure::failed(format!(
            "unexpected answer from the daemon: `{}`",
            answer_type(&other)
        ))),
    }
}

/// The protocol's name of an answer (its `type` tag).
fn answer_type(resp: &Response) -> String {
    serde_json::to_value(resp)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// This shell's environment, for apps that run with it.
pub fn caller_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
