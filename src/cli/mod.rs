//! Owns the thin client: parsing the command line, talking to the daemon, printing results,
//! and mapping failures to exit codes (0 ok, 1 refused or failed, 2 usage or configuration).

pub mod args;
pub mod check;
pub mod docs;
pub mod history;
pub mod render;
pub mod startup;

use crate::config::{self, AppSpec, LoadOptions};
use crate::ipc::client::{Client, ClientError};
use crate::ipc::{ErrorKind, Request, Response};
use crate::paths::Paths;
use args::{Cli, Command, StartArgs};
use std::io::IsTerminal;
use std::path::Path;

/// A failure with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::failed(e.to_string())
    }
}

/// Runs a client command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let result = match &cli.command {
        Command::GenDocs { dir } => {
            docs::write_all(dir).map_err(|e| Failure::failed(e.to_string()))
        }
        Command::Check(a) => check(&a.file, a.env.as_deref(), a.json),
        Command::History(a) => Paths::resolve(cli.home.as_deref())
            .map_err(|e| Failure::usage(e.to_string()))
            .and_then(|p| history::history(&p, a)),
        Command::Why(a) => Paths::resolve(cli.home.as_deref())
            .map_err(|e| Failure::usage(e.to_string()))
            .and_then(|p| history::why(&p, a)),
        Command::Startup(a) => startup_cmd(&cli, a.user, a.install, a.unit_dir.as_deref()),
        Command::Unstartup(a) => unstartup_cmd(&cli, a.user, a.unit_dir.as_deref()),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::failed(format!("starting the async runtime: {e}")))
            .and_then(|rt| rt.block_on(client_command(&cli))),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("svctl: {}", f.message);
            f.code
        }
    }
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

async fn client_command(cli: &Cli) -> Result<(), Failure> {
    let paths = Paths::resolve(cli.home.as_deref()).map_err(|e| Failure::usage(e.to_string()))?;
    let autostart = !cli.no_autostart;
    match &cli.command {
        Command::Kill => {
            let mut client = match Client::connect(&paths).await {
                Ok(c) => c,
                Err(ClientError::NotRunning(_)) => {
                    println!("no daemon is running for {}", paths.home.display());
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let pid = client.daemon_pid;
            match client.request(&Request::Kill).await? {
                Response::Killed { stopped } => {
                    drop(client);
                    println!("stopped {stopped} process(es); daemon (pid {pid}) is exiting");
                    wait_daemon_gone(pid).await;
                    Ok(())
                }
                other => answer_error(other),
            }
        }
        Command::Ping => {
            let mut client = Client::connect_or_start(&paths, autostart).await?;
            match client.request(&Request::Ping).await? {
                Response::Pong {
                    version,
                    pid,
                    uptime_ms,
                    home,
                } => {
                    println!(
                        "pong: svctl daemon {version}, pid {pid}, up {}, home {home}",
                        render::duration_short(uptime_ms)
                    );
                    Ok(())
                }
                other => answer_error(other),
            }
        }
        Command::List(a) => {
            let mut client = Client::connect_or_start(&paths, autostart).await?;
            print_list(&mut client, a.json).await
        }
        Command::Describe(a) => {
            let mut client = Client::connect_or_start(&paths, autostart).await?;
            let req = Request::Describe {
                target: a.target.clone(),
            };
            match client.request(&req).await? {
                Response::Describe { apps } => {
                    if a.json {
                        print_json(&apps)?;
                    } else {
                        let reader = crate::store::Reader::open(&paths.db).ok();
                        let since = crate::store::now_ms() - 3_600_000;
                        for d in &apps {
                            let memory = reader
                                .as_ref()
                                .and_then(|r| r.memory(&d.spec.name, since).ok())
                                .unwrap_or_default();
                            println!("{}", render::describe(d, &memory, color()));
                        }
                    }
                    Ok(())
                }
                other => answer_error(other),
            }
        }
        Command::Stop(t) => {
            act(
                &paths,
                autostart,
                Request::Stop {
                    target: t.target.clone(),
                },
            )
            .await
        }
        Command::Restart(a) => restart(&paths, autostart, a).await,
        Command::Delete(t) => {
            act(
                &paths,
                autostart,
                Request::Delete {
                    target: t.target.clone(),
                },
            )
            .await
        }
        Command::Start(a) => start(&paths, autostart, a).await,
        Command::Logs(a) => logs(&paths, autostart, a).await,
        Command::Flush(a) => {
            act(
                &paths,
                autostart,
                Request::Flush {
                    target: a.target.clone(),
                },
            )
            .await
        }
        Command::Reset(t) => {
            act(
                &paths,
                autostart,
                Request::Reset {
                    target: t.target.clone(),
                },
            )
            .await
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

/// Waits (briefly) until the daemon process is gone, so `kill` returns when it is done.
async fn wait_daemon_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    while nix::sys::signal::kill(pid, None).is_ok() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Failure::failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

async fn print_list(client: &mut Client, json: bool) -> Result<(), Failure> {
    match client.list().await? {
        Response::List {
            processes,
            warnings,
        } => {
            if json {
                return print_json(&processes);
            }
            for w in &warnings {
                eprintln!("svctl: warning: {w}");
            }
            if processes.is_empty() {
                println!("no apps: start some with `svctl start ecosystem.yaml`");
            } else {
                println!("{}", render::process_table(&processes, color()));
            }
            Ok(())
        }
        other => answer_error(other),
    }
}

/// Sends a request that changes processes, then prints the whole list as PM2 does.
async fn act(paths: &Paths, autostart: bool, req: Request) -> Result<(), Failure> {
    let mut client = Client::connect_or_start(paths, autostart).await?;
    match client.request(&req).await? {
        Response::Done { message, .. } => {
            println!("[svctl] {message}");
            print_list(&mut client, false).await
        }
        other => answer_error(other),
    }
}

/// Maps an unexpected or error answer to a failure with the right exit code and a hint.
fn answer_error(resp: Response) -> Result<(), Failure> {
    match resp {
        Response::Error {
            kind,
            message,
            known,
        } => {
            let mut msg = message;
            if !known.is_empty() {
                msg.push_str(&format!("\n  known: {}", known.join(", ")));
            }
            Err(match kind {
                ErrorKind::BadRequest => Failure::usage(msg),
                _ => Failure::failed(msg),
            })
        }
        other => Err(Failure::failed(format!(
            "unexpected answer from the daemon: {other:?}"
        ))),
    }
}

fn caller_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// `restart`: a file restarts its apps with the file's settings; `--env` re-reads each app's
/// ecosystem file; `--update-env` sends this shell's environment.
async fn restart(paths: &Paths, autostart: bool, a: &args::RestartArgs) -> Result<(), Failure> {
    if config::is_ecosystem_path(Path::new(&a.target)) {
        let start = StartArgs {
            target: a.target.clone(),
            only: Vec::new(),
            env: a.env.clone(),
            name: None,
            instances: None,
            args: Vec::new(),
        };
        return self::start(paths, autostart, &start).await;
    }
    let update_env = a.update_env.then(caller_env);
    let Some(env) = &a.env else {
        let req = Request::Restart {
            target: a.target.clone(),
            update_env,
        };
        return act(paths, autostart, req).await;
    };
    // --env NAME: reload each targeted app from the file it came from.
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let apps = match client
        .request(&Request::Describe {
            target: a.target.clone(),
        })
        .await?
    {
        Response::Describe { apps } => apps,
        other => return answer_error(other),
    };
    let opts = LoadOptions {
        env_name: Some(env.clone()),
    };
    let mut specs = Vec::new();
    for d in apps {
        let Some(source) = &d.spec.source else {
            return Err(Failure::usage(format!(
                "`{}` was not started from an ecosystem file, so it has no env_{env} block",
                d.spec.name
            )));
        };
        let loaded = config::load_file(source, &opts).map_err(|e| Failure::usage(e.to_string()))?;
        let Some(mut spec) = loaded.apps.into_iter().find(|s| s.name == d.spec.name) else {
            return Err(Failure::usage(format!(
                "{} no longer declares `{}`",
                source.display(),
                d.spec.name
            )));
        };
        spec.base_env = update_env.clone().unwrap_or(d.spec.base_env);
        specs.push(spec);
    }
    match client.request(&Request::Start { apps: specs }).await? {
        Response::Done { .. } => {
            println!("[svctl] restarted {} with env_{env}", a.target);
            print_list(&mut client, false).await
        }
        other => answer_error(other),
    }
}

async fn start(paths: &Paths, autostart: bool, a: &StartArgs) -> Result<(), Failure> {
    if config::is_ecosystem_path(Path::new(&a.target)) {
        let opts = LoadOptions {
            env_name: a.env.clone(),
        };
        let loaded = config::load_file(Path::new(&a.target), &opts)
            .map_err(|e| Failure::usage(e.to_string()))?;
        for w in &loaded.warnings {
            eprintln!("svctl: warning: {w}");
        }
        let mut apps = loaded.apps;
        if !a.only.is_empty() {
            let unknown: Vec<&String> = a
                .only
                .iter()
                .filter(|n| !apps.iter().any(|s| &s.name == *n))
                .collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = apps.iter().map(|s| s.name.as_str()).collect();
                return Err(Failure::usage(format!(
                    "--only names apps the file does not have: {}\n  known: {}",
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    names.join(", ")
                )));
            }
            apps.retain(|s| a.only.contains(&s.name));
        }
        let env = caller_env();
        for s in &mut apps {
            s.base_env = env.clone();
        }
        return act(paths, autostart, Request::Start { apps }).await;
    }
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::StartTarget {
        target: a.target.clone(),
    };
    match client.request(&req).await? {
        Response::Done { message, .. } => {
            println!("[svctl] {message}");
            print_list(&mut client, false).await
        }
        Response::Error {
            kind: ErrorKind::NotFound,
            message,
            known,
        } => {
            // Not a known app: maybe a program to run as a new app, as `pm2 start app.sh`.
            let Some(spec) = program_spec(a)? else {
                return answer_error(Response::Error {
                    kind: ErrorKind::NotFound,
                    message: format!(
                        "{message}, and it is neither an ecosystem file nor a program found in PATH"
                    ),
                    known,
                });
            };
            match client.request(&Request::Start { apps: vec![spec] }).await? {
                Response::Done { message, .. } => {
                    println!("[svctl] {message}");
                    print_list(&mut client, false).await
                }
                other => answer_error(other),
            }
        }
        other => answer_error(other),
    }
}

/// A new app for `svctl start PROGRAM [--name N] [-- ARGS]`, or `None` when PROGRAM is
/// neither a file nor a command in PATH.
fn program_spec(a: &StartArgs) -> Result<Option<AppSpec>, Failure> {
    let cwd = std::env::current_dir().map_err(|e| Failure::failed(e.to_string()))?;
    let target = Path::new(&a.target);
    let script = if a.target.contains('/') || cwd.join(target).is_file() {
        let full = cwd.join(target);
        if !full.is_file() {
            return Ok(None);
        }
        full.display().to_string()
    } else if find_in_path(&a.target) {
        a.target.clone()
    } else {
        return Ok(None);
    };
    let stem = target
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("app")
        .to_string();
    let name = a.name.clone().unwrap_or(stem);
    if name.is_empty()
        || name == "all"
        || name.contains([':', '/'])
        || name.contains(char::is_whitespace)
    {
        return Err(Failure::usage(format!(
            "`{name}` cannot be an app name (no `:`, `/`, spaces, and not `all`); pass --name"
        )));
    }
    let mut spec = AppSpec::with_defaults(&name, &script, cwd);
    spec.args = a.args.clone();
    spec.instances = a.instances.unwrap_or(1).max(1);
    spec.base_env = caller_env();
    Ok(Some(spec))
}

fn find_in_path(cmd: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(cmd))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn check(file: &Path, env: Option<&str>, json: bool) -> Result<(), Failure> {
    let opts = LoadOptions {
        env_name: env.map(str::to_string),
    };
    let loaded = config::load_file(file, &opts).map_err(|e| Failure::usage(e.to_string()))?;
    if json {
        print_json(&loaded)
    } else {
        print!("{}", check::render_check(&loaded));
        Ok(())
    }
}

fn unit_plan(cli: &Cli, user: bool, unit_dir: Option<&Path>) -> Result<startup::UnitPlan, Failure> {
    let paths = Paths::resolve(cli.home.as_deref()).map_err(|e| Failure::usage(e.to_string()))?;
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::failed(format!("cannot find this program's path: {e}")))?;
    startup::plan(&exe, &paths, user, unit_dir).map_err(Failure::failed)
}

fn startup_cmd(
    cli: &Cli,
    user: bool,
    install: bool,
    unit_dir: Option<&Path>,
) -> Result<(), Failure> {
    let plan = unit_plan(cli, user, unit_dir)?;
    if !install {
        print!("{}", plan.contents);
        eprintln!(
            "svctl: this is the unit; `svctl startup --install{}` writes it to {}",
            if user { " --user" } else { "" },
            plan.path.display()
        );
        return Ok(());
    }
    if let Some(dir) = plan.path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::failed(format!("creating {}: {e}", dir.display())))?;
    }
    std::fs::write(&plan.path, &plan.contents)
        .map_err(|e| Failure::failed(format!("writing {}: {e}", plan.path.display())))?;
    println!("wrote {}", plan.path.display());
    println!("enable it with: {}", startup::enable_hint(&plan));
    Ok(())
}

fn unstartup_cmd(cli: &Cli, user: bool, unit_dir: Option<&Path>) -> Result<(), Failure> {
    let plan = unit_plan(cli, user, unit_dir)?;
    match std::fs::remove_file(&plan.path) {
        Ok(()) => {
            println!("removed {}", plan.path.display());
            println!("if it was enabled: {}", startup::disable_hint(&plan));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("no unit at {}: nothing to remove", plan.path.display());
            Ok(())
        }
        Err(e) => Err(Failure::failed(format!(
            "removing {}: {e}",
            plan.path.display()
        ))),
    }
}

async fn logs(paths: &Paths, autostart: bool, a: &args::LogsArgs) -> Result<(), Failure> {
    use crate::ipc::{LogLine, LogStreams};
    use std::io::Write;
    let follow = a.follow || (!a.no_follow && std::io::stdout().is_terminal());
    let streams = if a.err {
        LogStreams::Err
    } else if a.out {
        LogStreams::Out
    } else {
        LogStreams::Both
    };
    let mut client = Client::connect_or_start(paths, autostart).await?;
    let req = Request::Logs {
        target: a.target.clone(),
        lines: a.lines,
        follow,
        streams,
    };
    let colored = color();
    let print = |lines: &[LogLine]| -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        for l in lines {
            let stamp = if a.timestamp {
                format!("{} ", chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f"))
            } else {
                String::new()
            };
            let text = if a.json {
                serde_json::to_string(l).map_err(|e| Failure::failed(e.to_string()))?
            } else if colored && l.stream == crate::logs::Stream::Err {
                format!(
                    "{stamp}\x1b[31m{}:{} |\x1b[0m {}",
                    l.app, l.instance, l.text
                )
            } else {
                format!("{stamp}{}:{} | {}", l.app, l.instance, l.text)
            };
            // A closed pipe (`| head`) ends the command quietly.
            if writeln!(out, "{text}").is_err() {
                return Err(Failure {
                    code: 0,
                    message: String::new(),
                });
            }
        }
        let _ = out.flush();
        Ok(())
    };
    let first = client.request(&req).await?;
    let Response::LogLines { lines, .. } = first else {
        return answer_error(first);
    };
    match print(&lines) {
        Err(f) if f.code == 0 => return Ok(()),
        other => other?,
    }
    if !follow {
        return Ok(());
    }
    loop {
        match client.next().await? {
            Some(Response::LogLines { lines, .. }) => match print(&lines) {
                Err(f) if f.code == 0 => return Ok(()),
                other => other?,
            },
            Some(other) => return answer_error(other),
            None => return Ok(()),
        }
    }
}
