//! Owns the daemon's own log output (tracing's lines to stderr, which is `daemon.log` when the
//! CLI started the daemon). A line that cannot be written (a full disk, a closed stderr) is
//! dropped and counted, never a panic: the apps keep their supervisor when the disk is full.
//! The count is reported by `ping` and `list --json`, and in the log once writing works again.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_subscriber::fmt::MakeWriter;

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
        write_line(&mut io::stderr().lock(), buf);
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
