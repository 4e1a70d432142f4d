//! Writes a large history for measuring `svctl report`: APPS apps × 30 days × RUNS exits per
//! app (100 × 10,000 = 1,000,000 exits by default, the most the default retention keeps), a
//! week of memory minutes per app (the memory retention), and a deployment every three days.
//! The schema is created by the real store (`Store::open`: migrations included); rows are
//! inserted with the columns the daemon's writer fills, in one transaction.
//!
//! ```text
//! cargo run --release --example gen_history -- /tmp/big/svctl.db [APPS] [RUNS]
//! svctl --home /tmp/big report --since 30d -o /tmp/big/report.html
//! ```

use rusqlite::{Connection, params};
use svctl::config::AppSpec;
use svctl::deploy::{Action, AppPlan, FieldDiff, How, Plan};
use svctl::store::{Store, Write, now_ms};

const DAY: i64 = 86_400_000;

/// A small deterministic generator: the same database every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().ok_or("usage: gen_history DB [APPS] [RUNS]")?);
    let apps: u32 = args.next().map_or(Ok(100), |a| a.parse())?;
    let runs: i64 = args.next().map_or(Ok(10_000), |a| a.parse())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let now = now_ms();
    let since = now - 30 * DAY + 60_000;
    let limit: u64 = 300 << 20;
    {
        let (store, _) = Store::open(&path)?;
        for a in 0..apps {
            let mut spec =
                AppSpec::with_defaults(&format!("app-{a:03}"), "/bin/true", "/tmp".into());
            spec.max_memory_restart = Some(limit);
            store.send(Write::UpsertApp {
                spec: Box::new(spec),
                should_run: true,
            });
        }
        store.close()?;
    }
    let mut conn = Connection::open(&path)?;
    let tx = conn.transaction()?;
    let mut rng = Lcg(42);
    {
        let mut run_st = tx.prepare(
            "INSERT INTO runs (app, instance, run, pid, trigger, restarts, started_at_ms,
             ended_at_ms, uptime_ms, cause, exit_code, signal, core_dumped, unstable,
             sigkill_needed, next_delay_ms, rss_last_bytes, memory_limit_bytes, oom_confidence,
             leftovers_killed, stderr_tail)
             VALUES (?1, 0, ?2, ?3, ?4, ?2, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, 0, 0, ?12, ?13, ?14, 0, ?15)",
        )?;
        let mut mem_st = tx.prepare(
            "INSERT INTO memory (app, instance, minute_ms, min_bytes, avg_bytes, max_bytes)
             VALUES (?1, 0, ?2, ?3, ?4, ?5)",
        )?;
        let mut inst_st = tx.prepare(
            "INSERT INTO instances (app, instance, last_run, restarts, auto_restarts)
             VALUES (?1, 0, ?2, ?2, ?2)",
        )?;
        let period = 30 * DAY / runs.max(1);
        for a in 0..apps {
            let app = format!("app-{a:03}");
            let mut trigger = "start";
            for k in 0..runs {
                let (cause, up, code, signal): (&str, i64, Option<i32>, Option<&str>) =
                    match rng.below(100) {
                        0..=69 => ("exited", 200 + rng.below(3000) as i64, Some(1), None),
                        70..=79 => (
                            "signaled",
                            500 + rng.below(20_000) as i64,
                            None,
                            Some("SIGSEGV"),
                        ),
                        80..=84 => ("oom_killed", 60_000, None, Some("SIGKILL")),
                        85..=92 => ("memory_limit", period * 9 / 10, None, None),
                        93..=97 => ("restarted", period / 2, None, None),
                        _ => ("exited", period / 3, Some(0), None),
                    };
                let ended = since + (k + 1) * period - rng.below(1000) as i64;
                let up = up.min(period - 1000).max(1);
                let tail = format!(
                    "Traceback (most recent call last):\n  File \"/srv/{app}/main.py\", line {}, in <module>\nRuntimeError: run {k} ended ({cause})",
                    rng.below(400)
                );
                run_st.execute(params![
                    app,
                    k + 1,
                    10_000 + rng.below(50_000) as i64,
                    trigger,
                    ended - up,
                    ended,
                    up,
                    cause,
                    code,
                    signal,
                    up < 1000,
                    (cause == "memory_limit" || cause == "oom_killed").then_some(310i64 << 20),
                    (cause == "memory_limit").then_some(limit as i64),
                    (cause == "oom_killed").then_some("confirmed"),
                    tail,
                ])?;
                trigger = if cause == "restarted" {
                    "manual_restart"
                } else {
                    "auto_restart"
                };
            }
            inst_st.execute(params![app, runs])?;
            // A week of minutes: a leak that climbs from 80 MB to the limit every ~3 hours.
            let first_minute = (now - 7 * DAY) / 60_000 * 60_000;
            for m in 0..(7 * 1440) {
                let at = first_minute + m * 60_000;
                let base = (80u64 << 20) + ((m as u64 + u64::from(a) * 7) % 180) * (1200 << 10);
                let jitter = rng.below(8 << 20);
                mem_st.execute(params![
                    app,
                    at,
                    base as i64,
                    (base + jitter / 2) as i64,
                    (base + jitter) as i64
                ])?;
            }
        }
        // A deployment every three days, changing a handful of apps.
        for d in 0..10i64 {
            let at = since + d * 3 * DAY + DAY / 2;
            let plan = Plan {
                apps: (0..5)
                    .map(|i| AppPlan {
                        name: format!("app-{:03}", (d as u32 * 7 + i * 13) % apps.max(1)),
                        action: Action::Change {
                            fields: vec![FieldDiff {
                                field: "env.RELEASE".into(),
                                before: Some(format!("\"r{d}\"")),
                                after: Some(format!("\"r{}\"", d + 1)),
                            }],
                            how: How::Reload,
                        },
                    })
                    .collect(),
            };
            tx.execute(
                "INSERT INTO deployments (started_at_ms, ended_at_ms, uid, kind, file, plan_json,
                 specs_json, result, message) VALUES (?1, ?2, 0, 'apply', '/srv/ecosystem.yaml',
                 ?3, '[]', 'ok', 'applied')",
                params![at, at + 20_000, serde_json::to_string(&plan)?],
            )?;
        }
    }
    tx.commit()?;
    println!(
        "{}: {} apps × {runs} exits over 30 days, a week of memory minutes each",
        path.display(),
        apps
    );
    Ok(())
}
