use super::*;
use crate::record::Cause;

/// Test runs happen an hour ago, well inside the default retention.
fn base() -> i64 {
    now_ms() - 3_600_000
}

fn spec(name: &str, instances: u32) -> AppSpec {
    let mut s = AppSpec::with_defaults(name, "sleep", PathBuf::from("/tmp"));
    s.instances = instances;
    s
}

pub(super) fn spawn(app: &str, instance: u32, run: u64, trigger: SpawnTrigger) -> Write {
    Write::Spawn(SpawnRecord {
        app: app.into(),
        instance,
        run,
        pid: 1000 + run as i32,
        pid_start_ticks: Some(77),
        started_at_ms: base() + 1_000 * run as i64,
        restarts: run.saturating_sub(1) as u32,
        trigger,
        deployment: None,
    })
}

pub(super) fn exit(app: &str, instance: u32, run: u64, cause: Cause, unstable: bool) -> ExitRecord {
    ExitRecord {
        app: app.into(),
        instance,
        run,
        pid: Some(1000 + run as i32),
        started_at_ms: base() + 1_000 * run as i64,
        ended_at_ms: base() + 1_000 * run as i64 + 500,
        cause,
        exit_code: (cause == Cause::Exited).then_some(3),
        signal: None,
        core_dumped: false,
        unstable,
        sigkill_needed: false,
        next_delay_ms: Some(0),
        error: None,
        rss_last_bytes: Some(1 << 20),
        rss_peak_bytes: Some(2 << 20),
        memory_limit_bytes: None,
        oom_confidence: None,
        leftovers_killed: 0,
        stderr_tail: Some("boom".into()),
        end_approx: false,
    }
}

pub(super) fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("svctl.db");
    (dir, p)
}

#[test]
fn apps_specs_and_counters_survive_reopen() {
    let (_d, p) = db();
    let (store, snap) = Store::open(&p).unwrap();
    assert_eq!(snap, Snapshot::default());
    let mut s = spec("api", 2);
    s.env.insert("PORT".into(), "80".into());
    store.send(Write::UpsertApp {
        spec: Box::new(s.clone()),
        should_run: true,
    });
    store.send(Write::UpsertApp {
        spec: Box::new(spec("worker", 1)),
        should_run: false,
    });
    store.send(spawn("api", 0, 1, SpawnTrigger::Start));
    store.send(Write::Exit(exit("api", 0, 1, Cause::Exited, true)));
    store.send(spawn("api", 0, 2, SpawnTrigger::AutoRestart));
    store.send(Write::Exit(exit("api", 0, 2, Cause::Restarted, false)));
    store.send(spawn("api", 0, 3, SpawnTrigger::ManualRestart));
    store.close().unwrap();

    let (store, snap) = Store::open(&p).unwrap();
    assert_eq!(snap.apps.len(), 2);
    assert_eq!(snap.apps[0].spec, s);
    assert!(snap.apps[0].should_run);
    assert!(!snap.apps[1].should_run);
    let c = &snap.apps[0].instances[0];
    assert_eq!((c.last_run, c.restarts), (3, 2));
    assert_eq!((c.auto_restarts, c.manual_restarts), (1, 1));
    assert_eq!(
        c.unstable_restarts, 0,
        "a stable exit resets the consecutive count"
    );
    assert_eq!(c.last_exit.as_ref().unwrap().cause, Cause::Restarted);
    // Run 3 has a spawn and no exit: the daemon died while it ran.
    assert_eq!(snap.open_runs.len(), 1);
    assert_eq!(snap.open_runs[0].run, 3);
    assert_eq!(snap.open_runs[0].pid_start_ticks, Some(77));
    drop(store);
}

#[test]
fn upsert_keeps_counters_and_delete_keeps_history() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    store.send(Write::UpsertApp {
        spec: Box::new(spec("a", 1)),
        should_run: true,
    });
    store.send(spawn("a", 0, 1, SpawnTrigger::Start));
    store.send(spawn("a", 0, 2, SpawnTrigger::AutoRestart));
    store.send(Write::UpsertApp {
        spec: Box::new(spec("a", 1)),
        should_run: true,
    });
    store.sync().unwrap();
    store.send(Write::DeleteApp { name: "a".into() });
    store.close().unwrap();
    let (_store, snap) = Store::open(&p).unwrap();
    assert!(snap.apps.is_empty());
    let r = Reader::open(&p).unwrap();
    let rows = r
        .query_text("SELECT count(*) FROM spawns WHERE app = 'a'")
        .unwrap();
    assert_eq!(rows, vec![vec!["2".to_string()]]);
}

#[test]
fn spawn_failures_get_a_row_of_their_own() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    let mut e = exit("ghost", 0, 1, Cause::SpawnFailed, true);
    e.pid = None;
    e.error = Some("No such file or directory (os error 2)".into());
    store.send(Write::Exit(e.clone()));
    store.close().unwrap();
    let rows = Reader::open(&p)
        .unwrap()
        .history(&HistoryFilter::default())
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].exit, e);
}

#[test]
fn unstable_exits_count_consecutively_and_reset_counters_zeroes() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    store.send(Write::UpsertApp {
        spec: Box::new(spec("c", 1)),
        should_run: true,
    });
    for run in 1..=5 {
        store.send(spawn("c", 0, run, SpawnTrigger::AutoRestart));
        store.send(Write::Exit(exit("c", 0, run, Cause::Exited, true)));
    }
    store.close().unwrap();
    let (store, snap) = Store::open(&p).unwrap();
    assert_eq!(snap.apps[0].instances[0].unstable_restarts, 5);
    store.send(Write::ResetCounters { name: "c".into() });
    store.close().unwrap();
    let (_s, snap) = Store::open(&p).unwrap();
    let c = &snap.apps[0].instances[0];
    assert_eq!(
        (c.restarts, c.unstable_restarts, c.auto_restarts),
        (0, 0, 0)
    );
    assert_eq!(c.last_run, 5, "run numbers never go back");
}

#[test]
fn ten_thousand_exits_in_a_storm_are_all_written() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    for run in 1..=10_000u64 {
        store.send(spawn(
            "storm",
            (run % 200) as u32,
            run,
            SpawnTrigger::AutoRestart,
        ));
        store.send(Write::Exit(exit(
            "storm",
            (run % 200) as u32,
            run,
            Cause::Exited,
            true,
        )));
    }
    store.close().unwrap();
    let r = Reader::open(&p).unwrap();
    let counts = r
        .query_text(
            "SELECT (SELECT count(*) FROM spawns), (SELECT count(*) FROM exits),
                    (SELECT count(*) FROM runs WHERE ended_at_ms IS NULL)",
        )
        .unwrap();
    assert_eq!(
        counts,
        vec![vec!["10000".to_string(), "10000".into(), "0".into()]]
    );
}

#[test]
fn history_filters_and_orders_newest_first() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    for run in 1..=6 {
        let cause = if run % 2 == 0 {
            Cause::Signaled
        } else {
            Cause::Exited
        };
        store.send(spawn("h", 0, run, SpawnTrigger::AutoRestart));
        store.send(Write::Exit(exit("h", 0, run, cause, true)));
    }
    store.send(spawn("other", 0, 1, SpawnTrigger::Start));
    store.send(Write::Exit(exit("other", 0, 1, Cause::Exited, false)));
    store.close().unwrap();
    let r = Reader::open(&p).unwrap();
    let all = r
        .history(&HistoryFilter {
            apps: vec!["h".into()],
            ..Default::default()
        })
        .unwrap();
    let runs: Vec<u64> = all.iter().map(|h| h.exit.run).collect();
    assert_eq!(runs, vec![6, 5, 4, 3, 2, 1]);
    let sig = r
        .history(&HistoryFilter {
            cause: Some(Cause::Signaled),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        sig.iter().map(|h| h.exit.run).collect::<Vec<_>>(),
        vec![6, 4]
    );
    let recent = r
        .history(&HistoryFilter {
            since_ms: Some(base() + 4_900),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(recent.len(), 2);
}

#[test]
fn retention_bounds_rows_per_app() {
    let (_d, p) = db();
    let retention = Retention {
        max_runs_per_app: 10,
        ..Retention::default()
    };
    let (store, _) = Store::open_with(&p, retention).unwrap();
    for run in 1..=50 {
        store.send(spawn("r", 0, run, SpawnTrigger::AutoRestart));
        store.send(Write::Exit(exit("r", 0, run, Cause::Exited, true)));
    }
    store.close().unwrap();
    // Pruning runs at open (and every few thousand writes).
    let (store, _) = Store::open_with(&p, retention).unwrap();
    store.close().unwrap();
    let r = Reader::open(&p).unwrap();
    let rows = r.history(&HistoryFilter::default()).unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0].exit.run, 50);
}

#[test]
fn a_corrupt_file_is_reported_and_moved_aside_not_replaced() {
    let (d, p) = db();
    std::fs::write(
        &p,
        b"this is not a database, it is a shopping list\n".repeat(100),
    )
    .unwrap();
    match Store::open(&p) {
        Err(StoreError::Corrupt { .. }) => {}
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a store"),
    }
    let aside = move_aside(&p).unwrap();
    assert!(aside.exists() && !p.exists());
    assert!(std::fs::read(&aside).unwrap().starts_with(b"this is not"));
    assert!(Store::open(&p).is_ok());
    drop(d);
}

#[test]
fn sending_after_the_writer_stopped_does_not_panic() {
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    let (tx, rx) = mpsc::channel();
    drop(rx);
    let dead = Store {
        tx,
        thread: None,
        health: Arc::default(),
    };
    dead.send(Write::DeleteApp { name: "x".into() });
    assert_eq!(dead.dropped(), 1);
    assert!(dead.sync().is_err());
    store.close().unwrap();
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let (_d, p) = db();
    for _ in 0..3 {
        let (s, _) = Store::open(&p).unwrap();
        s.close().unwrap();
    }
    let conn = Connection::open(&p).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::VERSION);
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    assert!(matches!(Store::open(&p), Err(StoreError::TooNew { .. })));
}

/// A reader never migrates (it opens the file read-only): a database of the previous release
/// that no daemon has opened yet is named as such, not as SQLite's "SQL logic error".
#[test]
fn a_reader_names_an_older_or_newer_schema_and_how_to_migrate() {
    let (_d, p) = db();
    {
        let mut conn = Connection::open(&p).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &schema::MIGRATIONS[..schema::MIGRATIONS.len() - 1] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", schema::VERSION - 1)
            .unwrap();
        tx.commit().unwrap();
    }
    let e = Reader::open(&p).err().expect("an older schema is refused");
    assert!(matches!(e, StoreError::TooOld { found, .. } if found == schema::VERSION - 1));
    let text = e.to_string();
    assert!(
        text.contains(&format!("has schema {}", schema::VERSION - 1))
            && text.contains(&format!("reads schema {}", schema::VERSION))
            && text.contains("the daemon migrates it when it starts"),
        "{text}"
    );
    // Once a daemon has opened it, it reads.
    Store::open(&p).unwrap().0.close().unwrap();
    assert!(
        Reader::open(&p)
            .unwrap()
            .history(&Default::default())
            .is_ok()
    );
    let conn = Connection::open(&p).unwrap();
    conn.pragma_update(None, "user_version", schema::VERSION + 1)
        .unwrap();
    let e = Reader::open(&p).err().expect("a newer schema is refused");
    assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
}

#[test]
fn a_version_one_database_gains_deployments_and_keeps_its_runs() {
    let (_d, p) = db();
    {
        let mut conn = Connection::open(&p).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(schema::MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.execute(
            "INSERT INTO runs (app, instance, run, pid, trigger, restarts, started_at_ms)
             VALUES ('old', 0, 1, 42, 'start', 0, 1000)",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let (store, snap) = Store::open(&p).unwrap();
    assert_eq!(snap.last_deployment, 0);
    store.close().unwrap();
    let conn = Connection::open(&p).unwrap();
    let (pid, dep): (i64, Option<i64>) = conn
        .query_row(
            "SELECT pid, deployment_id FROM spawns WHERE app = 'old'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((pid, dep), (42, None));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM deployments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_version_two_database_gains_the_report_indexes() {
    let (_d, p) = db();
    {
        let mut conn = Connection::open(&p).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(schema::MIGRATIONS[0]).unwrap();
        tx.execute_batch(schema::MIGRATIONS[1]).unwrap();
        tx.pragma_update(None, "user_version", 2).unwrap();
        tx.commit().unwrap();
    }
    let (store, _) = Store::open(&p).unwrap();
    store.close().unwrap();
    let conn = Connection::open(&p).unwrap();
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT app, cause, count(*) FROM runs
             WHERE +ended_at_ms >= 0 GROUP BY app, cause",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("COVERING INDEX runs_by_cause"), "{plan}");
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master
             WHERE name IN ('runs_by_cause', 'runs_by_cause_end', 'runs_manual')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn deployments_are_recorded_read_back_and_numbered_on() {
    use crate::deploy::{DeployKind, DeploymentMeta, Running, plan};
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    let specs = vec![spec("api", 1)];
    let meta = DeploymentMeta {
        file: Some("/srv/eco.yaml".into()),
        sha256: Some("ab".repeat(32)),
        env: Some("production".into()),
        uid: 1000,
        kind: DeployKind::Apply,
        rollback_of: None,
    };
    let running = [Running {
        spec: spec("old", 1),
        should_run: true,
        stale: false,
    }];
    store.send(Write::DeploymentBegun(Box::new(DeploymentBegun {
        id: 7,
        started_at_ms: 5_000,
        meta,
        plan: plan(&running, &specs, false),
        specs: specs.clone(),
    })));
    let mut s = spawn("api", 0, 1, SpawnTrigger::Start);
    if let Write::Spawn(r) = &mut s {
        r.deployment = Some(7);
    }
    store.send(s);
    store.send(Write::DeploymentEnded {
        id: 7,
        ended_at_ms: 6_500,
        ok: true,
        message: "applied".into(),
    });
    store.close().unwrap();
    let reader = Reader::open(&p).unwrap();
    let rows = reader.deployments(Some("api"), None, 10).unwrap();
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(
        (d.id, d.duration_ms, d.result.as_deref()),
        (7, Some(1_500), Some("ok"))
    );
    assert_eq!(
        (d.kind.as_str(), d.env.as_deref()),
        ("apply", Some("production"))
    );
    assert_eq!(d.specs, specs);
    assert!(
        reader
            .deployments(Some("old"), None, 10)
            .unwrap()
            .is_empty(),
        "kept, not touched"
    );
    assert_eq!(reader.deployment(7).unwrap().as_ref(), Some(d));
    let dep: Option<i64> = reader
        .query_text("SELECT deployment_id FROM runs WHERE app = 'api'")
        .unwrap()[0][0]
        .parse()
        .ok();
    assert_eq!(dep, Some(7));
    drop(reader);
    // The app's deployment comes back with it; one that never ended is marked interrupted.
    let (s, _) = Store::open(&p).unwrap();
    s.send(Write::UpsertApp {
        spec: Box::new(spec("api", 1)),
        should_run: true,
    });
    let meta = d_meta();
    s.send(Write::DeploymentBegun(Box::new(DeploymentBegun {
        id: 8,
        started_at_ms: 7_000,
        meta,
        plan: plan(&[], &specs, false),
        specs: specs.clone(),
    })));
    s.close().unwrap();
    let (s, snap) = Store::open(&p).unwrap();
    s.close().unwrap();
    assert_eq!(snap.last_deployment, 8);
    assert_eq!(snap.apps[0].deployment, Some(7));
    let d = Reader::open(&p).unwrap().deployment(8).unwrap().unwrap();
    assert_eq!(d.result.as_deref(), Some("interrupted"));
}

fn d_meta() -> crate::deploy::DeploymentMeta {
    crate::deploy::DeploymentMeta {
        file: None,
        sha256: None,
        env: None,
        uid: 0,
        kind: crate::deploy::DeployKind::Reload,
        rollback_of: None,
    }
}

#[test]
fn every_example_query_in_the_schema_doc_runs() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCHEMA.md"))
        .unwrap();
    let queries: Vec<&str> = doc
        .split("```sql")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(queries.len() >= 5, "the doc has its examples");
    let (_d, p) = db();
    let (store, _) = Store::open(&p).unwrap();
    store.send(Write::UpsertApp {
        spec: Box::new(spec("q", 1)),
        should_run: true,
    });
    for (run, cause) in [
        (1, Cause::Exited),
        (2, Cause::OomKilled),
        (3, Cause::Signaled),
    ] {
        store.send(spawn("q", 0, run, SpawnTrigger::AutoRestart));
        store.send(Write::Exit(exit("q", 0, run, cause, true)));
    }
    store.send(spawn("q", 0, 4, SpawnTrigger::AutoRestart));
    store.send(Write::DeploymentBegun(Box::new(DeploymentBegun {
        id: 1,
        started_at_ms: base(),
        meta: crate::deploy::DeploymentMeta {
            file: Some("/srv/eco.yaml".into()),
            sha256: Some("0".repeat(64)),
            env: None,
            uid: 0,
            kind: crate::deploy::DeployKind::Apply,
            rollback_of: None,
        },
        plan: crate::deploy::Plan::default(),
        specs: vec![spec("q", 1)],
    })));
    store.close().unwrap();
    let r = Reader::open(&p).unwrap();
    for q in queries {
        let rows = r.query_text(q).unwrap_or_else(|e| panic!("{e}\n{q}"));
        assert!(!rows.is_empty(), "no rows from\n{q}");
    }
}

#[test]
fn the_schema_doc_names_the_current_version() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCHEMA.md"))
        .expect("docs/SCHEMA.md");
    let want = format!(
        "`PRAGMA user_version` (currently {})",
        super::schema::MIGRATIONS.len()
    );
    assert!(doc.contains(&want), "docs/SCHEMA.md should say {want}");
}
