//! What the fuzzers (`fuzz/`, run by `scripts/fuzz.sh`) found, kept as tests, and hostile raw
//! frames sent to a real daemon: after each, the daemon still answers `svctl ping` and its log
//! shows no panic.

use crate::harness::*;
use bytes::BytesMut;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use svctl::config::{LoadOptions, load_str};
use svctl::ipc::{MAX_FRAME, Request};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

const HELLO: &[u8] = br#"{"type":"hello","protocol":1,"client_version":"fuzz"}"#;

// ---- The fuzz targets' checks, runnable on one input ----

/// The `frame` target on one input: first byte = chunk size, the rest = the byte stream.
fn frame_target(data: &[u8]) {
    check_request(data);
    let Some((c, stream)) = data.split_first() else {
        return;
    };
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(*c as usize + 1) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => check_request(&frame),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        check_request(&frame);
    }
}

fn check_request(body: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<Request>(body) {
        let text = serde_json::to_vec(&req).unwrap();
        let back: Request = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, req);
    }
}

/// The `ecosystem` target on one input.
fn ecosystem_target(text: &str) {
    for env_name in [None, Some("production".to_string())] {
        let opts = LoadOptions { env_name };
        match load_str(text, Path::new("/tmp/fuzz/eco.yaml"), &opts) {
            Ok(loaded) => {
                serde_json::to_vec(&loaded.apps).unwrap();
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error says what is wrong");
            }
        }
    }
}

#[test]
fn frame_inputs_do_not_panic() {
    let mut deep = vec![0x00];
    deep.extend_from_slice(&200_000u32.to_be_bytes());
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(std::iter::repeat_n(b']', 100_000));
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        b"\x00\x00\x00\x00\x00".to_vec(),
        b"\x00\xff\xff\xff\xff{}".to_vec(),
        b"\x03\x00\x00\x00\x64{\"type\":".to_vec(),
        b"\x00\x01\x00\x00\x01{}".to_vec(), // MAX_FRAME + 1
        br#"{"type":"logs","target":null,"lines":1e999,"follow":false,"streams":"out"}"#.to_vec(),
        br#"{"type":"hello","protocol":99999999999999999999999,"client_version":""}"#.to_vec(),
        b"{\"type\":\"stop\",\"target\":\"\xff\xfe\"}".to_vec(),
        br#"{"type":"stop","target":"\ud800"}"#.to_vec(),
        deep,
    ];
    for input in &inputs {
        frame_target(input);
    }
}

#[test]
fn ecosystem_inputs_do_not_panic() {
    let inputs = [
        "",
        "~",
        "[",
        "apps:\n  - name: a\n    x: [1,\n",
        "a: 1\na: 2\n",
        "- name: x\n  script: y\n  instances: 99999999999999999999999\n  restart_delay: -5\n",
        "apps: {name: a, script: b, max_memory_restart: 99999999999999999999G}",
        "apps: [{name: a, script: b, env_production: [1, 2]}]",
    ];
    for text in inputs {
        ecosystem_target(text);
    }
    let deep = "[".repeat(100_000);
    ecosystem_target(&deep);
}

/// The `logfile` target on one input: `[max_size or 0] [write size - 1] payload`.
fn logfile_target(data: &[u8]) {
    use svctl::logs::file::{LogFile, rotated_files};
    let [max, step, payload @ ..] = data else {
        return;
    };
    let payload = &payload[..payload.len().min(1024)];
    let max_size = (*max > 0).then_some(u64::from(*max) + 15);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app-out.log");
    let mut f = LogFile::new(path.clone(), max_size, 2_000);
    for piece in payload.chunks(*step as usize + 1) {
        assert_eq!(f.write(piece), 0);
    }
    let mut files: Vec<_> = rotated_files(&path)
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .collect();
    files.push(path);
    let mut all = Vec::new();
    for p in &files {
        let bytes = std::fs::read(p).unwrap_or_default();
        if let Some(m) = max_size {
            assert!(
                bytes.len() as u64 <= m,
                "{}: {} > {m}",
                p.display(),
                bytes.len()
            );
        }
        all.extend_from_slice(&bytes);
    }
    assert_eq!(all, payload);
}

#[test]
fn logfile_inputs_keep_every_byte_within_the_limit() {
    let long = [b'x'; 300];
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        b"\x01\x00".to_vec(),
        b"\x00\xffno limit\n".to_vec(),
        b"\x10\x03abcdefghijklmnopqrstuvwxyz".to_vec(),
        b"\x40\x07line one\nline two\na much longer line that does not fit in sixty-four bytes\n"
            .to_vec(),
    ];
    for step in [0u8, 16, 255] {
        let mut v = vec![1, step];
        v.extend_from_slice(&long);
        v.extend_from_slice(b"\n\n\nend");
        inputs.push(v);
    }
    for input in &inputs {
        logfile_target(input);
    }
}

// ---- Hostile raw frames against a real daemon ----

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// A connection past the handshake.
fn hello(h: &Home) -> UnixStream {
    let mut s = h.connect();
    s.write_all(&frame(HELLO)).unwrap();
    let r = read_frame(&mut s).expect("hello answer");
    assert_eq!(r["type"], "hello", "{r}");
    s
}

/// The daemon still serves, and nothing panicked in it.
fn still_healthy(h: &Home, after: &str) {
    let out = h.svctl(&["ping"]);
    assert!(
        out.status.success(),
        "ping failed after {after}: {}\n{}",
        stderr(&out),
        h.log()
    );
    let log = std::fs::read_to_string(h.file("daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "after {after}:\n{}", h.log());
}

/// Sends `bytes` on a fresh connection (after the hello when `handshake`), and expects a
/// `bad_request` error back.
fn expect_bad_request(h: &Home, handshake: bool, bytes: &[u8], what: &str) {
    let mut s = if handshake { hello(h) } else { h.connect() };
    // The daemon may answer and close before reading everything: a failed write is fine.
    let _ = s.write_all(bytes);
    let r = read_frame(&mut s).unwrap_or_else(|| panic!("no answer to {what}\n{}", h.log()));
    assert_eq!(r["type"], "error", "{what}: {r}");
    assert_eq!(r["kind"], "bad_request", "{what}: {r}");
    still_healthy(h, what);
}

#[test]
fn truncated_frames_then_close() {
    let h = Home::new();
    for handshake in [false, true] {
        // A length prefix cut short, a body cut short, and a body that never comes.
        for bytes in [
            &b"\x00\x00"[..],
            &b"\x00\x00\x00\x64{\"type\":\"ping"[..],
            &b"\x00\x00\x10\x00"[..],
        ] {
            let mut s = if handshake { hello(&h) } else { h.connect() };
            s.write_all(bytes).unwrap();
            drop(s);
            still_healthy(
                &h,
                &format!("truncated frame {bytes:?} (hello: {handshake})"),
            );
        }
    }
    // Half-closed: the daemon sees EOF mid-frame while it could still answer.
    let mut s = hello(&h);
    s.write_all(b"\x00\x00\x00\x64{\"ty").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    // The daemon answers nothing to half a frame: it closes the connection.
    let read = s
        .read_to_end(&mut rest)
        .expect("the daemon closes, the read ends");
    assert_eq!((read, rest), (0, Vec::new()));
    still_healthy(&h, "a truncated frame then a half-close");
}

#[test]
fn ten_thousand_tiny_garbage_frames_on_one_connection() {
    let h = Home::new();
    let garbage: [&[u8]; 5] = [b"", b"x", b"\xff", b"{", b"]"];
    let mut flood = Vec::new();
    for i in 0..10_000 {
        flood.extend(frame(garbage[i % garbage.len()]));
    }
    // Before the hello and after it: one bad_request, then the connection is closed.
    expect_bad_request(
        &h,
        false,
        &flood,
        "10,000 garbage frames instead of a hello",
    );
    expect_bad_request(&h, true, &flood, "10,000 garbage frames after the hello");

    // 10,000 tiny valid requests pipelined on one connection: each answered, in order.
    let mut s = hello(&h);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut all = Vec::new();
        for _ in 0..10_000 {
            all.extend(frame(br#"{"type":"ping"}"#));
        }
        w.write_all(&all)
    });
    for i in 0..10_000 {
        let r = read_frame(&mut s).unwrap_or_else(|| panic!("no answer to ping {i}\n{}", h.log()));
        assert_eq!(r["type"], "pong", "ping {i}: {r}");
    }
    writer.join().unwrap().unwrap();
    drop(s);
    still_healthy(&h, "10,000 pipelined pings");
}

#[test]
fn frame_length_limits() {
    let h = Home::new();
    let over = (MAX_FRAME as u32 + 1).to_be_bytes();
    expect_bad_request(&h, false, &over, "a MAX_FRAME+1 length prefix before hello");
    expect_bad_request(&h, true, &over, "a MAX_FRAME+1 length prefix after hello");
    // With a body that follows: still refused without reading it all.
    let mut big = over.to_vec();
    big.extend(std::iter::repeat_n(b' ', 64 * 1024));
    expect_bad_request(&h, true, &big, "a MAX_FRAME+1 frame with a body");

    // Exactly MAX_FRAME is allowed: a ping padded with JSON whitespace.
    let mut s = hello(&h);
    let mut body = br#"{"type":"ping"}"#.to_vec();
    body.resize(MAX_FRAME, b' ');
    s.write_all(&frame(&body)).unwrap();
    let r = read_frame(&mut s).expect("an answer to a MAX_FRAME ping");
    assert_eq!(r["type"], "pong", "{r}");
    drop(s);
    still_healthy(&h, "a frame of exactly MAX_FRAME bytes");
}

#[test]
fn invalid_utf8_json() {
    let h = Home::new();
    let bodies: [&[u8]; 4] = [
        b"{\"type\":\"hello\",\"protocol\":1,\"client_version\":\"\xff\"}",
        b"{\"type\":\"stop\",\"target\":\"\xc3\x28\"}",
        b"\xef\xbb\xbf{\"type\":\"ping\"}",      // a UTF-8 BOM
        br#"{"type":"stop","target":"\udc00"}"#, // a lone surrogate escape
    ];
    for (i, body) in bodies.iter().enumerate() {
        let handshake = i > 0;
        expect_bad_request(&h, handshake, &frame(body), &format!("bad UTF-8 #{i}"));
    }
}

#[test]
fn deeply_nested_json() {
    let h = Home::new();
    let mut deep = vec![b'['; 100_000];
    deep.extend(std::iter::repeat_n(b']', 100_000));
    expect_bad_request(
        &h,
        false,
        &frame(&deep),
        "[[[...]]] 100,000 deep before hello",
    );
    expect_bad_request(
        &h,
        true,
        &frame(&deep),
        "[[[...]]] 100,000 deep after hello",
    );
    let mut obj = Vec::new();
    for _ in 0..100_000 {
        obj.extend_from_slice(br#"{"a":"#);
    }
    obj.extend_from_slice(b"1");
    obj.extend(std::iter::repeat_n(b'}', 100_000));
    let mut start = br#"{"type":"start","apps":"#.to_vec();
    start.extend_from_slice(&obj);
    start.push(b'}');
    expect_bad_request(
        &h,
        true,
        &frame(&start),
        "nested objects 100,000 deep in start",
    );
    // Only opening brackets: the parser gives up at its depth limit, not at the end.
    let open = vec![b'['; 1_000_000];
    expect_bad_request(&h, true, &frame(&open), "1,000,000 opening brackets");
}

#[test]
fn huge_numbers() {
    let h = Home::new();
    let digits = "9".repeat(100_000);
    let hellos = [
        r#"{"type":"hello","protocol":4294967296,"client_version":"x"}"#.to_string(),
        r#"{"type":"hello","protocol":-1,"client_version":"x"}"#.to_string(),
        r#"{"type":"hello","protocol":1e400,"client_version":"x"}"#.to_string(),
        r#"{"type":"hello","protocol":1.5,"client_version":"x"}"#.to_string(),
        format!(r#"{{"type":"hello","protocol":{digits},"client_version":"x"}}"#),
    ];
    for body in &hellos {
        let what = format!("hello {}", &body[..body.len().min(60)]);
        expect_bad_request(&h, false, &frame(body.as_bytes()), &what);
    }
    let requests = [
        r#"{"type":"logs","target":null,"lines":18446744073709551616,"follow":false,"streams":"both"}"#.to_string(),
        r#"{"type":"logs","target":null,"lines":-1,"follow":false,"streams":"both"}"#.to_string(),
        format!(r#"{{"type":"logs","target":null,"lines":{digits},"follow":true,"streams":"out"}}"#),
        format!(r#"{{"type":"logs","target":null,"lines":0.{digits}e-99999,"follow":false,"streams":"out"}}"#),
    ];
    for body in &requests {
        let what = format!("request {}", &body[..body.len().min(60)]);
        expect_bad_request(&h, true, &frame(body.as_bytes()), &what);
    }
    // The largest valid line count is served (there are no logs to show).
    let mut s = hello(&h);
    let body =
        br#"{"type":"logs","target":null,"lines":4294967295,"follow":false,"streams":"both"}"#;
    s.write_all(&frame(body)).unwrap();
    let r = read_frame(&mut s).expect("an answer to logs with u32::MAX lines");
    assert_eq!(r, serde_json::json!({"type": "log_lines", "lines": []}));
    drop(s);
    still_healthy(&h, "logs with u32::MAX lines");
}
