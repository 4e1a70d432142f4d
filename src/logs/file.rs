//! Owns one log file: appending with size-based rotation (`name.log` → `name.log.1` … `.N`), a
//! flush that empties it (and its rotated files) in place, and the accounting of bytes that could
//! not be written, with a marker line once writing works again. A file may be shared by several
//! streams (`log_file`, `merge_logs`): it sits behind a mutex and is written a batch of complete
//! lines at a time.
//!
//! logrotate without `copytruncate` renames (or deletes) the file and expects the writer to
//! start a new one: at most once a second a write compares the open file's device and inode with
//! the path's (one `stat`), and opens the path afresh when they differ; `reopen` (the
//! `reload-logs` request) does it at once. A truncation in place (`copytruncate`) is noticed
//! the same way, so rotation by size counts from the new size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a writer checks that its path still names the file it has open.
const MOVED_CHECK: Duration = Duration::from_secs(1);

pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the current file, as far as this writer knows.
    size: u64,
    max_size: Option<u64>,
    retain: u32,
    /// Lost since the last successful write, reported by the marker line.
    pending_lost: u64,
    /// Device and inode of the open file.
    id: Option<(u64, u64)>,
    /// When the path was last compared with the open file.
    checked_at: Option<Instant>,
}

/// `name.log` → `name.log.N`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The rotated files of `path` that exist, oldest number last.
pub fn rotated_files(path: &Path) -> Vec<(u32, PathBuf)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name();
            let n = n.to_str()?;
            let num: u32 = n.strip_prefix(&prefix)?.parse().ok()?;
            Some((num, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Empties `path` in place and removes its rotated files. Writers that hold it open with
/// O_APPEND go on at the new end, with no hole.
pub fn flush_path(path: &Path) -> io::Result<()> {
    match OpenOptions::new().write(true).open(path) {
        Ok(f) => f.set_len(0)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    for (_, p) in rotated_files(path) {
        std::fs::remove_file(p)?;
    }
    Ok(())
}

/// Opens `path` for appending, creating it and its folder when missing.
fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Creates the files of `paths` that do not exist, with their folder, as PM2 does at start:
/// they can be followed before the app writes anything. They are opened for good at the first
/// write; an app that never prints holds no descriptor (every descriptor of the daemon is
/// copied into, then closed in, each process it starts). Called before the spawn, off the
/// actor: creating a file costs an inode, and a journal-less ext4 looks past every inode freed
/// in the last minutes to find one (`recently_deleted`), up to a millisecond per file. A
/// failure is left to the writer, which reports it.
pub fn create_missing(paths: &[PathBuf]) {
    for p in paths.iter().filter(|p| !p.exists()) {
        let _ = open_append(p);
    }
}

impl LogFile {
    pub fn new(path: PathBuf, max_size: Option<u64>, retain: u32) -> LogFile {
        LogFile {
            path,
            file: None,
            size: 0,
            max_size,
            retain,
            pending_lost: 0,
            id: None,
            checked_at: None,
        }
    }

    /// Closes the file and opens its path afresh (logrotate's "create" mode, `reload-logs`).
    /// A path that cannot be opened now is retried at each write, the output counted as lost
    /// until it can.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        self.open()
    }

    /// Drops the open file when its path names another file now (renamed or deleted by
    /// logrotate), at most once per [`MOVED_CHECK`]; follows a truncation in place.
    fn check_moved(&mut self) {
        if self.file.is_none() || self.checked_at.is_some_and(|t| t.elapsed() < MOVED_CHECK) {
            return;
        }
        self.checked_at = Some(Instant::now());
        match std::fs::metadata(&self.path) {
            Ok(m) if Some((m.dev(), m.ino())) == self.id => {
                if m.len() < self.size {
                    self.size = m.len();
                }
            }
            _ => self.file = None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let f = open_append(&self.path)?;
            let m = f.metadata()?;
            self.size = m.len();
            self.id = Some((m.dev(), m.ino()));
            self.checked_at = Some(Instant::now());
            self.file = Some(f);
        }
        Ok(())
    }

    /// Shifts `.1`…`.N-1` up by one, moves the current file to `.1`, drops what is beyond
    /// `retain`, and starts an empty file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.retain == 0 {
            flush_path(&self.path)?;
        } else {
            for (n, p) in rotated_files(&self.path).into_iter().rev() {
                if n >= self.retain {
                    std::fs::remove_file(&p)?;
                } else {
                    std::fs::rename(&p, rotated(&self.path, n + 1))?;
                }
            }
            match std::fs::rename(&self.path, rotated(&self.path, 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.size = 0;
        self.open()
    }

    /// Writes `data` (whole lines when the file is shared), rotating at line boundaries so no
    /// file grows past `max_size` (a single line longer than that is cut). Returns the bytes
    /// lost: 0 when all was written. Never fails otherwise; the next call tries again.
    pub fn write(&mut self, data: &[u8]) -> u64 {
        let mut rest = data;
        while !rest.is_empty() {
            match self.write_some(rest) {
                Ok(n) => rest = &rest[n..],
                Err(_) => {
                    // Reopen next time: that also recovers from a removed file or folder.
                    self.file = None;
                    self.pending_lost += rest.len() as u64;
                    return rest.len() as u64;
                }
            }
        }
        0
    }

    /// Writes as much of `data` as fits in the current file (rotating first when nothing
    /// fits); returns how much was written.
    fn write_some(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_moved();
        self.open()?;
        let mut take = data.len();
        if let Some(max) = self.max_size {
            let room = max.saturating_sub(self.size) as usize;
            if data.len() > room {
                match data[..room].iter().rposition(|b| *b == b'\n') {
                    Some(nl) => take = nl + 1,
                    None if self.size > 0 => {
                        self.rotate()?;
                        return Ok(0);
                    }
                    // An empty file and a line longer than the limit: cut it.
                    None => take = room.max(1),
                }
            }
        }
        let Some(f) = self.file.as_mut() else {
            return Err(io::Error::other("log file not open"));
        };
        if self.pending_lost > 0 {
            let marker = format!("[svctl] {} bytes of output lost\n", self.pending_lost);
            f.write_all(marker.as_bytes())?;
            self.size += marker.len() as u64;
            self.pending_lost = 0;
        }
        f.write_all(&data[..take])?;
        self.size += take as u64;
        if take < data.len() {
            self.rotate()?;
        }
        Ok(take)
    }

    /// Empties the file and its rotated files; writing goes on in the same file.
    pub fn flush(&mut self) -> io::Result<()> {
        flush_path(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_retain_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut f = LogFile::new(p.clone(), Some(100), 2);
        for i in 0..50 {
            assert_eq!(f.write(format!("line {i:04} ......\n").as_bytes()), 0);
        }
        let rotated: Vec<u32> = rotated_files(&p).into_iter().map(|(n, _)| n).collect();
        assert_eq!(rotated, vec![1, 2]);
        for path in [p.clone(), rotated_file(&p, 1), rotated_file(&p, 2)] {
            assert!(
                std::fs::metadata(&path).unwrap().len() <= 100,
                "{}",
                path.display()
            );
        }
        let cur = std::fs::read_to_string(&p).unwrap();
        assert!(cur.ends_with("line 0049 ......\n"), "{cur}");
        let one = std::fs::read_to_string(rotated_file(&p, 1)).unwrap();
        let first_cur = cur.lines().next().unwrap();
        let last_one = one.lines().last().unwrap();
        assert!(
            last_one < first_cur,
            "rotation keeps order: {last_one} < {first_cur}"
        );
    }

    fn rotated_file(p: &Path, n: u32) -> PathBuf {
        rotated(p, n)
    }

    #[test]
    fn flush_empties_in_place_and_writing_goes_on_without_holes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut f = LogFile::new(p.clone(), Some(64), 3);
        for _ in 0..10 {
            f.write(b"0123456789012345678901234567890\n");
        }
        assert!(!rotated_files(&p).is_empty());
        f.flush().unwrap();
        assert!(rotated_files(&p).is_empty());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
        f.write(b"after\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"after\n");
    }

    #[test]
    fn a_renamed_or_deleted_file_is_followed_by_a_new_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut f = LogFile::new(p.clone(), None, 0);
        f.write(b"one\n");
        // logrotate (create mode): rename, then the writer goes on in a new file.
        std::fs::rename(&p, d.path().join("a.log.1")).unwrap();
        f.checked_at = None; // as if a second had passed
        f.write(b"two\n");
        assert_eq!(std::fs::read(d.path().join("a.log.1")).unwrap(), b"one\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        std::fs::remove_file(&p).unwrap();
        f.checked_at = None;
        f.write(b"three\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"three\n");
        // Within the second, no stat: the old file gets the line.
        std::fs::rename(&p, d.path().join("a.log.2")).unwrap();
        f.write(b"four\n");
        assert_eq!(
            std::fs::read(d.path().join("a.log.2")).unwrap(),
            b"three\nfour\n"
        );
        // reload-logs: at once.
        f.reopen().unwrap();
        f.write(b"five\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"five\n");
    }

    #[test]
    fn a_truncation_in_place_resets_the_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let mut f = LogFile::new(p.clone(), Some(4096), 1);
        f.write(&[b'x'; 4000]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(0)
            .unwrap();
        f.checked_at = None;
        f.write(b"after\n");
        assert!(
            rotated_files(&p).is_empty(),
            "no rotation: the file is small"
        );
    }

    #[test]
    fn losses_are_counted_and_marked_once_writing_works() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let mut f = LogFile::new(blocker.join("a.log"), None, 0);
        assert_eq!(f.write(b"hello\n"), 6);
        assert_eq!(f.write(b"again\n"), 6);
        f.path = d.path().join("ok.log");
        assert_eq!(f.write(b"back\n"), 0);
        let text = std::fs::read_to_string(d.path().join("ok.log")).unwrap();
        assert_eq!(text, "[svctl] 12 bytes of output lost\nback\n");
    }
}
