//! Owns the commands, one file per command or group (as pueue's `client/commands`), and what
//! the commands that talk to the daemon share: connecting, acting and then listing, and turning
//! an error answer into a failure.

pub mod apply;
pub mod console;
pub mod control;
pub mod events;
pub mod file;
pub mod history;
pub mod hosts;
pub mod local;
pub mod logs;
pub mod loops;
pub mod program;
pub mod reload;
pub mod reload_logs;
pub mod start;

use super::args::{Cli, Command};
use super::error::Failure;
use super::{output, render};
use crate::ipc::client::{Client, ClientError, RawList};
use crate::ipc::{ErrorKind, ProcessInfo, Request, Response};
use crate::paths::Paths;
use crate::record::Status;
use file::Action;

/// Runs a command that talks to the daemon. Commands that act start it when it is not running
/// (unless `--no-autostart`); commands that only read never do.
pub async fn client_command(cli: &Cli, paths: &Paths) -> Result<(), Failure> {
    let autostart = !cli.no_autostart;
    match &cli.command {
        Command::Kill => control::kill(paths).await,
        Command::Ping => control::ping(paths).await,
        Command::List(a) => {
            let mut client = connect_reading(paths).await?;
            if a.json {
                print_list(&mut client, ListFormat::Pretty).await
            } else {
                print_table(&mut client, Some(paths)).await
            }
        }
        Command::Jlist => print_list(&mut connect_reading(paths).await?, ListFormat::Line).await,
        Command::Prettylist => {
            print_list(&mut connect_reading(paths).await?, ListFormat::Pretty).await
        }
        Command::Describe(a) => control::describe(paths, a).await,
        Command::Stop(t) => on_target(paths, autostart, &t.target, Action::Stop).await,
        Command::Restart(a) => start::restart(paths, autostart, a).await,
        Command::Reload(a) => reload::reload(paths, autostart, a).await,
        Command::Delete(t) => on_target(paths, autostart, &t.target, Action::Delete).await,
        Command::Start(a) => start::start(paths, autostart, a).await,
        Command::Logs(a) => logs::logs(paths, a).await,
        Command::Events(a) => events::events(paths, a).await,
        Command::Metrics => events::metrics(paths).await,
        Command::Flush(a) => {
            let target = a.target.clone();
            act(paths, autostart, Request::Flush { target }).await
        }
        Command::ReloadLogs => reload_logs::reload_logs(paths).await,
        Command::Reset(t) => on_target(paths, autostart, &t.target, Action::Reset).await,
        Command::Resurrect => control::resurrect(paths, autostart).await,
        Command::Apply(a) => apply::apply(paths, autostart, a).await,
        Command::Rollback(a) => apply::rollback(paths, autostart, a).await,
        Command::Scale(a) => console::scale(paths, autostart, a).await,
        Command::Signal(a) => console::signal(paths, a).await,
        Command::Env(a) => console::env(paths, a).await,
        Command::Bridge => console::bridge(paths).await,
        Command::Monit => crate::cli::monit::run(paths).await,
        Command::Daemon(_)
        | Command::Check(_)
        | Command::GenDocs { .. }
        | Command::Startup(_)
        | Command::Unstartup(_)
        | Command::History(_)
        | Command::Deployments(_)
        | Command::Why(_)
        | Command::Report(_)
        | Command::Save => Ok(()),
    }
}

/// `stop`, `delete` and `reset` of a target, or of the apps of an ecosystem file.
async fn on_target(
    paths: &Paths,
    autostart: bool,
    target: &str,
    action: Action,
) -> Result<(), Failure> {
    if file::is_file_target(target) {
        return file::act_on_file(paths, autostart, target, action).await;
    }
    let target = target.to_string();
    let req = match action {
        Action::Stop => Request::Stop { target },
        Action::Delete => Request::Delete { target },
        Action::Reset => Request::Reset { target },
    };
    act(paths, autostart, req).await
}

/// Connects for a command that only reads: a daemon that is not running is not started (it
/// would bring back every app that should run), it is said.
pub async fn connect_reading(paths: &Paths) -> Result<Client, Failure> {
    match Client::connect(paths).await {
        Ok(c) => Ok(c),
        Err(ClientError::NotRunning(_)) => Err(not_running(paths)),
        Err(e) => Err(e.into()),
    }
}

/// `the daemon is not running`, with what would start it and what the database knows.
fn not_running(paths: &Paths) -> Failure {
    let waiting = crate::store::Reader::open(&paths.db)
        .ok()
        .and_then(|r| {
            r.query_text("SELECT name FROM apps WHERE should_run = 1 ORDER BY position")
                .ok()
        })
        .map(|rows| rows.into_iter().filter_map(|r| r.into_iter().next()))
        .map(|names| names.collect::<Vec<_>>())
        .unwrap_or_default();
    let comes_back = if waiting.is_empty() {
        String::new()
    } else {
        format!(" and brings back {}", waiting.join(", "))
    };
    Failure::failed("the daemon is not running").hint(format!(
        "`svctl start FILE|APP|PROGRAM` starts it{comes_back}; `svctl history` and `svctl why` read the database without it"
    ))
}

/// How `print_list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    /// Indented JSON (`list --json`, `prettylist`).
    Pretty,
    /// JSON on one line (`jlist`).
    Line,
}

/// Prints the process table (or its JSON), with the daemon's warnings on stderr.
pub async fn print_list(client: &mut Client, format: ListFormat) -> Result<(), Failure> {
    match format {
        ListFormat::Table => print_table(client, None).await,
        ListFormat::Pretty | ListFormat::Line => match client.list_raw().await? {
            RawList::Processes(json) if format == ListFormat::Pretty => {
                output::line(output::indent_json(&json))
            }
            RawList::Processes(json) => output::line(json),
            RawList::Answer(other) => answer_error(other),
        },
    }
}

/// The process table with the daemon's warnings on stderr; with `paths` (`svctl list`), the
/// instances that crash-loop are flagged from the database, with a line per app under it.
async fn print_table(client: &mut Client, paths: Option<&Paths>) -> Result<(), Failure> {
    let (processes, warnings) = match client.list().await? {
        Response::List {
            processes,
            warnings,
        } => (processes, warnings),
        other => return answer_error(other),
    };
    for w in &warnings {
        output::warning(w);
    }
    if processes.is_empty() {
        return output::line("no apps: start some with `svctl start ecosystem.yaml`");
    }
    // Another host's crash loops are in its own database, not in this one.
    let paths = paths.filter(|_| crate::ipc::client::remote().is_none());
    let loops = paths
        .map(|p| loops::find(&p.db, &processes, crate::store::now_ms()))
        .unwrap_or_default();
    let mut out = output::Out::lock();
    out.line(render::process_table(&processes, output::color(), &loops))?;
    for l in render::loop_lines(&loops) {
        out.line(l)?;
    }
    out.flush()
}

/// Sends a request that changes processes, then prints the whole list as PM2 does.
pub async fn act(paths: &Paths, autostart: bool, req: Request) -> Result<(), Failure> {
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let answer = crate::cli::progress::request(paths, &mut client, &req).await?;
    done_then_list(&mut client, answer).await.map(|_| ())
}

/// [`act`] for a request that starts processes: a failure when none of them runs afterwards.
pub async fn act_then_check(paths: &Paths, autostart: bool, req: Request) -> Result<(), Failure> {
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let answer = crate::cli::progress::request(paths, &mut client, &req).await?;
    let processes = done_then_list(&mut client, answer).await?;
    check_started(&processes)
}

/// For a `Done` answer, prints its message and the list, and returns the processes it names;
/// anything else is a failure.
pub async fn done_then_list(
    client: &mut Client,
    answer: Response,
) -> Result<Vec<ProcessInfo>, Failure> {
    match answer {
        Response::Done { message, processes } => {
            output::line(format_args!("[svctl] {message}"))?;
            print_list(client, ListFormat::Table).await?;
            Ok(processes)
        }
        other => answer_error(other).map(|()| Vec::new()),
    }
}

/// After a start or restart: when it left every instance errored (a program that cannot be
/// executed…), a failure that says why, with the OS error of each.
pub fn check_started(processes: &[ProcessInfo]) -> Result<(), Failure> {
    if processes.is_empty() || processes.iter().any(|p| p.status != Status::Errored) {
        return Ok(());
    }
    // Instances that failed the same way are named together.
    let mut reasons: Vec<(String, Vec<String>)> = Vec::new();
    for p in processes {
        let why = match &p.last_exit {
            Some(e) => e.error.clone().unwrap_or_else(|| render::last_exit(e)),
            None => "errored".to_string(),
        };
        let who = format!("{}:{}", p.name, p.instance);
        match reasons.iter_mut().find(|(w, _)| *w == why) {
            Some((_, names)) => names.push(who),
            None => reasons.push((why, vec![who])),
        }
    }
    let text: Vec<String> = reasons
        .into_iter()
        .map(|(why, names)| format!("{} could not start: {why}", names.join(", ")))
        .collect();
    Err(
        Failure::failed(format!("nothing is running: {}", text.join("; "))).hint(
            "`svctl describe APP` shows the command; `svctl why APP` the history of its exits",
        ),
    )
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
            other.type_name()
        ))),
    }
}

/// This shell's environment, for apps that run with it.
pub fn caller_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
