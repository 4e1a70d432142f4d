//! Owns the database schema and its migrations. The schema is a public interface (see
//! `docs/SCHEMA.md`): columns are only ever added, never renamed or given a new meaning.

use rusqlite::Connection;

/// Each step moves the schema from version `i` to `i + 1` (`PRAGMA user_version`).
pub const MIGRATIONS: &[&str] = &[
    // 1: apps and their desired state, instance counters, one row per run.
    "
    CREATE TABLE apps (
        name          TEXT PRIMARY KEY,
        spec_json     TEXT NOT NULL,
        should_run    INTEGER NOT NULL,
        position      INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE TABLE instances (
        app               TEXT NOT NULL,
        instance          INTEGER NOT NULL,
        last_run          INTEGER NOT NULL DEFAULT 0,
        restarts          INTEGER NOT NULL DEFAULT 0,
        unstable_restarts INTEGER NOT NULL DEFAULT 0,
        auto_restarts     INTEGER NOT NULL DEFAULT 0,
        manual_restarts   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (app, instance)
    );
    CREATE TABLE runs (
        id                 INTEGER PRIMARY KEY,
        app                TEXT NOT NULL,
        instance           INTEGER NOT NULL,
        run                INTEGER NOT NULL,
        pid                INTEGER,
        pid_start_ticks    INTEGER,
        trigger            TEXT,
        restarts           INTEGER,
        started_at_ms      INTEGER NOT NULL,
        ended_at_ms        INTEGER,
        uptime_ms          INTEGER,
        cause              TEXT,
        exit_code          INTEGER,
        signal             TEXT,
        core_dumped        INTEGER,
        unstable           INTEGER,
        sigkill_needed     INTEGER,
        next_delay_ms      INTEGER,
        error              TEXT,
        rss_last_bytes     INTEGER,
        rss_peak_bytes     INTEGER,
        memory_limit_bytes INTEGER,
        oom_confidence     TEXT,
        leftovers_killed   INTEGER,
        stderr_tail        TEXT
    );
    CREATE INDEX runs_by_app ON runs (app, id);
    CREATE INDEX runs_open ON runs (ended_at_ms) WHERE ended_at_ms IS NULL;
    CREATE INDEX runs_by_end ON runs (ended_at_ms);
    CREATE VIEW spawns AS
        SELECT id, app, instance, run, pid, pid_start_ticks, trigger, restarts, started_at_ms
        FROM runs WHERE pid IS NOT NULL;
    CREATE VIEW exits AS
        SELECT * FROM runs WHERE ended_at_ms IS NOT NULL;
    CREATE TABLE memory (
        app       TEXT NOT NULL,
        instance  INTEGER NOT NULL,
        minute_ms INTEGER NOT NULL,
        min_bytes INTEGER NOT NULL,
        avg_bytes INTEGER NOT NULL,
        max_bytes INTEGER NOT NULL,
        PRIMARY KEY (app, instance, minute_ms)
    );
    ",
    // 2: deployments (apply, rollback, start FILE, reload FILE) and the deployment of each run.
    "
    CREATE TABLE deployments (
        id            INTEGER PRIMARY KEY,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms   INTEGER,
        uid           INTEGER,
        kind          TEXT NOT NULL,
        file          TEXT,
        sha256        TEXT,
        env           TEXT,
        plan_json     TEXT NOT NULL,
        specs_json    TEXT NOT NULL,
        result        TEXT,
        message       TEXT,
        rollback_of   INTEGER
    );
    ALTER TABLE runs ADD COLUMN deployment_id INTEGER;
    DROP VIEW spawns;
    CREATE VIEW spawns AS
        SELECT id, app, instance, run, pid, pid_start_ticks, trigger, restarts, started_at_ms,
               deployment_id
        FROM runs WHERE pid IS NOT NULL;
    ",
    // 3: indexes for `svctl report`, which reads them, never the rows with their stderr:
    // per-cause counts and medians from `runs_by_cause` (in uptime order within each app and
    // cause, so a median is a walk, not a sort), exits per time bucket as range counts on
    // `runs_by_cause_end`; manual restarts have a small index of their own.
    "
    CREATE INDEX runs_by_cause ON runs (app, cause, uptime_ms, ended_at_ms);
    CREATE INDEX runs_by_cause_end ON runs (app, cause, ended_at_ms);
    CREATE INDEX runs_manual ON runs (started_at_ms, app)
        WHERE trigger IN ('manual_restart', 'reload');
    ",
    // 4: an instance the user stopped stays stopped across daemon restarts; a run whose end
    // the daemon could only bound (it was stopped itself when the run ended) says so.
    "
    ALTER TABLE instances ADD COLUMN held_stopped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN end_approx INTEGER;
    ",
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`VERSION`], each step in its own transaction. Returns the version
/// found before.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(found)
}
