//! Owns the `deployments` table: a row when a deployment begins (its plan and the specs it
//! applies, so `rollback` is "apply the stored specs"), its result when it ends, and reading
//! them back for `deployments`, `rollback` and `why`.

use super::model::DeploymentBegun;
use super::reader::Reader;
use super::{StoreError, exec, opt_i64};
use crate::config::AppSpec;
use crate::deploy::{Action, Plan};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

pub(super) fn begun(tx: &rusqlite::Connection, d: &DeploymentBegun) -> rusqlite::Result<()> {
    let bad = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let plan = serde_json::to_string(&d.plan).map_err(bad)?;
    let specs = serde_json::to_string(&d.specs).map_err(bad)?;
    exec(
        tx,
        "INSERT OR REPLACE INTO deployments (id, started_at_ms, uid, kind, file, sha256, env,
         plan_json, specs_json, rollback_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            opt_i64(Some(d.id)),
            d.started_at_ms,
            d.meta.uid,
            d.meta.kind.as_str(),
            d.meta.file,
            d.meta.sha256,
            d.meta.env,
            plan,
            specs,
            opt_i64(d.meta.rollback_of),
        ],
    )?;
    Ok(())
}

pub(super) fn ended(
    tx: &rusqlite::Connection,
    id: u64,
    ended_at_ms: i64,
    ok: bool,
    message: &str,
) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE deployments SET ended_at_ms = ?2, result = ?3, message = ?4 WHERE id = ?1",
        params![
            opt_i64(Some(id)),
            ended_at_ms,
            if ok { "ok" } else { "failed" },
            message
        ],
    )?;
    Ok(())
}

/// One deployment row as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub id: u64,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub uid: Option<u32>,
    pub kind: String,
    pub file: Option<String>,
    pub sha256: Option<String>,
    pub env: Option<String>,
    /// `ok`, `failed`, or null while it runs (or when the daemon died during it).
    pub result: Option<String>,
    pub message: Option<String>,
    pub rollback_of: Option<u64>,
    pub plan: Plan,
    /// The specs it applied (not printed by `deployments --json`: `svctl check` shows specs).
    #[serde(skip)]
    pub specs: Vec<AppSpec>,
}

impl Deployment {
    /// Whether it added, changed or removed `app`.
    pub fn touches(&self, app: &str) -> bool {
        self.plan.apps.iter().any(|a| {
            a.name == app
                && !matches!(
                    a.action,
                    Action::Unchanged | Action::Extra { removed: false }
                )
        })
    }
}

const COLUMNS: &str = "id, started_at_ms, ended_at_ms, uid, kind, file, sha256, env, result, \
                       message, rollback_of, plan_json, specs_json";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Deployment> {
    let started_at_ms: i64 = r.get(1)?;
    let ended_at_ms: Option<i64> = r.get(2)?;
    let plan: String = r.get(11)?;
    let specs: String = r.get(12)?;
    Ok(Deployment {
        id: r.get::<_, i64>(0)?.max(0) as u64,
        started_at_ms,
        ended_at_ms,
        duration_ms: ended_at_ms.map(|e| (e - started_at_ms).max(0)),
        uid: r.get(3)?,
        kind: r.get(4)?,
        file: r.get(5)?,
        sha256: r.get(6)?,
        env: r.get(7)?,
        result: r.get(8)?,
        message: r.get(9)?,
        rollback_of: r.get::<_, Option<i64>>(10)?.map(|v| v.max(0) as u64),
        plan: serde_json::from_str(&plan).unwrap_or_default(),
        specs: serde_json::from_str(&specs).unwrap_or_default(),
    })
}

impl Reader {
    /// Deployments, newest first: those that touched `app` when given; at most `limit`.
    pub fn deployments(
        &self,
        app: Option<&str>,
        since_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Deployment>, StoreError> {
        let run = || -> rusqlite::Result<Vec<Deployment>> {
            let mut st = self.conn.prepare(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE started_at_ms >= ?1 ORDER BY id DESC"
            ))?;
            let mut out = Vec::new();
            for d in st.query_map(params![since_ms.unwrap_or(i64::MIN)], from_row)? {
                let d = d?;
                if app.is_none_or(|a| d.touches(a)) {
                    out.push(d);
                }
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        };
        run().map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// One deployment by id.
    pub fn deployment(&self, id: u64) -> Result<Option<Deployment>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"),
                params![opt_i64(Some(id))],
                from_row,
            )
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}
