//! svctl: a process supervisor in the spirit of PM2.
//!
//! # Layout
//!
//! Arrows run one way: the pure parts ([`record`], [`paths`], [`config`], [`ipc`] and the
//! daemon's lifecycle) import nothing from [`cli`] or [`daemon`]; the CLI reaches the daemon only
//! through the socket ([`ipc::client`]). `tests/it/arrows.rs` checks it.
//!
//! - [`record`]: the shared vocabulary: statuses, exit causes, spawn triggers, signal names.
//! - [`paths`]: every file location, derived from one home folder; the home's permissions.
//! - [`config`]: ecosystem file → validated [`config::AppSpec`] list, with located errors.
//! - [`ipc`]: the control-socket protocol (its module doc is the protocol spec), codec, client.
//! - [`daemon`]: start-up and shutdown, the socket server, the supervisor actor and the pure
//!   lifecycle decider ([`daemon::lifecycle::step`]).
//! - [`proc`]: spawning in a process group, signalling, exit decoding, `/proc` reading, OOM
//!   evidence.
//! - [`logs`]: capturing children's output into log files, rotation, flush, tails.
//! - [`store`]: SQLite persistence: desired state, spawns, exits, memory history.
//! - [`deploy`]: pure deployment plans (file vs running specs, field diffs, secret masking).
//! - [`forensics`]: pure analysis of an app's exits for `why`.
//! - [`cli`]: clap definitions, commands, rendering and the error style of the thin client.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod deploy;
pub mod forensics;
pub mod ipc;
pub mod logs;
pub mod paths;
pub mod proc;
pub mod record;
pub mod store;

/// The version of this build, reported by `ping` and checked in the handshake.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
