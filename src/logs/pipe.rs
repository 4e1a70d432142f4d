//! Owns how a capture reads its output pipe: woken by the runtime's reactor when data comes,
//! or, while the app floods it, on a timer with the pipe out of the reactor.
//!
//! Why the timer: once a pipe has been polled, every write to it wakes its poller, and a wake-up
//! between the two ends of a pipe is a "sync" one that takes the writer's CPU. An app printing
//! 500 MB in 4 KiB blocks woke the log thread 110,000 times and ran at two thirds of its speed
//! into `cat` (325 against 485 MB/s, on tmpfs). Pausing between reads with the pipe still
//! registered cut the reads to 8,000 but not the wake-ups (387 MB/s, and more daemon CPU). Out
//! of the reactor, the pipe (widened to [`BUSY_PIPE`]) fills while the log thread waits
//! [`FLOOD_PAUSE`], and is then read in whole chunks: 571 wake-ups, 394–458 MB/s, half the
//! daemon's CPU.

use super::{BUSY_PIPE, FLOOD_PAUSE};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// What a capture reads from.
pub trait Input {
    /// Reads into `buf`; `Ok(0)` at end of file.
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// The app floods the stream: the pipe is widened, and if it is wide and the input can
    /// wait on a timer, the next read comes after [`FLOOD_PAUSE`] without a wake-up per write.
    /// Returns whether it will.
    fn flood(&mut self) -> bool;

    /// The app fills the pipe: it is widened to [`BUSY_PIPE`].
    fn fill(&mut self);
}

/// Bytes in memory (tests) or any other reader with no pipe behind it.
pub struct Plain<R>(pub R);

impl<R: tokio::io::AsyncRead + Unpin + Send> Input for Plain<R> {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        tokio::io::AsyncReadExt::read(&mut self.0, buf).await
    }
    fn flood(&mut self) -> bool {
        false
    }
    fn fill(&mut self) {}
}

/// The read end of an app's output pipe, non-blocking.
pub struct Pipe {
    state: State,
    /// `None` until widening was tried; then whether the pipe holds [`BUSY_PIPE`].
    wide: Option<bool>,
}

enum State {
    /// Registered with the reactor: woken when data comes.
    Polled(AsyncFd<OwnedFd>),
    /// Out of the reactor, read when the capture says (after a pause).
    Timed(OwnedFd),
    /// Only while moving from one to the other.
    Gone,
}

impl Pipe {
    /// Takes `fd` (made non-blocking) into the reactor of the runtime this runs on.
    pub fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(&fd)?;
        Ok(Pipe {
            state: State::Polled(poll(fd)?),
            wide: None,
        })
    }

    fn raw(&self) -> Option<std::os::fd::RawFd> {
        match &self.state {
            State::Polled(a) => Some(a.get_ref().as_raw_fd()),
            State::Timed(fd) => Some(fd.as_raw_fd()),
            State::Gone => None,
        }
    }

    fn widen(&mut self) -> bool {
        if let Some(wide) = self.wide {
            return wide;
        }
        let wide = self.raw().is_some_and(|fd| {
            // SAFETY: F_SETPIPE_SZ on a descriptor this owns; no memory is passed.
            let size = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, BUSY_PIPE as libc::c_int) };
            size >= BUSY_PIPE as libc::c_int
        });
        self.wide = Some(wide);
        wide
    }
}

impl Input for Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.state {
                State::Polled(afd) => {
                    let mut ready = afd.readable_mut().await?;
                    match ready.try_io(|fd| read(fd.get_ref(), buf)) {
                        Ok(result) => return result,
                        Err(_would_block) => continue,
                    }
                }
                State::Timed(fd) => match read(fd, buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Drained: back to being woken by the next write. Should the reactor
                        // refuse the pipe, it stays on the timer.
                        if let State::Timed(fd) = std::mem::replace(&mut self.state, State::Gone) {
                            self.state = match poll(fd) {
                                Ok(afd) => State::Polled(afd),
                                Err(e) => {
                                    let (fd, e) = e.into_parts();
                                    tracing::warn!("an output pipe is read on a timer: {e}");
                                    tokio::time::sleep(FLOOD_PAUSE).await;
                                    State::Timed(fd)
                                }
                            };
                        }
                    }
                    other => return other,
                },
                State::Gone => return Ok(0),
            }
        }
    }

    fn flood(&mut self) -> bool {
        if !self.widen() {
            return false;
        }
        self.state = match std::mem::replace(&mut self.state, State::Gone) {
            State::Polled(afd) => State::Timed(afd.into_inner()),
            other => other,
        };
        true
    }

    fn fill(&mut self) {
        self.widen();
    }
}

/// `fd` registered with the reactor of the runtime this runs on, for reading.
fn poll(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>, tokio::io::unix::AsyncFdRegisterError<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and is the same descriptor, for as long as it is owned,
    // here by the AsyncFd until `into_inner` gives it back.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
}

/// One read(2); `EINTR` is retried.
fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::format::LineFormat;
    use crate::logs::{LogFile, Stream, StreamOutput, capture};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Counts the reads of the input it wraps.
    struct Counted(Pipe, Arc<AtomicUsize>);

    impl Input for Counted {
        async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.read(buf).await
        }
        fn flood(&mut self) -> bool {
            self.0.flood()
        }
        fn fill(&mut self) {
            self.0.fill()
        }
    }

    /// Numbered 100-byte lines, as stdio sends them to a pipe: in 4 KiB writes.
    fn lines(from: usize, to: usize) -> Vec<u8> {
        (from..to)
            .flat_map(|i| format!("L{i:07} {}\n", "x".repeat(90)).into_bytes())
            .collect()
    }

    async fn wait_for_len(path: &std::path::Path, len: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::metadata(path).map_or(0, |m| m.len()) < len as u64 {
            assert!(
                Instant::now() < deadline,
                "the bytes never reached the file"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_in_small_writes_is_read_in_chunks_and_a_later_line_still_comes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flood-out.log");
        let (live, _) = tokio::sync::broadcast::channel(16);
        let out = StreamOutput {
            targets: vec![Arc::new(Mutex::new(LogFile::new(path.clone(), None, 0)))],
            format: LineFormat::Raw,
            whole_lines: true,
            counters: Arc::default(),
            tail: None,
            live,
            app: Arc::from("flood"),
            instance: 0,
            stream: Stream::Out,
            ready: None,
        };
        let (r, w) = nix::unistd::pipe().unwrap();
        let reads = Arc::new(AtomicUsize::new(0));
        let input = Counted(Pipe::new(r).unwrap(), reads.clone());
        let task = tokio::spawn(capture(input, out));
        // 8 MB in 4 KiB writes, one every 200 µs (late ones catch up at once): slower than the
        // log thread reads, so that a reader polled for each write would be woken 2,000 times.
        let flood = lines(0, 81_920);
        let writes = flood.len().div_ceil(4096);
        let body = flood.clone();
        let w = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::from(w);
            let start = Instant::now();
            for (k, piece) in body.chunks(4096).enumerate() {
                let due = start + Duration::from_micros(200) * k as u32;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                std::io::Write::write_all(&mut f, piece).unwrap();
            }
            f
        })
        .await
        .unwrap();
        wait_for_len(&path, flood.len()).await;
        let flood_reads = reads.load(Ordering::Relaxed);
        assert!(
            flood_reads * 4 < writes,
            "{flood_reads} reads for {writes} writes"
        );
        // SAFETY: F_GETPIPE_SZ on the write end this test holds.
        let size = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&w), libc::F_GETPIPE_SZ) };
        assert_eq!(size as usize, BUSY_PIPE);
        // The flood is over, the app is still there: its next line is read when it comes, not
        // left in the pipe until another pause.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let last = lines(81_920, 81_921);
        let mut f = w;
        std::io::Write::write_all(&mut f, &last).unwrap();
        wait_for_len(&path, flood.len() + last.len()).await;
        drop(f);
        task.await.unwrap();
        let mut want = flood;
        want.extend(last);
        assert!(
            std::fs::read(&path).unwrap() == want,
            "bytes lost or out of order"
        );
    }
}
