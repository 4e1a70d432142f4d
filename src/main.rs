use clap::Parser;
use std::process::ExitCode;
use svctl::cli::{self, Failure, args::Cli, args::Command, error::chain};
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
        Command::Daemon => cli::finish(run_daemon(&cli)),
        _ => cli::run(cli),
    }
}

/// `svctl daemon`: the supervisor, in the foreground.
fn run_daemon(cli: &Cli) -> Result<(), Failure> {
    let paths = Paths::resolve(cli.home.as_deref()).map_err(|e| Failure::failed(chain(&e)))?;
    svctl::daemon::run(&paths)
        .map_err(|e| Failure::failed(format!("daemon: {}", chain(e.as_ref()))))
}
