//! Owns the optional HTTP endpoint of the daemon (`svctl daemon --metrics-addr`): `GET /metrics`
//! (the Prometheus text of `crate::daemon::metrics`) and `GET /healthz` (`ok` when the
//! supervisor answers). HTTP parsing is hyper's; a malformed request gets hyper's 400, another
//! method 405, another path 404. Bounded like the control socket: at most [`MAX_CONNECTIONS`]
//! at once, a deadline for the request head and one for the whole connection.

use super::supervisor::Command;
use crate::ipc::Request;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Connections served at once; more are closed at once (a scraper needs one).
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request head within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection (keep-alive included) lives at most this long.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The supervisor must hand out its figures within this time, else 503.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The text format `promtool check metrics` lints.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn serve(listener: TcpListener, tx: mpsc::Sender<Command>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "metrics endpoint: refused a connection, {MAX_CONNECTIONS} already open"
            );
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            serve_connection(stream, tx).await;
            drop(permit);
        });
    }
}

/// Serves one connection (any byte stream: the fuzzer feeds it memory).
pub async fn serve_connection<IO>(io: IO, tx: mpsc::Sender<Command>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let tx = tx.clone();
        async move { Ok::<_, Infallible>(respond(req.method(), req.uri().path(), &tx).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        // A client that sends its request and closes its side still gets the answer.
        .half_close(true)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(io), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Ok(())) | Err(_) => {}
        Ok(Err(e)) => tracing::debug!("metrics endpoint: {e}"),
    }
}

fn answer(status: StatusCode, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(text.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn respond(method: &Method, path: &str, tx: &mpsc::Sender<Command>) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let unavailable = || {
        answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is not answering\n",
        )
    };
    match path {
        "/metrics" => {
            match tokio::time::timeout(ANSWER_TIMEOUT, super::metrics::scrape(tx)).await {
                Ok(Some(text)) => {
                    let mut r = answer(StatusCode::OK, text);
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
                    r
                }
                Ok(None) | Err(_) => unavailable(),
            }
        }
        "/healthz" => {
            let (reply, got) = oneshot::channel();
            let asked = tx
                .send(Command::Request(Request::Ping, reply))
                .await
                .is_ok();
            match tokio::time::timeout(ANSWER_TIMEOUT, got).await {
                Ok(Ok(Ok(_))) if asked => answer(StatusCode::OK, "ok\n"),
                _ => unavailable(),
            }
        }
        _ => answer(
            StatusCode::NOT_FOUND,
            "not found: GET /metrics or GET /healthz\n",
        ),
    }
}

/// One exchange over memory: `input` as a client's bytes (then end of input), with a stand-in
/// supervisor that hands out an empty snapshot and answers ping; returns what the server wrote.
/// The fuzz target (`fuzz/fuzz_targets/http.rs`) and the tests drive the request path with it.
pub async fn exchange(input: &[u8]) -> Vec<u8> {
    use crate::ipc::Response as Answer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = mpsc::channel(8);
    let supervisor = tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Metrics(reply) => {
                    let _ = reply.send(Default::default());
                }
                Command::Request(_, reply) => {
                    let _ = reply.send(Ok(Answer::Pong {
                        version: crate::VERSION.into(),
                        pid: 1,
                        uptime_ms: 0,
                        home: String::new(),
                        isolation: String::new(),
                        health: Default::default(),
                    }));
                }
                _ => {}
            }
        }
    });
    let (client, server) = tokio::io::duplex(64 * 1024);
    let conn = tokio::spawn(serve_connection(server, tx));
    let mut out = Vec::new();
    // Write and read at once: a long input must not wait for the answers to be read.
    let (mut r, mut w) = tokio::io::split(client);
    let writer = async {
        let _ = w.write_all(input).await;
        let _ = w.shutdown().await;
    };
    let reader = async {
        let _ = r.read_to_end(&mut out).await;
    };
    tokio::join!(writer, reader);
    let _ = conn.await;
    supervisor.abort();
    out
}

#[cfg(test)]
mod tests {
    use super::exchange;

    fn status(out: &[u8]) -> String {
        String::from_utf8_lossy(out)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    }

    #[tokio::test]
    async fn requests_get_their_answers_and_garbage_gets_400() {
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let out = exchange(get).await;
        assert_eq!(status(&out), "200");
        assert!(String::from_utf8_lossy(&out).contains("svctl_apps 0"));
        assert_eq!(
            status(&exchange(b"GET /healthz HTTP/1.1\r\n\r\n").await),
            "200"
        );
        assert_eq!(status(&exchange(b"GET /x HTTP/1.1\r\n\r\n").await), "404");
        assert_eq!(
            status(&exchange(b"DELETE /metrics HTTP/1.1\r\n\r\n").await),
            "405"
        );
        for garbage in [
            &b"\x00\xff\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        ] {
            assert_eq!(status(&exchange(garbage).await), "400", "{garbage:?}");
        }
        // Two requests on one connection: both answered.
        let two = [&get[..], &get[..]].concat();
        let text = String::from_utf8_lossy(&exchange(&two).await).into_owned();
        assert_eq!(text.matches("HTTP/1.1 200").count(), 2);
    }
}
