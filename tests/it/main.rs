//! Integration tests: each test gets its own home under /tmp and a real `svctl daemon`, and
//! drives the real CLI against real child processes.

mod arrows;
mod basics;
mod cgroup;
mod chaos;
mod console;
mod crash_loop;
mod deploy;
mod ecosystem;
mod edge;
mod events;
mod forensics;
mod fuzz_regressions;
mod harness;
mod js;
mod lifecycle;
mod logs;
mod metrics;
mod monit;
mod parity;
mod parity_cli;
mod reload;
mod remote;
mod report;
mod socket;
