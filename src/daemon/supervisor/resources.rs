//! Owns what the daemon holds for an app beyond its processes: the listening sockets of
//! `listen:`, opened at the first start that needs them, kept across restarts and reloads (so a
//! client never finds a port closed while an instance is replaced), and closed when the app is
//! deleted or no instance's address names them any more. An address with `$VAR` gives each
//! instance its own socket (`tcp://127.0.0.1:$PORT` with `increment_var: PORT`).

use crate::config::AppSpec;
use crate::config::probe::ListenAddr;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A socket passed to an instance: its fd in the daemon, and its name (`LISTEN_FDNAMES`).
pub type Passed = (RawFd, String);

#[derive(Default)]
pub struct Resources {
    sockets: HashMap<String, Vec<(ListenAddr, OwnedFd)>>,
}

impl Resources {
    /// The sockets of the instance of `spec`'s app whose environment is `env`, opened now if
    /// they are not yet; an address that cannot be bound is an error naming the app and the
    /// address.
    pub fn sockets(
        &mut self,
        spec: &AppSpec,
        env: &BTreeMap<String, String>,
    ) -> Result<Vec<Passed>, String> {
        if spec.listen.is_empty() {
            self.sockets.remove(&spec.name);
            return Ok(Vec::new());
        }
        let fail = |e: String| format!("app `{}`: cannot listen: {e}", spec.name);
        let mine: Vec<ListenAddr> = spec
            .listen
            .iter()
            .map(|a| a.resolve(env))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        // Sockets no instance names any more close (once no process holds them either).
        let wanted: Vec<ListenAddr> = if spec.listen.iter().any(ListenAddr::per_instance) {
            // The env_file is read once for all the instances.
            let file = spec.env_file_vars();
            (0..spec.instances)
                .flat_map(|i| {
                    let env = spec.environment_with(&file, i);
                    spec.listen.iter().filter_map(move |a| a.resolve(&env).ok())
                })
                .collect()
        } else {
            spec.listen.clone()
        };
        let held = self.sockets.entry(spec.name.clone()).or_default();
        held.retain(|(a, _)| wanted.contains(a));
        let mut passed = Vec::new();
        for addr in mine {
            let fd = match held.iter().find(|(a, _)| *a == addr) {
                Some((_, fd)) => fd.as_raw_fd(),
                None => {
                    let fd = crate::proc::listen::open(&addr).map_err(fail)?;
                    let raw = fd.as_raw_fd();
                    held.push((addr.clone(), fd));
                    raw
                }
            };
            passed.push((fd, addr.display()));
        }
        Ok(passed)
    }

    /// The app is gone: its sockets close.
    pub fn release(&mut self, app: &str) {
        self.sockets.remove(app);
    }
}
