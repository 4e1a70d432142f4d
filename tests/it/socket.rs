//! The control socket against hostile or broken clients.

use crate::harness::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

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
    let mut s = h.connect();
    write_frame(&mut s, b"\xff not json");
    let resp = read_frame(&mut s).expect("an error response");
    assert_eq!(resp["type"], "error");
    assert_eq!(resp["kind"], "bad_request");

    // A request before the hello.
    let mut s = h.connect();
    write_frame(&mut s, br#"{"type":"list"}"#);
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "bad_request");

    // An absurd length prefix.
    let mut s = h.connect();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let resp = read_frame(&mut s).expect("an error response");
    assert_eq!(resp["kind"], "bad_request");

    // A wrong protocol version.
    let mut s = h.connect();
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol":999,"client_version":"x"}"#,
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "version_mismatch");

    // A valid hello then an unknown request.
    let mut s = h.connect();
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol":1,"client_version":"x"}"#,
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    write_frame(&mut s, br#"{"type":"explode"}"#);
    assert_eq!(read_frame(&mut s).unwrap()["kind"], "bad_request");

    h.ok(&["ping"]);
}

#[test]
fn another_user_is_refused_and_logged() {
    let h = Home::new();
    let can_switch = nix::unistd::geteuid().is_root()
        && Running::try_spawn(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
                .stdin(std::process::Stdio::null()),
        )
        .is_ok_and(|r| h.finish(r).status.success());
    if !can_switch {
        eprintln!("skipped: needs root and setpriv to run the client as nobody");
        return;
    }
    // Let `nobody` reach the socket file, so the refusal comes from the peer check itself.
    use std::os::unix::fs::PermissionsExt;
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(h.path(), open.clone()).unwrap();
    std::fs::set_permissions(h.file("svctl.sock"), open).unwrap();
    let out = h.run(
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(BIN)
            .args(["--no-autostart", "list"])
            .env("SVCTL_HOME", h.path())
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "svctl: error: the daemon refused this connection: refused a connection from uid 65534 (pid "
        ),
        "{err}"
    );
    assert!(err.contains("may talk to this daemon"), "{err}");
    assert_eq!(stdout(&out), "");
    h.wait_until("the refusal is logged", || {
        h.log().contains("refused a connection from uid 65534")
    });
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    h.ok(&["ping"]);
}

#[test]
fn a_home_that_others_can_write_is_refused() {
    let h = Home::empty();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = h.run(&mut h.cmd(&["daemon"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("can be written by other users"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_database_is_moved_aside_and_reported() {
    let mut h = Home::empty();
    std::fs::write(h.file("svctl.db"), b"definitely not sqlite\n".repeat(200)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    h.start_daemon();
    let out = h.svctl(&["list"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("was corrupt"), "{}", stderr(&out));
    let aside: Vec<_> = std::fs::read_dir(h.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("svctl.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the old file is kept");
    assert!(h.log().contains("was corrupt"));
    h.ok(&["start", "sleep", "--name", "after", "--", "100"]);
}

#[test]
fn a_raw_client_cannot_start_absurd_specs() {
    let h = Home::new();
    let mut s = h.connect();
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol":1,"client_version":"x"}"#,
    );
    assert_eq!(read_frame(&mut s).unwrap()["type"], "hello");
    let mut spec = serde_json::to_value(svctl::config::AppSpec::with_defaults(
        "huge",
        "sleep",
        std::path::PathBuf::from("/tmp"),
    ))
    .unwrap();
    spec["instances"] = serde_json::json!(4_294_967_295u64);
    let req = serde_json::json!({"type": "start", "apps": [spec]});
    write_frame(&mut s, req.to_string().as_bytes());
    let resp = read_frame(&mut s).unwrap();
    assert_eq!(resp["kind"], "bad_request", "{resp}");
    assert!(h.list().is_empty());
}
