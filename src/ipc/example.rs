//! A `list` row for the unit tests of the code that reads rows (monit, progress, metrics):
//! one constructor, so a new field of [`ProcessInfo`] is added here, not in every test.

use super::ProcessInfo;
use crate::record::Status;

impl ProcessInfo {
    /// Instance `instance` of `name` with id `id`, online on its first run with pid 100 + id;
    /// every counter 0 and every figure unknown. Tests set what they look at.
    pub fn example(id: u32, name: &str, instance: u32) -> ProcessInfo {
        ProcessInfo {
            id,
            name: name.into(),
            namespace: "default".into(),
            instance,
            pid: Some(100 + id as i32),
            status: Status::Online,
            run: 1,
            restarts: 0,
            auto_restarts: 0,
            manual_restarts: 0,
            unstable_restarts: 0,
            uptime_ms: None,
            started_at_ms: None,
            log_bytes_lost: 0,
            processes: None,
            log_bytes_written: 0,
            cpu_percent: None,
            memory_bytes: None,
            last_exit: None,
            health: None,
            notify_status: None,
            probe_error: None,
            reloading: None,
            history_dropped: 0,
        }
    }
}
