//! Owns `/proc/PID/stat`: the one parser of its line ([`Stat::parse`]), reading it by pid
//! ([`read`]) or again and again through a file kept open ([`StatFile`]), and the units of its
//! fields ([`page_size`] for RSS, [`ticks_per_second`] for CPU and start times).
//!
//! The line is `pid (comm) state ppid pgrp session …` (see proc(5)). The command name may hold
//! any byte but NUL, spaces, `(`, `)` and newlines included, and need not be UTF-8, so the
//! parser works on bytes: the name runs from the first `(` to the *last* `)`, and every later
//! field is a number or the one-letter state, split on whitespace.

use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// The longest command name the kernel prints in `stat` (its `tcomm[64]` buffer, NUL included,
/// for workqueue and kernel threads; user processes have at most 15 bytes).
pub const COMM_MAX: usize = 63;

/// `flags` (field 9) bit of a kernel thread (`PF_KTHREAD`).
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// A buffer for [`StatFile::read`]. Fields 1 to 24 (all that is parsed) take fewer than 600
/// bytes: a pid, a name of at most [`COMM_MAX`] bytes and 22 numbers of at most 20 digits and
/// a sign; a longer line cut at this length still parses.
pub const BUF_LEN: usize = 1024;

/// A command name as the kernel prints it (bytes, not necessarily UTF-8). Copyable, with no
/// allocation, so a [`Stat`] costs nothing to keep.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Comm {
    bytes: [u8; COMM_MAX],
    len: u8,
}

impl Comm {
    fn new(b: &[u8]) -> Comm {
        let len = b.len().min(COMM_MAX);
        let mut bytes = [0; COMM_MAX];
        bytes[..len].copy_from_slice(&b[..len]);
        Comm {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The name for display: invalid UTF-8 becomes U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The fields of `/proc/PID/stat` that svctl uses (field numbers as in proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 1.
    pub pid: i32,
    /// Field 2, without its parentheses.
    pub comm: Comm,
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `T`, `t`, `X` (dead), `I` (idle kernel thread)…
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: the process group.
    pub pgrp: i32,
    /// Field 6.
    pub session: i32,
    /// Field 9: `PF_*` bits.
    pub flags: u32,
    /// Fields 14 + 15: user and system CPU time, in clock ticks ([`ticks_per_second`]).
    pub cpu_ticks: u64,
    /// Field 20.
    pub threads: u32,
    /// Field 22: start time in clock ticks since boot. With the pid it identifies a process
    /// for good: a reused pid has another start time.
    pub start_ticks: u64,
    /// Field 24: resident set size in pages ([`page_size`]).
    pub rss_pages: u64,
}

impl Stat {
    /// Parses one `stat` line; `None` when it is not one (truncated before field 24, a
    /// non-number where a number belongs…).
    pub fn parse(line: &[u8]) -> Option<Stat> {
        let open = line.iter().position(|&b| b == b'(')?;
        let close = line.iter().rposition(|&b| b == b')')?;
        if close < open || close - open - 1 > COMM_MAX {
            return None;
        }
        let pid = num(line[..open].trim_ascii())?;
        let comm = Comm::new(&line[open + 1..close]);
        // Fields 3.. after the name; `take(n)` is field 3 + n.
        let mut f = line[close + 1..]
            .split(u8::is_ascii_whitespace)
            .filter(|s| !s.is_empty());
        let state = match f.next()? {
            [c] if c.is_ascii_alphabetic() => char::from(*c),
            _ => return None,
        };
        let ppid = num(f.next()?)?;
        let pgrp = num(f.next()?)?;
        let session = num(f.next()?)?;
        let flags = num(f.nth(2)?)?; // skips tty_nr, tpgid
        let utime: u64 = num(f.nth(4)?)?; // skips minflt, cminflt, majflt, cmajflt
        let stime: u64 = num(f.next()?)?;
        let threads = num(f.nth(4)?)?; // skips cutime, cstime, priority, nice
        let start_ticks = num(f.nth(1)?)?; // skips itrealvalue
        let rss_pages = num(f.nth(1)?)?; // skips vsize
        Some(Stat {
            pid,
            comm,
            state,
            ppid,
            pgrp,
            session,
            flags,
            cpu_ticks: utime.saturating_add(stime),
            threads,
            start_ticks,
            rss_pages,
        })
    }

    /// Neither a zombie nor dead: it still runs (or sleeps, or is stopped).
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    pub fn zombie(&self) -> bool {
        self.state == 'Z'
    }

    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

fn num<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `/proc/PID/stat` of `pid` now, if it exists and parses.
pub fn read(pid: i32) -> Option<Stat> {
    Stat::parse(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// `/proc/PID/stat` kept open: reading it again at offset 0 costs one syscall (a `pread`)
/// instead of open, read and close. Once the process is gone, reads fail (`None`), and a later
/// process with the same pid is never read through it.
#[derive(Debug)]
pub struct StatFile(std::fs::File);

impl StatFile {
    pub fn open(pid: i32) -> std::io::Result<StatFile> {
        std::fs::File::open(format!("/proc/{pid}/stat")).map(StatFile)
    }

    /// The stat line now, read into `buf` (of [`BUF_LEN`] bytes, or more).
    pub fn read(&self, buf: &mut [u8]) -> Option<Stat> {
        let n = self.0.read_at(buf, 0).ok()?;
        Stat::parse(&buf[..n])
    }
}

/// Bytes per page, the unit of [`Stat::rss_pages`].
pub fn page_size() -> u64 {
    static V: OnceLock<u64> = OnceLock::new();
    *V.get_or_init(|| sysconf(nix::unistd::SysconfVar::PAGE_SIZE).unwrap_or(4096))
}

/// Clock ticks per second, the unit of [`Stat::cpu_ticks`] and [`Stat::start_ticks`].
pub fn ticks_per_second() -> u64 {
    static V: OnceLock<u64> = OnceLock::new();
    *V.get_or_init(|| sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap_or(100))
}

/// The time since boot in clock ticks, the clock of [`Stat::start_ticks`] (`/proc/uptime`).
pub fn boot_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((secs * ticks_per_second() as f64) as u64)
}

fn sysconf(var: nix::unistd::SysconfVar) -> Option<u64> {
    let v = nix::unistd::sysconf(var).ok()??;
    u64::try_from(v).ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line with the given pid, name and state; the numbers are those of a real `sleep`
    /// (flags 4194560, utime 7, stime 5, 3 threads, start 12345, rss 256).
    fn line(pid: &str, comm: &[u8], state: &str) -> Vec<u8> {
        let mut l = format!("{pid} (").into_bytes();
        l.extend_from_slice(comm);
        l.extend_from_slice(
            format!(
                ") {state} 1 4242 4242 0 -1 4194560 120 0 0 0 7 5 0 0 20 0 3 0 12345 \
                 10000000 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
            )
            .as_bytes(),
        );
        l
    }

    #[test]
    fn names_of_every_shape() {
        let table: &[&[u8]] = &[
            b"sleep",
            b"",
            b"my app",
            b"a) S 1 2 3",
            b"(x)",
            b")",
            b"((",
            b"a\nb",
            b"tab\there",
            b" lead",
            b"\xff\xfe not utf-8",
            b"123456789012345",
        ];
        for comm in table {
            let s = Stat::parse(&line("4242", comm, "S"))
                .unwrap_or_else(|| panic!("{:?}", String::from_utf8_lossy(comm)));
            assert_eq!(s.comm.as_bytes(), *comm);
            assert_eq!(
                (s.pid, s.state, s.ppid, s.pgrp, s.session, s.flags),
                (4242, 'S', 1, 4242, 4242, 4194560)
            );
            assert_eq!(
                (s.cpu_ticks, s.threads, s.start_ticks, s.rss_pages),
                (12, 3, 12345, 256)
            );
        }
        assert_eq!(
            Stat::parse(&line("7", b"\xff", "S"))
                .unwrap()
                .comm
                .to_string_lossy(),
            "\u{fffd}"
        );
    }

    #[test]
    fn states() {
        for (state, alive, zombie) in [
            ("R", true, false),
            ("S", true, false),
            ("D", true, false),
            ("T", true, false),
            ("t", true, false),
            ("I", true, false),
            ("Z", false, true),
            ("X", false, false),
            ("x", false, false),
        ] {
            let s = Stat::parse(&line("9", b"w", state)).unwrap();
            assert_eq!(
                (s.state, s.alive(), s.zombie()),
                (state.chars().next().unwrap(), alive, zombie)
            );
        }
    }

    #[test]
    fn kernel_threads_and_zombies_as_the_kernel_prints_them() {
        let kthreadd = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 26 0 0 \
            18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = Stat::parse(kthreadd).unwrap();
        assert!(s.kernel_thread() && s.alive());
        assert_eq!(
            (s.pid, s.ppid, s.pgrp, s.start_ticks, s.rss_pages),
            (2, 0, 0, 26, 0)
        );
        let worker = b"85 (kworker/u8:3-events_unbound) I 2 0 0 0 -1 69238880 0 0 0 0 0 40 0 0 \
            20 0 1 0 160 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 3 0 0 0 0 0";
        let s = Stat::parse(worker).unwrap();
        assert_eq!(s.comm.as_bytes(), b"kworker/u8:3-events_unbound");
        assert!(s.kernel_thread() && s.state == 'I');
        let zombie = b"310 (sh) Z 300 300 300 0 -1 4227084 140 0 0 0 1 2 0 0 20 0 1 0 999 0 0 \
            18446744073709551615 0 0 0 0 0 0 0 0 65536 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = Stat::parse(zombie).unwrap();
        assert!(s.zombie() && !s.alive() && !s.kernel_thread());
        assert_eq!((s.cpu_ticks, s.start_ticks, s.rss_pages), (3, 999, 0));
    }

    #[test]
    fn rejects_what_is_not_a_stat_line() {
        let table: &[&[u8]] = &[
            b"",
            b"garbage",
            b"1 (x) S 1",
            b"x (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
            b"1 (sh) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
            b"1 (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0",
            b"1 (sh) S 1 1 1 0 -1 0 0 0 0 0 zero 0 0 0 20 0 1 0 5 0 0",
            b"1 )sh( S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
        ];
        for l in table {
            assert_eq!(Stat::parse(l), None, "{:?}", String::from_utf8_lossy(l));
        }
        let long = line("1", &[b'a'; COMM_MAX + 1], "S");
        assert_eq!(Stat::parse(&long), None);
        assert!(Stat::parse(&line("1", &[b'a'; COMM_MAX], "S")).is_some());
        // Cut just after field 24 (a short buffer) still parses.
        let full = line("1", b"sh", "S");
        let cut = full.windows(4).position(|w| w == b" 256").unwrap() + 4;
        assert_eq!(Stat::parse(&full[..cut]).unwrap().rss_pages, 256);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let s = read(me).unwrap();
        assert_eq!((s.pid, s.ppid), (me, nix::unistd::getppid().as_raw()));
        assert!(s.alive() && !s.kernel_thread() && s.rss_pages > 0 && s.threads >= 1);
        let f = StatFile::open(me).unwrap();
        let mut buf = [0; BUF_LEN];
        assert_eq!(f.read(&mut buf).unwrap().start_ticks, s.start_ticks);
        assert_eq!(read(i32::MAX), None);
        assert!(page_size() >= 4096 && ticks_per_second() > 0);
    }
}
