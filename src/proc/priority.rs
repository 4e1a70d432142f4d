//! Owns the daemon's CPU priority: its threads run [`BOOST`] nice levels above the nice it was
//! started with, when the host allows it (root, or `CAP_SYS_NICE`), and everything it starts
//! (apps, hooks, probes) runs at the nice it was started with.
//!
//! Why: on a host whose apps keep both cores busy, a daemon at the apps' nice gets one share
//! among all their runnable processes. Under a load of 150 that was about 1 % of the machine:
//! `list` took 40 s, and a memory limit was enforced 24 s after it was passed. Nice only weighs
//! when the CPU is contended, and an idle daemon uses none of it.
//!
//! Nice is per thread on Linux and a new thread or process inherits its creator's: the daemon
//! raises its main thread before it starts any other. An app's process group is set back to
//! the original nice as soon as its spawn returns ([`restore_group`]: the child has begun its
//! exec by then, and its program has not run yet; exec'ing at the daemon's priority keeps a
//! busy host from stalling the spawn threads); hooks and probes restore it between fork and
//! exec ([`restore_in_child`]).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// How many nice levels the daemon's threads run above the nice it was started with: ten,
/// so a busy daemon thread weighs as about nine busy app processes.
pub const BOOST: i32 = 10;

static RAISED: AtomicBool = AtomicBool::new(false);
static ORIGINAL: AtomicI32 = AtomicI32::new(0);

/// The calling thread's nice.
fn current() -> Option<i32> {
    // getpriority returns -1 both for nice -1 and for an error: errno tells them apart.
    // SAFETY: errno is thread-local; getpriority has no other effect.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        (*libc::__errno_location() == 0).then_some(n)
    }
}

/// Raises the calling thread (call it on the main thread before any other thread exists);
/// returns the nice it runs at now, or `None` when the host does not allow it.
pub fn raise() -> Option<i32> {
    let original = current()?;
    let boosted = (original - BOOST).max(-20);
    if boosted == original {
        return None;
    }
    // SAFETY: setpriority on the calling thread (PRIO_PROCESS with 0: on Linux, the thread).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, boosted) } != 0 {
        return None;
    }
    ORIGINAL.store(original, Ordering::Relaxed);
    RAISED.store(true, Ordering::Release);
    Some(boosted)
}

/// Puts process group `pgid` (a run just spawned, the leader of its own group) back at the
/// nice the daemon was started with, with whatever it forked already.
pub fn restore_group(pgid: i32) {
    if RAISED.load(Ordering::Acquire) && pgid > 0 {
        // SAFETY: setpriority with plain integers; a group that is gone is an error ignored.
        unsafe {
            libc::setpriority(
                libc::PRIO_PGRP,
                pgid as libc::id_t,
                ORIGINAL.load(Ordering::Relaxed),
            );
        }
    }
}

/// Between fork and exec: the process runs at the nice the daemon was started with. Only a
/// system call, so safe in a `pre_exec` hook.
pub fn restore_in_child() {
    if RAISED.load(Ordering::Acquire) {
        // SAFETY: setpriority is async-signal-safe; the values are plain integers.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, ORIGINAL.load(Ordering::Relaxed));
        }
    }
}

/// Makes `cmd`'s process run at the nice the daemon was started with (a `pre_exec` hook, so
/// a fork instead of posix_spawn: for the daemon's occasional children, hooks and probes; the
/// apps are started by threads already at that nice).
pub fn at_original_nice(cmd: &mut tokio::process::Command) {
    if raised() {
        // SAFETY: the hook only calls setpriority(2).
        unsafe {
            cmd.pre_exec(|| {
                restore_in_child();
                Ok(())
            });
        }
    }
}

/// Whether the daemon runs raised.
pub fn raised() -> bool {
    RAISED.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_raised_or_not_comes_back_to_the_original_nice() {
        // On a thread of its own: the test runner's threads keep their nice.
        std::thread::spawn(|| {
            let before = current().expect("getpriority");
            match raise() {
                Some(n) => {
                    assert_eq!(n, (before - BOOST).max(-20));
                    assert_eq!(current(), Some(n));
                    assert!(raised());
                    restore_in_child();
                    assert_eq!(current(), Some(before));
                }
                // Not root: nothing changed, and restoring is a no-op.
                None => {
                    eprintln!("skipped: raising priority needs CAP_SYS_NICE");
                    restore_in_child();
                    assert_eq!(current(), Some(before));
                }
            }
        })
        .join()
        .expect("thread");
    }
}
