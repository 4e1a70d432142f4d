//! Owns what `svctl metrics` and `GET /metrics` say: the figures the supervisor hands out in one
//! [`Snapshot`] (taken on the actor as quickly as `list`), and their encoding in the Prometheus
//! text format 0.0.4 (done by the asker, off the actor). The exit and restart counters come from
//! the database (counted once at start) plus every exit since, so they survive daemon restarts.
//! Labels: `app`, `namespace`, `app_instance` (not `instance`, which Prometheus gives the
//! scrape target) and, on the counters, `cause`.

use crate::ipc::ProcessInfo;
use crate::record::{Cause, Status};
use prometheus::core::Collector;
use prometheus::{
    CounterVec, Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

/// Exits and automatic restarts per (app, instance, cause of the exit).
pub type ExitCounts = BTreeMap<(String, u32, Cause), Counts>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub exits: u64,
    /// Exits after which a restart was scheduled by the restart policy.
    pub restarts: u64,
}

/// One instance as the supervisor sees it: what `list` shows, and a few figures it does not.
#[derive(Debug, Clone)]
pub struct InstanceFigures {
    pub info: ProcessInfo,
    pub memory_limit: Option<u64>,
    /// Failed health checks in a row, when the app has a `health:` check and runs.
    pub health_failures: Option<u32>,
    /// CPU time of the process tree (the last sample), in seconds.
    pub cpu_seconds: Option<f64>,
}

/// Everything a scrape reports, taken at once on the actor.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub instances: Vec<InstanceFigures>,
    /// Namespace of each known app, for the counters' labels.
    pub namespaces: BTreeMap<String, String>,
    pub exits: ExitCounts,
    pub db_queue: u64,
    pub db_write_errors: u64,
    pub daemon_started_ms: i64,
}

/// Asks the supervisor for a snapshot and encodes it; `None` when the daemon is stopping.
pub async fn scrape(tx: &mpsc::Sender<crate::daemon::supervisor::Command>) -> Option<String> {
    let (reply, answer) = oneshot::channel();
    tx.send(crate::daemon::supervisor::Command::Metrics(reply))
        .await
        .ok()?;
    let snapshot = answer.await.ok()?;
    // Thousands of series: encoding is CPU work, kept off the runtime's two worker threads.
    tokio::task::spawn_blocking(move || encode(&snapshot))
        .await
        .ok()
}

const INST: [&str; 3] = ["app", "namespace", "app_instance"];
const INST_CAUSE: [&str; 4] = ["app", "namespace", "app_instance", "cause"];
const INST_STATUS: [&str; 4] = ["app", "namespace", "app_instance", "status"];

/// A registry that takes metrics of fixed, known names: registering cannot fail for them, and
/// if it ever did, the metric is left out rather than the scrape failing.
struct Out(Registry);

impl Out {
    fn add<C: Collector + Clone + 'static>(&self, c: Result<C, prometheus::Error>) -> Option<C> {
        let c = c.ok()?;
        self.0.register(Box::new(c.clone())).ok()?;
        Some(c)
    }
    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Option<GaugeVec> {
        self.add(GaugeVec::new(Opts::new(name, help), labels))
    }
    fn int_gauge(&self, name: &str, help: &str, labels: &[&str]) -> Option<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels))
    }
    fn seconds(&self, name: &str, help: &str, labels: &[&str]) -> Option<CounterVec> {
        self.add(CounterVec::new(Opts::new(name, help), labels))
    }
    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> Option<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels))
    }
}

fn set_gauge(g: &Option<GaugeVec>, labels: &[&str], v: f64) {
    if let Some(g) = g {
        g.with_label_values(labels).set(v);
    }
}

fn add_seconds(c: &Option<CounterVec>, labels: &[&str], v: f64) {
    if let Some(c) = c
        && v.is_finite()
        && v >= 0.0
    {
        c.with_label_values(labels).inc_by(v);
    }
}

fn set_int(g: &Option<IntGaugeVec>, labels: &[&str], v: i64) {
    if let Some(g) = g {
        g.with_label_values(labels).set(v);
    }
}

fn add_count(c: &Option<IntCounterVec>, labels: &[&str], v: u64) {
    if let Some(c) = c {
        c.with_label_values(labels).inc_by(v);
    }
}

/// The snapshot in the Prometheus text format 0.0.4 (what `promtool check metrics` lints).
pub fn encode(s: &Snapshot) -> String {
    let out = Out(Registry::new());
    let up = out.int_gauge(
        "svctl_up",
        "1 when the instance's process runs (online or launching), else 0.",
        &INST,
    );
    let status = out.int_gauge(
        "svctl_status",
        "1 for the instance's present status, 0 for the others.",
        &INST_STATUS,
    );
    let start = out.gauge(
        "svctl_start_time_seconds",
        "Unix time the running process was started.",
        &INST,
    );
    let restarts_now = out.int_gauge(
        "svctl_restarts",
        "Respawns of the instance as list shows them (reset by svctl reset).",
        &INST,
    );
    let exits = out.counter(
        "svctl_exits_total",
        "Runs that ended, by the cause of the exit (from the history database).",
        &INST_CAUSE,
    );
    let restarts = out.counter(
        "svctl_restarts_total",
        "Automatic restarts, by the cause of the exit that led to them (from the history database).",
        &INST_CAUSE,
    );
    let rss = out.int_gauge(
        "svctl_memory_rss_bytes",
        "Resident memory of the instance's process tree at the last sample.",
        &INST,
    );
    let cpu = out.seconds(
        "svctl_cpu_seconds_total",
        "CPU time (user and system) of the live processes of the instance's tree at the last sample.",
        &INST,
    );
    let limit = out.int_gauge(
        "svctl_memory_limit_bytes",
        "max_memory_restart of the app.",
        &INST,
    );
    let procs = out.int_gauge(
        "svctl_processes",
        "Processes in the instance's tree at the last sample.",
        &INST,
    );
    let health = out.int_gauge(
        "svctl_health_up",
        "1 when the last health check passed (or none ran yet this run), 0 when failing.",
        &INST,
    );
    let health_failures = out.int_gauge(
        "svctl_health_failures",
        "Failed health checks in a row.",
        &INST,
    );
    let written = out.counter(
        "svctl_log_written_bytes_total",
        "Output bytes written to the log files since the daemon started.",
        &INST,
    );
    let lost = out.counter(
        "svctl_log_lost_bytes_total",
        "Output bytes that could not be written to the log files since the daemon started.",
        &INST,
    );
    for f in &s.instances {
        let i = &f.info;
        let n = i.instance.to_string();
        let l = [i.name.as_str(), i.namespace.as_str(), n.as_str()];
        let running = matches!(i.status, Status::Online | Status::Launching);
        set_int(&up, &l, i64::from(running));
        for st in [
            Status::Launching,
            Status::Online,
            Status::Stopping,
            Status::Stopped,
            Status::WaitingRestart,
            Status::Errored,
        ] {
            let word = st.as_str().replace(' ', "_");
            let ls = [l[0], l[1], l[2], word.as_str()];
            set_int(&status, &ls, i64::from(st == i.status));
        }
        if let Some(ms) = i.started_at_ms {
            set_gauge(&start, &l, ms as f64 / 1000.0);
        }
        set_int(&restarts_now, &l, i64::from(i.restarts));
        if let Some(b) = i.memory_bytes {
            set_int(&rss, &l, b.min(i64::MAX as u64) as i64);
        }
        if let Some(c) = f.cpu_seconds {
            add_seconds(&cpu, &l, c);
        }
        if let Some(b) = f.memory_limit {
            set_int(&limit, &l, b.min(i64::MAX as u64) as i64);
        }
        if let Some(p) = i.processes {
            set_int(&procs, &l, i64::from(p));
        }
        if let Some(n) = f.health_failures {
            set_int(&health, &l, i64::from(n == 0));
            set_int(&health_failures, &l, i64::from(n));
        }
        add_count(&written, &l, i.log_bytes_written);
        add_count(&lost, &l, i.log_bytes_lost);
    }
    for ((app, index, cause), c) in &s.exits {
        let Some(ns) = s.namespaces.get(app) else {
            continue;
        };
        let n = index.to_string();
        let l = [app.as_str(), ns.as_str(), n.as_str(), cause.as_str()];
        add_count(&exits, &l, c.exits);
        if c.restarts > 0 {
            add_count(&restarts, &l, c.restarts);
        }
    }
    encode_daemon(&out, s);
    let mut buf = Vec::new();
    // Encoding into memory fails only on a malformed family, which the names above are not.
    let _ = TextEncoder::new().encode(&out.0.gather(), &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn encode_daemon(out: &Out, s: &Snapshot) {
    let none: [&str; 0] = [];
    let apps = out.int_gauge("svctl_apps", "Apps the daemon knows.", &none);
    set_int(&apps, &none, s.namespaces.len() as i64);
    let insts = out.int_gauge("svctl_instances", "Instances the daemon knows.", &none);
    set_int(&insts, &none, s.instances.len() as i64);
    let queue = out.int_gauge(
        "svctl_db_write_queue_depth",
        "History writes waiting for the database (held while it refuses them: busy, full, read-only).",
        &none,
    );
    set_int(&queue, &none, s.db_queue.min(i64::MAX as u64) as i64);
    let errors = out.counter(
        "svctl_db_write_errors_total",
        "History writes dropped for good (the queue was full, the database rejected the row, or the writer was gone) since the daemon started.",
        &none,
    );
    add_count(&errors, &none, s.db_write_errors);
    let started = out.gauge(
        "svctl_daemon_start_time_seconds",
        "Unix time the daemon started.",
        &none,
    );
    set_gauge(&started, &none, s.daemon_started_ms as f64 / 1000.0);
    if let Some(me) = crate::proc::stat::read(std::process::id() as i32) {
        let rss = out.int_gauge(
            "svctl_daemon_resident_memory_bytes",
            "Resident memory of the daemon.",
            &none,
        );
        let bytes = me.rss_pages * crate::proc::stat::page_size();
        set_int(&rss, &none, bytes.min(i64::MAX as u64) as i64);
        let cpu = out.seconds(
            "svctl_daemon_cpu_seconds_total",
            "CPU time (user and system) of the daemon.",
            &none,
        );
        let secs = me.cpu_ticks as f64 / crate::proc::stat::ticks_per_second() as f64;
        add_seconds(&cpu, &none, secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, status: Status) -> ProcessInfo {
        ProcessInfo {
            pid: Some(42),
            status,
            run: 3,
            restarts: 2,
            auto_restarts: 2,
            uptime_ms: Some(1000),
            started_at_ms: Some(1_700_000_000_000),
            processes: Some(1),
            log_bytes_written: 10,
            memory_bytes: Some(4096),
            ..ProcessInfo::example(0, name, 0)
        }
    }

    #[test]
    fn counters_carry_the_cause_and_the_instance_is_app_instance() {
        let mut s = Snapshot::default();
        s.instances.push(InstanceFigures {
            info: info("api", Status::Online),
            memory_limit: Some(1 << 20),
            health_failures: None,
            cpu_seconds: Some(0.5),
        });
        s.namespaces.insert("api".into(), "default".into());
        s.exits.insert(
            ("api".into(), 0, Cause::Exited),
            Counts {
                exits: 3,
                restarts: 2,
            },
        );
        let text = encode(&s);
        assert!(
            text.contains(
                r#"svctl_restarts_total{app="api",app_instance="0",cause="exited",namespace="default"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"svctl_up{app="api",app_instance="0",namespace="default"} 1"#));
        assert!(text.contains(
            r#"svctl_status{app="api",app_instance="0",namespace="default",status="waiting_restart"} 0"#
        ));
        assert!(text.contains("# TYPE svctl_exits_total counter"));
        assert!(!text.contains("{instance=") && !text.contains(",instance="));
    }

    #[test]
    fn counters_of_apps_the_daemon_no_longer_knows_are_left_out() {
        let mut s = Snapshot::default();
        s.exits
            .insert(("vanished".into(), 0, Cause::Exited), Counts::default());
        assert!(!encode(&s).contains("vanished"));
    }
}
