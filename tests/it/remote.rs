//! `-H ssh://…`: other hosts' daemons through a real `sshd` on loopback (started by the test,
//! as root, on a spare port, with a throwaway host key and an authorized key in a temp dir),
//! the system's `ssh`, and `svctl bridge` on the "remote" side. Skipped without sshd or root.

use crate::harness::{BIN, BUDGET, Home, Running};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// A throwaway sshd; killed by pid when dropped (through [`Running`]).
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    _child: Running,
}

fn sshd_binary() -> Option<&'static str> {
    ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

impl Sshd {
    fn start() -> Option<Sshd> {
        let Some(bin) = sshd_binary() else {
            eprintln!("skipped: sshd is not installed (Debian: openssh-server)");
            return None;
        };
        if !nix::unistd::geteuid().is_root() || which("ssh").is_none() {
            eprintln!("skipped: needs root (sshd) and the ssh client");
            return None;
        }
        // sshd's privilege separation wants this folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("svssh")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("id"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\n\
             UsePAM no\nPidFile none\n",
            hk = d.join("host_key").display(),
            ak = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Running::spawn(
            Command::new(bin)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(d.join("sshd_config")),
        );
        let deadline = Instant::now() + BUDGET;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {port}:\n{}",
                child.report()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(Sshd {
            port,
            dir,
            _child: child,
        })
    }

    /// The URL of a "host" whose svctl home is `home`.
    fn url(&self, home: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, home.display())
    }

    fn opts(&self) -> String {
        format!(
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i {}",
            self.dir.path().join("id").display()
        )
    }

    /// `svctl -H URL… ARGS` from a home of its own (never the hosts' homes).
    fn svctl(&self, local: &Home, hosts: &[String], args: &[&str]) -> Output {
        let mut cmd = local.cmd(&[]);
        for h in hosts {
            cmd.arg("-H").arg(h);
        }
        cmd.args(args)
            .env("SVCTL_SSH_OPTS", self.opts())
            .env("SVCTL_REMOTE_BIN", BIN);
        local.run(&mut cmd)
    }
}

fn which(prog: &str) -> Option<String> {
    std::env::var("PATH").ok().and_then(|p| {
        p.split(':')
            .map(|d| Path::new(d).join(prog))
            .find(|p| p.exists())
            .map(|p| p.display().to_string())
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn app(home: &Home, name: &str) {
    let file = home.ecosystem(
        &format!("{name}.yaml"),
        &format!("apps:\n  - name: {name}\n    script: sleep\n    args: \"600\"\n"),
    );
    home.ok(&["start", &file]);
    home.wait_status(name, 0, "online");
}

#[test]
fn list_of_several_hosts_has_a_host_column_and_a_down_host_is_named() {
    let Some(sshd) = Sshd::start() else { return };
    let (a, b, local) = (Home::new(), Home::new(), Home::empty());
    let down = Home::empty();
    app(&a, "alpha");
    app(&b, "beta");
    let hosts = [
        sshd.url(a.path()),
        sshd.url(b.path()),
        sshd.url(down.path()),
    ];
    let out = sshd.svctl(&local, &hosts, &["list"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let label = |h: &Home| format!("127.0.0.1:{}{}", sshd.port, h.path().display());
    assert!(stdout.contains("host"), "{stdout}");
    for (name, home) in [("alpha", &a), ("beta", &b)] {
        let row = stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| {
                panic!("no {name} row:\n{stdout}\n{stderr}");
            });
        assert!(
            row.contains(&label(home)) && row.contains("online"),
            "{row}"
        );
    }
    assert!(
        stderr.contains("not running on this host") && !stderr.contains("svctl: error: the"),
        "the down host is named with its cause: {stderr}"
    );
    assert!(stderr.contains("1 of 3 hosts did not answer"), "{stderr}");
    // The JSON form names the host of each instance.
    let out = sshd.svctl(&local, &hosts[..2], &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["host"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("alpha", label(&a).as_str()), ("beta", label(&b).as_str())]
    );
}

#[test]
fn one_host_takes_any_command_and_history_of_two_has_a_host_column() {
    let Some(sshd) = Sshd::start() else { return };
    let (a, b, local) = (Home::new(), Home::new(), Home::empty());
    app(&a, "alpha");
    app(&b, "beta");
    let pid_before = a.proc("alpha", 0).unwrap()["pid"].clone();
    let host = [sshd.url(a.path())];
    let out = sshd.svctl(&local, &host, &["restart", "alpha"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("restarted alpha"),
        "{}",
        text(&out.stdout)
    );
    let after = a.wait_status("alpha", 0, "online");
    assert_ne!(after["pid"], pid_before, "the remote daemon restarted it");
    // Several hosts are for list, why and history only.
    let two = [sshd.url(a.path()), sshd.url(b.path())];
    let out = sshd.svctl(&local, &two, &["restart", "alpha"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("takes one host"),
        "{}",
        text(&out.stderr)
    );
    b.ok(&["restart", "beta"]);
    let out = sshd.svctl(&local, &two, &["history"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let label = format!("127.0.0.1:{}", sshd.port);
    assert!(
        stdout
            .lines()
            .next()
            .unwrap_or_default()
            .starts_with("HOST"),
        "{stdout}"
    );
    for name in ["alpha:0", "beta:0"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&label) && l.contains(name)),
            "{name}:\n{stdout}"
        );
    }
}

#[test]
fn a_missing_svctl_or_an_ssh_failure_shows_what_was_said() {
    let Some(sshd) = Sshd::start() else { return };
    let (a, local) = (Home::new(), Home::empty());
    let host = [sshd.url(a.path())];
    let mut cmd = local.cmd(&["-H", &host[0], "list"]);
    cmd.env("SVCTL_SSH_OPTS", sshd.opts())
        .env("SVCTL_REMOTE_BIN", "/nonexistent/svctl");
    let out = local.run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&host[0]), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/svctl") && stderr.contains("No such file"),
        "{stderr}"
    );
    // Nothing listens on this port: ssh's own words.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = sshd.svctl(&local, &[format!("ssh://root@127.0.0.1:{port}")], &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Connection refused"),
        "{}",
        text(&out.stderr)
    );
    // A URL that is not one is a usage error, before anything runs.
    let out = sshd.svctl(&local, &["http://x".to_string()], &["list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
