use super::*;
use std::path::PathBuf;

fn spec(name: &str) -> AppSpec {
    AppSpec::with_defaults(name, "/bin/sleep", PathBuf::from("/tmp"))
}

fn running(spec: AppSpec) -> Running {
    Running {
        spec,
        should_run: true,
        stale: false,
    }
}

#[test]
fn the_plan_table() {
    let mut changed = spec("api");
    changed.env.insert("DB_URL".into(), "postgres://new".into());
    let mut shrunk = spec("workers");
    shrunk.instances = 2;
    let mut four = spec("workers");
    four.instances = 4;
    let stopped = Running {
        spec: spec("cron"),
        should_run: false,
        stale: false,
    };
    let mut other_shell = spec("web");
    std::sync::Arc::make_mut(&mut other_shell.base_env).insert("TERM".into(), "xterm".into());
    other_shell.source = Some(PathBuf::from("/elsewhere/ecosystem.yaml"));
    let now = vec![
        running(spec("api")),
        running(four),
        stopped,
        running(spec("web")),
        running(spec("legacy")),
    ];
    let file = vec![changed, shrunk, spec("cron"), other_shell, spec("new")];
    for prune in [false, true] {
        let p = plan(&now, &file, prune);
        let names: Vec<&str> = p.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["api", "workers", "cron", "web", "new", "legacy"]);
        assert_eq!(
            p.of("api"),
            Some(&Action::Change {
                fields: vec![FieldDiff {
                    field: "env.DB_URL".into(),
                    before: None,
                    after: Some("postgres://new".into()),
                }],
                how: How::Reload,
            })
        );
        let Some(Action::Change { fields, how }) = p.of("workers") else {
            panic!("workers changes: {p:?}");
        };
        assert_eq!(how, &How::Scale { from: 4, to: 2 });
        assert_eq!(fields[0].field, "instances");
        assert!(describe_how(how).contains("instance(s) 2, 3 deleted"));
        assert!(matches!(
            p.of("cron"),
            Some(Action::Change {
                how: How::Start,
                ..
            })
        ));
        assert_eq!(
            p.of("web"),
            Some(&Action::Unchanged),
            "base_env and source are ignored"
        );
        assert_eq!(p.of("new"), Some(&Action::Add { instances: 1 }));
        assert_eq!(p.of("legacy"), Some(&Action::Extra { removed: prune }));
        assert_eq!(p.removed().count(), usize::from(prune));
        let touched: Vec<&str> = p.touched().collect();
        assert_eq!(touched, ["api", "workers", "cron", "new"]);
    }
}

#[test]
fn a_stopped_app_with_autostart_false_stays_stopped() {
    let stopped = Running {
        spec: spec("batch"),
        should_run: false,
        stale: false,
    };
    let mut same = spec("batch");
    same.autostart = false;
    let now = [Running {
        spec: same.clone(),
        ..stopped
    }];
    assert_eq!(
        plan(&now, &[same.clone()], false).of("batch"),
        Some(&Action::Unchanged)
    );
    let mut changed = same;
    changed.args = vec!["5".into()];
    assert!(matches!(
        plan(&now, &[changed], false).of("batch"),
        Some(Action::Change {
            how: How::Store,
            ..
        })
    ));
}

#[test]
fn an_identical_file_is_a_noop() {
    let now = vec![running(spec("a")), running(spec("b"))];
    let p = plan(&now, &[spec("a"), spec("b")], false);
    assert!(p.is_noop());
    assert_eq!(p.summary(), "0 to add, 0 to change, 2 unchanged");
    let p = plan(&now, &[spec("a")], true);
    assert!(!p.is_noop());
    assert_eq!(
        p.summary(),
        "0 to add, 0 to change, 1 unchanged, 1 to remove"
    );
}

#[test]
fn secret_values_are_masked_and_others_shown() {
    let mut before = spec("api");
    before.env.insert("API_TOKEN".into(), "old-token".into());
    before.env.insert("db_password".into(), "hunter2".into());
    before.env.insert("MODE".into(), "a".into());
    let mut after = before.clone();
    after.env.insert("API_TOKEN".into(), "new-token".into());
    after.env.remove("db_password");
    after.env.insert("MODE".into(), "b".into());
    after.script = "/bin/true".into();
    let d = diff(&before, &after);
    let lines: Vec<String> = d.iter().map(describe_field).collect();
    assert_eq!(
        lines,
        [
            "env.API_TOKEN: *** (changed)",
            "env.MODE: a → b",
            "env.db_password: *** → (unset)",
            "script: /bin/sleep → /bin/true",
        ]
    );
    assert!(!format!("{d:?}").contains("token"));
    assert!(!format!("{d:?}").contains("hunter2"));
    for k in [
        "AWS_SECRET_ACCESS_KEY",
        "ssh_private",
        "PASSWD",
        "GH_CREDENTIALS",
    ] {
        assert!(is_secret(k), "{k}");
    }
    assert!(!is_secret("DB_URL"));
}

#[test]
fn the_plan_has_a_stable_json_form() {
    let p = plan(&[running(spec("old"))], &[spec("new")], true);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(
        json,
        r#"{"apps":[{"name":"new","action":"add","instances":1},{"name":"old","action":"extra","removed":true}]}"#
    );
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), p);
}

#[test]
fn an_app_whose_last_rollout_failed_is_reloaded_again() {
    let mut r = running(spec("api"));
    r.stale = true;
    let p = plan(&[r], &[spec("api")], false);
    assert_eq!(
        p.of("api"),
        Some(&Action::Change {
            fields: Vec::new(),
            how: How::Retry,
        })
    );
}
