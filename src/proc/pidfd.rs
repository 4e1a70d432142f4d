//! Owns waiting for a process that is not our child to exit, with a pidfd (Linux 5.3 and
//! later), without blocking a thread.
//!
//! This file holds the only `unsafe` code of the `proc` module: nix 0.31 has no
//! `pidfd_open` (nor does stable std: `std::os::linux::process::PidFd` can only be made by
//! spawning), so it is a raw system call, and tokio's registration of a descriptor is an
//! `unsafe fn` (the caller vouches that the descriptor stays open and the same).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A new pidfd referring to the process `pid` now. `ESRCH`: there is no such process.
fn open(pid: i32) -> std::io::Result<OwnedFd> {
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: pidfd_open(2) takes a pid and a flags word by value, reads and writes no memory
    // of ours, and returns a new descriptor or -1 with errno set.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `fd` was created by the kernel for this call just now: it is open, and nothing
    // else holds or will close it, so the OwnedFd is its one owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until the process `pid` has exited; returns at once when it is already gone. `false`
/// when pidfds are not available (old kernels), so the caller relies on its deadline instead.
///
/// A pid alone may have been reused by another process since the caller saw it: prefer
/// [`exited_since`] when the start time is known.
pub async fn exited(pid: i32) -> bool {
    wait(pid, None).await
}

/// Waits until the process `pid` that started at `start_ticks` (`/proc/PID/stat` field 22)
/// has exited. A later process that reused the pid is not waited for: the first one is gone.
pub async fn exited_since(pid: i32, start_ticks: u64) -> bool {
    wait(pid, Some(start_ticks)).await
}

async fn wait(pid: i32, start_ticks: Option<u64>) -> bool {
    let fd = match open(pid) {
        Ok(fd) => fd,
        Err(e) => return e.raw_os_error() == Some(libc::ESRCH),
    };
    // The process that holds `pid` after the pidfd was opened and still has the expected start
    // time held it before too, so the pidfd refers to it; otherwise it is gone already.
    if let Some(t) = start_ticks
        && super::stat::read(pid).is_none_or(|s| s.start_ticks != t)
    {
        return true;
    }
    // SAFETY: the OwnedFd moves into the AsyncFd, which alone owns it until it is dropped at
    // the end of this function: it stays open and is the same pidfd all along (it is never
    // taken out with `into_inner` nor replaced through `get_mut`).
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    };
    match registered {
        // A pidfd becomes readable when its process exits (zombies included).
        Ok(afd) => afd.readable().await.is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_for_a_process_to_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = super::super::stat::read(pid).unwrap().start_ticks;
        let t = std::time::Instant::now();
        let waited = tokio::time::timeout(Duration::from_secs(10), exited_since(pid, start))
            .await
            .expect("the exit was seen");
        assert!(waited, "pidfds are available");
        assert!(t.elapsed() >= Duration::from_millis(100));
        let _ = child.wait();
        // Reaped: gone at once, by pid or by pid and start time.
        assert!(exited(pid).await);
        assert!(exited_since(pid, start).await);
    }

    #[tokio::test]
    async fn another_start_time_is_another_process() {
        let me = std::process::id() as i32;
        let start = super::super::stat::read(me).unwrap().start_ticks;
        assert!(exited_since(me, start + 1).await);
        assert!(!exited(0).await && !exited(-1).await);
    }
}
