//! A log file with rotation (`log_max_size`, `log_retain`) fed arbitrary writes: no write is
//! lost on a healthy disk, no file grows past the limit, and with enough retained files the
//! rotated files, oldest first, then the current one, hold exactly what was written.
//!
//! Input: [max_size (0 = none, else 16..=270 bytes)] [write size 1..=256] [payload…, at most
//! 1K]; the payload is written in pieces of that size. The limit is scaled down from the
//! loader's 4K minimum so rotation happens often (each rotation renames every kept file, so
//! files are kept few); the logic does not depend on the scale.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use svctl::logs::file::{LogFile, rotated_files};

/// Never reached by these inputs (≤ 1K payload, ≥ 1 byte per file), so nothing is dropped.
const RETAIN: u32 = 2_000;
const MAX_PAYLOAD: usize = 1024;

fn dir() -> PathBuf {
    std::env::temp_dir().join(format!("svctl-fuzz-logfile-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let [max, step, payload @ ..] = data else {
        return;
    };
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    let max_size = (*max > 0).then_some(u64::from(*max) + 15);
    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app-out.log");

    let mut f = LogFile::new(path.clone(), max_size, RETAIN);
    for piece in payload.chunks(*step as usize + 1) {
        assert_eq!(f.write(piece), 0, "bytes lost on a healthy disk");
    }

    let mut files: Vec<PathBuf> = rotated_files(&path)
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .collect();
    files.push(path.clone());
    let mut all = Vec::new();
    for p in &files {
        let bytes = std::fs::read(p).unwrap_or_default();
        if let Some(m) = max_size {
            assert!(
                bytes.len() as u64 <= m,
                "{} holds {} bytes, over the limit {m}",
                p.display(),
                bytes.len()
            );
        }
        all.extend_from_slice(&bytes);
    }
    assert!(all == payload, "the files do not hold what was written");
    let _ = std::fs::remove_dir_all(&dir);
});
