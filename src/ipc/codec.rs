//! Owns framing: length-delimited JSON messages over a stream (the Unix socket, or the stdio of
//! an `ssh` child running `svctl bridge` on another host), with a size cap.

use super::MAX_FRAME;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

pub type Conn<S = UnixStream> = Framed<S, LengthDelimitedCodec>;

/// What frames can travel over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame larger than {MAX_FRAME} bytes")]
    TooLarge,
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn framed<S: Transport>(stream: S) -> Conn<S> {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(stream)
}

pub async fn send<T: Serialize>(
    conn: &mut Conn<impl Transport>,
    msg: &T,
) -> Result<(), CodecError> {
    let bytes = serde_json::to_vec(msg)?;
    if bytes.len() > MAX_FRAME {
        return Err(CodecError::TooLarge);
    }
    conn.send(Bytes::from(bytes)).await?;
    Ok(())
}

/// The next frame's bytes, undecoded, or `None` when the peer closed the connection cleanly.
pub async fn recv_raw(
    conn: &mut Conn<impl Transport>,
) -> Result<Option<bytes::BytesMut>, CodecError> {
    match conn.next().await {
        None => Ok(None),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Err(CodecError::TooLarge),
        Some(Err(e)) => Err(CodecError::Io(e)),
        Some(Ok(frame)) => Ok(Some(frame)),
    }
}

/// The next message, or `None` when the peer closed the connection cleanly.
pub async fn recv<T: DeserializeOwned>(
    conn: &mut Conn<impl Transport>,
) -> Result<Option<T>, CodecError> {
    match conn.next().await {
        None => Ok(None),
        Some(Err(e)) => {
            // LengthDelimitedCodec reports an oversized length prefix as InvalidData.
            if e.kind() == std::io::ErrorKind::InvalidData {
                Err(CodecError::TooLarge)
            } else {
                Err(CodecError::Io(e))
            }
        }
        Some(Ok(frame)) => Ok(Some(serde_json::from_slice(&frame)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::Request;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn round_trips_and_reports_clean_close() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (framed(a), framed(b));
        send(&mut a, &Request::Ping).await.unwrap();
        let got: Option<Request> = recv(&mut b).await.unwrap();
        assert_eq!(got, Some(Request::Ping));
        drop(a);
        let end: Option<Request> = recv(&mut b).await.unwrap();
        assert_eq!(end, None);
    }

    #[tokio::test]
    async fn oversized_length_prefix_is_an_error_not_an_allocation() {
        let (mut raw, b) = UnixStream::pair().unwrap();
        let mut b = framed(b);
        raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        raw.write_all(b"{}").await.unwrap();
        match recv::<Request>(&mut b).await {
            Err(CodecError::TooLarge) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn garbage_json_is_an_error() {
        let (mut raw, b) = UnixStream::pair().unwrap();
        let mut b = framed(b);
        raw.write_all(&4u32.to_be_bytes()).await.unwrap();
        raw.write_all(b"\xff\xfe{]").await.unwrap();
        assert!(matches!(
            recv::<Request>(&mut b).await,
            Err(CodecError::Json(_))
        ));
    }
}
