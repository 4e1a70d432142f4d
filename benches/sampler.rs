//! Cost of one memory/CPU sample of N supervised processes: svctl's `/proc` tree sampler
//! against sysinfo refreshing the same pids (memory and CPU only).
//!
//! `cargo bench --bench sampler -- [N]` (default 1000). Three ways: a fresh tree walk each time,
//! the daemon's round sampler, and sysinfo. Spawns N `sleep` processes in their
//! own process groups, samples them repeatedly, prints the mean time per sample and the share of
//! one core that sampling every second would take, then kills the groups it started.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        match std::process::Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                eprintln!("spawn failed after {} processes: {e}", children.len());
                break;
            }
        }
    }
    let pids: Vec<i32> = children.iter().map(|c| c.id() as i32).collect();
    let rounds = 20;

    let t = Instant::now();
    for _ in 0..rounds {
        let s = svctl::proc::tree::sample(&pids);
        assert_eq!(s.len(), pids.len());
    }
    let tree = t.elapsed() / rounds;

    // The daemon's way: one sampler kept across rounds (stat files open, children re-checked
    // every few rounds for processes that had none).
    let mut sampler = svctl::proc::tree::TreeSampler::default();
    sampler.sample(&pids, true);
    let t = Instant::now();
    for _ in 0..rounds {
        let s = sampler.sample(&pids, false);
        assert_eq!(s.len(), pids.len());
    }
    let rounds_cost = t.elapsed() / rounds;

    let mut sys = System::new().expect("sysinfo");
    let wanted: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p as u32)).collect();
    let t = Instant::now();
    for _ in 0..rounds {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&wanted),
            true,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
    }
    let sysinfo = t.elapsed() / rounds;

    let share = |d: Duration| d.as_secs_f64() * 100.0;
    println!("processes: {}", pids.len());
    println!(
        "svctl /proc tree sampler: {:.2} ms per sample = {:.2}% of one core at 1 sample/s",
        tree.as_secs_f64() * 1000.0,
        share(tree)
    );
    println!(
        "svctl round sampler (daemon): {:.2} ms per round = {:.2}% of one core at 1 round/s",
        rounds_cost.as_secs_f64() * 1000.0,
        share(rounds_cost)
    );
    println!(
        "sysinfo (main pids only, no tree): {:.2} ms per sample = {:.2}% of one core at 1 sample/s",
        sysinfo.as_secs_f64() * 1000.0,
        share(sysinfo)
    );

    for c in &mut children {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = c.wait();
    }
}
