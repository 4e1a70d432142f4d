//! Owns every file location svctl uses. All of them derive from one home folder (`--home`, else
//! `$SVCTL_HOME`, else `~/.svctl`), so a test isolates everything with one environment variable.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `sun_path` in `struct sockaddr_un` is 108 bytes, including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("cannot find a home folder: set SVCTL_HOME or HOME, or pass --home")]
    NoHome,
    #[error(
        "the socket path {path} is {len} bytes long; Unix sockets allow at most {max}. Use a shorter --home or SVCTL_HOME"
    )]
    SocketPathTooLong {
        path: PathBuf,
        len: usize,
        max: usize,
    },
}

/// Where everything lives. Build it once with [`Paths::resolve`] or [`Paths::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub home: PathBuf,
    pub socket: PathBuf,
    /// The datagram socket apps send systemd notify messages to (`$NOTIFY_SOCKET`).
    pub notify: PathBuf,
    pub lock: PathBuf,
    pub db: PathBuf,
    pub daemon_log: PathBuf,
    pub logs_dir: PathBuf,
}

impl Paths {
    /// `--home` if given, else `$SVCTL_HOME`, else `$HOME/.svctl`.
    pub fn resolve(flag: Option<&Path>) -> Result<Paths, PathsError> {
        let home = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("SVCTL_HOME").filter(|v| !v.is_empty()) {
                Some(v) => PathBuf::from(v),
                None => {
                    let h = std::env::var_os("HOME")
                        .filter(|v| !v.is_empty())
                        .ok_or(PathsError::NoHome)?;
                    PathBuf::from(h).join(".svctl")
                }
            },
        };
        Paths::new(absolute(&home))
    }

    pub fn new(home: PathBuf) -> Result<Paths, PathsError> {
        let socket = home.join("svctl.sock");
        let notify = home.join("notify.sock");
        for p in [&socket, &notify] {
            let len = p.as_os_str().len();
            if len > MAX_SOCKET_PATH {
                return Err(PathsError::SocketPathTooLong {
                    path: p.clone(),
                    len,
                    max: MAX_SOCKET_PATH,
                });
            }
        }
        Ok(Paths {
            notify,
            lock: home.join("svctl.lock"),
            db: home.join("svctl.db"),
            daemon_log: home.join("daemon.log"),
            logs_dir: home.join("logs"),
            socket,
            home,
        })
    }
}

/// Makes a path absolute against the current directory and removes `.` and `..` components,
/// without touching the file system, so a daemon started from another directory still finds the
/// same files.
pub fn absolute(p: &Path) -> PathBuf {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    normalize(&full)
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` of the root is the root; of a relative start, it stays.
                let at_root = out.parent().is_none() && out.has_root();
                if !at_root && !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Creates the home folder (mode 0700) if needed, and refuses one that another user owns or
/// that group or others can write: whoever can write there can replace the socket.
pub fn prepare_home(home: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)?;
    let meta = std::fs::metadata(home)?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to this user (uid {me})",
                home.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} can be written by other users (mode {:o}); run `chmod 700 {}`",
                home.display(),
                meta.mode() & 0o777,
                home.display()
            ),
        ));
    }
    // Logs and the database are private too: tighten a readable home we own.
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_everything_from_home() {
        let p = Paths::new(PathBuf::from("/tmp/h")).unwrap();
        assert_eq!(p.socket, PathBuf::from("/tmp/h/svctl.sock"));
        assert_eq!(p.lock, PathBuf::from("/tmp/h/svctl.lock"));
        assert_eq!(p.db, PathBuf::from("/tmp/h/svctl.db"));
        assert_eq!(p.daemon_log, PathBuf::from("/tmp/h/daemon.log"));
        assert_eq!(p.logs_dir, PathBuf::from("/tmp/h/logs"));
    }

    #[test]
    fn normalizes_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c/.")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/..")), PathBuf::from("/"));
        assert_eq!(normalize(Path::new("a/../..")), PathBuf::from(".."));
        assert_eq!(normalize(Path::new(".")), PathBuf::from("."));
        assert!(absolute(Path::new("x/./y")).ends_with("x/y"));
    }

    #[test]
    fn refuses_socket_paths_longer_than_sun_path() {
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(100)));
        match Paths::new(long) {
            Err(PathsError::SocketPathTooLong { len, .. }) => assert!(len > MAX_SOCKET_PATH),
            other => panic!("expected SocketPathTooLong, got {other:?}"),
        }
        let ok = PathBuf::from(format!("/tmp/{}", "x".repeat(90)));
        assert!(Paths::new(ok).is_ok());
    }
}
