//! Owns one check of a readiness or health probe: an HTTP `GET`, a TCP connect or a shell
//! command, each bounded by its timeout, and the text that says why a check failed.
//!
//! Nothing here retries, schedules or keeps state: the caller decides when to check and what a
//! run of failures means. A check never panics and never returns a daemon error: an unreachable
//! target, a bad answer or a command that cannot start are all failed checks, described in the
//! words shown to users (`GET http://127.0.0.1:8000/health: timed out after 1 s`).

use crate::config::probe::{ProbeKind, parse_host_port, parse_http_url};
use crate::proc::signal_group;
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of an HTTP answer read while looking for the end of its status line.
const MAX_STATUS_LINE: usize = 8 * 1024;
/// The most of a command's stderr kept for the message (the rest is read and dropped, so a
/// chatty command never blocks on a full pipe).
const MAX_STDERR: usize = 4 * 1024;
/// How long a killed command may take to be reaped before it is left to tokio's orphan reaping.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// Runs one check of `kind`, giving up after `timeout`. Ok when it passes; Err(text) says what
/// failed, written for users, e.g. "GET http://127.0.0.1:8000/health: timed out after 1 s",
/// "GET http://127.0.0.1:8000/health: 503 Service Unavailable", "tcp 127.0.0.1:5432: connection
/// refused", "exec `curl -f localhost`: exit code 7: curl: (7) Failed to connect…".
///
/// `cwd` and `env` are the app's folder and its whole environment: only exec checks use them.
pub async fn check(
    kind: &ProbeKind,
    timeout: Duration,
    cwd: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    match kind {
        ProbeKind::Http(url) => bounded(timeout, http(url))
            .await
            .map_err(|e| format!("GET {url}: {e}")),
        ProbeKind::Tcp(target) => bounded(timeout, tcp(target))
            .await
            .map_err(|e| format!("tcp {target}: {e}")),
        ProbeKind::Exec(command) => exec(command, timeout, cwd, env)
            .await
            .map_err(|e| format!("exec `{command}`: {e}")),
    }
}

/// `1 s`, `500 ms`, `1.5 s`: a duration as messages show it.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        let text = format!("{:.3}", ms as f64 / 1000.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text} s")
    }
}

fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", duration_text(timeout))
}

/// Runs `work` under `timeout`; running out of time is a failure like any other.
async fn bounded<F>(timeout: Duration, work: F) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(timed_out(timeout)))
}

/// An OS error as users read it: `connection refused`, not `Connection refused (os error 111)`.
fn io_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_string(),
    }
}

/// Resolves `host:port` and connects to the first address that answers.
async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {}", io_text(&e)))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => io_text(&e),
        None => format!("`{host}` has no address"),
    })
}

async fn tcp(target: &str) -> Result<(), String> {
    let (host, port) = parse_host_port(target)?;
    connect(&host, port).await.map(drop)
}

async fn http(url: &str) -> Result<(), String> {
    let (host, port, path) = parse_http_url(url)?;
    let mut stream = connect(&host, port).await?;
    // The Host header of RFC 9112: brackets around an IPv6 literal, the port unless it is 80.
    let mut authority = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    if port != 80 {
        authority.push_str(&format!(":{port}"));
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: svctl\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {}", io_text(&e)))?;
    let line = status_line(&mut stream).await?;
    let (code, reason) = parse_status_line(&line)?;
    if (200..400).contains(&code) {
        Ok(())
    } else if reason.is_empty() {
        Err(code.to_string())
    } else {
        Err(format!("{code} {reason}"))
    }
}

/// Reads up to the end of the first line of the answer (at most [`MAX_STATUS_LINE`] bytes); the
/// headers and body are never read.
async fn status_line<R: AsyncRead + Unpin>(stream: &mut R) -> Result<String, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            buf.truncate(end);
            break;
        }
        if buf.len() >= MAX_STATUS_LINE {
            return Err(format!(
                "no status line in the first {} of the answer",
                size_text(MAX_STATUS_LINE)
            ));
        }
        let want = chunk.len().min(MAX_STATUS_LINE - buf.len());
        let n = stream
            .read(&mut chunk[..want])
            .await
            .map_err(|e| format!("reading the answer: {}", io_text(&e)))?;
        if n == 0 {
            if buf.is_empty() {
                return Err("the connection closed without an answer".to_string());
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
}

fn size_text(bytes: usize) -> String {
    format!("{} KiB", bytes / 1024)
}

/// `HTTP/1.1 503 Service Unavailable` → (503, "Service Unavailable").
fn parse_status_line(line: &str) -> Result<(u16, String), String> {
    let not_http = || {
        let shown: String = line.chars().take(80).collect();
        format!("not an HTTP answer: `{shown}`")
    };
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(not_http());
    }
    let code = parts
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(not_http)?;
    Ok((code, parts.next().unwrap_or_default().trim().to_string()))
}

/// Runs `sh -c COMMAND` as its own process group. When it ends or runs out of time, whatever is
/// left in its group is killed, so a check never leaves processes behind (the daemon is the
/// subreaper of everything it starts, and these would never be swept with a run).
async fn exec(
    command: &str,
    timeout: Duration,
    cwd: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    crate::proc::priority::at_original_nice(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start in {}: {}", cwd.display(), io_text(&e)))?;
    // The group's id is the leader's pid (process_group(0)); 0 if it already was reaped, which
    // signal_group refuses.
    let pgid = child.id().map_or(0, |p| p as i32);
    let stderr = child.stderr.take();
    let outcome = tokio::time::timeout(timeout, async {
        let reader = read_capped(stderr);
        tokio::pin!(reader);
        let mut read = None;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                text = &mut reader, if read.is_none() => read = Some(text),
            }
        };
        // The command ended: what it left in its group goes too, and with it every other
        // holder of the stderr pipe, so the rest of the pipe is read at once.
        let _ = signal_group(pgid, Signal::SIGKILL);
        let text = match read {
            Some(text) => text,
            None => reader.await,
        };
        (status, text)
    })
    .await;
    let (status, stderr) = match outcome {
        Ok(done) => done,
        Err(_) => {
            let _ = signal_group(pgid, Signal::SIGKILL);
            // SIGKILL cannot be caught: the wait is short unless the process is stuck in the
            // kernel, and then kill_on_drop hands it to tokio's orphan reaping.
            let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
            return Err(timed_out(timeout));
        }
    };
    let status = status.map_err(|e| format!("waiting for it: {}", io_text(&e)))?;
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by {}", crate::proc::signal_name(sig)),
        (None, None) => "failed".to_string(),
    };
    match first_line(&stderr) {
        Some(line) => Err(format!("{how}: {line}")),
        None => Err(how),
    }
}

/// Reads a pipe to its end, keeping the first [`MAX_STDERR`] bytes.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else { return kept };
    let mut chunk = [0u8; 1024];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = MAX_STDERR.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}

/// The first non-blank line of a command's stderr, shortened for a one-line message.
fn first_line(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut shown: String = line.chars().take(200).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn env() -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
        env
    }

    async fn run(kind: ProbeKind, timeout_ms: u64) -> Result<(), String> {
        let cwd = std::env::temp_dir();
        check(&kind, Duration::from_millis(timeout_ms), &cwd, &env()).await
    }

    /// A one-connection-at-a-time HTTP server answering every request with `answer` (or, when
    /// it is empty, reading the request and never answering). Returns its URL.
    async fn server(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 512];
                    while !request.ends_with(b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let request = String::from_utf8_lossy(&request).to_string();
                    assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
                    assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
                    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
                    if answer.is_empty() {
                        std::future::pending::<()>().await;
                    }
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://127.0.0.1:{port}/health")
    }

    /// A port nothing listens on: bound, then released.
    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn durations_as_users_read_them() {
        for (ms, text) in [
            (0, "0 ms"),
            (500, "500 ms"),
            (1000, "1 s"),
            (1500, "1.5 s"),
            (1250, "1.25 s"),
            (60_000, "60 s"),
        ] {
            assert_eq!(duration_text(Duration::from_millis(ms)), text);
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable"),
            Ok((503, "Service Unavailable".to_string()))
        );
        assert_eq!(parse_status_line("HTTP/1.0 204"), Ok((204, String::new())));
        for bad in ["", "SSH-2.0-OpenSSH", "HTTP/1.1 abc OK", "HTTP/1.1 2000 OK"] {
            assert!(parse_status_line(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn http_2xx_and_3xx_pass() {
        let ok = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        assert_eq!(run(ProbeKind::Http(ok), 2000).await, Ok(()));
        let moved = server("HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n").await;
        assert_eq!(run(ProbeKind::Http(moved), 2000).await, Ok(()));
    }

    #[tokio::test]
    async fn http_error_status_fails_with_it() {
        let url = server("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        assert_eq!(
            run(ProbeKind::Http(url.clone()), 2000).await,
            Err(format!("GET {url}: 503 Service Unavailable"))
        );
    }

    #[tokio::test]
    async fn http_silence_times_out() {
        let url = server("").await;
        assert_eq!(
            run(ProbeKind::Http(url.clone()), 300).await,
            Err(format!("GET {url}: timed out after 300 ms"))
        );
    }

    #[tokio::test]
    async fn http_garbage_and_refusal_fail() {
        let url = server("SSH-2.0-OpenSSH_9.2\r\n").await;
        let err = run(ProbeKind::Http(url.clone()), 2000).await.unwrap_err();
        assert_eq!(
            err,
            format!("GET {url}: not an HTTP answer: `SSH-2.0-OpenSSH_9.2`")
        );
        let url = format!("http://127.0.0.1:{}/health", free_port());
        assert_eq!(
            run(ProbeKind::Http(url.clone()), 2000).await,
            Err(format!("GET {url}: connection refused"))
        );
    }

    #[tokio::test]
    async fn http_reads_only_a_bounded_status_line() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let endless = vec![b'x'; 64 * 1024];
            let _ = conn.write_all(&endless).await;
            std::future::pending::<()>().await;
        });
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(
            run(ProbeKind::Http(url.clone()), 2000).await,
            Err(format!(
                "GET {url}: no status line in the first 8 KiB of the answer"
            ))
        );
    }

    #[tokio::test]
    async fn tcp_refused_and_accepted() {
        let port = free_port();
        assert_eq!(
            run(ProbeKind::Tcp(format!("127.0.0.1:{port}")), 2000).await,
            Err(format!("tcp 127.0.0.1:{port}: connection refused"))
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            run(ProbeKind::Tcp(format!("localhost:{port}")), 2000).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn exec_exit_codes() {
        assert_eq!(run(ProbeKind::Exec("true".into()), 5000).await, Ok(()));
        assert_eq!(
            run(ProbeKind::Exec("exit 3".into()), 5000).await,
            Err("exec `exit 3`: exit code 3".to_string())
        );
        assert_eq!(
            run(ProbeKind::Exec("kill -9 $$".into()), 5000).await,
            Err("exec `kill -9 $$`: killed by SIGKILL".to_string())
        );
    }

    #[tokio::test]
    async fn exec_shows_the_first_stderr_line() {
        let cmd = "echo; echo 'db: connection refused' >&2; echo more >&2; exit 7";
        assert_eq!(
            run(ProbeKind::Exec(cmd.into()), 5000).await,
            Err(format!("exec `{cmd}`: exit code 7: db: connection refused"))
        );
    }

    #[tokio::test]
    async fn exec_gets_exactly_its_env_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = env();
        env.insert("PROBE_TOKEN".into(), "t0k".into());
        let cmd = ProbeKind::Exec(
            r#"test "$PROBE_TOKEN" = t0k && test -z "$HOME" && test "$(pwd -P)" = "$WANT""#.into(),
        );
        let want = dir.path().canonicalize().unwrap();
        env.insert("WANT".into(), want.display().to_string());
        let r = check(&cmd, Duration::from_secs(5), dir.path(), &env).await;
        assert_eq!(r, Ok(()));
        let missing = dir.path().join("gone");
        let err = check(&cmd, Duration::from_secs(5), &missing, &env)
            .await
            .unwrap_err();
        assert!(err.contains("cannot start in"), "{err}");
    }

    /// Waits up to 5 s for `pid` to be gone (or a zombie of a parent that is not us).
    async fn gone(pid: i32) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            match crate::proc::stat::read(pid) {
                None => return true,
                Some(s) if s.zombie() => return true,
                Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        false
    }

    #[tokio::test]
    async fn exec_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        // The shell and a background sleep, both in the probe's group.
        let cmd = "echo $$ > shell.pid; sleep 10 & echo $! > sleep.pid; wait";
        let r = check(
            &ProbeKind::Exec(cmd.into()),
            Duration::from_millis(200),
            dir.path(),
            &env(),
        )
        .await;
        assert_eq!(r, Err(format!("exec `{cmd}`: timed out after 200 ms")));
        for file in ["shell.pid", "sleep.pid"] {
            let pid: i32 = std::fs::read_to_string(dir.path().join(file))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(gone(pid).await, "{file}: {pid} still runs");
        }
    }

    #[tokio::test]
    async fn exec_leaves_nothing_behind_and_does_not_wait_for_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        // The background sleep keeps stderr open: the check must not wait for it.
        let cmd = "sleep 10 & echo $! > sleep.pid; exit 0";
        let started = std::time::Instant::now();
        let r = check(
            &ProbeKind::Exec(cmd.into()),
            Duration::from_secs(5),
            dir.path(),
            &env(),
        )
        .await;
        assert_eq!(r, Ok(()));
        assert!(started.elapsed() < Duration::from_secs(3));
        let pid: i32 = std::fs::read_to_string(dir.path().join("sleep.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid).await, "the background sleep {pid} still runs");
    }
}
