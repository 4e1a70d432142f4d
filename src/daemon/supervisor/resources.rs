//! Owns what the daemon holds for an app beyond its processes: the listening sockets of
//! `listen:`, opened at the app's first start, kept across restarts and reloads (so a client
//! never finds the port closed while an instance is replaced), and closed when the app is
//! deleted or its addresses change.

use crate::config::AppSpec;
use crate::config::probe::ListenAddr;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A socket passed to every instance: its fd in the daemon, and its name (`LISTEN_FDNAMES`).
pub type Passed = (RawFd, String);

#[derive(Default)]
pub struct Resources {
    sockets: HashMap<String, Vec<(ListenAddr, OwnedFd)>>,
}

impl Resources {
    /// The sockets of `spec`'s app, opened now if they are not yet; an address that cannot be
    /// bound is an error naming the app and the address.
    pub fn sockets(&mut self, spec: &AppSpec) -> Result<Vec<Passed>, String> {
        if spec.listen.is_empty() {
            self.sockets.remove(&spec.name);
            return Ok(Vec::new());
        }
        let held = self.sockets.entry(spec.name.clone()).or_default();
        let same: Vec<&ListenAddr> = held.iter().map(|(a, _)| a).collect();
        if same != spec.listen.iter().collect::<Vec<_>>() {
            // New addresses: the old sockets close once no instance holds them any more.
            held.clear();
            for addr in &spec.listen {
                let fd = crate::proc::listen::open(addr).map_err(|e| {
                    format!(
                        "app `{}`: cannot listen on {}: {e}",
                        spec.name,
                        addr.display()
                    )
                })?;
                held.push((addr.clone(), fd));
            }
        }
        Ok(held
            .iter()
            .map(|(a, fd)| (fd.as_raw_fd(), a.display()))
            .collect())
    }

    /// The app is gone: its sockets close.
    pub fn release(&mut self, app: &str) {
        self.sockets.remove(app);
    }
}
