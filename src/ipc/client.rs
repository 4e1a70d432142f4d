//! Owns the client side of the socket: connecting, the handshake, and starting the daemon in the
//! background when it is not running. The connection is a stream of frames over the local Unix
//! socket, or over the stdio of an `ssh` child running `svctl bridge` on the host chosen once per
//! process with [`use_remote`] (`-H`).

use super::codec::{self, CodecError, Conn, Transport};
use super::remote::{Host, SshLink};
use super::{PROTOCOL_VERSION, Request, Response};
use crate::paths::Paths;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::time::Instant;

/// How long a client waits for a daemon it started to answer.
const AUTOSTART_BUDGET: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the svctl daemon is not running (socket {0})")]
    NotRunning(String),
    #[error(
        "the daemon speaks protocol {daemon} (version {daemon_version}) but this client speaks {client}: run `svctl kill` to restart it with this version"
    )]
    VersionMismatch {
        daemon: u32,
        daemon_version: String,
        client: u32,
    },
    #[error("could not start the daemon: {0}")]
    StartFailed(String),
    #[error("the daemon closed the connection")]
    Closed,
    #[error("the daemon refused this connection: {0}")]
    Refused(String),
    #[error("unexpected answer from the daemon: {0}")]
    Unexpected(String),
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// The host of `-H` could not be reached or its svctl did not answer: ssh's (or the remote
    /// svctl's) own words.
    #[error("{host}: {message}")]
    Remote { host: String, message: String },
}

/// The host this process's commands go to (`-H`), chosen once before the first connection.
static REMOTE: OnceLock<Host> = OnceLock::new();

/// Sends every later connection of this process to `host` instead of the local socket.
pub fn use_remote(host: Host) {
    let _ = REMOTE.set(host);
}

/// The host chosen with [`use_remote`], if any.
pub fn remote() -> Option<&'static Host> {
    REMOTE.get()
}

pub struct Client {
    conn: Conn<Box<dyn Transport>>,
    /// The ssh child of a remote connection, ended with the client.
    _link: Option<SshLink>,
    pub daemon_pid: u32,
    pub daemon_version: String,
}

impl Client {
    /// Connects (to the host of [`use_remote`] when one was chosen) and performs the handshake.
    pub async fn connect(paths: &Paths) -> Result<Client, ClientError> {
        if let Some(host) = remote() {
            return Client::connect_host(host).await;
        }
        let stream = match UnixStream::connect(&paths.socket).await {
            Ok(s) => s,
            Err(e) if is_not_running(&e) => {
                return Err(ClientError::NotRunning(paths.socket.display().to_string()));
            }
            Err(e) => return Err(ClientError::Codec(CodecError::Io(e))),
        };
        Client::handshake(Box::new(stream)).await
    }

    /// Connects to the daemon of `host` through `ssh … svctl bridge`. When that fails, the
    /// error carries what ssh or the remote svctl said.
    pub async fn connect_host(host: &Host) -> Result<Client, ClientError> {
        let remote_err = |message: String| ClientError::Remote {
            host: host.url.clone(),
            message,
        };
        let (mut link, stream) =
            SshLink::spawn(host, &["bridge".to_string()]).map_err(remote_err)?;
        match Client::handshake(Box::new(stream)).await {
            Ok(mut c) => {
                c._link = Some(link);
                Ok(c)
            }
            Err(e) => {
                // The remote svctl's own `svctl: error:` prefix would be said twice.
                let said = link
                    .stderr_text()
                    .await
                    .lines()
                    .map(|l| l.strip_prefix("svctl: error: ").unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n");
                Err(remote_err(if said.is_empty() {
                    e.to_string()
                } else {
                    said
                }))
            }
        }
    }

    async fn handshake(stream: Box<dyn Transport>) -> Result<Client, ClientError> {
        let mut conn = codec::framed(stream);
        let hello = Request::Hello {
            protocol: PROTOCOL_VERSION,
            client_version: crate::VERSION.to_string(),
        };
        codec::send(&mut conn, &hello).await?;
        match codec::recv::<Response>(&mut conn).await? {
            Some(Response::Hello {
                protocol,
                daemon_version,
                pid,
            }) if protocol == PROTOCOL_VERSION => Ok(Client {
                conn,
                _link: None,
                daemon_pid: pid,
                daemon_version,
            }),
            Some(Response::Hello {
                protocol,
                daemon_version,
                ..
            }) => Err(ClientError::VersionMismatch {
                daemon: protocol,
                daemon_version,
                client: PROTOCOL_VERSION,
            }),
            Some(Response::Error { message, .. }) => Err(ClientError::Refused(message)),
            Some(other) => Err(ClientError::Unexpected(format!(
                "a `{}` answer to hello",
                other.type_name()
            ))),
            None => Err(ClientError::Closed),
        }
    }

    /// Connects, starting the daemon in the background first when it does not answer and
    /// `autostart` is set.
    pub async fn connect_or_start(paths: &Paths, autostart: bool) -> Result<Client, ClientError> {
        if remote().is_some() {
            // Another host's daemon is that host's business: it is never started from here.
            return Client::connect(paths).await;
        }
        match Client::connect(paths).await {
            Err(ClientError::NotRunning(_)) if autostart => {}
            other => return other,
        }
        spawn_daemon(paths).map_err(|e| ClientError::StartFailed(e.to_string()))?;
        let deadline = Instant::now() + AUTOSTART_BUDGET;
        let mut pause = Duration::from_millis(2);
        loop {
            match Client::connect(paths).await {
                Err(ClientError::NotRunning(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(ClientError::NotRunning(_)) => {
                    return Err(ClientError::StartFailed(format!(
                        "it did not answer within {}s; its log ({}) ends with:\n{}",
                        AUTOSTART_BUDGET.as_secs(),
                        paths.daemon_log.display(),
                        log_tail(&paths.daemon_log, 10)
                    )));
                }
                other => return other,
            }
        }
    }

    /// The next frame of a stream (`logs --follow`), or `None` when the daemon closed it.
    pub async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        Ok(codec::recv::<Response>(&mut self.conn).await?)
    }

    /// `list`, decoded straight into its fields: a thousand processes parse several times faster
    /// than through the tagged [`Response`] enum, which must buffer the whole frame first.
    pub async fn list(&mut self) -> Result<Response, ClientError> {
        #[derive(serde::Deserialize)]
        struct ListFrame {
            #[serde(rename = "type")]
            kind: String,
            processes: Vec<super::ProcessInfo>,
            #[serde(default)]
            warnings: Vec<String>,
        }
        codec::send(&mut self.conn, &Request::List).await?;
        let frame = codec::recv_raw(&mut self.conn)
            .await?
            .ok_or(ClientError::Closed)?;
        match serde_json::from_slice::<ListFrame>(&frame) {
            Ok(f) if f.kind == "list" => Ok(Response::List {
                processes: f.processes,
                warnings: f.warnings,
            }),
            _ => Ok(serde_json::from_slice::<Response>(&frame).map_err(CodecError::Json)?),
        }
    }

    /// `list` for printing as JSON: the text of the daemon's process array, as it came (the
    /// daemon encodes the same [`super::ProcessInfo`] the same way, so decoding a thousand
    /// processes only to encode them again would change nothing but the time), or any other
    /// answer decoded.
    pub async fn list_raw(&mut self) -> Result<RawList, ClientError> {
        #[derive(serde::Deserialize)]
        struct RawFrame<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            #[serde(borrow)]
            processes: &'a serde_json::value::RawValue,
        }
        codec::send(&mut self.conn, &Request::List).await?;
        let frame = codec::recv_raw(&mut self.conn)
            .await?
            .ok_or(ClientError::Closed)?;
        match serde_json::from_slice::<RawFrame>(&frame) {
            Ok(f) if f.kind == "list" => Ok(RawList::Processes(f.processes.get().to_string())),
            _ => Ok(RawList::Answer(
                serde_json::from_slice::<Response>(&frame).map_err(CodecError::Json)?,
            )),
        }
    }

    pub async fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        codec::send(&mut self.conn, req).await?;
        codec::recv::<Response>(&mut self.conn)
            .await?
            .ok_or(ClientError::Closed)
    }
}

/// What [`Client::list_raw`] got.
#[derive(Debug)]
pub enum RawList {
    /// The process array as compact JSON.
    Processes(String),
    /// Another answer (an error).
    Answer(Response),
}

fn is_not_running(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// Starts `svctl daemon` detached: its own session, stdin from /dev/null, output appended to
/// the daemon log. The lock in the home makes a racing second daemon exit at once.
fn spawn_daemon(paths: &Paths) -> io::Result<()> {
    crate::paths::prepare_home(&paths.home)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.daemon_log)?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(&paths.home)
        .arg("daemon")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // A session of its own (not only a process group: `process_group(0)` would leave it in
    // the shell's session, and hangups of that terminal would reach it). Stable std has no
    // safe way (`CommandExt::setsid` is nightly-only, `process_setsid`), hence `pre_exec`.
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // work is allowed: setsid(2) is a single system call, and turning its Errno into an
    // io::Error (`from_raw_os_error`) neither allocates nor takes a lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    // Reap it in the background if it exits early (e.g. lost the lock race); a daemon that
    // keeps running is re-parented to init when this client exits.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// The last `n` lines of a file, for error messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}
