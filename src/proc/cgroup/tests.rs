//! The cgroup layer against fake cgroupfs trees in a temporary directory: what a kernel would
//! show is written as plain files, and what svctl writes is read back.

use super::*;
use std::fs;

struct Fake(PathBuf);

impl Fake {
    fn new(kind: &str) -> Fake {
        let dir = std::env::temp_dir().join(format!(
            "svctl-cg-{kind}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Fake(dir)
    }

    fn put(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn get(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A host like the test machine: v1 memory, pids, freezer, cpuacct; the daemon's memory cgroup
/// is nested, the others are at the root.
fn v1() -> Fake {
    let f = Fake::new("v1");
    for c in ["memory", "pids", "freezer", "cpuacct"] {
        f.put(&format!("{c}/cgroup.procs"), "");
    }
    f.put("memory/memory.limit_in_bytes", "9223372036854771712\n");
    f.put(
        "memory/outer/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    f
}

/// A v1 fake with run 1 of instance 0 of app `a` made, without limits (its memory cgroup is
/// `memory/outer/svctl-t/app-a/0-1`).
fn v1_run() -> (Fake, Group) {
    let f = v1();
    let g = setup(&f.0, V1_SELF, "t")
        .unwrap()
        .run_group("a", 0, 1, &Limits::default())
        .unwrap();
    (f, g)
}

const V1_SELF: &str = "9:name=systemd:/\n8:pids:/\n6:freezer:/\n4:memory:/outer\n2:cpuacct:/\n\
                       1:cpu:/\n0::/\n";

fn v2() -> Fake {
    let f = Fake::new("v2");
    f.put("cgroup.controllers", "cpuset cpu io memory pids\n");
    f.put("svc/cgroup.controllers", "cpu io memory pids\n");
    f.put("svc/cgroup.procs", "");
    // What the kernel shows in the subtree once svc enabled its controllers.
    f.put("svc/svctl-t/cgroup.controllers", "cpu memory pids\n");
    f
}

const V2_SELF: &str = "0::/svc\n";

fn limits() -> Limits {
    Limits {
        memory_max: Some(64 << 20),
        pids_max: Some(50),
        cpu_weight: Some(200),
        cpu_max_percent: Some(150),
    }
}

#[test]
fn v1_builds_the_subtree_under_each_hierarchy_and_writes_the_limits() {
    let f = v1();
    let layer = setup(&f.0, V1_SELF, "t").unwrap();
    assert_eq!(layer.version(), Version::V1);
    // cpu is named in /proc/self/cgroup but not mounted here: left out, and said so.
    let ctrls: Vec<&str> = layer.controllers().iter().map(|c| c.name()).collect();
    assert_eq!(ctrls, ["memory", "pids", "cpuacct", "freezer"]);
    assert_eq!(layer.unenforced(&limits()), ["cpu_weight", "cpu_max"]);
    assert!(
        layer
            .describe()
            .starts_with("cgroup v1 (memory, pids, cpuacct, freezer)")
    );

    let g = layer.run_group("web/api", 1, 7, &limits()).unwrap();
    let mem = "memory/outer/svctl-t/app-web%2Fapi/1-7";
    assert_eq!(g.path(), f.0.join(mem));
    assert_eq!(f.get(&format!("{mem}/memory.limit_in_bytes")), "67108864");
    assert_eq!(f.get("pids/svctl-t/app-web%2Fapi/1-7/pids.max"), "50");
    assert!(f.0.join("freezer/svctl-t/app-web%2Fapi/1-7").is_dir());
    assert!(!f.0.join("cpu").exists());
}

#[test]
fn v1_reads_memory_cpu_and_oom_kills_of_a_run() {
    let (f, g) = v1_run();
    let d = "memory/outer/svctl-t/app-a/0-1";
    f.put(
        &format!("{d}/memory.stat"),
        "cache 999\nrss 10\ntotal_cache 999\ntotal_rss 4096\ntotal_mapped_file 1024\n",
    );
    f.put(
        &format!("{d}/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    f.put("cpuacct/svctl-t/app-a/0-1/cpuacct.usage", "2500000\n");
    f.put(&format!("{d}/cgroup.procs"), "12\n13\n");
    assert_eq!(g.memory_bytes(), Some(5120));
    assert_eq!(g.cpu_usec(), Some(2500));
    assert_eq!(g.oom_kills(), Some(2));
    assert_eq!(g.pids().unwrap(), [12, 13]);
}

/// The history reads `memory.stat` again only when the cgroup's charge moved since a settled
/// reading (one taken once the charge had held still a while); the memory guard reads it every
/// time.
#[test]
fn the_history_reads_the_memory_again_only_when_the_charge_moved() {
    let (f, g) = v1_run();
    let d = "memory/outer/svctl-t/app-a/0-1";
    let stat = |rss: u64| format!("total_rss {rss}\ntotal_mapped_file 1024\n");
    f.put(&format!("{d}/memory.usage_in_bytes"), "8192\n");
    f.put(&format!("{d}/memory.stat"), &stat(4096));
    // The charge was just seen: the kernel may not have flushed what moved it yet.
    assert_eq!(g.memory_for_history(), Some(5120));
    f.put(&format!("{d}/memory.stat"), &stat(5120));
    assert_eq!(g.memory_for_history(), Some(6144));
    g.backdate(std::time::Duration::from_secs(60));
    assert_eq!(g.memory_for_history(), Some(6144));
    f.put(&format!("{d}/memory.stat"), &stat(8192));
    // Settled, and the charge did not move: the reading stands; the guard reads.
    assert_eq!(g.memory_for_history(), Some(6144));
    assert_eq!(g.memory_bytes(), Some(9216));
    f.put(&format!("{d}/memory.stat"), &stat(10240));
    f.put(&format!("{d}/memory.usage_in_bytes"), "16384\n");
    assert_eq!(g.memory_for_history(), Some(11264));
    f.put(&format!("{d}/memory.stat"), &stat(12288));
    assert_eq!(g.memory_for_history(), Some(13312));
}

/// A view's sample takes the memory as the history does (`memory.stat` again only when the
/// charge moved since a settled reading); a sample the memory guard uses reads it every time.
#[test]
fn a_view_reuses_a_settled_memory_reading_and_the_guard_reads_again() {
    let (f, g) = v1_run();
    let d = "memory/outer/svctl-t/app-a/0-1";
    let stat = |rss: u64| format!("total_rss {rss}\ntotal_mapped_file 0\n");
    f.put(&format!("{d}/memory.usage_in_bytes"), "8192\n");
    f.put(&format!("{d}/memory.stat"), &stat(4096));
    f.put("cpuacct/svctl-t/app-a/0-1/cpuacct.usage", "2500000\n");
    f.put(&format!("{d}/cgroup.procs"), "12\n");
    // The root only gives the CPU meter its start: any live process does.
    let root = std::process::id() as i32;
    let rss = |guarded| sample(&g, root, guarded).unwrap().unwrap().rss_bytes;
    assert_eq!(rss(false), 4096);
    g.backdate(std::time::Duration::from_secs(60));
    assert_eq!(rss(false), 4096);
    f.put(&format!("{d}/memory.stat"), &stat(6144));
    assert_eq!(rss(false), 4096);
    assert_eq!(rss(true), 6144);
    f.put(&format!("{d}/memory.usage_in_bytes"), "12288\n");
    f.put(&format!("{d}/memory.stat"), &stat(10240));
    assert_eq!(rss(false), 10240);
}

/// Without a charge counter (an older kernel, a fake), every history reading reads the memory.
#[test]
fn without_a_charge_counter_the_history_reads_every_time() {
    let (f, g) = v1_run();
    let d = "memory/outer/svctl-t/app-a/0-1";
    f.put(&format!("{d}/memory.stat"), "total_rss 4096\n");
    assert_eq!(g.memory_for_history(), Some(4096));
    f.put(&format!("{d}/memory.stat"), "total_rss 8192\n");
    assert_eq!(g.memory_for_history(), Some(8192));
}

/// A young cgroup whose statistics the kernel has not flushed yet reads 0 bytes; its live
/// processes are measured from `/proc` instead.
#[test]
fn an_unflushed_memory_counter_is_measured_from_the_processes() {
    let (f, g) = v1_run();
    let d = "memory/outer/svctl-t/app-a/0-1";
    f.put(
        &format!("{d}/memory.stat"),
        "total_rss 0\ntotal_mapped_file 0\n",
    );
    f.put("cpuacct/svctl-t/app-a/0-1/cpuacct.usage", "2500000\n");
    // A real process (not this one: the daemon's own pid is never one of a run's processes).
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Right after its exec a process has no resident page yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while crate::proc::stat::read(pid).is_none_or(|s| s.rss_pages == 0)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    f.put(&format!("{d}/cgroup.procs"), &format!("{pid}\n"));
    let s = sample(&g, pid, true)
        .unwrap()
        .expect("the counters are kept");
    assert!(s.rss_bytes > 0, "{s:?}");
    assert_eq!(s.processes, 1);
    // A flushed counter is taken as it is.
    f.put(
        &format!("{d}/memory.stat"),
        "total_rss 4096\ntotal_mapped_file 0\n",
    );
    assert_eq!(sample(&g, pid, true).unwrap().unwrap().rss_bytes, 4096);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_daemon_itself_is_never_listed_among_a_runs_processes() {
    // A spawn thread sits in a run's cgroup while it spawns, and v1 then lists the daemon.
    let (f, g) = v1_run();
    let me = std::process::id();
    f.put(
        "memory/outer/svctl-t/app-a/0-1/cgroup.procs",
        &format!("{me}\n7\n"),
    );
    assert_eq!(g.pids().unwrap(), vec![7]);
}

#[test]
fn v1_kill_freezes_then_thaws() {
    let (f, g) = v1_run();
    // An empty cgroup: nothing to kill, but the freezer is still used and released.
    f.put("memory/outer/svctl-t/app-a/0-1/cgroup.procs", "");
    assert_eq!(g.kill().unwrap(), 0);
    assert_eq!(f.get("freezer/svctl-t/app-a/0-1/freezer.state"), "THAWED");
}

#[test]
fn v1_without_a_writable_memory_hierarchy_says_why() {
    let f = Fake::new("v1-none");
    f.put("pids/cgroup.procs", "");
    let e = setup(&f.0, V1_SELF, "t").unwrap_err().to_string();
    assert!(
        e.contains("neither cgroup v2 nor a cgroup v1 memory"),
        "{e}"
    );
    // Mounted, but the daemon's cgroup directory is missing (another mount namespace).
    let f = v1();
    let e = setup(&f.0, "4:memory:/elsewhere\n", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot create a cgroup under"), "{e}");
}

#[test]
fn v2_enables_controllers_down_the_subtree_and_writes_the_limits() {
    let f = v2();
    let layer = setup(&f.0, V2_SELF, "t").unwrap();
    assert_eq!(layer.version(), Version::V2);
    assert_eq!(f.get("svc/cgroup.subtree_control"), "+memory +pids +cpu");
    assert!(layer.unenforced(&limits()).is_empty());
    let g = layer.run_group("a", 0, 3, &limits()).unwrap();
    assert_eq!(
        f.get("svc/svctl-t/cgroup.subtree_control"),
        "+memory +pids +cpu"
    );
    assert_eq!(
        f.get("svc/svctl-t/app-a/cgroup.subtree_control"),
        "+memory +pids +cpu"
    );
    let d = "svc/svctl-t/app-a/0-3";
    assert_eq!(g.path(), f.0.join(d));
    assert_eq!(f.get(&format!("{d}/memory.max")), "67108864");
    assert_eq!(f.get(&format!("{d}/pids.max")), "50");
    assert_eq!(f.get(&format!("{d}/cpu.weight")), "200");
    assert_eq!(f.get(&format!("{d}/cpu.max")), "150000 100000");
}

#[test]
fn v2_reads_memory_cpu_and_oom_kills_and_kills_with_cgroup_kill() {
    let f = v2();
    let layer = setup(&f.0, V2_SELF, "t").unwrap();
    let g = layer.run_group("a", 2, 9, &Limits::default()).unwrap();
    let d = "svc/svctl-t/app-a/2-9";
    f.put(
        &format!("{d}/memory.stat"),
        "anon 8192\nfile 100000\nkernel 50\nfile_mapped 4096\n",
    );
    f.put(
        &format!("{d}/memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
    );
    f.put(&format!("{d}/cpu.stat"), "usage_usec 777\nuser_usec 700\n");
    f.put(&format!("{d}/cgroup.procs"), "");
    f.put(&format!("{d}/cgroup.kill"), "");
    assert_eq!(g.memory_bytes(), Some(12288));
    assert_eq!(g.cpu_usec(), Some(777));
    assert_eq!(g.oom_kills(), Some(1));
    g.kill().unwrap();
    assert_eq!(f.get(&format!("{d}/cgroup.kill")), "1");
}

#[test]
fn v2_without_controllers_still_groups_and_names_what_it_cannot_enforce() {
    let f = Fake::new("v2-bare");
    f.put("cgroup.controllers", "");
    f.put("user/cgroup.controllers", "");
    let layer = setup(&f.0, "0::/user\n", "t").unwrap();
    assert!(layer.controllers().is_empty());
    assert_eq!(
        layer.unenforced(&limits()),
        ["memory_max", "pids_max", "cpu_weight", "cpu_max"]
    );
    assert!(
        layer.describe().contains("no controllers"),
        "{}",
        layer.describe()
    );
    let g = layer.run_group("a", 0, 1, &limits()).unwrap();
    assert!(!g.path().join("memory.max").exists());
    assert_eq!(g.memory_bytes(), None);
}

#[test]
fn a_run_group_is_removed_and_the_app_group_at_delete() {
    let f = v2();
    let layer = setup(&f.0, V2_SELF, "t").unwrap();
    let g = layer.run_group("a", 0, 1, &limits()).unwrap();
    // The fake's files make the directory non-empty, as processes would on a real cgroupfs.
    assert!(g.remove().is_err());
    for e in fs::read_dir(g.path()).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    g.remove().unwrap();
    assert!(!g.path().exists());
    assert!(f.0.join("svc/svctl-t/app-a").is_dir());
    fs::remove_file(f.0.join("svc/svctl-t/app-a/cgroup.subtree_control")).unwrap();
    layer.remove_app("a");
    assert!(!f.0.join("svc/svctl-t/app-a").exists());
}

#[test]
fn names_and_tags_are_safe_directory_names() {
    assert_eq!(app_dir_name("web-1.a_b"), "app-web-1.a_b");
    assert_eq!(app_dir_name("a/b c"), "app-a%2Fb%20c");
    assert_eq!(app_dir_name(".."), "app-..");
    let t = home_tag(Path::new("/tmp/h1"));
    assert_eq!(t.len(), 12);
    assert_ne!(t, home_tag(Path::new("/tmp/h2")));
    assert_eq!(t, home_tag(Path::new("/tmp/h1")));
}

#[test]
fn check_probes_without_creating_anything() {
    let f = v1();
    let have = probe(&f.0, V1_SELF).unwrap();
    assert!(have.contains(&Controller::Memory) && have.contains(&Controller::Freezer));
    assert_eq!(missing(&limits(), &have), ["cpu_weight", "cpu_max"]);
    assert!(!f.0.join("memory/outer/svctl-t").exists());
    let none = Fake::new("none");
    let e = probe(&none.0, V1_SELF).unwrap_err();
    assert!(e.contains("neither cgroup v2"), "{e}");
    let f = v2();
    let have = probe(&f.0, V2_SELF).unwrap();
    assert_eq!(have.len(), 3);
    assert!(missing(&limits(), &have).is_empty());
}

#[test]
fn v1_runs_join_the_cpu_hierarchy_only_with_a_cpu_limit() {
    let f = v1();
    f.put("cpu/cgroup.procs", "");
    let layer = setup(&f.0, V1_SELF, "t").unwrap();
    layer.run_group("a", 0, 1, &Limits::default()).unwrap();
    assert!(!f.0.join("cpu/svctl-t/app-a/0-1").exists());
    let g = layer.run_group("a", 0, 2, &limits()).unwrap();
    assert_eq!(f.get("cpu/svctl-t/app-a/0-2/cpu.shares"), "2048");
    assert_eq!(f.get("cpu/svctl-t/app-a/0-2/cpu.cfs_quota_us"), "150000");
    assert_eq!(f.get("cpu/svctl-t/app-a/0-2/cpu.cfs_period_us"), "100000");
    // CPU use still comes from cpuacct, which every run joins.
    f.put("cpuacct/svctl-t/app-a/0-2/cpuacct.usage", "1000\n");
    assert_eq!(g.cpu_usec(), Some(1));
}

#[test]
fn v1_runs_join_only_the_hierarchies_they_need_and_the_app_cgroup_is_made_once() {
    let f = v1();
    let layer = setup(&f.0, V1_SELF, "t").unwrap();
    let g = layer.run_group("a", 0, 1, &Limits::default()).unwrap();
    let joined: Vec<&str> = g.dirs().map(|(c, _)| c.name()).collect();
    assert_eq!(joined, ["memory", "cpuacct", "freezer"]);
    // Without pids_max the pids hierarchy holds neither the run nor the app.
    assert!(!f.0.join("pids/svctl-t/app-a").exists());
    assert!(f.0.join("freezer/svctl-t/app-a/0-1").is_dir());
    // An app cgroup removed behind the daemon's back is made again by the next run.
    g.remove().unwrap();
    fs::remove_dir(f.0.join("freezer/svctl-t/app-a")).unwrap();
    layer.run_group("a", 0, 2, &Limits::default()).unwrap();
    assert!(f.0.join("freezer/svctl-t/app-a/0-2").is_dir());
    assert!(f.0.join("memory/outer/svctl-t/app-a/0-2").is_dir());
    // A pids limit brings the run (and its app) into the pids hierarchy.
    let capped = Limits {
        pids_max: Some(5),
        ..Limits::default()
    };
    layer.run_group("a", 0, 3, &capped).unwrap();
    assert_eq!(f.get("pids/svctl-t/app-a/0-3/pids.max"), "5");
}

#[test]
fn v1_a_spawn_thread_joins_every_hierarchy_of_the_run_and_goes_back_home_after() {
    let (f, g) = v1_run();
    assert!(g.joins_from_thread());
    let runs = [
        "memory/outer/svctl-t/app-a/0-1/tasks",
        "freezer/svctl-t/app-a/0-1/tasks",
        "cpuacct/svctl-t/app-a/0-1/tasks",
    ];
    let homes = ["memory/outer/tasks", "freezer/tasks", "cpuacct/tasks"];
    let spawned = g
        .spawn_from_thread(|| {
            // While the spawn runs the thread is in the run's cgroup, not yet back home.
            for r in runs {
                assert_eq!(f.get(r), "0", "{r}");
            }
            for h in homes {
                assert!(!f.0.join(h).exists(), "{h} written before the spawn");
            }
            Ok(42)
        })
        .unwrap()
        .unwrap();
    assert_eq!(spawned, 42);
    for h in homes {
        assert_eq!(f.get(h), "0", "{h}");
    }
}

#[test]
fn v1_a_hierarchy_that_refuses_the_thread_fails_the_spawn_and_the_thread_still_goes_back() {
    let (f, g) = v1_run();
    // The second hierarchy's run cgroup vanished: the thread joined the first only.
    fs::remove_dir_all(f.0.join("freezer/svctl-t/app-a/0-1")).unwrap();
    let mut ran = false;
    let outcome = g.spawn_from_thread(|| {
        ran = true;
        Ok(())
    });
    assert!(outcome.is_err());
    assert!(!ran, "no spawn outside the run's cgroup");
    assert_eq!(
        f.get("memory/outer/tasks"),
        "0",
        "back from the one it joined"
    );
    assert!(!f.0.join("freezer/tasks").exists());
}

#[test]
fn v2_runs_are_joined_by_their_child_not_by_a_thread() {
    let f = v2();
    let g = setup(&f.0, V2_SELF, "t")
        .unwrap()
        .run_group("a", 0, 1, &Limits::default())
        .unwrap();
    assert!(!g.joins_from_thread());
}

#[test]
fn v1_runs_with_a_memory_or_process_cap_are_joined_by_their_child() {
    let f = v1();
    let layer = setup(&f.0, V1_SELF, "t").unwrap();
    for (k, l) in [
        Limits {
            memory_max: Some(64 << 20),
            ..Limits::default()
        },
        Limits {
            pids_max: Some(5),
            ..Limits::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let g = layer.run_group("a", 0, k as u64 + 1, &l).unwrap();
        assert!(!g.joins_from_thread(), "{l:?}");
    }
}
