//! Owns commands against other hosts (`-H`): which commands may name several hosts, the
//! `list` of several daemons with a host column, and `history`/`why`/`deployments`, which read a
//! host's database and so run as that host's own svctl over ssh. A host that fails is named
//! with what ssh or its svctl said, and the other hosts still answer.

use crate::cli::args::{Cli, Command};
use crate::cli::error::Failure;
use crate::cli::{output, render};
use crate::ipc::Response;
use crate::ipc::client::Client;
pub use crate::ipc::remote::Host;
use crate::ipc::remote::SshLink;
use tokio::io::AsyncReadExt;

/// The hosts of `-H`, parsed; a bad URL is a usage error.
pub fn parse(cli: &Cli) -> Result<Vec<Host>, Failure> {
    cli.hosts
        .iter()
        .filter(|h| !h.trim().is_empty())
        .map(|h| Host::parse(h.trim()).map_err(Failure::usage))
        .collect()
}

/// Commands that may name several hosts.
pub fn allows_many(c: &Command) -> bool {
    matches!(c, Command::List(_) | Command::History(_) | Command::Why(_))
}

/// Commands that only make sense on this host.
pub fn local_only(c: &Command) -> Option<&'static str> {
    Some(match c {
        Command::Daemon(_) => "daemon",
        Command::Bridge => "bridge",
        Command::Check(_) => "check",
        Command::GenDocs { .. } => "gen-docs",
        Command::Startup(_) => "startup",
        Command::Unstartup(_) => "unstartup",
        _ => return None,
    })
}

/// This command line as the remote svctl should get it: without `-H` and `--home` (the host
/// URL's path is the remote home).
pub fn remote_args() -> Vec<String> {
    without_hosts(std::env::args().skip(1))
}

fn without_hosts(mut args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-H" | "--host" | "--home" => {
                args.next();
            }
            _ if a.starts_with("--host=") || a.starts_with("--home=") => {}
            _ if a.starts_with("-H") && a.len() > 2 => {}
            _ => out.push(a),
        }
    }
    out
}

/// `list` of several hosts: one table with a host column; hosts that fail are named on stderr.
pub async fn list(hosts: &[Host], json: bool) -> Result<(), Failure> {
    let answers = futures_util::future::join_all(hosts.iter().map(|h| async move {
        let mut c = Client::connect_host(h).await?;
        c.list().await
    }))
    .await;
    let mut rows = Vec::new();
    let mut failed = 0;
    for (h, answer) in hosts.iter().zip(answers) {
        match answer {
            Ok(Response::List {
                processes,
                warnings,
            }) => {
                for w in warnings {
                    output::warning(format_args!("{}: {w}", h.label()));
                }
                rows.extend(processes.into_iter().map(|p| (h.label(), p)));
            }
            Ok(other) => {
                failed += 1;
                output::warning(format_args!(
                    "{}: unexpected answer `{}`",
                    h.label(),
                    other.type_name()
                ));
            }
            Err(e) => {
                failed += 1;
                output::warning(e.to_string());
            }
        }
    }
    if json {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|(host, p)| {
                let mut v = serde_json::to_value(p).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("host".into(), host.clone().into());
                }
                v
            })
            .collect();
        output::json(&values)?;
    } else {
        output::line(render::host_table(&rows, output::color()))?;
    }
    some_failed(failed, hosts.len())
}

fn some_failed(failed: usize, of: usize) -> Result<(), Failure> {
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "{failed} of {of} hosts did not answer"
        )))
    }
}

/// What one host's svctl printed, and how it ended.
struct Ran {
    stdout: String,
    stderr: String,
    ok: Option<i32>,
}

async fn run_on(host: &Host, args: &[String]) -> Result<Ran, String> {
    let (mut link, mut stream) = SshLink::spawn(host, args)?;
    let mut stdout = String::new();
    // The command reads nothing: ssh gets end of file at once.
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
    stream
        .read_to_string(&mut stdout)
        .await
        .map_err(|e| format!("reading ssh's output: {e}"))?;
    let code = link.wait().await;
    let stderr = link.stderr_text().await;
    Ok(Ran {
        stdout,
        stderr,
        ok: code,
    })
}

/// `history`, `why` or `deployments` run by each host's svctl: one host's output as it is;
/// several hosts' lines behind a host column (`--json`: each row gets a `host` field).
pub async fn run_remotely(hosts: &[Host], json: bool, tabular: bool) -> Result<(), Failure> {
    let args = remote_args();
    let results = futures_util::future::join_all(hosts.iter().map(|h| run_on(h, &args))).await;
    let width = hosts
        .iter()
        .map(|h| h.label().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut merged = Vec::new();
    let mut header: Option<String> = None;
    let mut failed = 0;
    let mut last_failure = None;
    for (h, r) in hosts.iter().zip(results) {
        let ran = match r {
            Ok(ran) => ran,
            Err(e) => {
                failed += 1;
                last_failure = Some(Failure::failed(format!("{}: {e}", h.url)));
                continue;
            }
        };
        if ran.ok != Some(0) {
            failed += 1;
            let said = ran.stderr.trim();
            let said = said.strip_prefix("svctl: error: ").unwrap_or(said);
            let f = format!("{}: {said}", h.url);
            last_failure = Some(if ran.ok == Some(2) {
                Failure::usage(f)
            } else {
                Failure::failed(f)
            });
            continue;
        }
        if hosts.len() == 1 {
            output::text(&ran.stdout)?;
            if !ran.stderr.is_empty() {
                eprintln!("{}", ran.stderr);
            }
        } else if json {
            match serde_json::from_str::<serde_json::Value>(&ran.stdout) {
                Ok(serde_json::Value::Array(items)) => {
                    merged.extend(items.into_iter().map(|v| with_host(v, &h.label())))
                }
                Ok(v) => merged.push(with_host(v, &h.label())),
                Err(e) => output::warning(format_args!("{}: not JSON: {e}", h.label())),
            }
        } else {
            let mut out = output::Out::lock();
            for (n, line) in ran.stdout.lines().enumerate() {
                // A table's header is printed once, for every host's rows.
                if tabular && n == 0 {
                    if header.is_none() {
                        out.line(format_args!("{:<width$}  {line}", "HOST"))?;
                        header = Some(line.to_string());
                    }
                    if header.as_deref() == Some(line) {
                        continue;
                    }
                }
                out.line(format_args!("{:<width$}  {line}", h.label()))?;
            }
            out.flush()?;
        }
    }
    if hosts.len() > 1 && json {
        output::json(&merged)?;
    }
    if hosts.len() > 1 && failed > 0 {
        if let Some(f) = &last_failure {
            output::warning(f);
        }
        return some_failed(failed, hosts.len());
    }
    last_failure.map_or(Ok(()), Err)
}

fn with_host(v: serde_json::Value, host: &str) -> serde_json::Value {
    match v {
        serde_json::Value::Object(mut o) => {
            o.insert("host".into(), host.into());
            serde_json::Value::Object(o)
        }
        other => serde_json::json!({"host": host, "value": other}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_line_has_no_hosts_and_no_local_home() {
        let args = [
            "-H",
            "ssh://a",
            "--host=ssh://b",
            "-Hssh://c",
            "--home",
            "/x",
            "history",
            "api",
            "--home=/y",
            "--json",
        ];
        assert_eq!(
            without_hosts(args.iter().map(|s| s.to_string())),
            ["history", "api", "--json"]
        );
    }
}
