//! Owns the capture of children's output: each stream of each instance is read through its pipe
//! into its thread's one buffer and written to its log files (PM2's names, or the app's
//! `out_file`/`error_file`/`log_file`), with rotation, timestamps or JSON lines when asked, and
//! to a live feed for `logs --follow`. Memory is bounded whatever an app prints; a write error
//! (full disk, removed folder) never stops the app or the daemon: lost bytes are counted and a
//! marker line is written once writing works again.

mod capture;
pub mod file;
pub mod format;
pub mod pipe;
pub mod ready;
pub mod registry;
pub mod tail;

use crate::config::{AppSpec, LogTarget};
use crate::paths::Paths;
use bytes::Bytes;
pub use capture::{capture, capture_pipe};
pub use file::LogFile;
use format::LineFormat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The most one read takes: a default pipe's size, and that of the read buffer of the log
/// thread.
pub const CHUNK: usize = 64 * 1024;
/// The pipe of a stream that filled it (a read took a whole [`CHUNK`], the default pipe's
/// size: the app was blocked on the daemon) or floods it (see [`pipe::FLOOD_PIECE`]) is
/// widened to this, the most an unprivileged process may ask (`/proc/sys/fs/pipe-max-size`).
/// A flood then writes on while the log thread writes the previous chunk out, instead of
/// stopping every 16 writes of 4 KiB to wait for it.
/// The kernel holds that memory only while the daemon is behind; quiet streams keep the
/// default pipe, so a thousand apps do not count against the user's pipe quota.
pub const BUSY_PIPE: usize = 1 << 20;
/// A line longer than this is written in pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;
/// Rotation when neither the app nor the daemon's environment says otherwise.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
pub const DEFAULT_RETAIN: u32 = 5;

/// Which of an instance's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
        }
    }
}

/// Inserts `-<index>` before the extension: `out.log` → `out-2.log`.
pub fn per_instance(p: &Path, index: u32) -> PathBuf {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("log");
    let name = match p.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}-{index}.{ext}"),
        None => format!("{stem}-{index}"),
    };
    p.with_file_name(name)
}

/// The stem of an app's default file names, as PM2 makes it: every character but ASCII
/// letters, digits, `.` and `-` becomes `-`. With the `-out.log` that follows, no name can reach
/// outside the logs folder (`../x` → `..-x-out.log`).
pub fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if stem.is_empty() { "-".into() } else { stem }
}

/// Whether each instance has its own files (`-<index>`): PM2's rule (`instance_log_suffix`,
/// set by the loader: `instances` or cluster mode given, no `merge_logs: true`), and always
/// with several instances unless `merge_logs`.
pub fn split_per_instance(spec: &AppSpec) -> bool {
    !spec.merge_logs && (spec.instances > 1 || spec.instance_log_suffix)
}

/// The files of instance `index`: (stdout file, stderr file, combined file). `None` when a
/// stream is disabled (or, for the combined file, not asked for). The default ones are
/// `<home>/logs/<stem>-out.log` and `-error.log` (see [`file_stem`]); each gets `-<index>` when
/// [`split_per_instance`].
pub fn files(paths: &Paths, spec: &AppSpec, index: u32) -> [Option<PathBuf>; 3] {
    let split = split_per_instance(spec);
    let resolve = |t: &LogTarget, default: Option<PathBuf>| -> Option<PathBuf> {
        let p = match t {
            LogTarget::Disabled => return None,
            LogTarget::File(p) => p.clone(),
            LogTarget::Default => default?,
        };
        Some(if split { per_instance(&p, index) } else { p })
    };
    let stem = file_stem(&spec.name);
    let default = |kind: &str| Some(paths.logs_dir.join(format!("{stem}-{kind}.log")));
    [
        resolve(&spec.out_file, default("out")),
        resolve(&spec.error_file, default("error")),
        resolve(&spec.log_file, None),
    ]
}

/// Counters shared between a capture task and whoever reports on it.
#[derive(Debug, Default)]
pub struct Counters {
    pub written: AtomicU64,
    pub lost: AtomicU64,
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

/// A piece of output for `logs --follow`: whole lines when the stream is line-split.
#[derive(Debug, Clone)]
pub struct LogChunk {
    pub app: Arc<str>,
    pub instance: u32,
    pub stream: Stream,
    pub data: Bytes,
}

/// The live feed every capture task publishes to (nobody listening costs nothing).
pub type LiveFeed = broadcast::Sender<LogChunk>;

/// Where one stream of one run goes, and how.
pub struct StreamOutput {
    pub targets: Vec<Arc<Mutex<LogFile>>>,
    pub format: LineFormat,
    /// Cut the stream into whole lines (needed for prefixes, JSON, and files shared by several
    /// streams); otherwise bytes pass through untouched, binary included.
    pub whole_lines: bool,
    pub counters: Arc<Counters>,
    pub tail: Option<Arc<Mutex<Tail>>>,
    pub live: LiveFeed,
    pub app: Arc<str>,
    pub instance: u32,
    pub stream: Stream,
    /// Watches for the run's `ready_log_line`, until it is seen.
    pub ready: Option<ready::Watcher>,
}

impl StreamOutput {
    fn emit(&self, data: &[u8], scratch: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(t) = &self.tail
            && let Ok(mut t) = t.lock()
        {
            t.push(data);
        }
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(LogChunk {
                app: self.app.clone(),
                instance: self.instance,
                stream: self.stream,
                data: Bytes::copy_from_slice(data),
            });
        }
        let out: &[u8] = match &self.format {
            LineFormat::Raw => data,
            other => {
                scratch.clear();
                other.write(data, &chrono::Local::now(), scratch);
                scratch
            }
        };
        for t in &self.targets {
            let lost = match t.lock() {
                Ok(mut f) => f.write(out),
                Err(_) => out.len() as u64,
            };
            self.counters
                .written
                .fetch_add(out.len() as u64 - lost, Ordering::Relaxed);
            self.counters.lost.fetch_add(lost, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream written to `<dir>/sub/app-out.log`, and that path.
    pub(super) fn output(
        dir: &Path,
        whole_lines: bool,
        format: LineFormat,
    ) -> (StreamOutput, PathBuf) {
        let path = dir.join("sub/app-out.log");
        let (live, _) = broadcast::channel(16);
        (
            StreamOutput {
                targets: vec![Arc::new(Mutex::new(LogFile::new(path.clone(), None, 0)))],
                format,
                whole_lines,
                counters: Arc::default(),
                tail: None,
                live,
                app: Arc::from("app"),
                instance: 0,
                stream: Stream::Out,
                ready: None,
            },
            path,
        )
    }

    /// Waits (60 s at most) until the file at `path` holds `len` bytes.
    pub(super) async fn wait_for_len(path: &Path, len: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::metadata(path).map_or(0, |m| m.len()) < len as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "the bytes never reached the file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
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
    fn file_names_follow_pm2() {
        let paths = Paths::new(PathBuf::from("/h")).unwrap();
        let mut spec = AppSpec::with_defaults("api", "x", PathBuf::from("/srv"));
        let [o, e, c] = files(&paths, &spec, 0);
        assert_eq!(o, Some(PathBuf::from("/h/logs/api-out.log")));
        assert_eq!(e, Some(PathBuf::from("/h/logs/api-error.log")));
        assert_eq!(c, None);
        spec.instances = 3;
        spec.out_file = LogTarget::File(PathBuf::from("/var/log/api.out"));
        spec.error_file = LogTarget::Disabled;
        spec.log_file = LogTarget::File(PathBuf::from("/var/log/all.log"));
        let [o, e, c] = files(&paths, &spec, 2);
        assert_eq!(o, Some(PathBuf::from("/var/log/api-2.out")));
        assert_eq!(e, None);
        assert_eq!(c, Some(PathBuf::from("/var/log/all-2.log")));
        spec.merge_logs = true;
        assert_eq!(
            files(&paths, &spec, 2)[0],
            Some(PathBuf::from("/var/log/api.out"))
        );
        // PM2: `instances: 1` in the file (no merge_logs) still gets -0.
        let mut one = AppSpec::with_defaults("api", "x", PathBuf::from("/srv"));
        one.instance_log_suffix = true;
        assert_eq!(
            files(&paths, &one, 0)[0],
            Some(PathBuf::from("/h/logs/api-out-0.log"))
        );
    }

    #[test]
    fn default_file_names_are_safe_whatever_the_app_name() {
        assert_eq!(file_stem("api.v2-x"), "api.v2-x");
        assert_eq!(file_stem("my app@2/x_y"), "my-app-2-x-y");
        assert_eq!(file_stem("../../etc/passwd"), "..-..-etc-passwd");
        assert_eq!(file_stem("é"), "-");
        assert_eq!(file_stem(""), "-");
        let paths = Paths::new(PathBuf::from("/h")).unwrap();
        for name in ["..", "../x", "a/../../b", "/abs", "x\0y"] {
            let spec = AppSpec::with_defaults(name, "x", PathBuf::from("/srv"));
            for p in files(&paths, &spec, 0).into_iter().flatten() {
                assert_eq!(
                    p.parent(),
                    Some(Path::new("/h/logs")),
                    "{name}: {}",
                    p.display()
                );
                assert!(
                    p.components().all(|c| c != std::path::Component::ParentDir),
                    "{}",
                    p.display()
                );
            }
        }
    }
}
