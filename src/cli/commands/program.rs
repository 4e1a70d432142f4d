//! Owns `start PROGRAM`: a program (a file or a command in PATH) run as a new app, set up by
//! PM2's per-app flags. The flags become an app written with the ecosystem file's key names and
//! go through the same loader, so every value gets the file's checks, bounds and messages; a
//! problem is reported with its flag. Starting again the program an app already runs restarts
//! it; an app of the same name that runs another program is replaced only with `--force`.

use super::{answer_error, caller_env, check_started, print_list};
use crate::cli::args::{ProgramArgs, StartArgs};
use crate::cli::error::Failure;
use crate::cli::output;
use crate::config::{self, AppSpec, ConfigError, LoadOptions};
use crate::ipc::client::Client;
use crate::ipc::{AppDetail, ErrorKind, Request, Response};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The flag of each ecosystem key the program flags set, for messages.
const FLAGS: &[(&str, &str)] = &[
    ("script", "the program"),
    ("args", "the program's arguments"),
    ("name", "--name"),
    ("instances", "--instances"),
    ("interpreter", "--interpreter"),
    ("interpreter_args", "--interpreter-args"),
    ("cwd", "--cwd"),
    ("namespace", "--namespace"),
    ("autorestart", "--no-autorestart"),
    ("stop_exit_codes", "--stop-exit-codes"),
    ("cron_restart", "--cron-restart"),
    ("watch", "--watch"),
    ("ignore_watch", "--ignore-watch"),
    ("out_file", "--output"),
    ("error_file", "--error"),
    ("log_file", "--log"),
    ("merge_logs", "--merge-logs"),
    ("time", "--time"),
    ("log_date_format", "--log-date-format"),
    ("kill_timeout", "--kill-timeout"),
    ("restart_delay", "--restart-delay"),
    ("exp_backoff_restart_delay", "--exp-backoff-restart-delay"),
    ("max_restarts", "--max-restarts"),
    ("min_uptime", "--min-uptime"),
    ("max_memory_restart", "--max-memory-restart"),
];

impl ProgramArgs {
    /// Whether any per-app flag was given (then the target is a program, never a known app).
    pub fn any(&self) -> bool {
        let p = self;
        p.name.is_some()
            || p.instances.is_some()
            || p.interpreter.is_some()
            || p.interpreter_args.is_some()
            || p.cwd.is_some()
            || p.namespace.is_some()
            || p.no_autorestart
            || !p.stop_exit_codes.is_empty()
            || p.cron_restart.is_some()
            || p.watch.is_some()
            || !p.ignore_watch.is_empty()
            || p.output.is_some()
            || p.error.is_some()
            || p.log.is_some()
            || p.merge_logs
            || p.time
            || p.log_date_format.is_some()
            || p.kill_timeout.is_some()
            || p.restart_delay.is_some()
            || p.exp_backoff_restart_delay.is_some()
            || p.max_restarts.is_some()
            || p.min_uptime.is_some()
            || p.max_memory_restart.is_some()
    }
}

/// A value as a file would hold it: a whole number when it reads as one (so `-1` gets the
/// file's range message), else a string.
fn scalar(text: &str) -> Value {
    match text.trim().parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::from(text),
    }
}

/// A path given on the command line, absolute against this shell's directory (as the user
/// means it), whatever the app's `--cwd`.
fn from_here(cwd: &Path, p: &str) -> String {
    if p == "/dev/null" || p.starts_with("~/") {
        return p.to_string();
    }
    crate::paths::normalize(&cwd.join(p)).display().to_string()
}

/// The app the flags describe, with the ecosystem file's key names.
fn document(script: &str, a: &StartArgs, here: &Path) -> Value {
    let p = &a.app;
    let mut app = Map::new();
    let mut set = |k: &str, v: Value| {
        app.insert(k.to_string(), v);
    };
    set("script", Value::from(script));
    if !a.args.is_empty() {
        set("args", Value::from(a.args.clone()));
    }
    if let Some(n) = &p.name {
        set("name", Value::from(n.as_str()));
    }
    if let Some(i) = &p.instances {
        set("instances", scalar(i));
    }
    if let Some(i) = &p.interpreter {
        set("interpreter", Value::from(i.as_str()));
    }
    if let Some(i) = &p.interpreter_args {
        set("interpreter_args", Value::from(i.as_str()));
    }
    if let Some(c) = &p.cwd {
        set("cwd", Value::from(c.as_str()));
    }
    if let Some(n) = &p.namespace {
        set("namespace", Value::from(n.as_str()));
    }
    if p.no_autorestart {
        set("autorestart", Value::from(false));
    }
    if !p.stop_exit_codes.is_empty() {
        let codes = p.stop_exit_codes.iter().map(|c| scalar(c)).collect();
        set("stop_exit_codes", Value::Array(codes));
    }
    if let Some(c) = &p.cron_restart {
        set("cron_restart", Value::from(c.as_str()));
    }
    match &p.watch {
        Some(paths) if paths.is_empty() => set("watch", Value::from(true)),
        Some(paths) => {
            let paths = paths.iter().map(|w| Value::from(from_here(here, w)));
            set("watch", Value::Array(paths.collect()))
        }
        None => {}
    }
    if !p.ignore_watch.is_empty() {
        set("ignore_watch", Value::from(p.ignore_watch.clone()));
    }
    for (key, file) in [("out_file", &p.output), ("error_file", &p.error)] {
        if let Some(f) = file {
            set(key, Value::from(from_here(here, f)));
        }
    }
    match &p.log {
        Some(Some(f)) => set("log_file", Value::from(from_here(here, f))),
        Some(None) => set("log_file", Value::from(true)),
        None => {}
    }
    if p.merge_logs {
        set("merge_logs", Value::from(true));
    }
    if p.time {
        set("time", Value::from(true));
    }
    if let Some(f) = &p.log_date_format {
        set("log_date_format", Value::from(f.as_str()));
    }
    for (key, v) in [
        ("kill_timeout", &p.kill_timeout),
        ("restart_delay", &p.restart_delay),
        ("exp_backoff_restart_delay", &p.exp_backoff_restart_delay),
        ("max_restarts", &p.max_restarts),
        ("min_uptime", &p.min_uptime),
        ("max_memory_restart", &p.max_memory_restart),
    ] {
        if let Some(v) = v {
            set(key, scalar(v));
        }
    }
    Value::Object(app)
}

/// A loader's problem as the flag's: `--max-restarts: -1 is out of range (0 to …)`.
fn flag_problems(err: ConfigError) -> Failure {
    let ConfigError::Invalid { problems, .. } = &err else {
        return Failure::usage(crate::cli::error::chain(&err));
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let key = p
                .field
                .as_deref()
                .map(|f| f.strip_prefix("app.").unwrap_or(f))
                .map(|f| f.split('[').next().unwrap_or(f))
                .unwrap_or("");
            let flag = FLAGS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(key, |(_, f)| f);
            let mut line = format!("{flag}: {}", p.message);
            if let Some(h) = &p.hint {
                line.push_str(&format!("\n  hint: {h}"));
            }
            line
        })
        .collect();
    Failure::usage(lines.join("\n"))
}

/// The program a target names: an absolute path for a file (against this directory, then
/// `--cwd`), the word itself for a command in PATH, or `None`.
fn program_path(target: &str, here: &Path, cwd_flag: Option<&str>) -> Option<String> {
    let bases = std::iter::once(here.to_path_buf())
        .chain(cwd_flag.map(|c| crate::paths::normalize(&here.join(c))));
    for base in bases {
        let full = base.join(target);
        if full.is_file() {
            return Some(crate::paths::normalize(&full).display().to_string());
        }
    }
    (!target.contains('/') && find_in_path(target).is_some()).then(|| target.to_string())
}

/// The app `svctl start PROGRAM [flags] [-- ARGS]` runs, or `None` when PROGRAM is neither a
/// file nor a command in PATH.
pub fn spec(a: &StartArgs) -> Result<Option<AppSpec>, Failure> {
    let here = std::env::current_dir()
        .map_err(|e| Failure::failed_by("reading the current directory", &e))?;
    if let Some(env) = &a.env {
        return Err(Failure::usage(format!(
            "--env {env} selects the `env_{env}` blocks of an ecosystem file, and a program has none"
        ))
        .hint("set variables in the shell instead: the app gets the environment `svctl start` runs in"));
    }
    let Some(script) = program_path(&a.target, &here, a.app.cwd.as_deref()) else {
        return Ok(None);
    };
    if a.app.name.is_none() {
        let stem = Path::new(&a.target)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("app");
        if let Some(why) = config::name_problem(stem) {
            return Err(
                Failure::usage(format!("`{stem}` cannot be an app name: {why}"))
                    .hint("pass --name NAME"),
            );
        }
    }
    let text = document(&script, a, &here).to_string();
    let loaded = config::load_str(&text, Path::new("<command line>"), &LoadOptions::default())
        .map_err(flag_problems)?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    let Some(mut spec) = loaded.apps.into_iter().next() else {
        return Ok(None);
    };
    spec.source = None;
    spec.base_env = caller_env().into();
    if let Some(i) = &spec.interpreter {
        interpreter_exists(i, &spec.script)?;
    }
    Ok(Some(spec))
}

/// A missing interpreter is said now, not found later as a spawn failure.
fn interpreter_exists(interpreter: &str, script: &str) -> Result<(), Failure> {
    let found = if interpreter.contains('/') {
        is_executable(Path::new(interpreter))
    } else {
        find_in_path(interpreter).is_some()
    };
    if found {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "`{script}` runs with the interpreter `{interpreter}`, which is not installed (not found in PATH)"
    ))
    .hint(
        "install it, name another with --interpreter PROGRAM, or use --interpreter none to execute the file itself",
    ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_in_path(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(cmd))
        .find(|p| is_executable(p))
}

/// Whether an existing app runs the same program: the same script (and, for a command found in
/// PATH, the same working directory).
fn same_program(old: &AppSpec, new: &AppSpec) -> bool {
    old.script == new.script && (Path::new(&new.script).is_absolute() || old.cwd == new.cwd)
}

/// What the program's name already is to the daemon, if anything.
async fn existing(client: &mut Client, name: &str) -> Result<Option<AppDetail>, Failure> {
    let req = Request::Describe {
        target: name.to_string(),
    };
    match client.request(&req).await? {
        Response::Describe { apps } => Ok(apps.into_iter().find(|d| d.spec.name == name)),
        Response::Error {
            kind: ErrorKind::NotFound,
            ..
        } => Ok(None),
        other => answer_error(other).map(|()| None),
    }
}

/// Starts the program as an app: new, restarted (the same program), or replaced (`--force`).
pub async fn start(client: &mut Client, spec: AppSpec, force: bool) -> Result<(), Failure> {
    let name = spec.name.clone();
    let message = match existing(client, &name).await? {
        None => format!("started {name}"),
        Some(d) if same_program(&d.spec, &spec) => {
            if d.instances.iter().any(|p| p.status.has_process()) {
                format!("restarted {name} (it already ran {})", spec.script)
            } else {
                format!("started {name}")
            }
        }
        Some(d) if force => format!(
            "replaced {name}: {} instead of {}",
            spec.script, d.spec.script
        ),
        Some(d) => {
            return Err(Failure::failed(format!(
                "an app called `{name}` already runs {}; not replacing it with {}",
                d.spec.script, spec.script
            ))
            .hint(format!(
                "--force replaces it; --name NAME starts {} as another app",
                spec.script
            )));
        }
    };
    match client
        .request(&Request::Start {
            apps: vec![spec],
            meta: None,
        })
        .await?
    {
        Response::Done { processes, .. } => {
            output::line(format_args!("[svctl] {message}"))?;
            print_list(client, super::ListFormat::Table).await?;
            check_started(&processes)
        }
        other => answer_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn start_args(argv: &[&str]) -> StartArgs {
        let mut all = vec!["svctl", "start"];
        all.extend_from_slice(argv);
        match crate::cli::args::Cli::parse_from(all).command {
            crate::cli::args::Command::Start(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    fn load(argv: &[&str]) -> Result<AppSpec, String> {
        let a = start_args(argv);
        let text = document("/bin/sleep", &a, Path::new("/srv")).to_string();
        config::load_str(&text, Path::new("<command line>"), &LoadOptions::default())
            .map(|l| l.apps.into_iter().next().expect("one app"))
            .map_err(|e| flag_problems(e).render())
    }

    #[test]
    fn flags_become_the_file_keys() {
        let s = load(&[
            "sleep",
            "--name",
            "nap",
            "-i",
            "3",
            "--max-restarts",
            "4",
            "--kill-timeout",
            "5s",
            "--min-uptime",
            "2000",
            "--max-memory-restart",
            "300M",
            "--stop-exit-codes",
            "0",
            "3",
            "--no-autorestart",
            "-c",
            "0 * * * *",
            "-o",
            "out.log",
            "--time",
            "--namespace",
            "jobs",
            "--",
            "100",
        ])
        .expect("valid");
        assert_eq!(s.name, "nap");
        assert_eq!(s.instances, 3);
        assert_eq!(s.max_restarts, 4);
        assert_eq!(s.kill_timeout_ms, 5000);
        assert_eq!(s.min_uptime_ms, 2000);
        assert_eq!(s.max_memory_restart, Some(300 * 1024 * 1024));
        assert_eq!(s.stop_exit_codes, vec![0, 3]);
        assert!(!s.autorestart);
        assert_eq!(s.cron_restart.as_deref(), Some("0 * * * *"));
        assert_eq!(
            s.out_file,
            config::LogTarget::File(PathBuf::from("/srv/out.log"))
        );
        assert!(s.log_date_format.is_some());
        assert_eq!(s.namespace, "jobs");
        assert_eq!(s.args, vec!["100"]);
    }

    #[test]
    fn bad_values_get_the_file_messages_under_their_flag() {
        let e = load(&["sleep", "--max-restarts", "-1"]).expect_err("negative");
        assert!(
            e.starts_with("svctl: error: --max-restarts: -1 is out of range"),
            "{e}"
        );
        let e = load(&["sleep", "--kill-timeout", "soon"]).expect_err("not a duration");
        assert!(e.starts_with("svctl: error: --kill-timeout: "), "{e}");
        let e = load(&["sleep", "--max-memory-restart", "300MB"]).expect_err("PM2 units");
        assert!(e.contains("--max-memory-restart: `300MB`"), "{e}");
        let e = load(&["sleep", "--stop-exit-codes", "0,300"]).expect_err("exit code");
        assert!(e.contains("--stop-exit-codes: 300 is out of range"), "{e}");
        let e = load(&["sleep", "-c", "every day"]).expect_err("cron");
        assert!(e.contains("--cron-restart: "), "{e}");
        let e = load(&["sleep", "--name", "all"]).expect_err("name");
        assert!(e.contains("--name: "), "{e}");
    }

    #[test]
    fn instances_take_max_and_minus_one_as_pm2() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        assert_eq!(load(&["sleep", "-i", "max"]).unwrap().instances, cpus);
        assert_eq!(load(&["sleep", "-i", "-1"]).unwrap().instances, cpus);
        assert!(load(&["sleep", "-i", "lots"]).is_err());
    }

    #[test]
    fn interpreter_none_executes_the_file() {
        let s = load(&["sleep", "--interpreter", "none"]).unwrap();
        assert_eq!(s.interpreter, None);
        let s = load(&[
            "sleep",
            "--interpreter",
            "python3",
            "--interpreter-args",
            "-u -X dev",
        ])
        .unwrap();
        assert_eq!(s.interpreter.as_deref(), Some("python3"));
        assert_eq!(s.interpreter_args, vec!["-u", "-X", "dev"]);
    }
}
