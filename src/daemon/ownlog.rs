//! Owns the daemon's own log output (tracing's lines to stderr, which is `daemon.log` when the
//! CLI started the daemon). A line that cannot be written (a full disk, a closed stderr) is
//! dropped and counted, never a panic: the apps keep their supervisor when the disk is full.
//! The count is reported by `ping` and `list --json`, and in the log once writing works again.
//!
//! It also owns the rotation of `daemon.log`, done as lines are written: a timer would wake an
//! idle daemon for a file that only grows when the daemon writes to it.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};
use tracing_subscriber::fmt::MakeWriter;

/// The log's size is looked at (one `fstat`) after this many bytes of lines, or after a
/// smaller `max`: a file may pass its `max` by this much, or by what other writers to the same
/// descriptor (a panic message) added.
const CHECK_EVERY: u64 = 16 * 1024;

/// Where the daemon's own log rotates, once [`rotate_at`] set it.
struct Rotation {
    path: PathBuf,
    max: u64,
    retain: u32,
    /// Bytes written since the size was last looked at.
    unchecked: u64,
}

static ROTATION: Mutex<Option<Rotation>> = Mutex::new(None);

/// From now on, when stderr is the file at `path` and passes `max` bytes, it moves to
/// `path.1` (the older ones shifted up, `retain` kept) and stdout and stderr are pointed at a
/// fresh file. The size is looked at right away, then as lines are written.
pub fn rotate_at(path: PathBuf, max: u64, retain: u32) {
    let mut r = Rotation {
        path,
        max,
        retain,
        unchecked: 0,
    };
    r.rotate_if_full();
    *ROTATION.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
}

/// Counts `n` bytes just written to stderr, and rotates the log if they were the bytes that
/// made it due for a look and it is full.
fn written(n: usize) {
    // Every caller holds stderr's lock, so another thread holds this one at most while
    // `rotate_at` stores the rotation. A line logged from within a rotation finds it held by
    // its own thread: counted out, as a wait would deadlock.
    let mut guard = match ROTATION.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let Some(r) = guard.as_mut() else {
        return;
    };
    r.unchecked += n as u64;
    if r.unchecked >= r.max.min(CHECK_EVERY) {
        r.unchecked = 0;
        r.rotate_if_full();
    }
}

impl Rotation {
    fn rotate_if_full(&mut self) {
        // Only when fd 2 really is that file (not a terminal or the journal).
        let Ok(stderr) = nix::sys::stat::fstat(io::stderr()) else {
            return;
        };
        if (stderr.st_size as u64) <= self.max {
            return;
        }
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        if stderr.st_ino != meta.ino() || stderr.st_dev != meta.dev() {
            return;
        }
        // A write that does not fit makes the file rotate; the marker starts the new file.
        let mut f = crate::logs::LogFile::new(self.path.clone(), Some(self.max), self.retain);
        f.write(format!("[svctl] {} rotated\n", self.path.display()).as_bytes());
        let Ok(fresh) = std::fs::OpenOptions::new().append(true).open(&self.path) else {
            return;
        };
        let _ = nix::unistd::dup2_stdout(&fresh);
        let _ = nix::unistd::dup2_stderr(&fresh);
    }
}

/// Lines dropped since the daemon started.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Of those, the ones already reported in the log.
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// Daemon log lines that could not be written since the daemon started.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// tracing's writer: stderr, swallowing and counting failures.
#[derive(Clone, Copy, Default)]
pub struct CountingStderr;

/// One line's writer.
pub struct Line;

impl<'a> MakeWriter<'a> for CountingStderr {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line
    }
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        {
            let mut stderr = io::stderr().lock();
            write_line(&mut stderr, buf);
            // Under the lock: no other line goes to the old file once it has moved.
            written(buf.len());
        }
        // Always "written": an error here would only reach tracing's own error path.
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one formatted line to `out`; a failure is counted. After failures, the first line
/// that fits is preceded by how many were lost.
pub fn write_line(out: &mut dyn Write, line: &[u8]) {
    let dropped = DROPPED.load(Ordering::Relaxed);
    let reported = REPORTED.load(Ordering::Relaxed);
    if dropped > reported {
        let note = format!(
            "[svctl] {} daemon log line(s) could not be written (disk full or stderr closed); {dropped} since start\n",
            dropped - reported
        );
        if out.write_all(note.as_bytes()).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        REPORTED.store(dropped, Ordering::Relaxed);
    }
    if out.write_all(line).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer on a full disk until `room` is set.
    struct Disk {
        room: bool,
        got: Vec<u8>,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !self.room {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failed_lines_are_counted_and_reported_once_space_returns() {
        let mut disk = Disk {
            room: false,
            got: Vec::new(),
        };
        let before = dropped_lines();
        write_line(&mut disk, b"one\n");
        write_line(&mut disk, b"two\n");
        assert!(dropped_lines() >= before + 2);
        disk.room = true;
        write_line(&mut disk, b"three\n");
        let text = String::from_utf8_lossy(&disk.got).to_string();
        assert!(text.contains("could not be written"), "{text}");
        assert!(text.ends_with("three\n"), "{text}");
    }

    #[test]
    fn stderr_writer_never_fails() {
        let mut w = CountingStderr.make_writer();
        assert_eq!(w.write(b"").ok(), Some(0));
    }
}
