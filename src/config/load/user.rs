//! Owns whom an app runs as: `uid` (or PM2's `user`: a number or a user name, whose group
//! becomes the default `gid`) and `gid` (a number or a group name). Names are looked up on
//! this host when the file is loaded.

use super::{AppKeys, Ctx};
use crate::config::AppSpec;
use crate::config::node::Node;

pub(super) fn read(keys: &AppKeys, spec: &mut AppSpec, ctx: &mut Ctx) {
    let id_range = 0..=u64::from(u32::MAX);
    if let Some(f) = keys.get("uid") {
        match &f.at.node {
            Node::Int(_) => spec.uid = f.u64_in(ctx, id_range.clone()).map(|v| v as u32),
            _ => {
                if let Some(u) = f.str(ctx) {
                    match nix::unistd::User::from_name(&u) {
                        Ok(Some(user)) => {
                            spec.uid = Some(user.uid.as_raw());
                            spec.gid = spec.gid.or(Some(user.gid.as_raw()));
                        }
                        _ => f.problem(ctx, format!("no user `{u}` on this host")),
                    }
                }
            }
        }
    }
    if let Some(f) = keys.get("gid") {
        match &f.at.node {
            Node::Int(_) => spec.gid = f.u64_in(ctx, id_range).map(|v| v as u32),
            _ => {
                if let Some(g) = f.str(ctx) {
                    match nix::unistd::Group::from_name(&g) {
                        Ok(Some(group)) => spec.gid = Some(group.gid.as_raw()),
                        _ => f.problem(ctx, format!("no group `{g}` on this host")),
                    }
                }
            }
        }
    }
}
