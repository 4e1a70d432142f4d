//! Owns `svctl startup` / `unstartup`: a systemd unit that runs `svctl daemon` in the foreground
//! with `Restart=on-failure`, so the host brings svctl (and, through its database, the apps that
//! were running) back after a crash or a reboot.

use crate::paths::Paths;
use std::path::{Path, PathBuf};

/// Where the unit goes and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPlan {
    pub path: PathBuf,
    pub name: String,
    pub user_unit: bool,
    pub contents: String,
}

fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::geteuid().to_string())
}

/// systemd's quoting for an ExecStart word: wrap in double quotes when it has spaces or quotes.
fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s
    }
}

/// The unit for this binary and home. `user_unit` makes a `systemctl --user` unit.
pub fn plan(
    exe: &Path,
    paths: &Paths,
    user_unit: bool,
    unit_dir: Option<&Path>,
) -> Result<UnitPlan, String> {
    let user = user_name();
    let (name, default_dir, wanted_by, user_line) = if user_unit {
        let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
        (
            "svctl.service".to_string(),
            PathBuf::from(home).join(".config/systemd/user"),
            "default.target",
            String::new(),
        )
    } else {
        (
            format!("svctl-{user}.service"),
            PathBuf::from("/etc/systemd/system"),
            "multi-user.target",
            format!("User={user}\n"),
        )
    };
    let dir = unit_dir.map_or(default_dir, Path::to_path_buf);
    let exe_q = quote(exe);
    let home_q = quote(&paths.home);
    let contents = format!(
        "# Written by `svctl startup`; remove with `svctl unstartup`.\n\
[Unit]\n\
Description=svctl process supervisor for {user} ({home})\n\
After=network.target\n\
\n\
[Service]\n\
Type=simple\n\
{user_line}\
Environment=SVCTL_HOME={home_q}\n\
ExecStart={exe_q} --home {home_q} daemon\n\
# SIGTERM goes to the daemon only; it stops every app gracefully within their kill timeouts.\n\
KillMode=mixed\n\
# The daemon gets its own cgroup subtree: each app run in a cgroup, with its hard limits.\n\
Delegate=yes\n\
TimeoutStopSec=120\n\
Restart=on-failure\n\
RestartSec=2\n\
LimitNOFILE=65536\n\
\n\
[Install]\n\
WantedBy={wanted_by}\n",
        home = paths.home.display(),
    );
    Ok(UnitPlan {
        path: dir.join(&name),
        name,
        user_unit,
        contents,
    })
}

/// The commands that make systemd take the unit into account.
pub fn enable_hint(plan: &UnitPlan) -> String {
    let ctl = if plan.user_unit {
        "systemctl --user"
    } else {
        "systemctl"
    };
    let mut s = format!("{ctl} daemon-reload && {ctl} enable --now {}", plan.name);
    if plan.user_unit {
        s.push_str(&format!(
            "\n(and `loginctl enable-linger {}` so it starts at boot without a login)",
            user_name()
        ));
    }
    s
}

pub fn disable_hint(plan: &UnitPlan) -> String {
    let ctl = if plan.user_unit {
        "systemctl --user"
    } else {
        "systemctl"
    };
    format!("{ctl} disable --now {} ; {ctl} daemon-reload", plan.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_unit_runs_the_daemon_in_the_foreground_and_restarts_on_failure() {
        let paths = Paths::new(PathBuf::from("/srv/my home")).unwrap();
        let p = plan(Path::new("/usr/bin/svctl"), &paths, false, None).unwrap();
        assert!(p.path.starts_with("/etc/systemd/system"));
        assert!(p.name.starts_with("svctl-") && p.name.ends_with(".service"));
        assert!(
            p.contents
                .contains("ExecStart=/usr/bin/svctl --home \"/srv/my home\" daemon\n"),
            "{}",
            p.contents
        );
        assert!(p.contents.contains("Restart=on-failure\n"));
        assert!(p.contents.contains("KillMode=mixed\n"));
        assert!(p.contents.contains("Delegate=yes\n"));
        assert!(p.contents.contains("User="));
        assert!(p.contents.contains("WantedBy=multi-user.target"));
        assert!(enable_hint(&p).contains("enable --now svctl-"));
    }

    #[test]
    fn user_unit_goes_to_the_user_folder() {
        let paths = Paths::new(PathBuf::from("/tmp/h")).unwrap();
        let p = plan(
            Path::new("/x/svctl"),
            &paths,
            true,
            Some(Path::new("/tmp/units")),
        )
        .unwrap();
        assert_eq!(p.path, PathBuf::from("/tmp/units/svctl.service"));
        assert!(!p.contents.contains("User="));
        assert!(p.contents.contains("WantedBy=default.target"));
        assert!(enable_hint(&p).starts_with("systemctl --user"));
    }
}
