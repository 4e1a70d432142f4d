//! Owns giving back the memory a process holds but does not use at rest: the pages of its code
//! and read-only data that stay mapped after they ran once (start-up, a burst of starts), and
//! freed heap that the allocator keeps.
//!
//! File-backed pages count in a process's RSS as long as they are mapped into it, and the
//! kernel maps them 64 KiB at a time around each fault. Dropping them from this process's page
//! tables (`MADV_DONTNEED`) costs nothing for a mapping nobody ever writes: the pages stay in
//! the page cache, and the next access maps them again (a minor fault), so what stays resident
//! afterwards is what the daemon runs at rest.

/// What [`trim`] released.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    /// Mappings advised, and the resident kB they held.
    pub mappings: u32,
    pub resident_kb: u64,
}

/// A mapping that can be dropped: read-only, backed by a file, and without a page of its own
/// (a private copy, e.g. relocated data made read-only afterwards, would be lost).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Droppable {
    start: usize,
    end: usize,
    rss_kb: u64,
}

/// The droppable mappings listed in `smaps` text.
fn droppable(smaps: &str) -> Vec<Droppable> {
    let mut out = Vec::new();
    // The mapping being read: (start, end, read-only file mapping), its Rss and Anonymous kB.
    let mut cur: Option<(usize, usize, bool)> = None;
    let (mut rss, mut anon) = (0u64, None::<u64>);
    let mut flush = |cur: Option<(usize, usize, bool)>, rss: u64, anon: Option<u64>| {
        if let Some((start, end, true)) = cur
            && anon == Some(0)
            && rss > 0
        {
            out.push(Droppable {
                start,
                end,
                rss_kb: rss,
            });
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            flush(cur, rss, anon);
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let read_only = matches!(perms, "r-xp" | "r--p");
            cur = Some((start, end, read_only && inode != "0"));
            (rss, anon) = (0, None);
            continue;
        }
        let mut kb = || fields.next().and_then(|v| v.parse::<u64>().ok());
        match first {
            "Rss:" => rss = kb().unwrap_or(0),
            "Anonymous:" => anon = kb(),
            _ => {}
        }
    }
    flush(cur, rss, anon);
    out
}

/// Gives back this process's idle memory: freed heap to the system, and the pages of its
/// read-only file mappings out of its page tables. Blocking (it reads `/proc/self/smaps`).
pub fn trim() -> Trimmed {
    // SAFETY: malloc_trim only releases free heap memory; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Trimmed::default();
    };
    let mut done = Trimmed::default();
    for m in droppable(&smaps) {
        // SAFETY: the range is one whole mapping of this process that is read-only and holds
        // no private page (checked just above; a read-only mapping cannot gain one): dropping
        // its pages only makes the next access map them again from the file.
        let r = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if r == 0 {
            done.mappings += 1;
            done.resident_kb += m.rss_kb;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 1234 /usr/bin/svctl
Rss:                 300 kB
Anonymous:             0 kB
55d0c0100000-55d0c0400000 r-xp 00100000 fd:01 1234 /usr/bin/svctl
Rss:                2000 kB
Anonymous:             0 kB
55d0c0400000-55d0c0440000 r--p 00400000 fd:01 1234 /usr/bin/svctl
Rss:                 256 kB
Anonymous:           256 kB
55d0c0440000-55d0c0450000 rw-p 00440000 fd:01 1234 /usr/bin/svctl
Rss:                  64 kB
Anonymous:            20 kB
7f0000000000-7f0000021000 rw-p 00000000 00:00 0 [heap]
Rss:                 132 kB
Anonymous:           132 kB
7f0000100000-7f0000200000 r-xp 00000000 fd:01 99 /usr/lib/libc.so.6
Rss:                   0 kB
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_read_only_file_mappings_without_private_pages_are_dropped() {
        let d = droppable(SMAPS);
        let starts: Vec<usize> = d.iter().map(|m| m.start).collect();
        // The relocated read-only data (private pages), the writable data, the heap, a mapping
        // with nothing resident and the vdso stay.
        assert_eq!(starts, vec![0x55d0c0000000, 0x55d0c0100000]);
        assert_eq!(d[1].end, 0x55d0c0400000);
        assert_eq!(d.iter().map(|m| m.rss_kb).sum::<u64>(), 2300);
    }

    #[test]
    fn trimming_this_process_keeps_it_running_and_shrinks_it() {
        let rss = || {
            std::fs::read_to_string("/proc/self/smaps_rollup")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("Rss:"))
                        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
                })
                .expect("smaps_rollup")
        };
        let before = rss();
        let t = trim();
        assert!(t.mappings > 0, "{t:?}");
        // Code runs again after it (it faults back in), and what was dropped is gone.
        let after = rss();
        assert!(after < before, "{before} kB -> {after} kB");
    }
}
