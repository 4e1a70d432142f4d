//! Owns the forecast `svctl check` makes: what a daemon started here could enforce, found
//! without creating anything.

use super::{Controller, Limits, parse_self, under, words};
use std::collections::BTreeSet;
use std::path::Path;

/// What a daemon started by this user on this host could enforce, found without creating
/// anything (for `svctl check`): the controllers, or why cgroups are not usable.
pub fn probe(root: &Path, self_cgroup: &str) -> Result<BTreeSet<Controller>, String> {
    let own = parse_self(self_cgroup);
    let writable = |d: &Path| nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok();
    let who = || format!("svctl runs as uid {}", nix::unistd::geteuid());
    if root.join("cgroup.controllers").exists() {
        let path = own
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| under(root, p))
            .ok_or("/proc/self/cgroup names no cgroup v2 path")?;
        if !writable(&path) {
            return Err(format!(
                "{} is not writable ({}; a delegated subtree is needed)",
                path.display(),
                who()
            ));
        }
        let available =
            words(&std::fs::read_to_string(path.join("cgroup.controllers")).unwrap_or_default());
        return Ok(Controller::V2
            .into_iter()
            .filter(|c| available.contains(c.name()))
            .collect());
    }
    let mut have = BTreeSet::new();
    for c in Controller::V1 {
        if let Some((_, p)) = own
            .iter()
            .find(|(ctrls, _)| ctrls.split(',').any(|n| n == c.name()))
            && writable(&under(&root.join(c.name()), p))
        {
            have.insert(c);
        }
    }
    if have.contains(&Controller::Memory) {
        Ok(have)
    } else if root.join("memory").join("memory.limit_in_bytes").exists() {
        Err(format!(
            "the cgroup v1 memory hierarchy is not writable ({})",
            who()
        ))
    } else {
        Err(format!(
            "neither cgroup v2 nor a cgroup v1 memory hierarchy is mounted at {}",
            root.display()
        ))
    }
}

/// The limits of `limits` that `have` cannot enforce, as ecosystem keys.
pub fn missing(limits: &Limits, have: &BTreeSet<Controller>) -> Vec<&'static str> {
    limits
        .wanted()
        .into_iter()
        .filter(|(_, c)| !have.contains(c))
        .map(|(k, _)| k)
        .collect()
}
