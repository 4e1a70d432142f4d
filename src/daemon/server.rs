//! Owns the daemon's side of the control socket: accepting connections, checking the peer's
//! uid, the handshake, and relaying each request to the supervisor and its answer back. When
//! every slot is taken, the connection that has waited longest for its next request (idle at
//! least [`EVICT_AFTER`]) is closed to make room: many idle clients cannot lock the CLI out.

use super::supervisor::Command;
use crate::ipc::codec::{self, CodecError, Conn};
use crate::ipc::{ErrorKind, LogLine, LogSource, PROTOCOL_VERSION, Request, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A client must say hello within this time, so a stalled connection cannot sit on a slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle or stalled client (no complete request for this long) is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A client that does not read its answer for this long is disconnected.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are told so and closed, so a flood cannot exhaust fds.
pub const MAX_CONNECTIONS: usize = 256;
/// A connection idle this long may be closed to make room for a new one; a client between its
/// hello and its request is never idle that long.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);
/// How long a new connection waits for the slot of the idle one closed for it.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// The connections waiting for their next request, by when they began to wait.
#[derive(Default)]
struct Idle {
    next: u64,
    waiting: BTreeMap<u64, (Instant, CancellationToken)>,
}

type Idles = Arc<Mutex<Idle>>;

/// A connection's stay in [`Idle`]: it leaves when dropped.
struct Waiting {
    idles: Idles,
    key: u64,
    token: CancellationToken,
}

impl Waiting {
    fn enter(idles: &Idles) -> Waiting {
        let token = CancellationToken::new();
        let mut key = 0;
        if let Ok(mut i) = idles.lock() {
            i.next += 1;
            key = i.next;
            i.waiting.insert(key, (Instant::now(), token.clone()));
        }
        Waiting {
            idles: idles.clone(),
            key,
            token,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut i) = self.idles.lock() {
            i.waiting.remove(&self.key);
        }
    }
}

/// Closes the connection idle the longest, if one has been idle [`EVICT_AFTER`].
fn evict_oldest(idles: &Idles) -> bool {
    let Ok(mut i) = idles.lock() else {
        return false;
    };
    let Some((&key, (since, _))) = i.waiting.iter().next() else {
        return false;
    };
    if since.elapsed() < EVICT_AFTER {
        return false;
    }
    if let Some((_, token)) = i.waiting.remove(&key) {
        token.cancel();
    }
    true
}

pub async fn accept_loop(listener: UnixListener, tx: mpsc::Sender<Command>, tracker: TaskTracker) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let idles: Idles = Arc::default();
    let mut evicted = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let permit = match slots.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) if evict_oldest(&idles) => {
                        evicted += 1;
                        if evicted == 1 || evicted.is_power_of_two() {
                            tracing::warn!(
                                "{MAX_CONNECTIONS} connections open: closed the one idle longest ({evicted} so far)"
                            );
                        }
                        tokio::time::timeout(SLOT_WAIT, slots.clone().acquire_owned())
                            .await
                            .ok()
                            .and_then(Result::ok)
                    }
                    Err(_) => None,
                };
                let Some(permit) = permit else {
                    tracker.spawn(async move {
                        tracing::warn!("refused a connection: {MAX_CONNECTIONS} already open");
                        let mut conn = codec::framed(stream);
                        let err = Response::error(
                            ErrorKind::Refused,
                            format!("too many connections ({MAX_CONNECTIONS}); try again"),
                        );
                        let _ =
                            tokio::time::timeout(WRITE_TIMEOUT, codec::send(&mut conn, &err)).await;
                    });
                    continue;
                };
                let tx = tx.clone();
                let idles = idles.clone();
                tracker.spawn(async move {
                    handle(stream, tx, idles).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: log, breathe, and keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn peer_allowed(stream: &UnixStream) -> Result<(), String> {
    let me = nix::unistd::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me || cred.uid() == 0 => Ok(()),
        Ok(cred) => {
            let who = match cred.pid() {
                Some(pid) => format!("uid {} (pid {pid})", cred.uid()),
                None => format!("uid {}", cred.uid()),
            };
            let allowed = if me == 0 {
                "only root may talk to this daemon".to_string()
            } else {
                format!("only uid {me} and root may talk to this daemon")
            };
            Err(format!("refused a connection from {who}: {allowed}"))
        }
        Err(e) => Err(format!("refused a connection whose peer is unknown: {e}")),
    }
}

async fn handle(stream: UnixStream, tx: mpsc::Sender<Command>, idles: Idles) {
    if let Err(why) = peer_allowed(&stream) {
        tracing::warn!("{why}");
        let mut conn = codec::framed(stream);
        // Take the client's hello first, so it reads the refusal instead of a broken pipe.
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, codec::recv::<Request>(&mut conn)).await;
        let _ = codec::send(&mut conn, &Response::error(ErrorKind::Refused, why)).await;
        return;
    }
    let mut conn = codec::framed(stream);
    let waiting = Waiting::enter(&idles);
    tokio::select! {
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut conn)) => match done {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Ok(Err(_)) | Err(_) => return,
        },
        _ = waiting.token.cancelled() => return,
    }
    drop(waiting);
    loop {
        let waiting = Waiting::enter(&idles);
        let next = tokio::select! {
            next = tokio::time::timeout(IDLE_TIMEOUT, codec::recv::<Request>(&mut conn)) => next,
            // Closed to make room for a new connection.
            _ = waiting.token.cancelled() => return,
        };
        drop(waiting);
        let req = match next {
            Ok(Ok(Some(req))) => req,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                let _ = refuse(&mut conn, &e).await;
                return;
            }
        };
        if matches!(req, Request::Logs { follow: true, .. }) {
            follow_logs(&mut conn, &tx, req).await;
            return;
        }
        if let Request::Events { target, follow } = req {
            if !super::events::serve(&mut conn, &tx, target, follow).await || follow {
                return;
            }
            continue;
        }
        if matches!(req, Request::Metrics) {
            let resp = match super::metrics::scrape(&tx).await {
                Some(text) => Response::Metrics { text },
                None => Response::error(ErrorKind::Refused, "the daemon is shutting down"),
            };
            let sent = tokio::time::timeout(WRITE_TIMEOUT, codec::send(&mut conn, &resp)).await;
            if !matches!(sent, Ok(Ok(()))) {
                return;
            }
            continue;
        }
        if matches!(req, Request::Hello { .. }) {
            let err = Response::error(ErrorKind::BadRequest, "hello is only valid once");
            let _ = codec::send(&mut conn, &err).await;
            return;
        }
        let resp = ask(&tx, req).await;
        let last = matches!(resp, Response::Killed { .. });
        let sent = tokio::time::timeout(WRITE_TIMEOUT, codec::send(&mut conn, &resp)).await;
        if !matches!(sent, Ok(Ok(()))) || last {
            return;
        }
    }
}

/// Relays one request to the supervisor; its domain errors become typed error responses.
async fn ask(tx: &mpsc::Sender<Command>, req: Request) -> Response {
    let gone = || Response::error(ErrorKind::Refused, "the daemon is shutting down");
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx.send(Command::Request(req, reply_tx)).await.is_err() {
        return gone();
    }
    match reply_rx.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => e.into_response(),
        Err(_) => gone(),
    }
}

/// Reads the hello and answers it. `Ok(false)` when the connection must close.
async fn handshake(conn: &mut Conn) -> Result<bool, CodecError> {
    match codec::recv::<Request>(conn).await {
        Ok(Some(Request::Hello { protocol, .. })) => {
            let hello = Response::Hello {
                protocol: PROTOCOL_VERSION,
                daemon_version: crate::VERSION.to_string(),
                pid: std::process::id(),
            };
            codec::send(conn, &hello).await?;
            if protocol != PROTOCOL_VERSION {
                let err = Response::error(
                    ErrorKind::VersionMismatch,
                    format!(
                        "this daemon speaks protocol {PROTOCOL_VERSION}, the client {protocol}"
                    ),
                );
                codec::send(conn, &err).await?;
                return Ok(false);
            }
            Ok(true)
        }
        Ok(Some(_)) => {
            let err = Response::error(ErrorKind::BadRequest, "the first message must be hello");
            codec::send(conn, &err).await?;
            Ok(false)
        }
        Ok(None) => Ok(false),
        Err(e) => {
            refuse(conn, &e).await?;
            Ok(false)
        }
    }
}

async fn refuse(conn: &mut Conn, e: &CodecError) -> Result<(), CodecError> {
    let msg = match e {
        CodecError::Io(_) => return Ok(()),
        other => other.to_string(),
    };
    codec::send(conn, &Response::error(ErrorKind::BadRequest, msg)).await
}

/// `logs --follow`: the tail first, then every new piece of output of the same sources until
/// the client goes away. Subscribing before reading the tail leaves no gap between the two.
async fn follow_logs(conn: &mut Conn, tx: &mpsc::Sender<Command>, req: Request) {
    use futures_util::StreamExt;
    use std::collections::HashSet;
    use tokio::sync::broadcast::error::RecvError;
    let (sub_tx, sub_rx) = oneshot::channel();
    if tx.send(Command::Subscribe(sub_tx)).await.is_err() {
        return;
    }
    let Ok(mut live) = sub_rx.await else { return };
    let first = ask(tx, req).await;
    let wanted: HashSet<LogSource> = match &first {
        Response::LogLines { sources, .. } => sources.iter().cloned().collect(),
        _ => {
            let _ = codec::send(conn, &first).await;
            return;
        }
    };
    if codec::send(conn, &first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            got = live.recv() => {
                let lines = match got {
                    Ok(chunk) => {
                        let source = LogSource {
                            app: chunk.app.to_string(),
                            instance: chunk.instance,
                            stream: chunk.stream,
                        };
                        if !wanted.contains(&source) {
                            continue;
                        }
                        String::from_utf8_lossy(&chunk.data)
                            .lines()
                            .map(|l| LogLine {
                                app: source.app.clone(),
                                instance: source.instance,
                                stream: source.stream,
                                text: l.to_string(),
                            })
                            .collect()
                    }
                    Err(RecvError::Lagged(n)) => vec![LogLine {
                        app: "svctl".into(),
                        instance: 0,
                        stream: crate::logs::Stream::Err,
                        text: format!("[svctl] {n} pieces of output skipped: this reader was too slow"),
                    }],
                    Err(RecvError::Closed) => return,
                };
                let frame = Response::LogLines { lines, sources: Vec::new() };
                let sent = tokio::time::timeout(WRITE_TIMEOUT, codec::send(conn, &frame)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            // Anything from the client, or its going away, ends the stream.
            _ = conn.next() => return,
        }
    }
}
