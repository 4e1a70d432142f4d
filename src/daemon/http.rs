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
