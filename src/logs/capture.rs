//! Owns the loop that reads one stream of one run and writes what comes as it should be
//! written (whole lines or bytes as they are), and the buffers that loop uses.

use super::{BUSY_PIPE, CHUNK, MAX_LINE, StreamOutput, pipe};

/// Complete lines with every line longer than [`MAX_LINE`] cut into pieces; borrows `lines`
/// as it is when no line is that long.
fn split_long<'a>(lines: &'a [u8], cut: &'a mut Vec<u8>) -> &'a [u8] {
    if !lines.split(|b| *b == b'\n').any(|l| l.len() > MAX_LINE) {
        return lines;
    }
    cut.clear();
    for line in lines.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        for piece in body.chunks(MAX_LINE) {
            cut.extend_from_slice(piece);
            cut.push(b'\n');
        }
    }
    cut
}

/// [`capture`] of the pipe `fd`, registered with the runtime this runs on.
pub async fn capture_pipe(fd: std::os::fd::OwnedFd, out: StreamOutput) {
    match pipe::Pipe::new(fd) {
        Ok(input) => capture(input, out).await,
        Err(e) => {
            tracing::error!(app = %out.app, instance = out.instance, "cannot read the output pipe: {e}")
        }
    }
}

/// Reads `input` until end of file and writes what comes to `out`. Returns when every holder of
/// the pipe's write end (the app and any children it left) has closed it. How a pipe is read,
/// and widened, is [`pipe`]'s.
///
/// Memory: a stream owns no buffer, only the start of a line that has not ended yet. It reads
/// into its thread's [`Scratch`], which it holds only between two waits. When each stream had
/// a buffer of its own, growing as reads filled it, a burst (an app printing while the daemon
/// was busy) left every stream it reached with 64 KiB for good: a soak's RSS crept up with each
/// burst, 2.8 MiB for 75 busy apps after three 1.5 s pauses (`bench/tools/burst_rss.sh`).
pub async fn capture(mut input: impl pipe::Input, mut out: StreamOutput) {
    let mut partial: Vec<u8> = Vec::new();
    'wait: loop {
        if input.ready().await.is_err() {
            break;
        }
        loop {
            let turn = SCRATCH.with_borrow_mut(|s| s.turn(&mut input, &mut out, &mut partial));
            match turn {
                Turn::Empty => continue 'wait,
                Turn::End => break 'wait,
                // An app that writes faster than this reads: the other streams of this thread
                // have their turn before this one reads on.
                Turn::Full => tokio::task::yield_now().await,
            }
        }
    }
    if let Some(w) = &mut out.ready {
        w.finish();
    }
    if !partial.is_empty() {
        partial.push(b'\n');
        SCRATCH.with_borrow_mut(|s| out.emit(&partial, &mut s.work.format));
    }
}

/// The most reads one stream makes before the others of its thread have a turn: a
/// [`BUSY_PIPE`] in [`CHUNK`]s.
const READS_PER_TURN: usize = BUSY_PIPE / CHUNK;
/// A partial line's buffer that grew past this (a long line written in pieces) is given back
/// down to it once the line is written.
const PARTIAL_KEEP: usize = 1024;

thread_local! {
    /// The buffers of the captures that run on this thread: one set, whatever the number of
    /// streams.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// What a capture uses only while it holds its thread.
#[derive(Default)]
struct Scratch {
    /// What a read gives: [`CHUNK`] bytes once the first read happened.
    read: Vec<u8>,
    work: Work,
}

/// The buffers that writing a read's lines needs.
#[derive(Default)]
struct Work {
    /// A partial line joined with the read that ends it.
    join: Vec<u8>,
    /// Lines longer than [`MAX_LINE`] cut into pieces.
    cut: Vec<u8>,
    /// Lines formatted (timestamps, JSON).
    format: Vec<u8>,
}

/// How a turn of reads ended.
enum Turn {
    /// The input is empty: wait for more.
    Empty,
    /// [`READS_PER_TURN`] reads and the input is not empty yet.
    Full,
    /// End of file, or a read error.
    End,
}

impl Scratch {
    /// Reads `input` until it is empty, at most [`READS_PER_TURN`] times, and writes what
    /// came to `out`.
    fn turn(
        &mut self,
        input: &mut impl pipe::Input,
        out: &mut StreamOutput,
        partial: &mut Vec<u8>,
    ) -> Turn {
        if self.read.len() < CHUNK {
            self.read.resize(CHUNK, 0);
        }
        let mut reads = 0;
        while reads < READS_PER_TURN {
            let n = match input.try_read(&mut self.read) {
                Ok(Some(0)) => return Turn::End,
                Ok(Some(n)) => n,
                Ok(None) => return Turn::Empty,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Turn::End,
            };
            reads += 1;
            let data = &self.read[..n];
            if let Some(w) = &mut out.ready {
                w.feed(data);
            }
            out.take(data, partial, &mut self.work);
        }
        Turn::Full
    }
}

impl StreamOutput {
    /// Writes what a read gave: as it is, or its complete lines with the rest kept in
    /// `partial` for the next read.
    fn take(&self, data: &[u8], partial: &mut Vec<u8>, work: &mut Work) {
        if !self.whole_lines {
            self.emit(data, &mut work.format);
            return;
        }
        match data.iter().rposition(|b| *b == b'\n') {
            Some(last) => {
                let lines = if partial.is_empty() {
                    &data[..=last]
                } else {
                    work.join.clear();
                    work.join.extend_from_slice(partial);
                    work.join.extend_from_slice(&data[..=last]);
                    partial.clear();
                    &work.join[..]
                };
                self.emit(split_long(lines, &mut work.cut), &mut work.format);
                partial.extend_from_slice(&data[last + 1..]);
            }
            None => partial.extend_from_slice(data),
        }
        // A line longer than MAX_LINE is written in pieces, so memory stays bounded.
        while partial.len() >= MAX_LINE {
            let mut piece: Vec<u8> = partial.drain(..MAX_LINE).collect();
            piece.push(b'\n');
            self.emit(&piece, &mut work.format);
        }
        if partial.capacity() > PARTIAL_KEEP && partial.len() <= PARTIAL_KEEP {
            partial.shrink_to(PARTIAL_KEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::format::{self, LineFormat};
    use crate::logs::tests::{output, wait_for_len};
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn raw_streams_pass_binary_through_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), false, LineFormat::Raw);
        let counters = out.counters.clone();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        capture(pipe::Plain(&data[..]), out).await;
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(counters.written.load(Ordering::Relaxed), data.len() as u64);
    }

    #[tokio::test]
    async fn line_mode_splits_long_lines_and_ends_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), true, LineFormat::Raw);
        let mut data = b"short\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', MAX_LINE * 2 + 10));
        data.extend(b"\npartial");
        capture(pipe::Plain(&data[..]), out).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "short");
        assert_eq!(lines[1].len(), MAX_LINE);
        assert_eq!(lines[2].len(), MAX_LINE);
        assert_eq!(lines[3].len(), 10);
        assert_eq!(lines[4], "partial");
        assert!(text.ends_with("partial\n"));
    }

    #[tokio::test]
    async fn timestamps_prefix_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(
            dir.path(),
            true,
            LineFormat::Timestamped(format::DateFormat::parse("[T]")),
        );
        capture(pipe::Plain(&b"a\nb\nc"[..]), out).await;
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "T: a\nT: b\nT: c\n"
        );
    }

    #[tokio::test]
    async fn a_stream_that_never_empties_lets_the_others_of_its_thread_have_turns() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), false, LineFormat::Raw);
        let written = out.counters.clone();
        let data = vec![b'x'; 8 * BUSY_PIPE];
        // Spawned on this (one-thread) runtime: it runs when the capture below lets it.
        let seen = tokio::spawn(async move { written.written.load(Ordering::Relaxed) });
        capture(pipe::Plain(&data[..]), out).await;
        let when = seen.await.unwrap();
        assert!(
            when < data.len() as u64,
            "the other task ran only after all {when} bytes"
        );
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn a_long_line_in_pieces_is_written_whole_and_its_buffer_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), true, LineFormat::Raw);
        let (mut partial, mut work) = (Vec::new(), Work::default());
        let piece = vec![b'y'; 5000];
        for _ in 0..3 {
            out.take(&piece, &mut partial, &mut work);
        }
        assert_eq!(partial.len(), 15_000);
        out.take(b"y\nnext", &mut partial, &mut work);
        assert_eq!(partial, b"next");
        assert!(partial.capacity() <= PARTIAL_KEEP, "{}", partial.capacity());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", "y".repeat(15_001)));
    }

    /// Writes `total` bytes into a pipe captured by [`capture_pipe`], waits for them in the
    /// file, and returns the pipe's size then.
    async fn pipe_size_after(total: usize) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let (out, path) = output(dir.path(), false, LineFormat::Raw);
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let task = tokio::spawn(capture_pipe(r, out));
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::File::from(w);
            std::io::Write::write_all(&mut f, &vec![b'x'; total]).unwrap();
            f
        });
        let w = tokio::task::spawn_blocking(move || writer.join().unwrap())
            .await
            .unwrap();
        wait_for_len(&path, total).await;
        // SAFETY: F_GETPIPE_SZ on the write end this test holds.
        let size = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&w), libc::F_GETPIPE_SZ) };
        drop(w);
        task.await.unwrap();
        size as usize
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pipe_the_app_fills_is_widened_and_a_quiet_one_is_not() {
        // 64 MiB written at once fills the default pipe many times over.
        assert_eq!(pipe_size_after(64 << 20).await, BUSY_PIPE);
        assert_eq!(pipe_size_after(1000).await, CHUNK);
    }
}
