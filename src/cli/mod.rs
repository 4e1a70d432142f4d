//! Owns the thin client: parsing the command line, talking to the daemon (only through
//! `crate::ipc`), printing results, and mapping failures to exit codes (0 ok, 1 refused or
//! failed, 2 usage or configuration; see `error`).
//!
//! Layout: `args` (clap definitions), `commands` (one file per command or group), `output`
//! (stdout, where a closed pipe is success, and warnings), `error` (the one error format),
//! `render` (all human formatting), `report` (incident reports, read from the database), `startup` (systemd units), `docs` (man page and
//! completions).

pub mod args;
pub(crate) mod commands;
pub mod docs;
pub mod error;
pub mod monit;
pub mod output;
pub mod progress;
pub mod render;
pub mod report;
pub mod startup;

pub use error::Failure;

use crate::paths::Paths;
use args::{Cli, Command};
use std::process::ExitCode;

/// Runs a client command; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    finish(dispatch(&cli))
}

/// Prints a failure (if any) once, and maps the outcome to the exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            output::report(&f);
            f.exit_code()
        }
    }
}

fn dispatch(cli: &Cli) -> Result<(), Failure> {
    let hosts = commands::hosts::parse(cli)?;
    if !hosts.is_empty() {
        return dispatch_remote(cli, hosts);
    }
    match &cli.command {
        // `main` runs the daemon; the client never does.
        Command::Daemon(_) => Ok(()),
        Command::GenDocs { dir } => commands::local::gen_docs(dir),
        Command::Check(a) => commands::local::check(a),
        Command::History(a) => commands::history::history(&paths(cli)?, a),
        Command::Deployments(a) => commands::apply::deployments(&paths(cli)?, a),
        Command::Why(a) => commands::history::why(&paths(cli)?, a),
        Command::Report(a) => report::report(&paths(cli)?, a),
        Command::Startup(a) => commands::local::startup(&paths(cli)?, a),
        Command::Unstartup(a) => commands::local::unstartup(&paths(cli)?, a),
        Command::Save => commands::control::save(),
        _ => {
            let paths = paths(cli)?;
            runtime()?.block_on(commands::client_command(cli, &paths))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed_by("starting the async runtime", &e))
}

/// `-H`: the command goes to other hosts' daemons (or, for the commands that read a database,
/// to their svctl) over ssh.
fn dispatch_remote(cli: &Cli, mut hosts: Vec<commands::hosts::Host>) -> Result<(), Failure> {
    use commands::hosts;
    let name = hosts::remote_args()
        .into_iter()
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if let Some(c) = hosts::local_only(&cli.command) {
        return Err(Failure::usage(format!(
            "`{c}` works on this host only, not with -H/SVCTL_HOST"
        )));
    }
    if hosts.len() > 1 && !hosts::allows_many(&cli.command) {
        return Err(Failure::usage(format!(
            "`{name}` takes one host; only list, why and history take several -H"
        )));
    }
    let rt = runtime()?;
    match &cli.command {
        Command::History(a) => rt.block_on(hosts::run_remotely(&hosts, a.json, !a.json)),
        Command::Why(a) => rt.block_on(hosts::run_remotely(&hosts, a.json, false)),
        Command::Deployments(a) => rt.block_on(hosts::run_remotely(&hosts, a.json, false)),
        Command::List(a) if hosts.len() > 1 => rt.block_on(hosts::list(&hosts, a.json)),
        _ => {
            let Some(host) = hosts.pop() else {
                return Ok(());
            };
            crate::ipc::client::use_remote(host);
            // Local paths still name where a local answer would be; nothing is read from them
            // for a remote command but the socket, which the remote host replaces.
            let paths = paths(cli)?;
            rt.block_on(commands::client_command(cli, &paths))
        }
    }
}

fn paths(cli: &Cli) -> Result<Paths, Failure> {
    Paths::resolve(cli.home.as_deref()).map_err(|e| Failure::usage(error::chain(&e)))
}
