//! Owns what the daemon holds for an app beyond its processes: how its runs are isolated (a
//! cgroup per run under the app's cgroup, or process groups, decided once at start-up), the
//! listening sockets of
//! `listen:`, opened at the first start that needs them, kept across restarts and reloads (so a
//! client never finds a port closed while an instance is replaced), and closed when the app is
//! deleted or no instance's address names them any more. An address with `$VAR` gives each
//! instance its own socket (`tcp://127.0.0.1:$PORT` with `increment_var: PORT`).

use crate::config::AppSpec;
use crate::config::probe::ListenAddr;
use crate::proc::cgroup::{Group, Layer, Limits};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// How the daemon's runs are kept together, decided once at start-up.
#[derive(Debug)]
pub enum Isolation {
    /// Each run in its own cgroup: the process tree is the cgroup, limits are the kernel's.
    Cgroups(Arc<Layer>),
    /// Each run in its own process group; the reason cgroups are not used.
    ProcessGroups(String),
}

impl Isolation {
    /// Sets up the daemon's cgroup subtree for `home`, or says why not (`SVCTL_CGROUPS=off`
    /// in the daemon's environment keeps it in process-group mode).
    pub fn detect(home: &std::path::Path) -> Isolation {
        if crate::proc::cgroup::turned_off() {
            return Isolation::ProcessGroups(crate::proc::cgroup::TURNED_OFF.into());
        }
        let tag = crate::proc::cgroup::home_tag(home);
        let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        match crate::proc::cgroup::setup(
            std::path::Path::new(crate::proc::cgroup::ROOT),
            &self_cgroup,
            &tag,
        ) {
            Ok(layer) => Isolation::Cgroups(Arc::new(layer)),
            Err(e) => Isolation::ProcessGroups(e.to_string()),
        }
    }

    /// The line `ping` and `describe` show.
    pub fn describe(&self) -> String {
        match self {
            Isolation::Cgroups(l) => l.describe(),
            Isolation::ProcessGroups(why) => format!("process groups (no cgroups: {why})"),
        }
    }

    /// What `describe` says about limits of `spec` this daemon cannot enforce.
    pub fn unenforced(&self, spec: &AppSpec) -> Option<String> {
        let limits = Limits::of(spec);
        let keys = match self {
            Isolation::Cgroups(l) => l.unenforced(&limits),
            Isolation::ProcessGroups(_) => limits.keys(),
        };
        (!keys.is_empty()).then(|| {
            format!(
                "{} not enforced: {}",
                keys.join(", "),
                match self {
                    Isolation::Cgroups(_) => "the controller is not available to the daemon",
                    Isolation::ProcessGroups(_) => "the daemon runs without cgroups",
                }
            )
        })
    }
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation::ProcessGroups("not set up".into())
    }
}

/// Makes a run's cgroup (see [`Resources::group_maker`]).
pub type GroupMaker = Box<dyn FnOnce() -> Option<Arc<Group>> + Send>;

/// A socket passed to an instance: its fd in the daemon, and its name (`LISTEN_FDNAMES`).
pub type Passed = (RawFd, String);

#[derive(Default)]
pub struct Resources {
    pub isolation: Isolation,
    sockets: HashMap<String, Vec<(ListenAddr, OwnedFd)>>,
}

impl Resources {
    /// A new cgroup for run `run` of instance `index` (the app's cgroup is made at its first
    /// run and kept), with the app's limits; `None` in process-group mode, or when the cgroup
    /// cannot be made (logged: that run runs in process-group mode).
    pub fn run_group(&self, spec: &AppSpec, index: u32, run: u64) -> Option<Arc<Group>> {
        self.group_maker(spec, index, run).and_then(|make| make())
    }

    /// [`Resources::run_group`] to call later, off the actor: making a cgroup takes the
    /// kernel's cgroup lock, which a process joining its cgroup holds while it waits for every
    /// fork and exit in progress on the host (seconds under heavy load, on v1).
    pub fn group_maker(&self, spec: &AppSpec, index: u32, run: u64) -> Option<GroupMaker> {
        let Isolation::Cgroups(layer) = &self.isolation else {
            return None;
        };
        let layer = layer.clone();
        let app = spec.name.clone();
        let limits = Limits::of(spec);
        Some(Box::new(move || {
            match layer.run_group(&app, index, run, &limits) {
                Ok(g) => Some(Arc::new(g)),
                Err(e) => {
                    tracing::warn!(
                        app,
                        index,
                        run,
                        "no cgroup for this run, it runs in process-group mode: {e}"
                    );
                    None
                }
            }
        }))
    }

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

    /// Kills what a previous daemon's run left in its cgroup and removes the cgroup; returns
    /// how many processes were in it.
    pub fn sweep_stale(&self, app: &str, index: u32, run: u64) -> usize {
        let Isolation::Cgroups(layer) = &self.isolation else {
            return 0;
        };
        let Some(group) = layer.existing(app, index, run) else {
            return 0;
        };
        let killed = group.kill().unwrap_or(0);
        if killed > 0 {
            tracing::warn!(
                app,
                index,
                run,
                killed,
                "processes of the previous daemon's run were still in its cgroup: killed"
            );
        }
        super::spawn::release_group(Arc::new(group));
        killed
    }

    /// The daemon stops with every run down: the apps' cgroups and the daemon's subtree go.
    pub fn close(&mut self, apps: &[String]) {
        if let Isolation::Cgroups(layer) = &self.isolation {
            for app in apps {
                layer.remove_app(app);
            }
            layer.remove_base();
        }
    }

    /// The app is gone: its sockets close and its cgroup is removed.
    pub fn release(&mut self, app: &str) {
        self.sockets.remove(app);
        if let Isolation::Cgroups(layer) = &self.isolation {
            layer.remove_app(app);
        }
    }
}
