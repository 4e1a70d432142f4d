//! Owns kernel OOM-kill detection without special privileges: the kernel's OOM-kill counters
//! (`/proc/vmstat` `oom_kill`, and the daemon's cgroup `memory.events` or v1
//! `memory.oom_control`), read when a run starts and when it ends by a SIGKILL svctl did not
//! send; and, where readable, `/dev/kmsg`, whose "Killed process PID" line confirms it.
//! `SVCTL_KMSG=off` in the daemon's environment makes it never read `/dev/kmsg`, as on a host
//! that forbids it (documented in the README; the tests of the cgroup counters use it).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// The kernel's OOM-kill counters at one moment. A counter that cannot be read is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OomCounters {
    pub system: Option<u64>,
    pub cgroup: Option<u64>,
}

impl OomCounters {
    pub fn read() -> OomCounters {
        OomCounters {
            system: std::fs::read_to_string("/proc/vmstat")
                .ok()
                .and_then(|t| field(&t, "oom_kill")),
            cgroup: own_cgroup_oom_kills(),
        }
    }

    /// Whether any counter moved since `before`.
    pub fn rose_since(&self, before: &OomCounters) -> bool {
        let rose = |a: Option<u64>, b: Option<u64>| matches!((a, b), (Some(now), Some(then)) if now > then);
        rose(self.system, before.system) || rose(self.cgroup, before.cgroup)
    }
}

/// `name value` lines (vmstat, memory.events, memory.oom_control) → the value of `name`.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == name).then(|| it.next()?.parse().ok())?
    })
}

/// The OOM-kill counter of the cgroup this daemon (and so, by default, its children) lives in.
fn own_cgroup_oom_kills() -> Option<u64> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cg.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            // cgroup v2: the unified hierarchy.
            let p = format!("/sys/fs/cgroup/{path}/memory.events");
            if let Some(v) = std::fs::read_to_string(p)
                .ok()
                .and_then(|t| field(&t, "oom_kill"))
            {
                return Some(v);
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let p = format!("/sys/fs/cgroup/memory/{path}/memory.oom_control");
            if let Some(v) = std::fs::read_to_string(p)
                .ok()
                .and_then(|t| field(&t, "oom_kill"))
            {
                return Some(v);
            }
        }
    }
    None
}

/// Whether the kernel log names `pid` as killed by the OOM killer. `None` when the log cannot be
/// read (no permission, restricted dmesg).
pub fn kmsg_confirms(pid: i32) -> Option<bool> {
    if !kmsg_enabled() {
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok()?;
    // Also matches the cgroup form, "Memory cgroup out of memory: Killed process PID …".
    let needle = format!("Killed process {pid} ");
    // Each read returns one record; EAGAIN ends the buffer. Bounded so a huge ring cannot stall
    // the daemon.
    let mut buf = vec![0u8; 8192];
    for _ in 0..100_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                if rec.contains(&needle) {
                    return Some(true);
                }
            }
            // EPIPE: records were overwritten while reading; go on with the next.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    Some(false)
}

/// Whether the daemon reads `/dev/kmsg` at all (`SVCTL_KMSG=off`: never).
pub fn kmsg_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        !std::env::var("SVCTL_KMSG").is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_named_fields() {
        let vmstat = "pgfault 12\noom_kill 3\npgmajfault 1\n";
        assert_eq!(field(vmstat, "oom_kill"), Some(3));
        assert_eq!(field(vmstat, "oom"), None);
        assert_eq!(field("oom_kill x\n", "oom_kill"), None);
        let events = "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(field(events, "oom_kill"), Some(2));
    }

    #[test]
    fn a_counter_rises_only_when_both_readings_exist() {
        let before = OomCounters {
            system: Some(1),
            cgroup: None,
        };
        let same = OomCounters {
            system: Some(1),
            cgroup: Some(5),
        };
        assert!(!same.rose_since(&before));
        let rose = OomCounters {
            system: Some(2),
            cgroup: None,
        };
        assert!(rose.rose_since(&before));
        assert!(!OomCounters::default().rose_since(&before));
    }

    #[test]
    fn reading_the_counters_never_fails() {
        // On Linux /proc/vmstat has oom_kill since 4.13; elsewhere None, never a panic.
        let c = OomCounters::read();
        if std::path::Path::new("/proc/vmstat").exists() {
            assert!(c.system.is_some());
        }
    }
}
