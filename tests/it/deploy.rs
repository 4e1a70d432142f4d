//! Deployments with a real daemon: `apply` shows a plan and changes only what the file changed
//! (unchanged apps keep their pids), `--prune` removes what the file no longer has, every
//! deployment is a row (`deployments --json`), `rollback` applies the previous specs again, and
//! `why` names the deployment after which an app began to crash.

use crate::harness::*;
use serde_json::Value;

fn app(name: &str, args: &str, env: &str) -> String {
    format!(
        "  - name: {name}\n    script: bash\n    args: [\"-c\", \"{args}\"]\n    restart_delay: 100\n    min_uptime: 500ms\n    env:\n{env}"
    )
}

fn file(apps: &[String]) -> String {
    format!("apps:\n{}", apps.concat())
}

fn env(db: &str) -> String {
    format!("      DB_URL: {db}\n      API_TOKEN: tok-{db}\n")
}

fn pid(h: &Home, name: &str) -> i64 {
    let p = h.wait_status(name, 0, "online");
    p["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} has no pid: {p}"))
}

fn deployments(h: &Home) -> Vec<Value> {
    let text = h.ok(&["deployments", "--json"]);
    match serde_json::from_str(&text) {
        Ok(Value::Array(v)) => v,
        other => panic!("deployments --json: {other:?}\n{text}"),
    }
}

fn db_url(h: &Home, name: &str) -> String {
    let text = h.ok(&["describe", name, "--json"]);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let app = if v.is_array() { &v[0] } else { &v };
    app["spec"]["env"]["DB_URL"]
        .as_str()
        .unwrap_or_else(|| panic!("{text}"))
        .to_string()
}

const SLEEP: &str = "exec sleep 1000";

/// api, worker and legacy running from a first `apply`.
fn three_apps(h: &Home) -> String {
    let path = h.ecosystem(
        "ecosystem.yaml",
        &file(&[
            app("api", SLEEP, &env("a")),
            app("worker", SLEEP, &env("w")),
            app("legacy", SLEEP, &env("l")),
        ]),
    );
    h.ok(&["apply", &path]);
    path
}

#[test]
fn apply_dry_run_prints_the_diff_and_changes_nothing() {
    let h = Home::new();
    let path = three_apps(&h);
    let before = (pid(&h, "api"), pid(&h, "worker"), pid(&h, "legacy"));
    h.ecosystem(
        "ecosystem.yaml",
        &file(&[
            app("api", SLEEP, &env("b")),
            app("worker", SLEEP, &env("w")),
        ]),
    );
    let out = h.ok(&["apply", &path, "--dry-run"]);
    for want in [
        "1 to change, 1 unchanged, 1 not in the file (kept)",
        "~ api",
        "env.DB_URL: a → b",
        "env.API_TOKEN: *** (changed)",
        "= worker",
        "? legacy",
        "dry run: nothing was changed",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains("tok-"), "a secret was shown:\n{out}");
    let out = h.ok(&["apply", &path, "--dry-run", "--prune"]);
    assert!(
        out.contains("- legacy  not in the file: stop and delete"),
        "{out}"
    );
    assert_eq!(
        before,
        (pid(&h, "api"), pid(&h, "worker"), pid(&h, "legacy"))
    );
    assert_eq!(db_url(&h, "api"), "a");
    assert_eq!(deployments(&h).len(), 1, "a dry run is no deployment");
}

#[test]
fn apply_reloads_only_the_changed_app_and_prune_removes_the_rest() {
    let h = Home::new();
    let path = three_apps(&h);
    let (api, worker) = (pid(&h, "api"), pid(&h, "worker"));
    h.ecosystem(
        "ecosystem.yaml",
        &file(&[
            app("api", SLEEP, &env("b")),
            app("worker", SLEEP, &env("w")),
        ]),
    );
    let out = h.ok(&["apply", &path, "--prune"]);
    assert!(out.contains("applied deployment #2"), "{out}");
    assert_ne!(pid(&h, "api"), api, "the changed app was reloaded");
    assert_eq!(
        pid(&h, "worker"),
        worker,
        "the unchanged app was not touched"
    );
    assert_eq!(db_url(&h, "api"), "b");
    assert!(h.proc("legacy", 0).is_none(), "pruned: {:?}", h.list());

    // Nothing changed: nothing is touched, and it is still a (no-op) deployment.
    let api = pid(&h, "api");
    let out = h.ok(&["apply", &path]);
    assert!(out.contains("0 to add, 0 to change, 2 unchanged"), "{out}");
    assert_eq!((pid(&h, "api"), pid(&h, "worker")), (api, worker));

    let rows = deployments(&h);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for r in &rows {
        assert_eq!(r["kind"], "apply", "{r}");
        assert_eq!(r["result"], "ok", "{r}");
        assert_eq!(r["sha256"].as_str().map(str::len), Some(64), "{r}");
        assert!(r["duration_ms"].is_number(), "{r}");
    }
    assert_eq!(rows[0]["id"], 3, "newest first");
    let second = &rows[1]["plan"]["apps"];
    assert_eq!(second[0]["name"], "api");
    assert_eq!(second[0]["action"], "change");
    assert_eq!(second[2]["name"], "legacy");
    assert_eq!(second[2]["removed"], true);
    // Each spawn records the deployment that last changed its app.
    let db = svctl::store::Reader::open(&h.file("svctl.db")).expect("the database");
    let newest = |app: &str| {
        db.query_text(&format!(
            "SELECT deployment_id FROM runs WHERE app = '{app}' ORDER BY id DESC LIMIT 1"
        ))
        .expect("query")[0][0]
            .clone()
    };
    assert_eq!((newest("api"), newest("worker")), ("2".into(), "1".into()));
    // Only the deployments that touched an app are listed for it.
    let text = h.ok(&["deployments", "worker", "--json"]);
    let for_worker: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(for_worker.len(), 1, "{text}");
}

#[test]
fn rollback_brings_the_previous_spec_back_for_that_app_only() {
    let h = Home::new();
    let path = h.ecosystem(
        "ecosystem.yaml",
        &file(&[
            app("api", SLEEP, &env("a")),
            app("worker", SLEEP, &env("w")),
        ]),
    );
    h.ok(&["start", &path]);
    h.ecosystem(
        "ecosystem.yaml",
        &file(&[
            app("api", SLEEP, &env("b")),
            app("worker", SLEEP, &env("w")),
        ]),
    );
    h.ok(&["apply", &path]);
    assert_eq!(db_url(&h, "api"), "b");
    let (api, worker) = (pid(&h, "api"), pid(&h, "worker"));

    let out = h.ok(&["rollback", "api"]);
    assert!(out.contains("plan for deployment #1"), "{out}");
    assert!(out.contains("env.DB_URL: b → a"), "{out}");
    assert_eq!(db_url(&h, "api"), "a");
    assert_ne!(pid(&h, "api"), api);
    assert_eq!(pid(&h, "worker"), worker);

    let rows = deployments(&h);
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["rollback", "apply", "start"], "{rows:?}");
    assert_eq!(rows[0]["rollback_of"], 1);
    assert_eq!(rows[0]["result"], "ok");
    let table = h.ok(&["deployments"]);
    assert!(table.contains("rollback of #1"), "{table}");
}

#[test]
fn why_names_the_deployment_after_which_crashes_began() {
    let h = Home::new();
    let path = h.ecosystem("ecosystem.yaml", &file(&[app("api", SLEEP, &env("a"))]));
    h.ok(&["apply", &path]);
    pid(&h, "api");
    // The new process is up past min_uptime (so the reload succeeds), then crashes, again and
    // again.
    h.ecosystem(
        "ecosystem.yaml",
        &file(&[app("api", "sleep 1; exit 3", &env("a"))]),
    );
    h.ok(&["apply", &path]);
    let mut why = String::new();
    h.wait_until("why names deployment #2", || {
        why = h.ok(&["why", "api"]);
        why.contains("crashes began after deployment #2 (apply)")
    });
    assert!(why.contains("which changed `args`"), "{why}");
    assert!(why.contains("svctl rollback api"), "{why}");
}

#[test]
fn a_failed_apply_exits_1_keeps_the_old_process_and_is_recorded_failed() {
    let h = Home::new();
    let path = h.ecosystem("ecosystem.yaml", &file(&[app("api", SLEEP, &env("a"))]));
    h.ok(&["apply", &path]);
    let api = pid(&h, "api");
    h.ecosystem(
        "ecosystem.yaml",
        &file(&[app("api", "echo no such module >&2; exit 2", &env("a"))]),
    );
    let out = h.svctl(&["apply", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("reload stopped at api:0"), "{err}");
    assert!(err.contains("no such module"), "{err}");
    assert_eq!(pid(&h, "api"), api, "what ran before keeps running");
    let rows = deployments(&h);
    assert_eq!(rows[0]["result"], "failed", "{rows:?}");
    assert!(
        rows[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reload stopped at api:0")),
        "{rows:?}"
    );
    // The same file again is not "unchanged": the rollout is tried again.
    let out = h.svctl(&["apply", &path, "--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("the deployment that set them failed: rolling reload again"),
        "{text}"
    );

    // `reload FILE` is a deployment too.
    h.ecosystem("ecosystem.yaml", &file(&[app("api", SLEEP, &env("c"))]));
    h.ok(&["reload", &path]);
    assert_eq!(db_url(&h, "api"), "c");
    let rows = deployments(&h);
    assert_eq!(rows[0]["kind"], "reload", "{rows:?}");
    assert_eq!(rows[0]["result"], "ok", "{rows:?}");

    let out = h.svctl(&["apply", &path, "--only", "api", "--prune"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
