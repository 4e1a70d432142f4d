//! Owns the daemon's cgroups: finding where the host lets it create them, one cgroup per app
//! (created at its first start, kept across restarts, removed at delete) holding one cgroup per
//! run, and everything read from or written to those files: the hard limits (`memory_max`,
//! `pids_max`, `cpu_weight`, `cpu_max`), joining a run before it executes, the run's memory,
//! CPU and OOM-kill counter, signalling and killing every process in it, and removing it.
//!
//! Layout: `<daemon's cgroup>/svctl-<tag>/app-<name>/<instance>-<run>`, where `<tag>` names the
//! home (parallel daemons of different homes never share a subtree) and `<name>` is the app's
//! name with every byte outside `[A-Za-z0-9._-]` written `%XX` (so no app can be named like a
//! cgroup file). A run has its own cgroup, not its instance: a reload's new process runs beside
//! the old one, and stopping the old one must not touch it.
//!
//! Two kernels' interfaces:
//! - **v2** (the unified hierarchy mounted at `/sys/fs/cgroup`): usable when the daemon's own
//!   cgroup is writable (root, a systemd unit with `Delegate=yes`, a user session). Controllers
//!   are enabled down the subtree; when the daemon's cgroup holds processes (v2 allows
//!   controllers only in cgroups without them), the daemon first moves itself into a leaf
//!   `svctl-<tag>.daemon`.
//! - **v1** (one hierarchy per controller, as on hosts with a hybrid mount): needs the `memory`
//!   hierarchy (root); `pids`, `freezer`, `cpu` and `cpuacct` are used where mounted, `pids` and
//!   `cpu` only by runs of apps with a limit there (see [`Layer::run_group`]).
//!
//! Memory is the cgroup's anonymous plus mapped file pages (`memory.stat`: v2 `anon` +
//! `file_mapped`, v1 `total_rss` + `total_mapped_file`): close to the sum of the processes'
//! RSS without counting a shared page twice, and without the page cache, which the kernel
//! reclaims before it kills (so a process that writes big files is not "growing"). The kernel
//! flushes these statistics lazily, so a young cgroup can read 0 while its processes are
//! resident; a sample then sums the processes' RSS from `/proc` instead.
//!
//! Files: this one finds the subtree ([`setup`]) and lays out app and run cgroups ([`Layer`]);
//! `group` owns one run's cgroup ([`Group`], and [`sample`], the sampler's seam); `probe` is
//! `svctl check`'s read-only forecast.
//!
//! All helpers are blocking file operations on a few small files; callers run them off the
//! actor. The root of the hierarchy is a parameter so tests run against a fake cgroupfs in a
//! temporary directory.

use crate::config::AppSpec;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

mod group;
mod probe;
#[cfg(test)]
mod tests;

pub use group::{Group, sample};
pub use probe::{missing, probe};

/// Where cgroupfs is mounted.
pub const ROOT: &str = "/sys/fs/cgroup";

/// Why cgroups are not used when `SVCTL_CGROUPS=off` is set.
pub const TURNED_OFF: &str = "turned off by SVCTL_CGROUPS=off";

/// Whether `SVCTL_CGROUPS=off` keeps the daemon (and `check`'s forecast) in process-group
/// mode: for hosts whose cgroups belong to another manager, and to compare the two modes.
pub fn turned_off() -> bool {
    std::env::var("SVCTL_CGROUPS").is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))
}

/// The hard limits of an app, as its spec asks for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    /// 1 to 10000, 100 being the default share (v2 `cpu.weight`).
    pub cpu_weight: Option<u64>,
    /// Percent of one CPU (150 = one and a half).
    pub cpu_max_percent: Option<u64>,
}

impl Limits {
    pub fn of(spec: &AppSpec) -> Limits {
        Limits {
            memory_max: spec.memory_max,
            pids_max: spec.pids_max,
            cpu_weight: spec.cpu_weight,
            cpu_max_percent: spec.cpu_max_percent,
        }
    }

    /// The ecosystem keys that are set.
    pub fn keys(&self) -> Vec<&'static str> {
        self.wanted().into_iter().map(|(k, _)| k).collect()
    }

    /// The ecosystem keys that are set, with the controller each needs.
    pub(crate) fn wanted(&self) -> Vec<(&'static str, Controller)> {
        let mut out = Vec::new();
        if self.memory_max.is_some() {
            out.push(("memory_max", Controller::Memory));
        }
        if self.pids_max.is_some() {
            out.push(("pids_max", Controller::Pids));
        }
        if self.cpu_weight.is_some() {
            out.push(("cpu_weight", Controller::Cpu));
        }
        if self.cpu_max_percent.is_some() {
            out.push(("cpu_max", Controller::Cpu));
        }
        out
    }
}

/// A controller svctl uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
    /// v1 only: CPU usage (v2 has `cpu.stat` in every cgroup).
    Cpuacct,
    /// v1 only: stopping every process at once before killing them (v2 has `cgroup.kill`).
    Freezer,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Freezer => "freezer",
        }
    }

    pub(crate) const V1: [Controller; 5] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Freezer,
    ];
    pub(crate) const V2: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Why cgroups cannot be used, or what failed in one.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The daemon's subtree: where app cgroups are created, per controller (v1) or once (v2).
#[derive(Debug)]
pub struct Layer {
    version: Version,
    /// (controller, the daemon's `svctl-<tag>` directory in its hierarchy). On v2 every entry
    /// is the same directory; `procs` names the one whose `cgroup.procs` lists the processes.
    bases: Vec<(Controller, PathBuf)>,
    procs: PathBuf,
}

/// Finds and prepares the daemon's subtree under `root` (normally [`ROOT`]), given the text of
/// `/proc/self/cgroup`. `tag` names the home. The error says why cgroups cannot be used.
pub fn setup(root: &Path, self_cgroup: &str, tag: &str) -> Result<Layer, CgroupError> {
    let own = parse_self(self_cgroup);
    if root.join("cgroup.controllers").exists() {
        let path = own
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                CgroupError::Unavailable("/proc/self/cgroup names no cgroup v2 path".into())
            })?;
        setup_v2(&under(root, &path), tag)
    } else if root.join("memory").join("memory.limit_in_bytes").exists() {
        setup_v1(root, &own, tag)
    } else {
        Err(CgroupError::Unavailable(format!(
            "neither cgroup v2 nor a cgroup v1 memory hierarchy is mounted at {}",
            root.display()
        )))
    }
}

/// `/proc/self/cgroup` lines (`id:controllers:path`) → (controllers, path); v2's line has no
/// controllers.
pub(crate) fn parse_self(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((ctrls.to_string(), path.to_string()))
        })
        .collect()
}

pub(crate) fn under(root: &Path, cgroup_path: &str) -> PathBuf {
    root.join(cgroup_path.trim_start_matches('/'))
}

fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}

pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_at(path))
}

fn not_writable(dir: &Path, e: CgroupError) -> CgroupError {
    let who = if nix::unistd::geteuid().is_root() {
        String::new()
    } else {
        format!(
            " (the daemon runs as uid {}; it needs root, or a delegated cgroup v2 subtree)",
            nix::unistd::geteuid()
        )
    };
    CgroupError::Unavailable(format!(
        "cannot create a cgroup under {}: {e}{who}",
        dir.display()
    ))
}

fn setup_v1(root: &Path, own: &[(String, String)], tag: &str) -> Result<Layer, CgroupError> {
    let mut bases = Vec::new();
    for c in Controller::V1 {
        let Some((_, path)) = own
            .iter()
            .find(|(ctrls, _)| ctrls.split(',').any(|n| n == c.name()))
        else {
            continue;
        };
        let mount = root.join(c.name());
        if !mount.join("cgroup.procs").exists() {
            continue;
        }
        let parent = under(&mount, path);
        let base = parent.join(format!("svctl-{tag}"));
        match make_dir(&base) {
            Ok(()) => bases.push((c, base)),
            Err(e) if c == Controller::Memory => return Err(not_writable(&parent, e)),
            Err(e) => tracing::warn!("cgroup v1 {} not used: {e}", c.name()),
        }
    }
    // A combined `cpu,cpuacct` mount: joining cpuacct would join cpu (see `run_group`), so the
    // accounting is left to the cpu entry, joined with a CPU limit only.
    let canonical = |c: Controller, b: &[(Controller, PathBuf)]| {
        b.iter()
            .find(|(k, _)| *k == c)
            .and_then(|(_, d)| d.canonicalize().ok())
    };
    if canonical(Controller::Cpu, &bases).is_some()
        && canonical(Controller::Cpu, &bases) == canonical(Controller::Cpuacct, &bases)
    {
        bases.retain(|(c, _)| *c != Controller::Cpuacct);
    }
    let procs = bases
        .iter()
        .find(|(c, _)| *c == Controller::Memory)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            CgroupError::Unavailable("/proc/self/cgroup names no cgroup v1 memory hierarchy".into())
        })?;
    Ok(Layer {
        version: Version::V1,
        bases,
        procs,
    })
}

fn setup_v2(own: &Path, tag: &str) -> Result<Layer, CgroupError> {
    let available =
        words(&std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default());
    let wanted: Vec<Controller> = Controller::V2
        .into_iter()
        .filter(|c| available.contains(c.name()))
        .collect();
    let enable: String = wanted
        .iter()
        .map(|c| format!("+{}", c.name()))
        .collect::<Vec<_>>()
        .join(" ");
    if !enable.is_empty() && write(&own.join("cgroup.subtree_control"), &enable).is_err() {
        // v2 refuses controllers below a cgroup that holds processes: the daemon moves into a
        // leaf of its own first (as systemd does for a `Delegate=yes` unit's main process).
        let leaf = own.join(format!("svctl-{tag}.daemon"));
        let moved = make_dir(&leaf).and_then(|()| write(&leaf.join("cgroup.procs"), "0"));
        match moved.and_then(|()| write(&own.join("cgroup.subtree_control"), &enable)) {
            Ok(()) => {}
            Err(e) => tracing::warn!("cgroup v2 controllers not enabled: {e}"),
        }
    }
    let base = own.join(format!("svctl-{tag}"));
    make_dir(&base).map_err(|e| not_writable(own, e))?;
    Ok(Layer {
        version: Version::V2,
        bases: vec![(Controller::Memory, base.clone())],
        procs: base,
    })
}

pub(crate) fn words(text: &str) -> BTreeSet<String> {
    text.split_whitespace()
        .map(|w| w.trim_start_matches('+').to_string())
        .collect()
}

/// An app's name as a directory name: `app-` and the name with unsafe bytes as `%XX`.
pub fn app_dir_name(app: &str) -> String {
    let mut out = String::from("app-");
    for b in app.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Layer {
    pub fn version(&self) -> Version {
        self.version
    }

    /// The daemon's own cgroup (the parent of its `svctl-<tag>` base) in each hierarchy of
    /// `dirs`, on v1; empty on v2.
    fn home_of(&self, dirs: &[(Controller, PathBuf)]) -> Vec<PathBuf> {
        if self.version != Version::V1 {
            return Vec::new();
        }
        dirs.iter()
            .filter_map(|(c, _)| {
                let (_, base) = self.bases.iter().find(|(k, _)| k == c)?;
                base.parent().map(Path::to_path_buf)
            })
            .collect()
    }

    /// The directories a cgroup named `rel` has, one per hierarchy.
    fn dirs(&self, rel: &Path) -> Vec<(Controller, PathBuf)> {
        self.bases.iter().map(|(c, b)| (*c, b.join(rel))).collect()
    }

    /// The controllers usable in the daemon's subtree.
    pub fn controllers(&self) -> BTreeSet<Controller> {
        match self.version {
            Version::V1 => self.bases.iter().map(|(c, _)| *c).collect(),
            Version::V2 => {
                // What the daemon's cgroup enabled for its subtree.
                let text = std::fs::read_to_string(self.procs.join("cgroup.controllers"))
                    .unwrap_or_default();
                Controller::V2
                    .into_iter()
                    .filter(|c| words(&text).contains(c.name()))
                    .collect()
            }
        }
    }

    /// One line for `ping` and `describe`: the version, the controllers and where.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.controllers().iter().map(|c| c.name()).collect();
        let v = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!(
            "cgroup {v} ({}) under {}",
            if names.is_empty() {
                "no controllers".to_string()
            } else {
                names.join(", ")
            },
            self.procs.display()
        )
    }

    /// The ecosystem keys of `limits` this host cannot enforce (their controller is missing).
    pub fn unenforced(&self, limits: &Limits) -> Vec<&'static str> {
        missing(limits, &self.controllers())
    }

    /// The app's cgroup, created if needed (kept across its runs), with controllers enabled
    /// for its runs on v2.
    fn app(&self, app: &str) -> Result<(), CgroupError> {
        let rel = PathBuf::from(app_dir_name(app));
        let enable: Vec<String> = match self.version {
            Version::V1 => Vec::new(),
            Version::V2 => self
                .controllers()
                .iter()
                .map(|c| format!("+{}", c.name()))
                .collect(),
        };
        if !enable.is_empty() {
            write(
                &self.procs.join("cgroup.subtree_control"),
                &enable.join(" "),
            )?;
        }
        for (_, d) in self.dirs(&rel) {
            make_dir(&d)?;
        }
        if !enable.is_empty() {
            let sub = self.procs.join(&rel).join("cgroup.subtree_control");
            write(&sub, &enable.join(" "))?;
        }
        Ok(())
    }

    /// Creates the cgroup of run `run` of instance `index` of `app` with `limits` (the limits
    /// whose controller is missing are left out: [`Layer::unenforced`] names them).
    pub fn run_group(
        &self,
        app: &str,
        index: u32,
        run: u64,
        limits: &Limits,
    ) -> Result<Group, CgroupError> {
        let rel = Path::new(&app_dir_name(app)).join(format!("{index}-{run}"));
        // On v1 each hierarchy a run joins costs a cgroup made, opened, joined and removed per
        // run (a fifth of the time of a start of many apps went to mkdir): a run joins memory
        // (its memory, its OOM kills, its process list), cpuacct (its CPU) and the freezer
        // (the kill), and the pids and cpu hierarchies only for a limit there. cpu also for
        // another reason: a cgroup there is one scheduling entity against every process
        // outside it, so an app under load from the rest of the host would get a single
        // process's share instead of one per process.
        let wants_cpu = limits.cpu_weight.is_some() || limits.cpu_max_percent.is_some();
        let wanted = |c: Controller| match c {
            Controller::Cpu => wants_cpu,
            Controller::Pids => limits.pids_max.is_some(),
            Controller::Memory | Controller::Cpuacct | Controller::Freezer => true,
        };
        let dirs: Vec<(Controller, PathBuf)> = self
            .dirs(&rel)
            .into_iter()
            .filter(|(c, _)| self.version == Version::V2 || wanted(*c))
            .collect();
        // The app's cgroup is made at its first run (or again if something removed it), not
        // looked for at every run, and on v1 only in the hierarchies its runs join.
        let make = |d: &Path| match make_dir(d) {
            Err(CgroupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                match (self.version, d.parent()) {
                    (Version::V1, Some(app_dir)) => make_dir(app_dir)?,
                    _ => self.app(app)?,
                }
                make_dir(d)
            }
            made => made,
        };
        for (_, d) in &dirs {
            make(d)?;
        }
        // A spawn thread that sits in a cgroup with a memory cap counts as one of its tasks
        // when the cap is hit, and the OOM killer could pick the daemon; with a process cap
        // it takes one of the processes: such runs are joined by their child instead.
        let home = if limits.memory_max.is_none() && limits.pids_max.is_none() {
            self.home_of(&dirs)
        } else {
            Vec::new()
        };
        let group = Group::new(self.version, dirs, self.procs.join(&rel)).with_home(home);
        if let Err(e) = group.apply(limits, &self.controllers()) {
            let _ = group.remove();
            return Err(e);
        }
        Ok(group)
    }

    /// The cgroup of a run that already exists (one a previous daemon of this home made).
    pub fn existing(&self, app: &str, index: u32, run: u64) -> Option<Group> {
        let rel = Path::new(&app_dir_name(app)).join(format!("{index}-{run}"));
        let dirs: Vec<(Controller, PathBuf)> = self
            .dirs(&rel)
            .into_iter()
            .filter(|(_, d)| d.is_dir())
            .collect();
        let procs = self.procs.join(&rel);
        procs
            .is_dir()
            .then_some(Group::new(self.version, dirs, procs))
    }

    /// Removes the daemon's subtree when it is empty (at shutdown).
    pub fn remove_base(&self) {
        for (_, d) in &self.bases {
            if let Err(e) = std::fs::remove_dir(d)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::info!("cgroup {} kept: {e}", d.display());
            }
        }
    }

    /// Removes the app's cgroup (its runs' cgroups are gone or empty by now).
    pub fn remove_app(&self, app: &str) {
        let rel = PathBuf::from(app_dir_name(app));
        for (_, d) in self.dirs(&rel) {
            if let Ok(entries) = std::fs::read_dir(&d) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            if let Err(e) = std::fs::remove_dir(&d)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove cgroup {}: {e}", d.display());
            }
        }
    }
}

/// `name value` lines (memory.stat, memory.events, cpu.stat, memory.oom_control) → the value.
pub(crate) fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == name).then(|| it.next()?.parse().ok())?
    })
}

/// The tag of a home: a short hash of its path, so daemons of different homes (parallel tests)
/// never share a subtree, and a restarted daemon finds its own again.
pub fn home_tag(home: &Path) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in home.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}
