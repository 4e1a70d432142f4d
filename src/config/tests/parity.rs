//! What PM2 users' files expect (issue 13): `--env` typos refused, `append_env_to_name`, the
//! `pm2:` key, `pid_file`, the `-<n>` log suffix rule, and the one-port cluster warning.

use super::*;

fn load_env(yaml: &str, env: &str) -> Result<Loaded, ConfigError> {
    load_str(
        yaml,
        Path::new("/tmp/eco/ecosystem.yaml"),
        &LoadOptions {
            env_name: Some(env.into()),
        },
    )
}

const ENVS: &str = "apps:\n  - name: web\n    script: sleep\n    env_production:\n      A: 1\n  - name: worker\n    script: sleep\n    env_staging:\n      A: 2\n";

#[test]
fn an_env_name_no_block_has_is_refused_with_a_suggestion() {
    let e = load_env(ENVS, "prodution").unwrap_err().to_string();
    assert_eq!(
        e,
        "/tmp/eco/ecosystem.yaml:1:1: --env prodution: no app of this file has an `env_prodution` block
  hint: did you mean `env_production` (--env production)?
1 problem in /tmp/eco/ecosystem.yaml; nothing was started"
    );
    let e = load_env(ENVS, "qa").unwrap_err().to_string();
    assert!(
        e.contains("hint: the file has env_production, env_staging"),
        "{e}"
    );
    let e = load_env("apps:\n  - script: sleep\n", "prod")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no `env_<name>` block at all"), "{e}");
    // A block in one app is enough: the others keep their env.
    let l = load_env(ENVS, "staging").unwrap();
    assert_eq!(l.apps[1].env["A"], "2");
    assert!(l.apps[0].env.is_empty());
}

#[test]
fn append_env_to_name_names_the_app_after_the_env() {
    let yaml = "apps:\n  - name: web\n    script: sleep\n    append_env_to_name: true\n    out_file: out.log\n    env_prod:\n      A: 1\n";
    assert_eq!(load_env(yaml, "prod").unwrap().apps[0].name, "web-prod");
    assert_eq!(
        ok(yaml).apps[0].name,
        "web",
        "no --env: the name as written"
    );
    let e = load_env(
        "apps:\n  - name: web\n    script: sleep\n    append_env_to_name: true\n    \"env_x:1\":\n      A: 1\n",
        "x:1",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("append_env_to_name: a name cannot end in `:` and digits"),
        "{e}"
    );
}

#[test]
fn a_pm2_top_level_key_holds_the_apps() {
    let l = ok("pm2:\n  - name: a\n    script: sleep\n  - name: b\n    script: sleep\n");
    assert_eq!(names(&l), ["a", "b"]);
    let l = ok("pm2:\n  name: a\n  script: sleep\n");
    assert_eq!(names(&l), ["a"]);
    let e = err("pm2: 3\n");
    assert!(e.contains("1:6: pm2: expected a list of apps"), "{e}");
}

#[test]
fn pid_file_is_absolute_against_cwd() {
    let l = ok(
        "apps:\n  - name: a\n    script: sleep\n    cwd: /srv/a\n    pid_file: run/a.pid\n  - name: b\n    script: sleep\n    pid: /run/b.pid\n",
    );
    assert_eq!(l.apps[0].pid_file, Some(PathBuf::from("/srv/a/run/a.pid")));
    assert_eq!(l.apps[1].pid_file, Some(PathBuf::from("/run/b.pid")));
    assert!(err("apps:\n  - script: sleep\n    pid_file: \"\"\n").contains("empty string"));
}

#[test]
fn the_instance_suffix_follows_pm2s_merge_logs_default() {
    let suffix = |extra: &str| {
        ok(&format!("apps:\n  - name: a\n    script: sleep\n{extra}"))
            .apps
            .remove(0)
            .instance_log_suffix
    };
    assert!(!suffix(""), "no instances key: merged, as PM2");
    assert!(suffix("    instances: 1\n"), "instances given: -<n>");
    assert!(suffix("    exec_mode: cluster\n"));
    assert!(!suffix("    instances: 2\n    merge_logs: true\n"));
    assert!(suffix("    merge_logs: false\n"));
}

#[test]
fn cluster_mode_on_one_port_warns_and_points_to_increment_var() {
    let w = |extra: &str| {
        ok(&format!(
            "apps:\n  - name: api\n    script: sleep\n    exec_mode: cluster\n    instances: 4\n{extra}"
        ))
        .warnings
        .into_iter()
        .filter(|w| w.contains("one PORT"))
        .collect::<Vec<_>>()
    };
    let fixed = w("    port: 3000\n");
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert!(
        fixed[0].contains("app `api`: exec_mode: cluster with 4 instances on one PORT (3000)")
            && fixed[0].contains("increment_var: PORT")
            && fixed[0].contains("listen:"),
        "{}",
        fixed[0]
    );
    assert_eq!(w("    env:\n      PORT: 80\n").len(), 1);
    assert!(w("    port: 3000\n    increment_var: PORT\n").is_empty());
    assert!(w("").is_empty(), "no port: nothing to race for");
    assert!(
        ok("apps:\n  - script: sleep\n    exec_mode: cluster\n    instances: 1\n    port: 80\n")
            .warnings
            .iter()
            .all(|w| !w.contains("one PORT"))
    );
}
