//! Owns watching an instance's output for its `ready_log_line`: lines are matched until the
//! first match, then the watcher says so once and stops looking. Memory is bounded: at most one
//! partial line of [`super::MAX_LINE`] bytes is kept between chunks.

use regex::bytes::Regex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Called once, at the first matching line of either stream.
pub type OnReady = Arc<dyn Fn() + Send + Sync>;

/// The readiness watch of one run, shared by its stdout and stderr.
#[derive(Clone)]
pub struct ReadyLine {
    regex: Regex,
    seen: Arc<AtomicBool>,
    on_ready: OnReady,
}

impl ReadyLine {
    /// `None` when the pattern is not a valid regex (the loader refuses those).
    pub fn new(pattern: &str, on_ready: OnReady) -> Option<ReadyLine> {
        Some(ReadyLine {
            regex: Regex::new(pattern).ok()?,
            seen: Arc::default(),
            on_ready,
        })
    }

    /// A watcher for one stream.
    pub fn watcher(&self) -> Watcher {
        Watcher {
            line: self.clone(),
            partial: Vec::new(),
        }
    }
}

/// One stream's side of a [`ReadyLine`].
pub struct Watcher {
    line: ReadyLine,
    partial: Vec<u8>,
}

impl Watcher {
    /// Looks at a chunk of output. Cheap once the run is ready.
    pub fn feed(&mut self, data: &[u8]) {
        if self.line.seen.load(Ordering::Relaxed) {
            return;
        }
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(nl);
            rest = &tail[1..];
            let matched = if self.partial.is_empty() {
                self.line.regex.is_match(line)
            } else {
                self.partial.extend_from_slice(line);
                let m = self.line.regex.is_match(&self.partial);
                self.partial.clear();
                m
            };
            if matched {
                self.fire();
                return;
            }
        }
        let room = super::MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&rest[..rest.len().min(room)]);
    }

    /// The stream ended: a last line without a newline counts too.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() && self.line.regex.is_match(&self.partial) {
            self.fire();
        }
        self.partial.clear();
    }

    fn fire(&mut self) {
        if !self.line.seen.swap(true, Ordering::Relaxed) {
            (self.line.on_ready)();
        }
        self.partial = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn counting(pattern: &str) -> (ReadyLine, Arc<AtomicU32>) {
        let n = Arc::new(AtomicU32::new(0));
        let c = n.clone();
        let on: OnReady = Arc::new(move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        (ReadyLine::new(pattern, on).expect("a regex"), n)
    }

    #[test]
    fn the_first_matching_line_fires_once_across_chunks_and_streams() {
        let (r, n) = counting(r"listening on port \d+");
        let mut out = r.watcher();
        let mut err = r.watcher();
        out.feed(b"starting\nlisten");
        assert_eq!(n.load(Ordering::Relaxed), 0, "half a line is not a line");
        out.feed(b"ing on port 8000\nmore\n");
        assert_eq!(n.load(Ordering::Relaxed), 1);
        err.feed(b"listening on port 9000\n");
        out.feed(b"listening on port 1\n");
        assert_eq!(n.load(Ordering::Relaxed), 1, "once per run");
    }

    #[test]
    fn a_line_must_match_as_a_line_and_the_last_one_counts_at_the_end() {
        let (r, n) = counting(r"^ready$");
        let mut w = r.watcher();
        w.feed(b"not ready\nalready\n");
        assert_eq!(n.load(Ordering::Relaxed), 0);
        w.feed(b"ready");
        assert_eq!(n.load(Ordering::Relaxed), 0);
        w.finish();
        assert_eq!(n.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_huge_line_keeps_memory_bounded() {
        let (r, _) = counting("x");
        let mut w = r.watcher();
        // No newline, never matches: only MAX_LINE bytes are kept.
        let (r2, _) = counting("never");
        let mut w2 = r2.watcher();
        let big = vec![b'a'; 10 * super::super::MAX_LINE];
        w2.feed(&big);
        assert!(w2.partial.len() <= super::super::MAX_LINE);
        w.feed(b"x\n");
    }
}
