//! Owns reading the end of a log: exactly the last N lines, reading back into rotated files
//! (`.1`, `.2`…) when the current one has fewer, without loading whole files.

use super::file::rotated_files;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const BLOCK: u64 = 64 * 1024;

/// The last `n` lines of one file, oldest first (without their newlines), and whether the file
/// had at least `n`.
fn last_lines_of(path: &Path, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut end = len;
    let mut data: Vec<u8> = Vec::new();
    let mut newlines = 0usize;
    // Read blocks from the end until n+1 newlines are seen (the last byte may be one); only the
    // new block is counted, so a long read stays linear.
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block)?;
        newlines += block.iter().filter(|b| **b == b'\n').count();
        block.extend_from_slice(&data);
        data = block;
        end = start;
        if newlines > n {
            break;
        }
    }
    let body = data.strip_suffix(b"\n").unwrap_or(&data);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines: Vec<Vec<u8>> = body.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    // The first piece may be the end of an earlier line when we stopped mid-file.
    if end > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

/// The last `n` lines of a log and its rotated files, oldest first.
pub fn last_lines(path: &Path, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = last_lines_of(path, n)?;
    for (_, older) in rotated_files(path) {
        if out.len() >= n {
            break;
        }
        let mut more = last_lines_of(&older, n - out.len())?;
        more.append(&mut out);
        out = more;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::file::LogFile;

    #[test]
    fn exactly_n_lines_across_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut f = LogFile::new(p.clone(), Some(4096), 10);
        for i in 0..2000 {
            f.write(format!("line {i}\n").as_bytes());
        }
        assert!(rotated_files(&p).len() >= 3);
        for n in [0, 1, 10, 500, 1999, 2000] {
            let got = last_lines(&p, n).unwrap();
            assert_eq!(got.len(), n, "n = {n}");
            let want: Vec<Vec<u8>> = (2000 - n..2000)
                .map(|i| format!("line {i}").into_bytes())
                .collect();
            assert_eq!(got, want, "n = {n}");
        }
        assert_eq!(last_lines(&p, 5000).unwrap().len(), 2000);
    }

    #[test]
    fn long_files_are_read_from_the_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.log");
        let line = "y".repeat(999);
        let body: String = (0..5000).map(|i| format!("{i} {line}\n")).collect();
        std::fs::write(&p, body).unwrap();
        let got = last_lines(&p, 3).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[2].starts_with(b"4999 "));
        assert!(
            last_lines(&d.path().join("none.log"), 3)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_missing_final_newline_still_counts_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.log");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(
            last_lines(&p, 2).unwrap(),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
    }
}
