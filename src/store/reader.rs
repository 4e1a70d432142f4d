//! Owns reading history back: a read-only connection (WAL lets it read while the daemon writes),
//! used by `history` and `why` without going through the daemon, and by `list` and `describe`
//! to flag crash loops.

use super::StoreError;
use super::model::ExitRecord;
use crate::record::Cause;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params_from_iter};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The columns [`exit_from_row`] reads, in its order.
pub const EXIT_COLUMNS: &str = "app, instance, run, pid, started_at_ms, ended_at_ms, cause, \
     exit_code, signal, core_dumped, unstable, sigkill_needed, next_delay_ms, error, \
     rss_last_bytes, rss_peak_bytes, memory_limit_bytes, oom_confidence, leftovers_killed, \
     stderr_tail, id, end_approx";

fn u64_of(v: Option<i64>) -> Option<u64> {
    v.map(|v| v.max(0) as u64)
}

pub fn exit_from_row(r: &Row<'_>) -> rusqlite::Result<ExitRecord> {
    let cause: String = r.get(6)?;
    let cause = cause.parse::<Cause>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(ExitRecord {
        app: r.get(0)?,
        instance: r.get(1)?,
        run: r.get::<_, i64>(2)?.max(0) as u64,
        pid: r.get(3)?,
        started_at_ms: r.get(4)?,
        ended_at_ms: r.get(5)?,
        cause,
        exit_code: r.get(7)?,
        signal: r.get(8)?,
        core_dumped: r.get::<_, Option<bool>>(9)?.unwrap_or(false),
        unstable: r.get::<_, Option<bool>>(10)?.unwrap_or(false),
        sigkill_needed: r.get::<_, Option<bool>>(11)?.unwrap_or(false),
        next_delay_ms: u64_of(r.get(12)?),
        error: r.get(13)?,
        rss_last_bytes: u64_of(r.get(14)?),
        rss_peak_bytes: u64_of(r.get(15)?),
        memory_limit_bytes: u64_of(r.get(16)?),
        oom_confidence: r.get(17)?,
        leftovers_killed: r.get::<_, Option<u32>>(18)?.unwrap_or(0),
        stderr_tail: r.get(19)?,
        end_approx: r.get::<_, Option<bool>>(21)?.unwrap_or(false),
    })
}

/// The newest exit of an instance, if any.
pub fn last_exit(
    conn: &Connection,
    app: &str,
    instance: u32,
) -> rusqlite::Result<Option<ExitRecord>> {
    conn.query_row(
        &format!(
            "SELECT {EXIT_COLUMNS} FROM runs WHERE app = ?1 AND instance = ?2
             AND ended_at_ms IS NOT NULL ORDER BY id DESC LIMIT 1"
        ),
        rusqlite::params![app, instance],
        exit_from_row,
    )
    .optional()
}

/// Exits per app, instance and cause in the kept history, and how many of them were followed
/// by an automatic restart: one pass, once per daemon start (the supervisor counts from here).
pub fn exit_counts(conn: &Connection) -> rusqlite::Result<Vec<super::ExitCount>> {
    let mut st = conn.prepare(
        "SELECT app, instance, cause, count(*), count(next_delay_ms) FROM runs
         WHERE ended_at_ms IS NOT NULL AND cause IS NOT NULL GROUP BY app, instance, cause",
    )?;
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?
    .filter_map(|row| {
        let (app, instance, cause, exits, restarts) = match row {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        let cause = cause.parse().ok()?;
        Some(Ok(super::ExitCount {
            app,
            instance,
            cause,
            exits: exits.max(0) as u64,
            restarts: restarts.max(0) as u64,
        }))
    })
    .collect()
}

/// Which exits `history` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only these apps (empty: all).
    pub apps: Vec<String>,
    pub instance: Option<u32>,
    pub since_ms: Option<i64>,
    pub cause: Option<Cause>,
    pub limit: Option<u32>,
}

/// One exit row with its id (ids grow with time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    #[serde(flatten)]
    pub exit: ExitRecord,
}

/// One minute of memory of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryMinute {
    pub instance: u32,
    pub minute_ms: i64,
    pub min_bytes: u64,
    pub avg_bytes: u64,
    pub max_bytes: u64,
}

pub struct Reader {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| StoreError::sqlite(path, e))?;
        // The queries name the current schema's columns: on another schema they would fail
        // with SQLite's "SQL logic error", which says nothing of the cause.
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(path, e))?;
        let known = super::schema::VERSION;
        let path_buf = path.to_path_buf();
        if found < known {
            return Err(StoreError::TooOld {
                path: path_buf,
                found,
                known,
            });
        }
        if found > known {
            return Err(StoreError::TooNew {
                path: path_buf,
                found,
                known,
            });
        }
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Exits matching `f`, newest first.
    pub fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>, StoreError> {
        let mut sql = format!("SELECT {EXIT_COLUMNS} FROM runs WHERE ended_at_ms IS NOT NULL");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !f.apps.is_empty() {
            let marks = vec!["?"; f.apps.len()].join(", ");
            sql.push_str(&format!(" AND app IN ({marks})"));
            args.extend(f.apps.iter().map(|a| a.clone().into()));
        }
        if let Some(i) = f.instance {
            sql.push_str(" AND instance = ?");
            args.push(i64::from(i).into());
        }
        if let Some(since) = f.since_ms {
            sql.push_str(" AND ended_at_ms >= ?");
            args.push(since.into());
        }
        if let Some(c) = f.cause {
            sql.push_str(" AND cause = ?");
            args.push(c.as_str().to_string().into());
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(l) = f.limit {
            sql.push_str(" LIMIT ?");
            args.push(i64::from(l).into());
        }
        let run = || -> rusqlite::Result<Vec<HistoryRow>> {
            let mut st = self.conn.prepare(&sql)?;
            st.query_map(params_from_iter(args.iter()), |r| {
                Ok(HistoryRow {
                    id: r.get(20)?,
                    exit: exit_from_row(r)?,
                })
            })?
            .collect()
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// The stored spec of an app that still exists.
    pub fn app_spec(&self, name: &str) -> Result<Option<crate::config::AppSpec>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT spec_json FROM apps WHERE name = ?1",
                rusqlite::params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Names of apps that have history, known or deleted.
    pub fn apps_with_history(&self) -> Result<Vec<String>, StoreError> {
        let run = || -> rusqlite::Result<Vec<String>> {
            let mut st = self
                .conn
                .prepare("SELECT DISTINCT app FROM runs ORDER BY app")?;
            st.query_map([], |r| r.get(0))?.collect()
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Memory minutes of an app since `since_ms`, oldest first.
    pub fn memory(&self, app: &str, since_ms: i64) -> Result<Vec<MemoryMinute>, StoreError> {
        let run = || -> rusqlite::Result<Vec<MemoryMinute>> {
            let mut st = self.conn.prepare(
                "SELECT instance, minute_ms, min_bytes, avg_bytes, max_bytes FROM memory
                 WHERE app = ?1 AND minute_ms >= ?2 ORDER BY minute_ms, instance",
            )?;
            st.query_map(rusqlite::params![app, since_ms], |r| {
                Ok(MemoryMinute {
                    instance: r.get(0)?,
                    minute_ms: r.get(1)?,
                    min_bytes: u64_of(r.get(2)?).unwrap_or(0),
                    avg_bytes: u64_of(r.get(3)?).unwrap_or(0),
                    max_bytes: u64_of(r.get(4)?).unwrap_or(0),
                })
            })?
            .collect()
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// The newest `per_instance` exits of each of these instances (any order), in one query
    /// whatever their number: each instance's rows come newest first from the `(app, id)`
    /// index, so the cost is bounded by the instances asked about, not by the history's size.
    /// For `list` and `describe`, which flag crash loops.
    pub fn recent_exits(
        &self,
        instances: &[(String, u32)],
        per_instance: u32,
    ) -> Result<Vec<ExitRecord>, StoreError> {
        let mut out = Vec::new();
        // Two variables per instance; SQLite allows 32766 in one statement.
        for chunk in instances.chunks(1000) {
            let pairs = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "WITH wanted(a, i) AS (VALUES {pairs})
                 SELECT {EXIT_COLUMNS} FROM wanted JOIN runs ON runs.id IN (
                     SELECT x.id FROM runs x
                     WHERE x.app = wanted.a AND x.instance = wanted.i AND x.ended_at_ms IS NOT NULL
                     ORDER BY x.id DESC LIMIT ?)"
            );
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            for (app, i) in chunk {
                args.push(app.clone().into());
                args.push(i64::from(*i).into());
            }
            args.push(i64::from(per_instance).into());
            let run = || -> rusqlite::Result<Vec<ExitRecord>> {
                let mut st = self.conn.prepare(&sql)?;
                st.query_map(params_from_iter(args.iter()), exit_from_row)?
                    .collect()
            };
            out.extend(run().map_err(|e| StoreError::sqlite(&self.path, e))?);
        }
        Ok(out)
    }

    /// The `min_uptime` of each of these apps that still exists, from its stored spec.
    pub fn min_uptimes(&self, apps: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for chunk in apps.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT name, json_extract(spec_json, '$.min_uptime_ms') FROM apps
                 WHERE name IN ({marks})"
            );
            let run = || -> rusqlite::Result<Vec<(String, Option<i64>)>> {
                let mut st = self.conn.prepare(&sql)?;
                st.query_map(params_from_iter(chunk.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            };
            let rows = run().map_err(|e| StoreError::sqlite(&self.path, e))?;
            out.extend(
                rows.into_iter()
                    .filter_map(|(name, ms)| Some((name, u64_of(ms)?))),
            );
        }
        Ok(out)
    }

    /// Runs one read-only query and returns its rows as text (for the schema doc's examples).
    pub fn query_text(&self, sql: &str) -> Result<Vec<Vec<String>>, StoreError> {
        let run = || -> rusqlite::Result<Vec<Vec<String>>> {
            let mut st = self.conn.prepare(sql)?;
            let n = st.column_count();
            st.query_map([], |r| {
                (0..n)
                    .map(|i| {
                        let v: rusqlite::types::Value = r.get(i)?;
                        Ok(match v {
                            rusqlite::types::Value::Null => "NULL".to_string(),
                            rusqlite::types::Value::Integer(i) => i.to_string(),
                            rusqlite::types::Value::Real(f) => f.to_string(),
                            rusqlite::types::Value::Text(t) => t,
                            rusqlite::types::Value::Blob(b) => format!("<{} bytes>", b.len()),
                        })
                    })
                    .collect()
            })?
            .collect()
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppSpec;
    use crate::store::{Store, Write, now_ms};

    fn exit(app: &str, instance: u32, run: u64) -> ExitRecord {
        let at = now_ms() - 600_000 + run as i64 * 1000;
        ExitRecord {
            instance,
            next_delay_ms: Some(0),
            ..ExitRecord::sample(app, run, Cause::Exited, at, 900)
        }
    }

    #[test]
    fn recent_exits_are_the_newest_of_each_instance_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("svctl.db");
        let (store, _) = Store::open(&p).unwrap();
        let mut spec = AppSpec::with_defaults("a", "sleep", "/tmp".into());
        spec.min_uptime_ms = 2500;
        store.send(Write::UpsertApp {
            spec: Box::new(spec),
            should_run: true,
        });
        // a:0 and a:1 interleaved, b:0 a few, and 200 other apps that are not asked about.
        for run in 1..=40 {
            store.send(Write::Exit(exit("a", 0, run)));
            if run <= 3 {
                store.send(Write::Exit(exit("a", 1, run)));
                store.send(Write::Exit(exit("b", 0, run)));
            }
        }
        for n in 0..200 {
            store.send(Write::Exit(exit(&format!("other{n}"), 0, 1)));
        }
        store.close().unwrap();
        let r = Reader::open(&p).unwrap();
        let asked = [("a".to_string(), 0), ("a".to_string(), 1), ("c".into(), 0)];
        let rows = r.recent_exits(&asked, 30).unwrap();
        let mut a0: Vec<u64> = rows
            .iter()
            .filter(|e| e.app == "a" && e.instance == 0)
            .map(|e| e.run)
            .collect();
        a0.sort_unstable();
        assert_eq!(a0, (11..=40).collect::<Vec<_>>(), "the newest 30");
        assert_eq!(rows.iter().filter(|e| e.instance == 1).count(), 3);
        assert_eq!(rows.len(), 33, "nothing of b, c or the others");
        assert!(r.recent_exits(&[], 30).unwrap().is_empty());

        let ups = r.min_uptimes(&["a".into(), "gone".into()]).unwrap();
        assert_eq!(ups, vec![("a".to_string(), 2500)]);
    }
}
