use clap::Parser;
use std::process::ExitCode;
use svctl::cli::{self, Failure, args::Cli, args::Command, args::DaemonArgs, error::chain};
use svctl::paths::Paths;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Clap's own format: usage errors exit 2, `--help` and `--version` 0.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Daemon(ref a) => cli::finish(run_daemon(&cli, a)),
        _ => cli::run(cli),
    }
}

/// `svctl daemon`: the supervisor, in the foreground.
fn run_daemon(cli: &Cli, a: &DaemonArgs) -> Result<(), Failure> {
    let paths = Paths::resolve(cli.home.as_deref()).map_err(|e| Failure::failed(chain(&e)))?;
    let options = svctl::daemon::Options {
        metrics_addr: a.metrics_addr,
        metrics_allow_remote: a.metrics_allow_remote,
        hooks: svctl::config::hooks::Hooks {
            commands: a.hooks.iter().cloned().collect(),
            ..Default::default()
        },
    };
    for (on, command) in &a.hooks {
        if let Some(why) = svctl::config::hooks::command_problem(command) {
            svctl::cli::output::warning(format!("--hook {}: {why}", on.as_str()));
        }
    }
    svctl::daemon::run(&paths, &options)
        .map_err(|e| Failure::failed(format!("daemon: {}", chain(e.as_ref()))))
}
