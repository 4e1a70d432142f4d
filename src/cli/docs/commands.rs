//! Owns the page of each command (`svctl-start(1)`…): clap_mangen renders its name, synopsis,
//! description and options from the clap definition (what `svctl help CMD` prints), and this
//! file adds EXIT STATUS, EXAMPLES and SEE ALSO from [`PAGES`].

use super::roff;
use clap::Command;
use std::io;

/// Per command: its examples (command line, what it does) and the pages it refers to.
pub type Page = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const FILE: &[&str] = &["svctl-ecosystem(5)"];

/// Every visible command's examples and SEE ALSO (a test checks that each command has a row and
/// that every example parses).
pub const PAGES: &[Page] = &[
    (
        "daemon",
        &[
            (
                "svctl daemon",
                "run the daemon in the foreground, as a systemd unit or a container's command does",
            ),
            (
                "svctl --home /srv/svctl daemon",
                "with its socket, database and logs under /srv/svctl",
            ),
            (
                "svctl daemon --metrics-addr 127.0.0.1:9615",
                "also serve GET /metrics and GET /healthz for Prometheus on loopback port 9615",
            ),
        ],
        &[
            "svctl-startup(1)",
            "svctl-kill(1)",
            "svctl-ping(1)",
            "svctl-metrics(1)",
        ],
    ),
    (
        "start",
        &[
            (
                "svctl start ecosystem.yaml",
                "add and start the apps of a file",
            ),
            (
                "svctl start ecosystem.yaml --only api,worker --env production",
                "two of its apps, with their env_production blocks",
            ),
            (
                "svctl start app.py --name api -i max --max-memory-restart 300M -- --port 8080",
                "a program as a new app, one instance per CPU",
            ),
            ("svctl start api", "start a known, stopped app"),
        ],
        &[
            "svctl-stop(1)",
            "svctl-restart(1)",
            "svctl-apply(1)",
            FILE[0],
        ],
    ),
    (
        "stop",
        &[
            ("svctl stop api", "stop every instance of api"),
            ("svctl stop api:1", "only instance 1"),
            ("svctl stop all", "every app"),
            ("svctl stop ecosystem.yaml", "the apps of that file"),
        ],
        &["svctl-start(1)", "svctl-delete(1)"],
    ),
    (
        "restart",
        &[
            (
                "svctl restart api",
                "stop, then start every instance of api",
            ),
            (
                "svctl restart api --update-env",
                "with this shell's environment",
            ),
            (
                "svctl restart ecosystem.yaml --env production",
                "the file's apps, with their env_production blocks",
            ),
        ],
        &["svctl-reload(1)", "svctl-start(1)"],
    ),
    (
        "reload",
        &[
            (
                "svctl reload api",
                "replace api's processes one at a time, without downtime",
            ),
            (
                "svctl reload all --parallel 2",
                "every app, two instances at a time",
            ),
            ("svctl reload ecosystem.yaml", "with the file's specs"),
        ],
        &["svctl-restart(1)", "svctl-apply(1)", FILE[0]],
    ),
    (
        "apply",
        &[
            (
                "svctl apply ecosystem.yaml --dry-run",
                "print the plan, change nothing",
            ),
            (
                "svctl apply ecosystem.yaml",
                "add, change and keep apps as the file says",
            ),
            (
                "svctl apply ecosystem.yaml --prune",
                "and stop and delete the apps it does not have",
            ),
        ],
        &["svctl-deployments(1)", "svctl-rollback(1)", FILE[0]],
    ),
    (
        "deployments",
        &[
            ("svctl deployments", "the last 20 deployments"),
            (
                "svctl deployments api --json",
                "those that changed api, with their plans",
            ),
        ],
        &["svctl-apply(1)", "svctl-rollback(1)", "svctl-database(5)"],
    ),
    (
        "rollback",
        &[
            (
                "svctl rollback --dry-run",
                "the plan of going back one deployment",
            ),
            (
                "svctl rollback api --to 3",
                "apply api's spec of deployment 3 again",
            ),
        ],
        &["svctl-apply(1)", "svctl-deployments(1)"],
    ),
    (
        "delete",
        &[
            (
                "svctl delete api",
                "stop api and forget it (its history stays)",
            ),
            ("svctl delete ecosystem.yaml", "the apps of that file"),
        ],
        &["svctl-stop(1)", "svctl-history(1)"],
    ),
    (
        "list",
        &[
            ("svctl list", "every instance with its status"),
            ("svctl ls --json", "the same as JSON"),
        ],
        &["svctl-describe(1)", "svctl-jlist(1)"],
    ),
    (
        "jlist",
        &[("svctl jlist", "the list as JSON on one line")],
        &["svctl-list(1)", "svctl-prettylist(1)"],
    ),
    (
        "prettylist",
        &[("svctl prettylist", "the list as indented JSON")],
        &["svctl-list(1)", "svctl-jlist(1)"],
    ),
    (
        "describe",
        &[
            (
                "svctl describe api",
                "spec, instances, last exit and log files of api",
            ),
            ("svctl show api --json", "the same as JSON"),
        ],
        &["svctl-list(1)", "svctl-why(1)"],
    ),
    (
        "ping",
        &[("svctl ping", "is the daemon running? its version and pid")],
        &["svctl-daemon(1)"],
    ),
    (
        "kill",
        &[(
            "svctl kill",
            "stop every app, then the daemon; the next daemon starts them again",
        )],
        &["svctl-daemon(1)", "svctl-resurrect(1)"],
    ),
    (
        "check",
        &[
            (
                "svctl check ecosystem.yaml",
                "validate a file; every problem with its line",
            ),
            (
                "svctl check ecosystem.config.js --env production --json",
                "the resolved apps as JSON",
            ),
        ],
        &["svctl-apply(1)", FILE[0]],
    ),
    (
        "logs",
        &[
            (
                "svctl logs api",
                "the last 15 lines of api's logs, then follow",
            ),
            (
                "svctl logs api --lines 100 --nostream",
                "the last 100 lines, then exit",
            ),
            ("svctl logs --err --raw", "stderr of every app, as written"),
        ],
        &["svctl-flush(1)", "svctl-reload-logs(1)"],
    ),
    (
        "flush",
        &[
            ("svctl flush", "empty every log file, and the daemon's"),
            ("svctl flush api", "only api's"),
        ],
        &["svctl-logs(1)"],
    ),
    (
        "monit",
        &[
            ("svctl monit", "the dashboard of this host's daemon"),
            (
                "svctl -H ssh://deploy@web1 monit",
                "the dashboard of web1's, through ssh",
            ),
        ],
        &["svctl-list(1)", "svctl-why(1)"],
    ),
    (
        "scale",
        &[
            ("svctl scale api 4", "exactly 4 instances"),
            (
                "svctl scale api +2",
                "two more, with the next instance numbers",
            ),
            (
                "svctl scale api -1",
                "the highest instance is stopped and deleted",
            ),
        ],
        &["svctl-list(1)"],
    ),
    (
        "signal",
        &[
            (
                "svctl signal SIGUSR2 api",
                "to each running instance's main process",
            ),
            (
                "svctl signal HUP api:0 --group",
                "to instance 0's whole process group",
            ),
        ],
        &["svctl-reload(1)"],
    ),
    (
        "env",
        &[
            (
                "svctl env api:1",
                "what instance 1 was started with, secrets masked",
            ),
            ("svctl env api --json --show-secrets", "all of it, as JSON"),
        ],
        &["svctl-describe(1)"],
    ),
    (
        "reload-logs",
        &[(
            "svctl reload-logs",
            "reopen every log file, in logrotate's postrotate",
        )],
        &["svctl-logs(1)", "logrotate(8)"],
    ),
    (
        "events",
        &[
            ("svctl events", "the recent lifecycle events of every app"),
            (
                "svctl events api --follow",
                "api's events as they happen: spawn, online, exit with its cause, restart scheduled…",
            ),
            (
                "svctl events --follow --json",
                "one JSON object per event (a {\"dropped\": N} line when the reader fell behind)",
            ),
        ],
        &["svctl-history(1)", "svctl-logs(1)", "svctl-metrics(1)"],
    ),
    (
        "metrics",
        &[
            (
                "svctl metrics",
                "every metric once, in the Prometheus text format",
            ),
            (
                "svctl --home /srv/svctl metrics",
                "the metrics of the daemon of another home",
            ),
        ],
        &["svctl-daemon(1)", "svctl-events(1)"],
    ),
    (
        "history",
        &[
            ("svctl history api", "api's exits, newest first"),
            (
                "svctl history --since 2h --cause oom_killed",
                "kernel OOM kills of the last two hours",
            ),
        ],
        &["svctl-why(1)", "svctl-database(5)"],
    ),
    (
        "why",
        &[
            ("svctl why api", "why api restarted in the last 24 hours"),
            (
                "svctl why api:0 --since 7d --json",
                "instance 0, over a week, as JSON",
            ),
        ],
        &["svctl-history(1)", "svctl-database(5)"],
    ),
    (
        "report",
        &[
            (
                "svctl report -o incident.html",
                "the last 24 hours of every app, as one HTML page with charts",
            ),
            (
                "svctl report api --since 2026-11-22T10:00 --until 2026-11-22T14:00 -o api.md",
                "one app over four hours, as Markdown for a ticket",
            ),
            (
                "svctl report --since 7d --format json",
                "a week as JSON (see docs/REPORT.md)",
            ),
        ],
        &["svctl-why(1)", "svctl-history(1)", "svctl-database(5)"],
    ),
    (
        "reset",
        &[
            ("svctl reset api", "zero api's restart counters"),
            ("svctl reset all", "every app's"),
        ],
        &["svctl-list(1)"],
    ),
    (
        "startup",
        &[
            ("svctl startup", "print a systemd unit for the daemon"),
            ("sudo svctl startup --install", "install it"),
            ("svctl startup --user --install", "a systemctl --user unit"),
        ],
        &["svctl-unstartup(1)", "systemd.service(5)"],
    ),
    (
        "unstartup",
        &[
            ("sudo svctl unstartup", "remove the unit"),
            ("svctl unstartup --user", "the user unit"),
        ],
        &["svctl-startup(1)"],
    ),
    (
        "save",
        &[(
            "svctl save",
            "nothing to do: svctl stores the apps at every change",
        )],
        &["svctl-resurrect(1)"],
    ),
    (
        "resurrect",
        &[(
            "svctl resurrect",
            "start the daemon, which brings back the apps that should run",
        )],
        &["svctl-save(1)", "svctl-kill(1)"],
    ),
    (
        "help",
        &[(
            "svctl help start",
            "the help of start, as in svctl-start(1)",
        )],
        &[],
    ),
];

/// The page of one built subcommand (its bin name is `svctl NAME`).
pub fn page(sub: &Command) -> io::Result<Vec<u8>> {
    let name = sub.get_name();
    let man = clap_mangen::Man::new(sub.clone())
        .title(format!("svctl-{name}"))
        .source(format!("svctl {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    let mut text = String::from(
        ".SH \"EXIT STATUS\"\n.TP\n0\nSuccess.\n.TP\n1\nRefused or failed (the first line on stderr says why).\n.TP\n2\nA usage error, or an ecosystem file that cannot be used.\n",
    );
    let (_, examples, see) = PAGES
        .iter()
        .find(|(n, _, _)| *n == name)
        .copied()
        .unwrap_or((name, &[], &[]));
    if !examples.is_empty() {
        text.push_str(".SH EXAMPLES\n");
        for (line, what) in examples {
            text.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                roff::esc(line),
                roff::inline(what)
            ));
        }
    }
    let mut refs = vec!["svctl(1)"];
    refs.extend(see.iter().copied());
    text.push_str(&roff::see_also(&refs));
    out.extend_from_slice(text.as_bytes());
    Ok(out)
}
