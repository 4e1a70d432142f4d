//! Owns the commands that need no daemon: `check`, `gen-docs`, `startup` and `unstartup`.

use crate::cli::args::{CheckArgs, StartupArgs, UnstartupArgs};
use crate::cli::error::Failure;
use crate::cli::output::{self, Out};
use crate::cli::render::check;
use crate::cli::{docs, startup};
use crate::config::LoadOptions;
use crate::paths::Paths;
use std::path::Path;

/// `check FILE`: what each app will run, or every problem of the file.
pub fn check(a: &CheckArgs) -> Result<(), Failure> {
    let opts = LoadOptions {
        env_name: a.env.clone(),
    };
    let loaded = super::file::load(&a.file.to_string_lossy(), &opts)?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    for w in unenforceable(&loaded.apps) {
        output::warning(&w);
    }
    if a.json {
        output::json(&loaded)
    } else {
        output::text(&check::render_check(&loaded))
    }
}

/// The hard limits a daemon started here could not enforce: cgroups are missing, not writable,
/// or lack the controller. A warning, not an error: the file is valid, the host is the limit.
fn unenforceable(apps: &[crate::config::AppSpec]) -> Vec<String> {
    use crate::proc::cgroup;
    if apps.iter().all(|a| cgroup::Limits::of(a).keys().is_empty()) {
        return Vec::new();
    }
    let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let probed = if cgroup::turned_off() {
        Err(cgroup::TURNED_OFF.to_string())
    } else {
        cgroup::probe(Path::new(cgroup::ROOT), &self_cgroup)
    };
    apps.iter()
        .filter_map(|a| {
            let (keys, why) = match &probed {
                Ok(have) => (
                    cgroup::missing(&cgroup::Limits::of(a), have),
                    "its cgroup controller is not available".to_string(),
                ),
                Err(why) => (
                    cgroup::Limits::of(a).keys(),
                    format!("no usable cgroups: {why}"),
                ),
            };
            (!keys.is_empty()).then(|| {
                format!(
                    "app `{}`: {} will not be enforced on this host ({why})",
                    a.name,
                    keys.join(", ")
                )
            })
        })
        .collect()
}

/// `gen-docs DIR`: the man page and completions.
pub fn gen_docs(root: &Path) -> Result<(), Failure> {
    let written = docs::write_all(root)
        .map_err(|e| Failure::failed_by(format_args!("writing into {}", root.display()), &e))?;
    let mut out = Out::lock();
    for path in written {
        out.line(format_args!("wrote {}", path.display()))?;
    }
    out.flush()
}

fn unit_plan(
    paths: &Paths,
    user: bool,
    unit_dir: Option<&Path>,
) -> Result<startup::UnitPlan, Failure> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::failed_by("finding this program's path", &e))?;
    startup::plan(&exe, paths, user, unit_dir)
        .map_err(|e| Failure::failed(format!("planning the systemd unit: {e}")))
}

/// `startup`: prints the unit, or writes it with `--install`.
pub fn startup(paths: &Paths, a: &StartupArgs) -> Result<(), Failure> {
    let plan = unit_plan(paths, a.user, a.unit_dir.as_deref())?;
    if !a.install {
        output::text(&plan.contents)?;
        output::hint(format_args!(
            "this is the unit; `svctl startup --install{}` writes it to {}",
            if a.user { " --user" } else { "" },
            plan.path.display()
        ));
        return Ok(());
    }
    if let Some(dir) = plan.path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::failed_by(format_args!("creating {}", dir.display()), &e))?;
    }
    std::fs::write(&plan.path, &plan.contents)
        .map_err(|e| Failure::failed_by(format_args!("writing {}", plan.path.display()), &e))?;
    let mut out = Out::lock();
    out.line(format_args!("wrote {}", plan.path.display()))?;
    out.line(format_args!(
        "enable it with: {}",
        startup::enable_hint(&plan)
    ))?;
    out.flush()
}

/// `unstartup`: removes the unit `startup --install` wrote.
pub fn unstartup(paths: &Paths, a: &UnstartupArgs) -> Result<(), Failure> {
    let plan = unit_plan(paths, a.user, a.unit_dir.as_deref())?;
    match std::fs::remove_file(&plan.path) {
        Ok(()) => {
            let mut out = Out::lock();
            out.line(format_args!("removed {}", plan.path.display()))?;
            out.line(format_args!(
                "if it was enabled: {}",
                startup::disable_hint(&plan)
            ))?;
            out.flush()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => output::line(format_args!(
            "no unit at {}: nothing to remove",
            plan.path.display()
        )),
        Err(e) => Err(Failure::failed_by(
            format_args!("removing {}", plan.path.display()),
            &e,
        )),
    }
}
