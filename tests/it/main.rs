//! Integration tests: each test gets its own home under /tmp and a real `svctl daemon`, and
//! drives the real CLI against real child processes.

mod arrows;
mod basics;
mod chaos;
mod crash_loop;
mod deploy;
mod ecosystem;
mod edge;
mod forensics;
mod fuzz_regressions;
mod harness;
mod js;
mod lifecycle;
mod logs;
mod parity;
mod parity_cli;
mod reload;
mod socket;
