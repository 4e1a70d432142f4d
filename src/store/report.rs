//! Owns the aggregate reads of `svctl report`: exits per time bucket and cause, per-cause
//! statistics with the median uptime, memory per bucket, manual restarts per bucket, the stderr
//! tail of each cause's newest exit, and the state each instance was left in. Every aggregation
//! is a SQL `GROUP BY` over the covering index `runs_by_cause` (schema 3), so a month of a
//! hundred crash-looping apps is read as a few thousand rows, not as a million.

use super::StoreError;
use super::model::ExitRecord;
use super::reader::{EXIT_COLUMNS, MemoryMinute, Reader, exit_from_row};
use crate::record::Cause;
use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};
use serde::Serialize;

/// What a report covers: `[since_ms, until_ms)`, cut into buckets of `bucket_ms` from
/// `since_ms`; `apps` empty means every app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub apps: Vec<String>,
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
}

/// Exits of one app with one cause in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitBucket {
    pub app: String,
    pub cause: Cause,
    pub bucket: u32,
    pub count: u32,
}

/// One cause of one app over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseStats {
    pub app: String,
    pub cause: Cause,
    pub count: u32,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The row of the newest exit with this cause.
    pub newest_id: i64,
    /// The median uptime of the runs that ended this way: the typical uptime before it.
    pub median_uptime_ms: u64,
}

/// Memory of one app (all its instances) in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryBucket {
    pub bucket: u32,
    pub min_bytes: u64,
    pub avg_bytes: u64,
    pub max_bytes: u64,
}

/// Spawns a user asked for (`restart`, `reload`) of one app in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualBucket {
    pub app: String,
    pub bucket: u32,
    pub count: u32,
}

/// The newest stderr tail of one cause of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseTail {
    pub app: String,
    pub cause: Cause,
    pub ended_at_ms: i64,
    pub stderr_tail: String,
}

/// How the history leaves an instance of an app that still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    pub app: String,
    pub instance: u32,
    pub should_run: bool,
    /// A run with a spawn and no exit: alive (or the daemon died while it was).
    pub open_run: bool,
}

/// The settings of an app a report draws: limits and `min_uptime`, read from the stored spec
/// as JSON so that a field a newer svctl adds (`memory_max`) is read when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppLimits {
    pub app: String,
    pub max_memory_restart: Option<u64>,
    pub memory_max: Option<u64>,
    pub min_uptime_ms: Option<u64>,
}

fn cause_of(r: &Row<'_>, i: usize) -> rusqlite::Result<Cause> {
    let text: String = r.get(i)?;
    text.parse::<Cause>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn u32_of(r: &Row<'_>, i: usize) -> rusqlite::Result<u32> {
    Ok(r.get::<_, i64>(i)?.clamp(0, i64::from(u32::MAX)) as u32)
}

fn u64_of(r: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(0.0).max(0.0) as u64)
}

impl Scope {
    /// ` AND <column> IN (?, …)` for the apps, and the arguments after `first`.
    fn apps_clause(&self, column: &str, first: Vec<Value>) -> (String, Vec<Value>) {
        let mut args = first;
        if self.apps.is_empty() {
            return (String::new(), args);
        }
        let marks = vec!["?"; self.apps.len()].join(", ");
        args.extend(self.apps.iter().map(|a| Value::from(a.clone())));
        (format!(" AND {column} IN ({marks})"), args)
    }

    fn window_args(&self) -> Vec<Value> {
        vec![
            self.since_ms.into(),
            self.until_ms.into(),
            self.bucket_ms.max(1).into(),
        ]
    }
}

impl Reader {
    fn rows<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let run = || -> rusqlite::Result<Vec<T>> {
            let mut st = self.conn.prepare(sql)?;
            st.query_map(params_from_iter(args.iter()), f)?.collect()
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Exits per bucket of each of these (app, cause) pairs (the pairs of [`Reader::cause_stats`]):
    /// one range count on `runs_by_cause_end` per pair and bucket, so the cost is the index
    /// entries in the window, with no sort.
    pub fn exit_buckets(
        &self,
        s: &Scope,
        pairs: &[(String, Cause)],
    ) -> Result<Vec<ExitBucket>, StoreError> {
        let buckets =
            ((s.until_ms - s.since_ms + s.bucket_ms.max(1) - 1) / s.bucket_ms.max(1)).max(1);
        let mut out = Vec::new();
        // Two variables per pair; SQLite allows 32766 in one statement.
        for chunk in pairs.chunks(1000) {
            let values = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?4),
                 p(app, cause) AS (VALUES {values})
                 SELECT p.app, p.cause, b.i,
                        (SELECT count(*) FROM runs r WHERE r.app = p.app AND r.cause = p.cause
                         AND r.ended_at_ms >= ?1 + b.i * ?3
                         AND r.ended_at_ms < min(?1 + (b.i + 1) * ?3, ?2)) AS n
                 FROM p, b WHERE n > 0"
            );
            let mut args = s.window_args();
            args.push(buckets.into());
            for (app, cause) in chunk {
                args.push(app.clone().into());
                args.push(cause.as_str().to_string().into());
            }
            out.extend(self.rows(&sql, &args, |r| {
                Ok(ExitBucket {
                    app: r.get(0)?,
                    cause: cause_of(r, 1)?,
                    bucket: u32_of(r, 2)?,
                    count: u32_of(r, 3)?,
                })
            })?);
        }
        Ok(out)
    }

    /// Count, first, last, newest exit and median uptime per app and cause.
    pub fn cause_stats(&self, s: &Scope) -> Result<Vec<CauseStats>, StoreError> {
        let (apps, args) = s.apps_clause("app", vec![s.since_ms.into(), s.until_ms.into()]);
        // `+ended_at_ms` keeps the planner off `runs_by_end`, whose rows would be read one by
        // one: `runs_by_cause` covers the query, and its groups come in index order.
        let sql = format!(
            "SELECT app, cause, count(*), min(ended_at_ms), max(ended_at_ms), max(id)
             FROM runs WHERE +ended_at_ms >= ?1 AND +ended_at_ms < ?2{apps} GROUP BY app, cause"
        );
        let mut stats = self.rows(&sql, &args, |r| {
            Ok(CauseStats {
                app: r.get(0)?,
                cause: cause_of(r, 1)?,
                count: u32_of(r, 2)?,
                first_ms: r.get(3)?,
                last_ms: r.get(4)?,
                newest_id: r.get(5)?,
                median_uptime_ms: 0,
            })
        })?;
        // The median is the middle entry of the (app, cause) part of `runs_by_cause`, which is
        // in uptime order: a walk along the index, not a sort (SQLite's OFFSET cannot refer to
        // the outer query, hence one query per app and cause).
        let run = |stats: &mut Vec<CauseStats>| -> rusqlite::Result<()> {
            let mut st = self.conn.prepare(
                "SELECT uptime_ms FROM runs WHERE app = ?1 AND cause = ?2
                 AND +ended_at_ms >= ?3 AND +ended_at_ms < ?4
                 ORDER BY uptime_ms LIMIT 1 OFFSET ?5",
            )?;
            for c in stats.iter_mut() {
                let up: Option<i64> = st.query_row(
                    rusqlite::params![c.app, c.cause.as_str(), s.since_ms, s.until_ms, c.count / 2],
                    |r| r.get(0),
                )?;
                c.median_uptime_ms = up.unwrap_or(0).max(0) as u64;
            }
            Ok(())
        };
        run(&mut stats).map_err(|e| StoreError::sqlite(&self.path, e))?;
        Ok(stats)
    }

    /// Memory of one app per bucket: the lowest minimum, the mean of the averages and the
    /// highest maximum of its instances' minutes.
    pub fn memory_buckets(
        &self,
        app: &str,
        s: &Scope,
        bucket_ms: i64,
    ) -> Result<Vec<MemoryBucket>, StoreError> {
        let args: Vec<Value> = vec![
            s.since_ms.into(),
            s.until_ms.into(),
            bucket_ms.max(1).into(),
            app.to_string().into(),
        ];
        let sql = "SELECT (minute_ms - ?1) / ?3 AS b, min(min_bytes), avg(avg_bytes),
                          max(max_bytes) FROM memory
                   WHERE app = ?4 AND minute_ms >= ?1 AND minute_ms < ?2 GROUP BY b ORDER BY b";
        self.rows(sql, &args, |r| {
            Ok(MemoryBucket {
                bucket: u32_of(r, 0)?,
                min_bytes: u64_of(r, 1)?,
                avg_bytes: u64_of(r, 2)?,
                max_bytes: u64_of(r, 3)?,
            })
        })
    }

    /// Spawns of a `restart` or `reload` per app and bucket.
    pub fn manual_buckets(&self, s: &Scope) -> Result<Vec<ManualBucket>, StoreError> {
        let (apps, args) = s.apps_clause("app", s.window_args());
        let sql = format!(
            "SELECT app, (started_at_ms - ?1) / ?3 AS b, count(*) FROM runs
             WHERE trigger IN ('manual_restart', 'reload')
             AND started_at_ms >= ?1 AND started_at_ms < ?2{apps} GROUP BY app, b"
        );
        self.rows(&sql, &args, |r| {
            Ok(ManualBucket {
                app: r.get(0)?,
                bucket: u32_of(r, 1)?,
                count: u32_of(r, 2)?,
            })
        })
    }

    /// The stderr tails of these exits (by row id; those without one are left out).
    pub fn tails(&self, ids: &[i64]) -> Result<Vec<CauseTail>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT app, cause, ended_at_ms, stderr_tail FROM runs
                 WHERE id IN ({marks}) AND stderr_tail <> '' ORDER BY app, cause"
            );
            let args: Vec<Value> = chunk.iter().map(|i| Value::from(*i)).collect();
            out.extend(self.rows(&sql, &args, |r| {
                Ok(CauseTail {
                    app: r.get(0)?,
                    cause: cause_of(r, 1)?,
                    ended_at_ms: r.get(2)?,
                    stderr_tail: r.get(3)?,
                })
            })?);
        }
        Ok(out)
    }

    /// The newest `limit` exits of one app in the window, newest first: what the `why`
    /// findings of a report are drawn from.
    pub fn window_exits(
        &self,
        app: &str,
        s: &Scope,
        limit: u32,
    ) -> Result<Vec<ExitRecord>, StoreError> {
        let args: Vec<Value> = vec![
            s.since_ms.into(),
            s.until_ms.into(),
            app.to_string().into(),
            i64::from(limit).into(),
        ];
        let sql = format!(
            "SELECT {EXIT_COLUMNS} FROM runs WHERE app = ?3 AND ended_at_ms >= ?1
             AND ended_at_ms < ?2 ORDER BY id DESC LIMIT ?4"
        );
        self.rows(&sql, &args, exit_from_row)
    }

    /// Memory minutes of one app in `[from_ms, until_ms)`, oldest first.
    pub fn memory_between(
        &self,
        app: &str,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<MemoryMinute>, StoreError> {
        let args: Vec<Value> = vec![app.to_string().into(), from_ms.into(), until_ms.into()];
        let sql = "SELECT instance, minute_ms, min_bytes, avg_bytes, max_bytes FROM memory
                   WHERE app = ?1 AND minute_ms >= ?2 AND minute_ms < ?3
                   ORDER BY minute_ms, instance";
        self.rows(sql, &args, |r| {
            Ok(MemoryMinute {
                instance: r.get(0)?,
                minute_ms: r.get(1)?,
                min_bytes: r.get::<_, i64>(2)?.max(0) as u64,
                avg_bytes: r.get::<_, i64>(3)?.max(0) as u64,
                max_bytes: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })
    }

    /// Every instance of the apps that still exist, with whether a run of it is open.
    pub fn instance_states(&self) -> Result<Vec<InstanceState>, StoreError> {
        let sql = "SELECT i.app, i.instance, a.should_run,
                          EXISTS (SELECT 1 FROM runs r WHERE r.ended_at_ms IS NULL
                                  AND r.app = i.app AND r.instance = i.instance)
                   FROM instances i JOIN apps a ON a.name = i.app ORDER BY a.position, i.instance";
        self.rows(sql, &[], |r| {
            Ok(InstanceState {
                app: r.get(0)?,
                instance: r.get(1)?,
                should_run: r.get(2)?,
                open_run: r.get(3)?,
            })
        })
    }

    /// The limits of every app that still exists.
    pub fn app_limits(&self) -> Result<Vec<AppLimits>, StoreError> {
        let sql = "SELECT name, json_extract(spec_json, '$.max_memory_restart'),
                          json_extract(spec_json, '$.memory_max'),
                          json_extract(spec_json, '$.min_uptime_ms')
                   FROM apps ORDER BY position";
        let opt = |r: &Row<'_>, i: usize| -> rusqlite::Result<Option<u64>> {
            // A field of another type (a newer svctl's) is treated as absent.
            Ok(match r.get::<_, Value>(i)? {
                Value::Integer(v) => Some(v.max(0) as u64),
                Value::Real(v) => Some(v.max(0.0) as u64),
                _ => None,
            })
        };
        self.rows(sql, &[], |r| {
            Ok(AppLimits {
                app: r.get(0)?,
                max_memory_restart: opt(r, 1)?,
                memory_max: opt(r, 2)?,
                min_uptime_ms: opt(r, 3)?,
            })
        })
    }

    /// Whether anything at all happened in the window: a run that started, an exit, a memory
    /// minute, or a deployment.
    pub fn window_has_data(&self, s: &Scope) -> Result<bool, StoreError> {
        let (apps_r, mut args) = s.apps_clause("app", vec![s.since_ms.into(), s.until_ms.into()]);
        let (apps_m, more) = s.apps_clause("app", Vec::new());
        args.extend(more);
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE ((ended_at_ms >= ?1 AND ended_at_ms < ?2)
                            OR (started_at_ms < ?2 AND ended_at_ms IS NULL)){apps_r})
                 OR EXISTS (SELECT 1 FROM memory WHERE minute_ms >= ?1 AND minute_ms < ?2{apps_m})"
        );
        let found = self.rows(&sql, &args, |r| r.get::<_, bool>(0))?;
        Ok(found.first().copied().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppSpec;
    use crate::store::model::{SpawnRecord, SpawnTrigger};
    use crate::store::{Store, Write};

    const T0: i64 = 1_800_000_000_000;

    fn exit(app: &str, run: u64, cause: Cause, ended: i64, up: i64) -> ExitRecord {
        ExitRecord {
            next_delay_ms: Some(0),
            stderr_tail: Some(format!("{app} run {run}")),
            ..ExitRecord::sample(app, run, cause, ended, up)
        }
    }

    /// a: 5 exits in bucket 0 (uptimes 1..5 s), 2 memory-limit exits in bucket 2, one before
    /// the window; b: one manual restart in bucket 1, and a run still open.
    fn reader() -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("svctl.db");
        let (store, _) = Store::open(&p).unwrap();
        let mut spec = AppSpec::with_defaults("a", "sleep", "/tmp".into());
        spec.max_memory_restart = Some(300 << 20);
        store.send(Write::UpsertApp {
            spec: Box::new(spec),
            should_run: true,
        });
        store.send(Write::Exit(exit("a", 1, Cause::Exited, T0 - 1, 1000)));
        for run in 2..=6 {
            let up = (run as i64 - 1) * 1000;
            store.send(Write::Exit(exit(
                "a",
                run,
                Cause::Exited,
                T0 + run as i64 * 100,
                up,
            )));
        }
        for run in 7..=8 {
            store.send(Write::Exit(exit(
                "a",
                run,
                Cause::MemoryLimit,
                T0 + 125_000 + run as i64,
                60_000,
            )));
        }
        for (run, trigger, at) in [
            (1, SpawnTrigger::Start, T0),
            (2, SpawnTrigger::ManualRestart, T0 + 61_000),
        ] {
            store.send(Write::Spawn(SpawnRecord {
                app: "b".into(),
                instance: 0,
                run,
                pid: 10,
                pid_start_ticks: None,
                started_at_ms: at,
                restarts: 0,
                trigger,
                deployment: None,
            }));
        }
        store.send(Write::Exit(exit(
            "b",
            1,
            Cause::Restarted,
            T0 + 61_000,
            61_000,
        )));
        store.close().unwrap();
        let r = Reader::open(&p).unwrap();
        (dir, r)
    }

    fn scope(apps: &[&str]) -> Scope {
        Scope {
            apps: apps.iter().map(|a| a.to_string()).collect(),
            since_ms: T0,
            until_ms: T0 + 180_000,
            bucket_ms: 60_000,
        }
    }

    #[test]
    fn exits_are_counted_per_bucket_and_cause_in_sql() {
        let (_d, r) = reader();
        let pairs = |apps: &[&str]| -> Vec<(String, Cause)> {
            let stats = r.cause_stats(&scope(apps)).unwrap();
            stats.into_iter().map(|s| (s.app, s.cause)).collect()
        };
        let mut b = r.exit_buckets(&scope(&[]), &pairs(&[])).unwrap();
        b.sort_by_key(|b| (b.app.clone(), b.bucket));
        let got: Vec<(&str, Cause, u32, u32)> = b
            .iter()
            .map(|b| (b.app.as_str(), b.cause, b.bucket, b.count))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Cause::Exited, 0, 5),
                ("a", Cause::MemoryLimit, 2, 2),
                ("b", Cause::Restarted, 1, 1)
            ],
            "the exit before the window is left out"
        );
        assert_eq!(
            r.exit_buckets(&scope(&["b"]), &pairs(&["b"]))
                .unwrap()
                .len(),
            1
        );
        let m = r.manual_buckets(&scope(&[])).unwrap();
        assert_eq!(
            m,
            [ManualBucket {
                app: "b".into(),
                bucket: 1,
                count: 1
            }]
        );
    }

    #[test]
    fn cause_statistics_have_the_median_uptime_and_the_newest_stderr() {
        let (_d, r) = reader();
        let mut s = r.cause_stats(&scope(&["a"])).unwrap();
        s.sort_by_key(|s| s.cause);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].cause, s[0].count, s[0].median_uptime_ms),
            (Cause::Exited, 5, 3000)
        );
        assert_eq!((s[0].first_ms, s[0].last_ms), (T0 + 200, T0 + 600));
        assert_eq!((s[1].count, s[1].median_uptime_ms), (2, 60_000));
        let ids: Vec<i64> = s.iter().map(|s| s.newest_id).collect();
        let tails = r.tails(&ids).unwrap();
        let t: Vec<(Cause, &str)> = tails
            .iter()
            .map(|t| (t.cause, t.stderr_tail.as_str()))
            .collect();
        assert_eq!(
            t,
            [(Cause::Exited, "a run 6"), (Cause::MemoryLimit, "a run 8")]
        );
    }

    #[test]
    fn limits_state_and_presence_of_data() {
        let (_d, r) = reader();
        let l = r.app_limits().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].max_memory_restart, l[0].memory_max),
            (Some(300 << 20), None)
        );
        assert!(r.window_has_data(&scope(&[])).unwrap());
        let empty = Scope {
            since_ms: T0 - 10_000_000,
            until_ms: T0 - 5_000_000,
            ..scope(&[])
        };
        assert!(!r.window_has_data(&empty).unwrap());
        let e = r.window_exits("a", &scope(&[]), 3).unwrap();
        assert_eq!(
            e.iter().map(|e| e.run).collect::<Vec<_>>(),
            [8, 7, 6],
            "newest first"
        );
    }
}
