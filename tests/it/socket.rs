//! The control socket against hostile or broken clients.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

fn read_frame(s: &mut UnixStream) -> Option<serde_json::Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

fn write_frame(s: &mut UnixStream, body: &[u8]) {
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
}

#[test]
fn home_and_socket_are_private() {
    let h = Home::new();
    let home = std::fs::metadata(h.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(home & 0o077, 0, "home mode {home:o}");
    let sock = std::fs::metadata(h.file("svctl.sock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(sock, 0o600);
}

#[test]
fn bad_frames_get_an_error_and_the_daemon_keeps_serving() {
    let h = Home::new();
    // Garbage instead of a hello.
    let mut s = UnixStream::connect(h.file("svctl.sock")).unwrap();
    write_frame(&mut s, b"\xff not json");
    let resp = read_frame(&mut s).expect("an error response");
    assert_eq!(resp["type"], "error");
    assert_eq!(resp["kind"], "bad_request");

    // A request before the hello.
    let mut s = UnixStream::connect(h.file("svctl.sock")).unwrap();
    write_frame(&mut s, br#"{"type":"list"}"#);
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "bad_request");

    // An absurd length prefix.
    let mut s = UnixStream::connect(h.file("svctl.sock")).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let resp = read_frame(&mut s).expect("an error response");
    assert_eq!(resp["kind"], "bad_request");

    // A wrong protocol version.
    let mut s = UnixStream::connect(h.file("svctl.sock")).unwrap();
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol":999,"client_version":"x"}"#,
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "version_mismatch");

    // A valid hello then an unknown request.
    let mut s = UnixStream::connect(h.file("svctl.sock")).unwrap();
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol":1,"client_version":"x"}"#,
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    write_frame(&mut s, br#"{"type":"explode"}"#);
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "bad_request");

    h.ok(&["ping"]);
}
