//! Owns the `events` exchange of a connection: the recent events of the target, then (with
//! `follow`) each new one, read from the bus (`crate::daemon::bus`) with a bounded buffer. A
//! reader too slow for it is sent how many events it missed, never slows the daemon.

use super::bus::Received;
use super::server::WRITE_TIMEOUT;
use super::supervisor::{Command, Key};
use crate::ipc::codec::{self, Conn};
use crate::ipc::{ErrorKind, LifecycleEvent, Response};
use std::collections::HashSet;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};

/// Which events a reader asked for.
struct Filter(Option<HashSet<Key>>);

impl Filter {
    fn wants(&self, ev: &LifecycleEvent) -> bool {
        match &self.0 {
            None => true,
            Some(keys) => keys.contains(&(ev.app.clone(), ev.instance)),
        }
    }
}

async fn send(conn: &mut Conn, resp: &Response) -> bool {
    let sent = tokio::time::timeout(WRITE_TIMEOUT, codec::send(conn, resp)).await;
    matches!(sent, Ok(Ok(())))
}

/// Answers one `events` request; `false` when the connection must close.
pub async fn serve(
    conn: &mut Conn,
    tx: &mpsc::Sender<Command>,
    target: Option<String>,
    follow: bool,
) -> bool {
    use futures_util::StreamExt;
    let (reply, answer) = oneshot::channel();
    let gone = Response::error(ErrorKind::Refused, "the daemon is shutting down");
    if tx
        .send(Command::SubscribeEvents { target, reply })
        .await
        .is_err()
    {
        let _ = send(conn, &gone).await;
        return false;
    }
    let ((recent, mut rx), keys) = match answer.await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return send(conn, &e.into_response()).await,
        Err(_) => {
            let _ = send(conn, &gone).await;
            return false;
        }
    };
    let filter = Filter(keys.map(|k| k.into_iter().collect()));
    let pick = |evs: &[Received]| -> Vec<LifecycleEvent> {
        evs.iter()
            .filter(|e| filter.wants(&e.event))
            .map(|e| e.event.clone())
            .collect()
    };
    let first = Response::Events {
        events: pick(&recent),
        dropped: 0,
    };
    if !send(conn, &first).await {
        return false;
    }
    if !follow {
        return true;
    }
    loop {
        tokio::select! {
            got = rx.recv() => {
                let frame = match got {
                    Ok(ev) if filter.wants(&ev.event) => Response::Events { events: vec![ev.event.clone()], dropped: 0 },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => Response::Events { events: Vec::new(), dropped: n },
                    Err(RecvError::Closed) => return false,
                };
                if !send(conn, &frame).await {
                    return false;
                }
            }
            // Anything from the client, or its going away, ends the stream.
            _ = conn.next() => return false,
        }
    }
}
