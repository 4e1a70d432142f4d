//! The command line: clap definitions, also the source of the man page and the completions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "svctl",
    version,
    about = "A process supervisor in the spirit of PM2: restarts apps by policy and records why",
    long_about = "svctl runs long-lived processes declared in a PM2-style ecosystem file, restarts them by policy, \
captures their logs, and records every spawn and exit with its cause in SQLite.\n\n\
Every command but `daemon` is a thin client of a background daemon. Commands that act start it on demand; \
commands that only read (list, describe, logs, ping) never do, and history and why read the database directly.",
    after_help = "Exit status: 0 ok, 1 refused or failed, 2 usage or configuration error."
)]
pub struct Cli {
    /// Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Do not start the daemon when it is not running; fail instead
    #[arg(long, global = true, alias = "no-daemon-autostart")]
    pub no_autostart: bool,

    /// Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through
    /// the system's ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra
    /// ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history
    #[arg(
        short = 'H',
        long = "host",
        global = true,
        env = "SVCTL_HOST",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub hosts: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (for systemd, containers and tests)
    Daemon(DaemonArgs),
    /// Start the apps of an ecosystem file, apps the daemon knows, or a program
    ///
    /// With a YAML or JSON file (`-`: read from standard input), its apps are added and
    /// started; apps of the file that already run are restarted with the file's settings, never
    /// duplicated. With `all`, an app name, `NAME:INSTANCE`, an id or a namespace, those known
    /// apps are started. With a program path or command name, a new app runs it, set up by
    /// PM2's per-app flags (`--name`, `-i`, `--max-restarts`…; arguments after `--`). Starting
    /// the program an app of that name already runs restarts it; an app of that name that runs
    /// another program is not replaced unless `--force`.
    Start(Box<StartArgs>),
    /// Stop apps gracefully (kill_signal to the process group, SIGKILL after kill_timeout)
    ///
    /// With an ecosystem file as target, the apps of that file are stopped.
    Stop(TargetArg),
    /// Restart apps (stop gracefully, then start); starts stopped ones
    ///
    /// A plain restart keeps the environment the app was started with. `--update-env` takes this
    /// shell's environment instead; `--env NAME` re-reads the app's ecosystem file with its
    /// `env_NAME` block. With a file as target, its apps are restarted with the file's settings.
    Restart(RestartArgs),
    /// Replace apps' processes without downtime (PM2's reload)
    ///
    /// Each instance in turn (`--parallel N` at a time) gets a new process beside the old one;
    /// once the new one is ready (its readiness method, or up `min_uptime`), the old one stops
    /// gracefully. Apps with a port per instance (`increment_var`, `PORT`) and no `listen:` are
    /// replaced stop-first, one at a time; apps with `reload_signal` reload in place. A new
    /// process that fails stops the reload: the old processes that still run keep running, and
    /// the command exits 1 naming the instance, the cause and its stderr. With an ecosystem
    /// file, its specs replace the running ones and its new apps start.
    Reload(ReloadArgs),
    /// Bring the running apps to what an ecosystem file says, showing the plan first
    ///
    /// Compares the file with what the daemon runs and prints a plan: apps to add, apps that
    /// change (field by field; env values of keys that look secret are masked), apps
    /// unchanged, and apps running that the file does not have. Then added apps start, changed
    /// apps are replaced by the rolling reload (a smaller `instances` deletes the extra
    /// instances), unchanged apps are not touched (their pids stay), and with `--prune` the
    /// apps the file does not have are stopped and deleted. Recorded as a deployment (see
    /// `svctl deployments`). Exits 0 only when every app of the file ended as the file says.
    Apply(ApplyArgs),
    /// List deployments (apply, rollback, start FILE, reload FILE), newest first
    Deployments(DeploymentsArgs),
    /// Apply the specs of the previous (or a given) deployment again
    ///
    /// Reads the specs a deployment applied from the database and applies them through the
    /// same plan and rolling reload as `apply`, recorded as a deployment of kind `rollback`.
    /// Without `--to`, the deployment before the newest one that changed these apps.
    Rollback(RollbackArgs),
    /// Stop apps and forget them (their history stays in the database)
    ///
    /// With an ecosystem file as target, the apps of that file are deleted.
    #[command(alias = "del")]
    Delete(TargetArg),
    /// List every instance with its id, status, pid, uptime, restarts, CPU and memory
    #[command(visible_aliases = ["ls", "status"])]
    List(JsonArg),
    /// The list as JSON on one line (PM2's jlist; the schema of `list --json`)
    Jlist,
    /// The list as indented JSON (PM2's prettylist; the same as `list --json`)
    Prettylist,
    /// Show everything about an app: spec, instances, last exit, log files
    #[command(visible_alias = "show")]
    Describe(DescribeArgs),
    /// Check that the daemon answers; print its version and pid
    Ping,
    /// Stop every app, then the daemon (apps that were running come back with the next daemon)
    Kill,
    /// Validate an ecosystem file without starting anything
    Check(CheckArgs),
    /// Print the last lines of apps' logs, then follow new output
    Logs(LogsArgs),
    /// Empty log files (all apps and the daemon log when no target is given); apps keep writing
    Flush(FlushArgs),
    /// Reopen every log file at its path (after logrotate moved them; PM2's reloadLogs)
    #[command(alias = "reloadLogs")]
    ReloadLogs,
    /// One row per exit, newest first: when, cause, code or signal, uptime, memory
    History(HistoryArgs),
    /// Lifecycle events (spawn, online, exit, restart scheduled, errored…): the recent ones, then
    /// with --follow each as it happens
    Events(EventsArgs),
    /// Print every metric once, in the Prometheus text format (what the daemon's
    /// --metrics-addr endpoint serves)
    Metrics,
    /// Why did it restart? Exits grouped by cause, the crash's stderr, and findings
    Why(WhyArgs),
    /// An incident report of a window: restarts by cause, memory, deployments, findings
    ///
    /// Reads the database directly (works while the daemon is down). HTML has charts and is
    /// one self-contained file; Markdown has tables and sparklines for tickets; JSON has the
    /// same data for other tools (see docs/REPORT.md).
    Report(ReportArgs),
    /// Zero the restart counters (the history stays)
    ///
    /// With an ecosystem file as target, the counters of that file's apps are zeroed.
    Reset(TargetArg),
    /// Print (or install) a systemd unit that runs the daemon at boot and after a failure
    Startup(StartupArgs),
    /// Remove the systemd unit written by `startup --install`
    Unstartup(UnstartupArgs),
    /// PM2's save: nothing to do, svctl stores the apps that should run at every change
    #[command(visible_alias = "dump")]
    Save,
    /// PM2's resurrect: the daemon brings back the apps that should run when it starts; starts it
    Resurrect,
    /// A live dashboard: processes with CPU and memory sparklines, the selected app's log and exits
    ///
    /// Keys: arrows or j/k select, r restart, s stop, S start, l reload, +/- scale, f flush the
    /// app's logs, / filter by name, q or Ctrl-C quit. Refreshes about once a second with one
    /// `list` (and, for the selected app, its new log lines). Needs a terminal of at least 80×24;
    /// honours NO_COLOR.
    Monit,
    /// Change the number of an app's instances: N, +N or -N (PM2's scale)
    ///
    /// New instances get the next instance numbers (and `increment_var` values) and start when
    /// the app runs; the highest ones are stopped and deleted. The new count (1 to 10000) is
    /// stored like any change of the app.
    Scale(ScaleArgs),
    /// Send a signal to the main process of running instances (PM2's sendSignal)
    Signal(SignalArgs),
    /// The environment an instance was started with; secret-looking values masked
    Env(EnvArgs),
    /// Copy standard input and output to this user's daemon socket (what `-H` runs over ssh)
    #[command(hide = true)]
    Bridge,
    /// Write the man page and shell completions (for packagers and the repository)
    #[command(hide = true)]
    GenDocs {
        /// The repository root: writes man/svctl.1 and completions/*
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct TargetArg {
    /// `all`, an app name, `NAME:INSTANCE`, an id, a namespace, or an ecosystem file (its apps)
    pub target: String,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON (the stable schema documented in `svctl(1)`) instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// An app name, `NAME:INSTANCE`, a namespace or `all`
    pub target: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// An ecosystem file (.yaml, .yml, .json; `-` reads it from standard input), a known
    /// app/namespace/id/`all`, or a program
    pub target: String,
    /// With a file: start only these apps (comma-separated names)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// With a file: use the `env_NAME` block of each app over its `env`
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// With a program: replace the program of an app of that name that runs another one
    #[arg(short = 'f', long)]
    pub force: bool,
    #[command(flatten)]
    pub app: ProgramArgs,
    /// With a program: arguments for it
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// PM2's per-app flags of `pm2 start PROGRAM`; each is checked exactly as its ecosystem key.
#[derive(Debug, Default, Args)]
#[command(
    next_help_heading = "Program options (as `pm2 start PROGRAM`; each is its ecosystem key)"
)]
pub struct ProgramArgs {
    /// The new app's name [default: the program's file name] (name)
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Number of instances: a number, `max` or 0 or -1 for one per CPU, -N for all but N (instances)
    #[arg(short = 'i', long, allow_negative_numbers = true, value_name = "N")]
    pub instances: Option<String>,
    /// Run the program with this interpreter; `none` executes it directly [default: by shebang or extension] (interpreter)
    #[arg(long, value_name = "PROGRAM")]
    pub interpreter: Option<String>,
    /// Arguments for the interpreter, split as a shell would (interpreter_args)
    #[arg(
        long,
        alias = "node-args",
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub interpreter_args: Option<String>,
    /// Working directory of the app [default: this one] (cwd)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Namespace of the app, usable as a target (namespace)
    #[arg(long)]
    pub namespace: Option<String>,
    /// Do not restart the program when it exits (autorestart: false)
    #[arg(long)]
    pub no_autorestart: bool,
    /// Exit codes that mean "done": no restart (stop_exit_codes)
    #[arg(long, num_args = 1.., value_delimiter = ',', allow_negative_numbers = true, value_name = "CODES")]
    pub stop_exit_codes: Vec<String>,
    /// Restart at each match of this cron pattern (cron_restart)
    #[arg(short = 'c', long, alias = "cron", value_name = "PATTERN")]
    pub cron_restart: Option<String>,
    /// Restart when files change: the app's folder, or these paths (watch)
    #[arg(long, num_args = 0.., value_name = "PATHS")]
    pub watch: Option<Vec<String>>,
    /// Paths or globs whose changes do not restart (ignore_watch)
    #[arg(long, num_args = 1.., value_name = "PATTERNS")]
    pub ignore_watch: Vec<String>,
    /// File for stdout (out_file)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
    /// File for stderr (error_file)
    #[arg(short = 'e', long, value_name = "FILE")]
    pub error: Option<String>,
    /// One file for both streams [default: NAME.log in the app's folder] (log_file)
    #[arg(short = 'l', long, num_args = 0..=1, value_name = "FILE")]
    pub log: Option<Option<String>>,
    /// One log file for all instances (merge_logs)
    #[arg(long, alias = "combine-logs")]
    pub merge_logs: bool,
    /// Prefix each log line with the time (time)
    #[arg(long)]
    pub time: bool,
    /// Prefix each log line with the time in this format, e.g. "YYYY-MM-DD HH:mm:ss" (log_date_format)
    #[arg(long, value_name = "FORMAT")]
    pub log_date_format: Option<String>,
    /// Grace period between kill_signal and SIGKILL: 1600, 5s (kill_timeout)
    #[arg(long, allow_negative_numbers = true, value_name = "DURATION")]
    pub kill_timeout: Option<String>,
    /// Delay before an automatic restart (restart_delay)
    #[arg(long, allow_negative_numbers = true, value_name = "DURATION")]
    pub restart_delay: Option<String>,
    /// Exponential backoff between automatic restarts, from this delay (exp_backoff_restart_delay)
    #[arg(long, allow_negative_numbers = true, value_name = "DURATION")]
    pub exp_backoff_restart_delay: Option<String>,
    /// Consecutive unstable restarts before `errored` (max_restarts)
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub max_restarts: Option<String>,
    /// A run shorter than this is unstable (min_uptime)
    #[arg(long, allow_negative_numbers = true, value_name = "DURATION")]
    pub min_uptime: Option<String>,
    /// Restart when the process tree's memory passes this size: 300M, 1G (max_memory_restart)
    #[arg(long, allow_negative_numbers = true, value_name = "SIZE")]
    pub max_memory_restart: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The ecosystem file (`-`: standard input)
    pub file: PathBuf,
    /// Resolve the `env_NAME` blocks
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Print the resolved apps as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitSystem {
    Systemd,
}

#[derive(Debug, Args)]
pub struct StartupArgs {
    /// The init system (only systemd is supported)
    #[arg(value_enum, default_value = "systemd")]
    pub init: InitSystem,
    /// A `systemctl --user` unit instead of a system unit
    #[arg(long)]
    pub user: bool,
    /// Write the unit file instead of printing it
    #[arg(long)]
    pub install: bool,
    /// Folder for the unit file [default: /etc/systemd/system, or ~/.config/systemd/user with --user]
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnstartupArgs {
    /// The init system (only systemd is supported)
    #[arg(value_enum, default_value = "systemd")]
    pub init: InitSystem,
    /// Remove the `systemctl --user` unit
    #[arg(long)]
    pub user: bool,
    /// Folder of the unit file [default: as for `startup`]
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// An app name or `NAME:INSTANCE` [default: every app]
    pub target: Option<String>,
    /// Only exits since then: a duration back from now (30m, 2h, 7d) or a date (2026-11-22, 2026-11-22T10:00)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only exits with this cause (exited, signaled, oom_killed, memory_limit, restarted, stopped, cron, watch, spawn_failed, daemon_lost)
    #[arg(long)]
    pub cause: Option<String>,
    /// At most this many rows
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// An app name or `NAME:INSTANCE`
    pub target: String,
    /// The window: a duration back from now (30m, 2h, 7d) or a date [default: 24h]
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Serve GET /metrics and GET /healthz over HTTP at this address (off by default)
    #[arg(long, value_name = "ADDR:PORT", env = "SVCTL_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Allow a --metrics-addr that is not a loopback address (the endpoint has no
    /// authentication: anyone who reaches it reads app names and figures)
    #[arg(long, env = "SVCTL_METRICS_ALLOW_REMOTE")]
    pub metrics_allow_remote: bool,
    /// A hook for every app that does not set its own for that event (repeatable): on_exit,
    /// on_errored, on_memory_limit, on_oom_kill, on_unhealthy or on_start, then `=` and a shell
    /// command
    #[arg(long = "hook", value_name = "EVENT=COMMAND", value_parser = parse_hook)]
    pub hooks: Vec<(crate::config::hooks::HookOn, String)>,
}

fn parse_hook(s: &str) -> Result<(crate::config::hooks::HookOn, String), String> {
    use crate::config::hooks::HookOn;
    let (on, command) = s
        .split_once('=')
        .ok_or_else(|| "expected EVENT=COMMAND, e.g. on_errored='notify-send down'".to_string())?;
    let known = || HookOn::ALL.map(HookOn::as_str).join(", ");
    let on = HookOn::parse(on.trim())
        .ok_or_else(|| format!("unknown hook event `{on}`; known: {}", known()))?;
    if command.trim().is_empty() {
        return Err("a hook needs a command after `=`".into());
    }
    Ok((on, command.to_string()))
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// `all`, an app name, `NAME:INSTANCE`, an id or a namespace [default: all]
    pub target: Option<String>,
    /// Keep printing events as they happen until interrupted
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// One JSON object per line (a `{"dropped": N}` line when this reader was too slow)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// An app name [default: every app]
    pub target: Option<String>,
    /// The window's start: a duration back from now (30m, 2h, 7d) or a date (2026-11-22, 2026-11-22T10:00) [default: 24h]
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// The window's end, written as --since [default: now]
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// html, md or json [default: from the extension of -o, else md]
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The forms of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// `all`, an app name, `NAME:INSTANCE` or a namespace [default: all]
    pub target: Option<String>,
    /// How many of the last lines of each log file
    #[arg(long, short = 'n', default_value_t = 15)]
    pub lines: u32,
    /// Keep printing new lines until interrupted [default when output is a terminal]
    #[arg(long, short = 'f', conflicts_with = "no_follow")]
    pub follow: bool,
    /// Print the last lines and exit [default when output is not a terminal]
    #[arg(long, visible_alias = "nostream")]
    pub no_follow: bool,
    /// Only stderr
    #[arg(long, conflicts_with = "out")]
    pub err: bool,
    /// Only stdout
    #[arg(long)]
    pub out: bool,
    /// One JSON object per line: app, instance, stream, text
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// Only the lines as the app wrote them, without the `APP:INSTANCE |` prefix
    #[arg(long)]
    pub raw: bool,
    /// Prefix each printed line with the local time it is printed
    #[arg(long)]
    pub timestamp: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The ecosystem file (.yaml, .yml, .json, .js, .cjs, .mjs, .json5; `-`: standard input)
    pub file: String,
    /// Use the `env_NAME` block of each app over its `env`
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Only these apps of the file (comma-separated names)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMES",
        conflicts_with = "prune"
    )]
    pub only: Vec<String>,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Stop and delete the running apps the file does not have
    #[arg(long)]
    pub prune: bool,
    /// Instances replaced at once by the rolling reload
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallel: u32,
}

#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    /// Only deployments that added, changed or removed this app
    pub app: Option<String>,
    /// At most this many rows
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON (with each deployment's plan) instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Apps to roll back [default: every app of that deployment]
    pub apps: Vec<String>,
    /// The deployment whose specs are applied [default: the one before the newest that changed these apps]
    #[arg(long, value_name = "ID")]
    pub to: Option<u64>,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Instances replaced at once by the rolling reload
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallel: u32,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The app's name
    pub app: String,
    /// The new count (`4`), or a change of it (`+2`, `-1`)
    #[arg(allow_hyphen_values = true, value_name = "N|+N|-N")]
    pub count: String,
}

#[derive(Debug, Args)]
pub struct SignalArgs {
    /// A signal name or number: SIGUSR2, usr2, HUP, 10
    pub signal: String,
    /// `all`, an app name, `NAME:INSTANCE`, an id or a namespace
    pub target: String,
    /// Send it to the process group (the app's children too), not only the main process
    #[arg(long)]
    pub group: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// An app name, `NAME:INSTANCE`, an id, a namespace or `all`
    pub target: String,
    /// Show values of keys that look secret (*TOKEN*, *SECRET*, *PASSWORD*, *KEY*…)
    #[arg(long)]
    pub show_secrets: bool,
    /// Print JSON: an array of {name, instance, run, pid, env}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FlushArgs {
    /// `all`, an app name, `NAME:INSTANCE` or a namespace [default: every app and the daemon log]
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// `all`, an app name, `NAME:INSTANCE`, an id, a namespace, or an ecosystem file
    pub target: String,
    /// Replace the apps' environment with this shell's (PM2's --update-env)
    #[arg(long)]
    pub update_env: bool,
    /// Use the `env_NAME` blocks of the apps' ecosystem file
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Instances replaced at once
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallel: u32,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RestartArgs {
    /// `all`, an app name, `NAME:INSTANCE`, an id, a namespace, or an ecosystem file
    pub target: String,
    /// Replace the apps' environment with this shell's (PM2's --update-env)
    #[arg(long)]
    pub update_env: bool,
    /// Re-read the apps' ecosystem file and use its `env_NAME` blocks
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}
