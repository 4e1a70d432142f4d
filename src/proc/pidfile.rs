//! Owns `pid_file` (PM2's key, for monit, Nagios and other tools that read pid files): the main
//! pid is written at each start, atomically (a temporary file renamed over the path, so a
//! reader never sees a partial file), and the file is removed when the run ends. With several
//! instances each has its own file (`web-2.pid`). A path that cannot be written is a warning in
//! the daemon log, never a failed start. The I/O runs on the blocking pool, off the actor.

use crate::config::AppSpec;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Writes and removals may run in any order on the blocking pool: each holds this lock, a
/// removal only removes the pid it was asked to (a new run's file survives the late removal of
/// the old run's), and a write of a process already gone is skipped (a removal that came first
/// is not undone).
static LOCK: Mutex<()> = Mutex::new(());

/// The pid file of instance `index`, if the app has one.
pub fn path(spec: &AppSpec, index: u32) -> Option<PathBuf> {
    let p = spec.pid_file.as_ref()?;
    Some(if spec.instances > 1 {
        crate::logs::per_instance(p, index)
    } else {
        p.clone()
    })
}

/// Writes `pid` to the instance's pid file, off the actor.
pub fn written(spec: &AppSpec, index: u32, pid: i32) {
    let Some(path) = path(spec, index) else {
        return;
    };
    let app = spec.name.clone();
    tokio::task::spawn_blocking(move || {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            return;
        }
        if let Err(e) = write_locked(&path, pid) {
            tracing::warn!(
                app,
                index,
                "pid_file {}: cannot write it: {e}",
                path.display()
            );
        }
    });
}

/// Removes the instance's pid file if it still holds `pid`, off the actor.
pub fn removed(spec: &AppSpec, index: u32, pid: i32) {
    let Some(path) = path(spec, index) else {
        return;
    };
    let app = spec.name.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = remove(&path, pid) {
            tracing::warn!(
                app,
                index,
                "pid_file {}: cannot remove it: {e}",
                path.display()
            );
        }
    });
}

/// `pid` and a newline into `path`, through a temporary file in the same folder.
pub fn write(path: &Path, pid: i32) -> io::Result<()> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    write_locked(path, pid)
}

fn write_locked(path: &Path, pid: i32) -> io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("not a file path"))?;
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{pid}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes `path` if it holds `pid`; a file already gone (or holding another pid) is left.
pub fn remove(path: &Path, pid: i32) -> io::Result<()> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim() == pid.to_string() => std::fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_whole_and_removed_only_for_its_pid() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("web.pid");
        write(&p, 1234).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1234\n");
        write(&p, 1235).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1235\n");
        // The old run's removal, late: the new run's file stays.
        remove(&p, 1234).unwrap();
        assert!(p.exists());
        remove(&p, 1235).unwrap();
        assert!(!p.exists());
        remove(&p, 1235).unwrap();
        // No temporary file is left behind, even on failure.
        assert!(write(&d.path().join("no/such/dir/x.pid"), 1).is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn one_file_per_instance_when_there_are_several() {
        let mut spec = AppSpec::with_defaults("web", "x", PathBuf::from("/srv"));
        assert_eq!(path(&spec, 0), None);
        spec.pid_file = Some(PathBuf::from("/run/web.pid"));
        assert_eq!(path(&spec, 0), Some(PathBuf::from("/run/web.pid")));
        spec.instances = 3;
        assert_eq!(path(&spec, 2), Some(PathBuf::from("/run/web-2.pid")));
    }
}
