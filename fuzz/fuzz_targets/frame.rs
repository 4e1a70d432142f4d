//! Arbitrary bytes as they would arrive on the control socket: the daemon's frame decoder
//! (`LengthDelimitedCodec` with `MAX_FRAME`, fed in uneven chunks) and the JSON `Request`
//! parser on every frame it yields. Nothing may panic; a frame the daemon accepts must
//! survive a serialize/parse round trip unchanged (the CLI sends what it serialized).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use svctl::ipc::{MAX_FRAME, Request};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

fn check_request(body: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<Request>(body) {
        let text = serde_json::to_vec(&req).expect("a parsed request serializes");
        let back: Request = serde_json::from_slice(&text).expect("a serialized request parses");
        assert_eq!(back, req, "round trip changed the request");
    }
}

fuzz_target!(|data: &[u8]| {
    // The whole input as one frame body: the fastest path to the JSON parser.
    check_request(data);

    // The first byte picks how the stream is chunked (1..=256 bytes per read).
    let (chunk, stream) = match data.split_first() {
        Some((c, rest)) => (*c as usize + 1, rest),
        None => return,
    };
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= MAX_FRAME);
                    check_request(&frame);
                }
                Ok(None) => break,
                // The daemon answers bad_request and closes: stop reading this connection.
                Err(_) => return,
            }
        }
    }
    // The peer closed: a partial frame is an error, never a panic.
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        check_request(&frame);
    }
});
