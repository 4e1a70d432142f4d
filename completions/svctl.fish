# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_svctl_global_optspecs
    string join \n home= no-autostart H/host= h/help V/version
end

function __fish_svctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_svctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_svctl_using_subcommand
    set -l cmd (__fish_svctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c svctl -n "__fish_svctl_needs_command" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_needs_command" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_needs_command" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_needs_command" -s V -l version -d 'Print version'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "daemon" -d 'Run the daemon in the foreground (for systemd, containers and tests)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "start" -d 'Start the apps of an ecosystem file, apps the daemon knows, or a program'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "stop" -d 'Stop apps gracefully (kill_signal to the process group, SIGKILL after kill_timeout)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "restart" -d 'Restart apps (stop gracefully, then start); starts stopped ones'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "reload" -d 'Replace apps\' processes without downtime (PM2\'s reload)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "apply" -d 'Bring the running apps to what an ecosystem file says, showing the plan first'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "deployments" -d 'List deployments (apply, rollback, start FILE, reload FILE), newest first'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "rollback" -d 'Apply the specs of the previous (or a given) deployment again'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "delete" -d 'Stop apps and forget them (their history stays in the database)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "list" -d 'List every instance with its id, status, pid, uptime, restarts, CPU and memory'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "ls" -d 'List every instance with its id, status, pid, uptime, restarts, CPU and memory'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "status" -d 'List every instance with its id, status, pid, uptime, restarts, CPU and memory'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "jlist" -d 'The list as JSON on one line (PM2\'s jlist; the schema of `list --json`)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "prettylist" -d 'The list as indented JSON (PM2\'s prettylist; the same as `list --json`)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "describe" -d 'Show everything about an app: spec, instances, last exit, log files'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "show" -d 'Show everything about an app: spec, instances, last exit, log files'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "ping" -d 'Check that the daemon answers; print its version and pid'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "kill" -d 'Stop every app, then the daemon (apps that were running come back with the next daemon)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "check" -d 'Validate an ecosystem file without starting anything'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "logs" -d 'Print the last lines of apps\' logs, then follow new output'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "flush" -d 'Empty log files (all apps and the daemon log when no target is given); apps keep writing'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "reload-logs" -d 'Reopen every log file at its path (after logrotate moved them; PM2\'s reloadLogs)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "history" -d 'One row per exit, newest first: when, cause, code or signal, uptime, memory'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "events" -d 'Lifecycle events (spawn, online, exit, restart scheduled, errored…): the recent ones, then with --follow each as it happens'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "metrics" -d 'Print every metric once, in the Prometheus text format (what the daemon\'s --metrics-addr endpoint serves)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "why" -d 'Why did it restart? Exits grouped by cause, the crash\'s stderr, and findings'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "report" -d 'An incident report of a window: restarts by cause, memory, deployments, findings'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "reset" -d 'Zero the restart counters (the history stays)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "startup" -d 'Print (or install) a systemd unit that runs the daemon at boot and after a failure'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "unstartup" -d 'Remove the systemd unit written by `startup --install`'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "save" -d 'PM2\'s save: nothing to do, svctl stores the apps that should run at every change'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "dump" -d 'PM2\'s save: nothing to do, svctl stores the apps that should run at every change'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "resurrect" -d 'PM2\'s resurrect: the daemon brings back the apps that should run when it starts; starts it'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "monit" -d 'A live dashboard: processes with CPU and memory sparklines, the selected app\'s log and exits'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "scale" -d 'Change the number of an app\'s instances: N, +N or -N (PM2\'s scale)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "signal" -d 'Send a signal to the main process of running instances (PM2\'s sendSignal)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "env" -d 'The environment an instance was started with; secret-looking values masked'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "bridge" -d 'Copy standard input and output to this user\'s daemon socket (what `-H` runs over ssh)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "gen-docs" -d 'Write the man page and shell completions (for packagers and the repository)'
complete -c svctl -n "__fish_svctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -l metrics-addr -d 'Serve GET /metrics and GET /healthz over HTTP at this address (off by default)' -r
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -l hook -d 'A hook for every app that does not set its own for that event (repeatable): on_exit, on_errored, on_memory_limit, on_oom_kill, on_unhealthy or on_start, then `=` and a shell command' -r
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -l metrics-allow-remote -d 'Allow a --metrics-addr that is not a loopback address (the endpoint has no authentication: anyone who reaches it reads app names and figures)'
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand daemon" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand start" -l only -d 'With a file: start only these apps (comma-separated names)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l env -d 'With a file: use the `env_NAME` block of each app over its `env`' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s n -l name -d 'The new app\'s name [default: the program\'s file name] (name)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s i -l instances -d 'Number of instances: a number, `max` or 0 or -1 for one per CPU, -N for all but N (instances)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l interpreter -d 'Run the program with this interpreter; `none` executes it directly [default: by shebang or extension] (interpreter)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l interpreter-args -d 'Arguments for the interpreter, split as a shell would (interpreter_args)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l cwd -d 'Working directory of the app [default: this one] (cwd)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l namespace -d 'Namespace of the app, usable as a target (namespace)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l stop-exit-codes -d 'Exit codes that mean "done": no restart (stop_exit_codes)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s c -l cron-restart -d 'Restart at each match of this cron pattern (cron_restart)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l watch -d 'Restart when files change: the app\'s folder, or these paths (watch)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l ignore-watch -d 'Paths or globs whose changes do not restart (ignore_watch)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s o -l output -d 'File for stdout (out_file)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s e -l error -d 'File for stderr (error_file)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s l -l log -d 'One file for both streams [default: NAME.log in the app\'s folder] (log_file)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l log-date-format -d 'Prefix each log line with the time in this format, e.g. "YYYY-MM-DD HH:mm:ss" (log_date_format)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l kill-timeout -d 'Grace period between kill_signal and SIGKILL: 1600, 5s (kill_timeout)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l restart-delay -d 'Delay before an automatic restart (restart_delay)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l exp-backoff-restart-delay -d 'Exponential backoff between automatic restarts, from this delay (exp_backoff_restart_delay)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l max-restarts -d 'Consecutive unstable restarts before `errored` (max_restarts)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l min-uptime -d 'A run shorter than this is unstable (min_uptime)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l max-memory-restart -d 'Restart when the process tree\'s memory passes this size: 300M, 1G (max_memory_restart)' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand start" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand start" -s f -l force -d 'With a program: replace the program of an app of that name that runs another one'
complete -c svctl -n "__fish_svctl_using_subcommand start" -l no-autorestart -d 'Do not restart the program when it exits (autorestart: false)'
complete -c svctl -n "__fish_svctl_using_subcommand start" -l merge-logs -d 'One log file for all instances (merge_logs)'
complete -c svctl -n "__fish_svctl_using_subcommand start" -l time -d 'Prefix each log line with the time (time)'
complete -c svctl -n "__fish_svctl_using_subcommand start" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand stop" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand stop" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand stop" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand restart" -l env -d 'Re-read the apps\' ecosystem file and use its `env_NAME` blocks' -r
complete -c svctl -n "__fish_svctl_using_subcommand restart" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand restart" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand restart" -l update-env -d 'Replace the apps\' environment with this shell\'s (PM2\'s --update-env)'
complete -c svctl -n "__fish_svctl_using_subcommand restart" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand restart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand reload" -l env -d 'Use the `env_NAME` blocks of the apps\' ecosystem file' -r
complete -c svctl -n "__fish_svctl_using_subcommand reload" -l parallel -d 'Instances replaced at once' -r
complete -c svctl -n "__fish_svctl_using_subcommand reload" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand reload" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand reload" -l update-env -d 'Replace the apps\' environment with this shell\'s (PM2\'s --update-env)'
complete -c svctl -n "__fish_svctl_using_subcommand reload" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand reload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l env -d 'Use the `env_NAME` block of each app over its `env`' -r
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l only -d 'Only these apps of the file (comma-separated names)' -r
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l parallel -d 'Instances replaced at once by the rolling reload' -r
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand apply" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l dry-run -d 'Print the plan and change nothing'
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l prune -d 'Stop and delete the running apps the file does not have'
complete -c svctl -n "__fish_svctl_using_subcommand apply" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -l limit -d 'At most this many rows' -r
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -l json -d 'Print JSON (with each deployment\'s plan) instead of a table'
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand deployments" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -l to -d 'The deployment whose specs are applied [default: the one before the newest that changed these apps]' -r
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -l parallel -d 'Instances replaced at once by the rolling reload' -r
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -l dry-run -d 'Print the plan and change nothing'
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand delete" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand delete" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand delete" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand list" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand list" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand list" -l json -d 'Print JSON (the stable schema documented in `svctl(1)`) instead of a table'
complete -c svctl -n "__fish_svctl_using_subcommand list" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand list" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand ls" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand ls" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand ls" -l json -d 'Print JSON (the stable schema documented in `svctl(1)`) instead of a table'
complete -c svctl -n "__fish_svctl_using_subcommand ls" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand ls" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand status" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand status" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand status" -l json -d 'Print JSON (the stable schema documented in `svctl(1)`) instead of a table'
complete -c svctl -n "__fish_svctl_using_subcommand status" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand jlist" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand jlist" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand jlist" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand jlist" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand prettylist" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand prettylist" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand prettylist" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand prettylist" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand describe" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand describe" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand describe" -l json -d 'Print JSON instead of text'
complete -c svctl -n "__fish_svctl_using_subcommand describe" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand describe" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand show" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand show" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand show" -l json -d 'Print JSON instead of text'
complete -c svctl -n "__fish_svctl_using_subcommand show" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand show" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand ping" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand ping" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand ping" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand ping" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand kill" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand kill" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand kill" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand kill" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand check" -l env -d 'Resolve the `env_NAME` blocks' -r
complete -c svctl -n "__fish_svctl_using_subcommand check" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand check" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand check" -l json -d 'Print the resolved apps as JSON'
complete -c svctl -n "__fish_svctl_using_subcommand check" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand check" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -s n -l lines -d 'How many of the last lines of each log file' -r
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand logs" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand logs" -s f -l follow -d 'Keep printing new lines until interrupted [default when output is a terminal]'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l no-follow -l nostream -d 'Print the last lines and exit [default when output is not a terminal]'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l err -d 'Only stderr'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l out -d 'Only stdout'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l json -d 'One JSON object per line: app, instance, stream, text'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l raw -d 'Only the lines as the app wrote them, without the `APP:INSTANCE |` prefix'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l timestamp -d 'Prefix each printed line with the local time it is printed'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand logs" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand flush" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand flush" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand flush" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand flush" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand reload-logs" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand reload-logs" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand reload-logs" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand reload-logs" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand history" -l since -d 'Only exits since then: a duration back from now (30m, 2h, 7d) or a date (2026-11-22, 2026-11-22T10:00)' -r
complete -c svctl -n "__fish_svctl_using_subcommand history" -l cause -d 'Only exits with this cause (exited, signaled, oom_killed, memory_limit, restarted, stopped, cron, watch, spawn_failed, daemon_lost)' -r
complete -c svctl -n "__fish_svctl_using_subcommand history" -l limit -d 'At most this many rows' -r
complete -c svctl -n "__fish_svctl_using_subcommand history" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand history" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand history" -l json -d 'Print JSON instead of a table'
complete -c svctl -n "__fish_svctl_using_subcommand history" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand history" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand events" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand events" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand events" -s f -l follow -d 'Keep printing events as they happen until interrupted'
complete -c svctl -n "__fish_svctl_using_subcommand events" -l json -d 'One JSON object per line (a `{"dropped": N}` line when this reader was too slow)'
complete -c svctl -n "__fish_svctl_using_subcommand events" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand events" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand metrics" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand metrics" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand metrics" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand why" -l since -d 'The window: a duration back from now (30m, 2h, 7d) or a date [default: 24h]' -r
complete -c svctl -n "__fish_svctl_using_subcommand why" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand why" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand why" -l json -d 'Print JSON instead of text'
complete -c svctl -n "__fish_svctl_using_subcommand why" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand why" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand report" -l since -d 'The window\'s start: a duration back from now (30m, 2h, 7d) or a date (2026-11-22, 2026-11-22T10:00) [default: 24h]' -r
complete -c svctl -n "__fish_svctl_using_subcommand report" -l until -d 'The window\'s end, written as --since [default: now]' -r
complete -c svctl -n "__fish_svctl_using_subcommand report" -l format -d 'html, md or json [default: from the extension of -o, else md]' -r -f -a "html\t''
md\t''
json\t''"
complete -c svctl -n "__fish_svctl_using_subcommand report" -s o -l output -d 'Write the report to FILE instead of stdout' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand report" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand report" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand report" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand reset" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand reset" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand reset" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand startup" -l unit-dir -d 'Folder for the unit file [default: /etc/systemd/system, or ~/.config/systemd/user with --user]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand startup" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand startup" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand startup" -l user -d 'A `systemctl --user` unit instead of a system unit'
complete -c svctl -n "__fish_svctl_using_subcommand startup" -l install -d 'Write the unit file instead of printing it'
complete -c svctl -n "__fish_svctl_using_subcommand startup" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand startup" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -l unit-dir -d 'Folder of the unit file [default: as for `startup`]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -l user -d 'Remove the `systemctl --user` unit'
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand unstartup" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand save" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand save" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand save" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand save" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand dump" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand dump" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand dump" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand dump" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand resurrect" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand resurrect" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand resurrect" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand resurrect" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand monit" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand monit" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand monit" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand monit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand scale" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand scale" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand scale" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand scale" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c svctl -n "__fish_svctl_using_subcommand signal" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand signal" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand signal" -l group -d 'Send it to the process group (the app\'s children too), not only the main process'
complete -c svctl -n "__fish_svctl_using_subcommand signal" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand signal" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand env" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand env" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand env" -l show-secrets -d 'Show values of keys that look secret (*TOKEN*, *SECRET*, *PASSWORD*, *KEY*…)'
complete -c svctl -n "__fish_svctl_using_subcommand env" -l json -d 'Print JSON: an array of {name, instance, run, pid, env}'
complete -c svctl -n "__fish_svctl_using_subcommand env" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand env" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand bridge" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand bridge" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand bridge" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand bridge" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand gen-docs" -l home -d 'Home folder for the socket, database and logs [default: $SVCTL_HOME, else ~/.svctl]' -r -F
complete -c svctl -n "__fish_svctl_using_subcommand gen-docs" -s H -l host -d 'Run the command against the daemon of another host: `ssh://[user@]host[:port]`, through the system\'s ssh, which runs `svctl bridge` there ($SVCTL_REMOTE_BIN, else `svctl`; extra ssh options from $SVCTL_SSH_OPTS). Repeatable for list, why and history' -r
complete -c svctl -n "__fish_svctl_using_subcommand gen-docs" -l no-autostart -d 'Do not start the daemon when it is not running; fail instead'
complete -c svctl -n "__fish_svctl_using_subcommand gen-docs" -s h -l help -d 'Print help'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "daemon" -d 'Run the daemon in the foreground (for systemd, containers and tests)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "start" -d 'Start the apps of an ecosystem file, apps the daemon knows, or a program'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "stop" -d 'Stop apps gracefully (kill_signal to the process group, SIGKILL after kill_timeout)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "restart" -d 'Restart apps (stop gracefully, then start); starts stopped ones'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "reload" -d 'Replace apps\' processes without downtime (PM2\'s reload)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "apply" -d 'Bring the running apps to what an ecosystem file says, showing the plan first'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "deployments" -d 'List deployments (apply, rollback, start FILE, reload FILE), newest first'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "rollback" -d 'Apply the specs of the previous (or a given) deployment again'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "delete" -d 'Stop apps and forget them (their history stays in the database)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "list" -d 'List every instance with its id, status, pid, uptime, restarts, CPU and memory'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "jlist" -d 'The list as JSON on one line (PM2\'s jlist; the schema of `list --json`)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "prettylist" -d 'The list as indented JSON (PM2\'s prettylist; the same as `list --json`)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "describe" -d 'Show everything about an app: spec, instances, last exit, log files'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "ping" -d 'Check that the daemon answers; print its version and pid'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "kill" -d 'Stop every app, then the daemon (apps that were running come back with the next daemon)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "check" -d 'Validate an ecosystem file without starting anything'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "logs" -d 'Print the last lines of apps\' logs, then follow new output'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "flush" -d 'Empty log files (all apps and the daemon log when no target is given); apps keep writing'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "reload-logs" -d 'Reopen every log file at its path (after logrotate moved them; PM2\'s reloadLogs)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "history" -d 'One row per exit, newest first: when, cause, code or signal, uptime, memory'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "events" -d 'Lifecycle events (spawn, online, exit, restart scheduled, errored…): the recent ones, then with --follow each as it happens'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "metrics" -d 'Print every metric once, in the Prometheus text format (what the daemon\'s --metrics-addr endpoint serves)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "why" -d 'Why did it restart? Exits grouped by cause, the crash\'s stderr, and findings'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "report" -d 'An incident report of a window: restarts by cause, memory, deployments, findings'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "reset" -d 'Zero the restart counters (the history stays)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "startup" -d 'Print (or install) a systemd unit that runs the daemon at boot and after a failure'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "unstartup" -d 'Remove the systemd unit written by `startup --install`'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "save" -d 'PM2\'s save: nothing to do, svctl stores the apps that should run at every change'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "resurrect" -d 'PM2\'s resurrect: the daemon brings back the apps that should run when it starts; starts it'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "monit" -d 'A live dashboard: processes with CPU and memory sparklines, the selected app\'s log and exits'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "scale" -d 'Change the number of an app\'s instances: N, +N or -N (PM2\'s scale)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "signal" -d 'Send a signal to the main process of running instances (PM2\'s sendSignal)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "env" -d 'The environment an instance was started with; secret-looking values masked'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "bridge" -d 'Copy standard input and output to this user\'s daemon socket (what `-H` runs over ssh)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "gen-docs" -d 'Write the man page and shell completions (for packagers and the repository)'
complete -c svctl -n "__fish_svctl_using_subcommand help; and not __fish_seen_subcommand_from daemon start stop restart reload apply deployments rollback delete list jlist prettylist describe ping kill check logs flush reload-logs history events metrics why report reset startup unstartup save resurrect monit scale signal env bridge gen-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
