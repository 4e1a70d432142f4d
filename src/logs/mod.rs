//! Owns the capture of children's output: each stream of each instance is read through a pipe
//! with a fixed-size buffer and appended to its log file. Memory is bounded whatever an app
//! prints; a write error (full disk, removed folder) never stops the app or the daemon: the lost
//! bytes are counted and a marker line is written once writing works again.

use crate::config::AppSpec;
use crate::paths::Paths;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Size of the one buffer each stream owns.
pub const CHUNK: usize = 64 * 1024;

/// Which of an instance's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// The log file of one stream of instance `index` (PM2's names: `<name>-out.log`,
/// `<name>-error.log`; with several instances `-<index>` is added).
pub fn log_path(paths: &Paths, spec: &AppSpec, index: u32, stream: Stream) -> PathBuf {
    let kind = match stream {
        Stream::Out => "out",
        Stream::Err => "error",
    };
    let file = if spec.instances > 1 {
        format!("{}-{kind}-{index}.log", spec.name)
    } else {
        format!("{}-{kind}.log", spec.name)
    };
    paths.logs_dir.join(file)
}

/// Counters shared between a capture task and whoever reports on it.
#[derive(Debug, Default)]
pub struct Counters {
    pub written: AtomicU64,
    pub lost: AtomicU64,
}

/// Appends to a log file, reopening it after an error, counting what could not be written.
struct Sink {
    path: PathBuf,
    file: Option<File>,
    /// Bytes lost since the last successful write, to report in a marker line.
    pending_lost: u64,
    counters: Arc<Counters>,
}

impl Sink {
    fn new(path: PathBuf, counters: Arc<Counters>) -> Sink {
        Sink {
            path,
            file: None,
            pending_lost: 0,
            counters,
        }
    }

    fn open(path: &Path) -> std::io::Result<File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new().create(true).append(true).open(path)
    }

    fn write(&mut self, data: &[u8]) {
        if self.file.is_none() {
            self.file = Sink::open(&self.path).ok();
        }
        let Some(file) = self.file.as_mut() else {
            self.lose(data.len());
            return;
        };
        if self.pending_lost > 0 {
            let marker = format!("\n[svctl] {} bytes of output lost\n", self.pending_lost);
            if file.write_all(marker.as_bytes()).is_err() {
                self.file = None;
                self.lose(data.len());
                return;
            }
            self.pending_lost = 0;
        }
        match file.write_all(data) {
            Ok(()) => {
                self.counters
                    .written
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                // Drop the handle: the next write reopens, which also recovers from a removed
                // folder or file.
                self.file = None;
                self.lose(data.len());
            }
        }
    }

    fn lose(&mut self, n: usize) {
        self.pending_lost += n as u64;
        self.counters.lost.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The last bytes of a stream, kept for the exit record (`stderr_tail`).
#[derive(Debug, Default)]
pub struct Tail {
    buf: std::collections::VecDeque<u8>,
}

impl Tail {
    /// At most this many bytes are kept.
    pub const BYTES: usize = 4096;
    /// At most this many lines are reported.
    pub const LINES: usize = 20;

    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(Self::BYTES)..];
        let overflow = (self.buf.len() + data.len()).saturating_sub(Self::BYTES);
        self.buf.drain(..overflow);
        self.buf.extend(data);
    }

    /// The last lines kept, as text, or `None` when nothing was written.
    pub fn text(&self) -> Option<String> {
        let bytes: Vec<u8> = self.buf.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\n');
        if text.trim().is_empty() {
            return None;
        }
        let lines: Vec<&str> = text.lines().collect();
        Some(lines[lines.len().saturating_sub(Self::LINES)..].join("\n"))
    }
}

/// Reads `reader` until end of file, appending everything to `path` (and to `tail` when given).
/// Returns when every holder of the pipe's write end (the app and any children it left) has
/// closed it.
pub async fn capture<R>(
    mut reader: R,
    path: PathBuf,
    counters: Arc<Counters>,
    tail: Option<Arc<std::sync::Mutex<Tail>>>,
) where
    R: AsyncRead + Unpin,
{
    let mut sink = Sink::new(path, counters);
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                sink.write(&buf[..n]);
                if let Some(t) = &tail
                    && let Ok(mut t) = t.lock()
                {
                    t.push(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_everything_including_binary_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/app-out.log");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let counters = Arc::new(Counters::default());
        capture(&data[..], path.clone(), counters.clone(), None).await;
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(counters.written.load(Ordering::Relaxed), data.len() as u64);
        assert_eq!(counters.lost.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_tail_keeps_the_last_lines_within_its_bounds() {
        let mut t = Tail::default();
        assert_eq!(t.text(), None);
        for i in 0..1000 {
            t.push(format!("line {i}\n").as_bytes());
        }
        let text = t.text().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), Tail::LINES);
        assert_eq!(lines.last(), Some(&"line 999"));
        assert_eq!(lines[0], "line 980");
        t.push(&vec![b'x'; 10_000]);
        assert_eq!(t.text().unwrap().len(), Tail::BYTES);
    }

    #[test]
    fn a_failing_destination_counts_losses_and_marks_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let counters = Arc::new(Counters::default());
        // A path under a regular file cannot be opened: everything is lost, nothing panics.
        let mut sink = Sink::new(blocker.join("app.log"), counters.clone());
        sink.write(b"hello\n");
        assert_eq!(counters.lost.load(Ordering::Relaxed), 6);
        // Once the destination works again the marker comes first.
        sink.path = dir.path().join("ok.log");
        sink.write(b"back\n");
        let text = std::fs::read_to_string(dir.path().join("ok.log")).unwrap();
        assert_eq!(text, "\n[svctl] 6 bytes of output lost\nback\n");
    }
}
