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

use super::{BUSY_PIPE, CHUNK};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

/// A drain (the reads from one wake-up until the pipe is empty) of at least this much, which
/// began less than [`FLOOD_GAP`] after the drain before it ended, means the app writes as fast
/// as the log thread reads (stdio writes 4 KiB blocks to a pipe): the pipe is then read on a
/// timer. It stays so while each pause gives at least this much.
pub const FLOOD_PIECE: usize = 4096;
pub const FLOOD_GAP: Duration = Duration::from_millis(1);
/// How long a flooded pipe fills before it is read again. The timer rounds it up to the next
/// millisecond: at most 2 ms, which at 500 MB/s (the fastest app measured here, `seq` into
/// `cat`) is the 1 MiB a [`BUSY_PIPE`] holds.
pub const FLOOD_PAUSE: Duration = Duration::from_millis(1);

/// What a capture reads from. A capture waits with [`Input::ready`], then reads with
/// [`Input::try_read`] until it says the input is empty: the reads happen while the capture
/// holds its thread, so they can all go into one buffer per thread.
pub trait Input {
    /// Waits until a read may give something (data, or end of file).
    fn ready(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is there now into `buf`: `Ok(Some(0))` at end of file, `Ok(None)` when
    /// there is nothing yet.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
}

/// Bytes in memory, for the tests of what a capture does with them.
#[cfg(test)]
pub struct Plain<R>(pub R);

#[cfg(test)]
impl<R: io::Read + Send> Input for Plain<R> {
    async fn ready(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.0.read(buf).map(Some)
    }
}

/// The read end of an app's output pipe, non-blocking.
pub struct Pipe {
    state: State,
    /// `None` until widening was tried; then whether the pipe holds [`BUSY_PIPE`].
    wide: Option<bool>,
    drains: Drains,
}

enum State {
    /// Registered with the reactor: woken when data comes.
    Polled(AsyncFd<OwnedFd>),
    /// Out of the reactor: read again [`FLOOD_PAUSE`] after it was found empty.
    Timed(OwnedFd),
    /// Only while moving from one to the other.
    Gone,
}

/// The drains of a pipe, and whether its app floods it.
#[derive(Debug, Default)]
struct Drains {
    /// When the drain under way read first, and how much it read.
    began: Option<Instant>,
    got: usize,
    /// When the last drain ended (a read found the pipe empty).
    ended: Option<Instant>,
}

impl Drains {
    fn read(&mut self, n: usize, now: Instant) {
        if self.got == 0 {
            self.began = Some(now);
        }
        self.got += n;
    }

    /// The pipe is empty: whether the app floods it (see [`FLOOD_PIECE`]); `timed`: this drain
    /// followed a pause.
    fn drained(&mut self, now: Instant, timed: bool) -> bool {
        let soon = match (self.began, self.ended) {
            (Some(began), Some(ended)) => began.saturating_duration_since(ended) < FLOOD_GAP,
            _ => false,
        };
        let flood = self.got >= FLOOD_PIECE && (timed || soon);
        self.got = 0;
        self.ended = Some(now);
        flood
    }
}

impl Pipe {
    /// Takes `fd` (made non-blocking) into the reactor of the runtime this runs on.
    pub fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(&fd)?;
        Ok(Pipe {
            state: State::Polled(poll(fd)?),
            wide: None,
            drains: Drains::default(),
        })
    }

    fn raw(&self) -> Option<std::os::fd::RawFd> {
        match &self.state {
            State::Polled(a) => Some(a.get_ref().as_raw_fd()),
            State::Timed(fd) => Some(fd.as_raw_fd()),
            State::Gone => None,
        }
    }

    /// Asks for a [`BUSY_PIPE`] pipe (once), and says whether the pipe has that size; refused
    /// (over the user's pipe quota), it stays as it is.
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

    /// Out of the reactor, until a read after a pause finds the pipe empty.
    fn move_to_timer(&mut self) {
        self.state = match std::mem::replace(&mut self.state, State::Gone) {
            State::Polled(afd) => State::Timed(afd.into_inner()),
            other => other,
        };
    }

    /// Back into the reactor, to be woken by the next write; should the reactor refuse the
    /// pipe, it stays on the timer.
    fn move_to_reactor(&mut self) {
        self.state = match std::mem::replace(&mut self.state, State::Gone) {
            State::Timed(fd) => match poll(fd) {
                Ok(afd) => State::Polled(afd),
                Err(e) => {
                    let (fd, e) = e.into_parts();
                    tracing::warn!("an output pipe stays on a timer: {e}");
                    State::Timed(fd)
                }
            },
            other => other,
        };
    }
}

impl Input for Pipe {
    async fn ready(&mut self) -> io::Result<()> {
        match &self.state {
            // The guard is dropped without clearing: the readiness stays until a read finds the
            // pipe empty (`try_io` clears it then).
            State::Polled(afd) => afd.readable().await.map(drop),
            State::Timed(_) => {
                tokio::time::sleep(FLOOD_PAUSE).await;
                Ok(())
            }
            State::Gone => Ok(()),
        }
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let timed = matches!(self.state, State::Timed(_));
        let result = match &self.state {
            State::Polled(afd) => afd.try_io(tokio::io::Interest::READABLE, |fd| read(fd, buf)),
            State::Timed(fd) => read(fd, buf),
            State::Gone => return Ok(Some(0)),
        };
        match result {
            Ok(n) => {
                self.drains.read(n, Instant::now());
                // The app filled the pipe (a read took a whole default pipe).
                if n >= CHUNK && n == buf.len() {
                    self.widen();
                }
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A flood goes on (or starts) on the timer; a pipe on the timer whose app
                // paused goes back to the reactor, or stays on the timer if the reactor
                // refuses it.
                if self.drains.drained(Instant::now(), timed) && self.widen() {
                    self.move_to_timer();
                } else if timed {
                    self.move_to_reactor();
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
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
    use crate::logs::capture;
    use crate::logs::format::LineFormat;
    use crate::logs::tests::{output, wait_for_len};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn a_flood_is_a_drain_of_a_block_soon_after_the_last_one_or_after_a_pause() {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let mut d = Drains::default();
        // The first drain has none before it.
        d.read(4500, at(0));
        assert!(!d.drained(at(10), false));
        // 20 µs later, a 4 KiB block again (stdio into a reader that keeps up): a flood.
        d.read(4500, at(30));
        assert!(d.drained(at(40), false));
        // The same as whole chunks (64 KiB writes).
        d.read(CHUNK, at(60));
        d.read(CHUNK, at(70));
        assert!(d.drained(at(80), false));
        // Less than a block, or a block 5 ms after the last drain: not a flood.
        d.read(FLOOD_PIECE - 1, at(90));
        assert!(!d.drained(at(100), false));
        d.read(FLOOD_PIECE, at(5_100));
        assert!(!d.drained(at(5_110), false));
        // After a pause the gap is the pause: a block is enough to stay on the timer, and less
        // than one ends it.
        d.read(FLOOD_PIECE, at(7_200));
        assert!(d.drained(at(7_210), true));
        d.read(100, at(9_300));
        assert!(!d.drained(at(9_310), true));
        // A wake-up that read nothing (the pipe was empty) is no flood.
        assert!(!d.drained(at(9_320), true));
    }

    /// Counts the reads of the input it wraps that gave data.
    struct Counted(Pipe, Arc<AtomicUsize>);

    impl Input for Counted {
        async fn ready(&mut self) -> io::Result<()> {
            self.0.ready().await
        }

        fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
            let got = self.0.try_read(buf);
            if matches!(got, Ok(Some(n)) if n > 0) {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
            got
        }
    }

    /// Numbered 100-byte lines, as stdio sends them to a pipe: in 4 KiB writes.
    fn lines(from: usize, to: usize) -> Vec<u8> {
        (from..to)
            .flat_map(|i| format!("L{i:07} {}\n", "x".repeat(90)).into_bytes())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_in_small_writes_is_read_in_chunks_and_a_later_line_still_comes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), true, LineFormat::Raw);
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
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
