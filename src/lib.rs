//! svctl: a process supervisor in the spirit of PM2.
//!
//! # Layout
//!
//! - [`paths`]: every file location, derived from one home folder.
//! - [`config`]: ecosystem file → validated [`config::AppSpec`] list, with located errors.
//! - [`ipc`]: the control-socket protocol (its module doc is the protocol spec), codec, client.
//! - [`daemon`]: the supervisor actor, the pure lifecycle state machine, backoff, the server.
//! - [`proc`]: spawning in a process group, signalling, exit decoding, memory sampling.
//! - [`logs`]: capturing children's output into log files.
//! - [`store`]: SQLite persistence: desired state, spawns, exits.
//! - [`cli`]: clap definitions and rendering for the thin client.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod forensics;
pub mod ipc;
pub mod logs;
pub mod paths;
pub mod proc;
pub mod record;
pub mod store;

/// The version of this build, reported by `ping` and checked in the handshake.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
