use clap::Parser;
use svctl::cli::{self, args::Cli, args::Command};
use svctl::paths::Paths;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Daemon => match Paths::resolve(cli.home.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|p| svctl::daemon::run(&p))
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("svctl daemon: {e:#}");
                1
            }
        },
        _ => cli::run(cli),
    };
    std::process::exit(code);
}
