//! Owns reaching the daemon of another host: a host URL (`ssh://[user@]host[:port][/home]`), the
//! system's `ssh` child that runs `svctl bridge` (or another svctl command) there, and what ssh
//! said on stderr when it failed. No port is opened and nothing authenticates but ssh: the
//! bridge connects to the remote user's socket, whose peer-uid check is unchanged.
//!
//! The remote program is `$SVCTL_REMOTE_BIN` (default `svctl`, found through the remote
//! `PATH`); `$SVCTL_SSH_OPTS` adds options to every ssh call (split as a shell would:
//! `-o StrictHostKeyChecking=no -i ~/.ssh/key`), and `~/.ssh/config` applies as to any ssh.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A host given with `-H`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// As the user wrote it, for messages and the host column.
    pub url: String,
    /// `user@host` (or `host`), the destination ssh is given.
    pub destination: String,
    pub port: Option<u16>,
    /// The svctl home on that host (`--home`); its default when absent.
    pub home: Option<String>,
}

impl Host {
    /// `ssh://[user@]host[:port][/home/dir]`; `host` alone is read as `ssh://host`.
    pub fn parse(url: &str) -> Result<Host, String> {
        let rest = match url.split_once("://") {
            Some(("ssh", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "`{url}`: only ssh:// hosts are supported, not {scheme}://"
                ));
            }
            None => url,
        };
        let (authority, home) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_string())),
            None => (rest, None),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("`{url}`: `{p}` is not a port number"))?;
                (h, Some(port))
            }
            _ => (hostport, None),
        };
        if host.is_empty() || user.is_some_and(str::is_empty) {
            return Err(format!(
                "`{url}` names no host: expected ssh://[user@]host[:port]"
            ));
        }
        let destination = match user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_string(),
        };
        Ok(Host {
            url: url.to_string(),
            destination,
            port,
            home: home.filter(|h| h != "/"),
        })
    }

    /// A short name for the host column: `host`, `host:port`, and the home when one is named
    /// (two homes on one host are two daemons).
    pub fn label(&self) -> String {
        let host = self.destination.rsplit('@').next().unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{host}{port}{}", self.home.as_deref().unwrap_or_default())
    }

    /// `ssh … DEST -- svctl [--home H] ARGS…`, with stdin, stdout and stderr piped.
    pub fn command(&self, args: &[String]) -> Result<Command, String> {
        let extra = std::env::var("SVCTL_SSH_OPTS").unwrap_or_default();
        let extra = shlex::split(&extra)
            .ok_or_else(|| format!("SVCTL_SSH_OPTS cannot be split into words: `{extra}`"))?;
        let bin = std::env::var("SVCTL_REMOTE_BIN")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "svctl".to_string());
        // ssh joins the remote words with spaces for the remote shell: each is quoted once.
        let mut remote = vec![bin];
        if let Some(h) = &self.home {
            remote.push("--home".into());
            remote.push(quote(h));
        }
        remote.extend(args.iter().map(|a| quote(a)));
        let mut cmd = Command::new("ssh");
        // BatchMode: a password prompt would hang a dashboard; keys or an agent are expected.
        cmd.args(["-o", "BatchMode=yes"]).args(&extra);
        if let Some(p) = self.port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg(&self.destination)
            .arg("--")
            .arg(remote.join(" "))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(cmd)
    }
}

fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| word.to_string())
}

/// The ssh child's stdout and stdin as one stream.
pub type SshStream = tokio::io::Join<ChildStdout, ChildStdin>;

/// A running ssh child (ended when dropped); its stderr is kept for messages.
pub struct SshLink {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl SshLink {
    /// Starts ssh running `svctl ARGS` on the host; its stdio are the returned stream.
    pub fn spawn(host: &Host, args: &[String]) -> Result<(SshLink, SshStream), String> {
        let mut child = host
            .command(args)?
            .spawn()
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        let (Some(stdin), Some(stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("ssh started without its pipes".to_string());
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    // Only the end matters for a message; keep it bounded.
                    if s.len() < 64 * 1024 {
                        s.extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        Ok((SshLink { child, stderr }, tokio::io::join(stdout, stdin)))
    }

    /// How ssh ended: the remote command's exit code (255: ssh's own failure).
    pub async fn wait(&mut self) -> Option<i32> {
        self.child.wait().await.ok().and_then(|s| s.code())
    }

    /// What ssh (or the remote command) wrote on stderr, once it ended (waited for briefly).
    pub async fn stderr_text(&mut self) -> String {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait()).await;
        // The reader task may still hold the last bytes; give it a moment to reach the end.
        for _ in 0..50 {
            if Arc::strong_count(&self.stderr) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.stderr
            .lock()
            .map(|s| String::from_utf8_lossy(&s).trim().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_user_host_port_and_home() {
        let h = Host::parse("ssh://root@127.0.0.1:2222/tmp/h").unwrap();
        assert_eq!(h.destination, "root@127.0.0.1");
        assert_eq!(h.port, Some(2222));
        assert_eq!(h.home.as_deref(), Some("/tmp/h"));
        assert_eq!(h.label(), "127.0.0.1:2222/tmp/h");
        let h = Host::parse("web1").unwrap();
        assert_eq!(
            (h.destination.as_str(), h.port, h.home),
            ("web1", None, None)
        );
        for bad in ["http://x", "ssh://", "ssh://@x", "ssh://x:port"] {
            assert!(Host::parse(bad).is_err(), "{bad}");
        }
    }
}
