//! Owns CPU and memory sampling of the supervised processes, with sysinfo, refreshing only the
//! pids svctl supervises and only what it shows.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One sample of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub pid: i32,
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

/// Keeps the sysinfo state between samples (CPU % needs two readings).
pub struct Sampler {
    /// `None` when sysinfo cannot read this system: then there are no samples, nothing fails.
    sys: Option<System>,
}

impl Sampler {
    pub fn new() -> Sampler {
        let sys = System::new()
            .map_err(|e| tracing::warn!("CPU and memory sampling is off: {e:?}"))
            .ok();
        Sampler { sys }
    }

    /// Refreshes the given pids and returns a sample for each that still exists.
    pub fn sample(&mut self, pids: &[i32]) -> Vec<Sample> {
        let wanted: Vec<Pid> = pids
            .iter()
            .filter(|p| **p > 0)
            .map(|p| Pid::from_u32(*p as u32))
            .collect();
        let Some(sys) = self.sys.as_mut() else {
            return Vec::new();
        };
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&wanted),
            true,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
        wanted
            .iter()
            .filter_map(|pid| {
                sys.process(*pid).map(|p| Sample {
                    pid: pid.as_u32() as i32,
                    cpu_percent: p.cpu_usage(),
                    rss_bytes: p.memory(),
                })
            })
            .collect()
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}
