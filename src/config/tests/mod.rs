//! What a valid file gives: every shape, defaults, aliases, units, environment, paths.

mod errors;
mod js;
mod parity;
mod parts;

use super::*;

fn load(yaml: &str) -> Result<Loaded, ConfigError> {
    load_str(
        yaml,
        Path::new("/tmp/eco/ecosystem.yaml"),
        &LoadOptions::default(),
    )
}

fn ok(yaml: &str) -> Loaded {
    match load(yaml) {
        Ok(l) => l,
        Err(e) => panic!("expected a valid file, got:\n{e}"),
    }
}

fn err(yaml: &str) -> String {
    match load(yaml) {
        Ok(l) => panic!("expected problems, got {:?}", l.apps),
        Err(e) => e.to_string(),
    }
}

fn names(l: &Loaded) -> Vec<&str> {
    l.apps.iter().map(|a| a.name.as_str()).collect()
}

#[test]
fn every_shape_pm2_accepts() {
    let list = ok("apps:\n  - name: a\n    script: sleep\n  - name: b\n    script: sleep\n");
    assert_eq!(names(&list), ["a", "b"]);
    let single = ok("apps:\n  name: a\n  script: sleep\n");
    assert_eq!(names(&single), ["a"]);
    let bare = ok("- name: a\n  script: sleep\n- script: /bin/true\n");
    assert_eq!(names(&bare), ["a", "true"]);
    let one = ok("name: solo\nscript: sleep\n");
    assert_eq!(names(&one), ["solo"]);
    let json = ok(
        "{\n\t\"apps\": [\n\t\t{\"name\": \"j\", \"script\": \"sleep\", \"env\": {\"A\": 1, \"B\": [1, 2]}}\n\t]\n}\n",
    );
    assert_eq!(json.apps[0].env["A"], "1");
    assert_eq!(json.apps[0].env["B"], "[1,2]");
}

#[test]
fn anchors_and_merge_keys() {
    let l = ok(
        "defaults: &d\n  max_restarts: 3\n  env:\n    A: x\napps:\n  - <<: *d\n    name: a\n    script: sleep\n  - <<: *d\n    name: b\n    script: sleep\n    max_restarts: 9\n",
    );
    assert_eq!(l.apps[0].max_restarts, 3);
    assert_eq!(
        l.apps[1].max_restarts, 9,
        "an explicit key wins over the merge"
    );
    assert_eq!(l.apps[1].env["A"], "x");
}

#[test]
fn defaults_are_pm2_defaults() {
    let a = &ok("apps:\n  - script: sleep\n").apps[0];
    assert_eq!(a.name, "sleep");
    assert_eq!(a.instances, 1);
    assert!(a.autorestart && a.autostart);
    assert_eq!(
        (a.min_uptime_ms, a.max_restarts, a.kill_timeout_ms),
        (1000, 16, 1600)
    );
    assert_eq!(a.kill_signal, "SIGINT");
    assert_eq!(a.restart_delay_ms, 0);
    assert_eq!(a.exp_backoff_restart_delay_ms, None);
    assert_eq!(a.cwd, PathBuf::from("/tmp/eco"));
    assert_eq!(a.namespace, "default");
    assert_eq!(a.instance_var, "NODE_APP_INSTANCE");
}

#[test]
fn aliases_and_units() {
    let a = &ok("apps:\n  - name: x\n    exec: sleep\n    exec_interpreter: none\n    node_args: \"--a --b\"\n    min_uptime: 5s\n    restart_delay: \"250\"\n    exp_backoff_restart_delay: 100\n    kill_timeout: 3s\n    kill_signal: term\n    max_memory_restart: 300M\n    cron: \"0 * * * *\"\n    combine_logs: true\n    output: out.log\n    err: /dev/null\n").apps[0];
    assert_eq!(a.script, "sleep");
    assert_eq!(a.interpreter, None);
    assert_eq!(a.interpreter_args, ["--a", "--b"]);
    assert_eq!(a.min_uptime_ms, 5000);
    assert_eq!(a.restart_delay_ms, 250);
    assert_eq!(a.exp_backoff_restart_delay_ms, Some(100));
    assert_eq!(a.kill_timeout_ms, 3000);
    assert_eq!(a.kill_signal, "SIGTERM");
    assert_eq!(a.max_memory_restart, Some(300 << 20));
    assert_eq!(a.cron_restart.as_deref(), Some("0 * * * *"));
    assert!(a.merge_logs);
    assert_eq!(
        a.out_file,
        LogTarget::File(PathBuf::from("/tmp/eco/out.log"))
    );
    assert_eq!(a.error_file, LogTarget::Disabled);
}

#[test]
fn camel_case_keys_are_read_as_pm2_does() {
    let a = &ok("apps:\n  - name: x\n    script: sleep\n    maxRestarts: 3\n    killTimeout: 500\n    maxMemoryRestart: 10M\n").apps[0];
    assert_eq!((a.max_restarts, a.kill_timeout_ms), (3, 500));
    assert_eq!(a.max_memory_restart, Some(10 << 20));
    assert!(
        err("apps:\n  - script: x\n    maxRestart: 3\n").contains("did you mean `max_restarts`?")
    );
}

#[test]
fn log_rotation_can_be_turned_off_but_not_set_tiny() {
    let a = &ok("apps:\n  - script: x\n    log_max_size: 0\n").apps[0];
    assert_eq!(a.log_max_size, Some(0));
    assert!(
        err("apps:\n  - script: x\n    log_max_size: 100\n")
            .contains("at least 4K (or 0: no rotation)")
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bom.yaml");
    std::fs::write(&f, "\u{feff}apps:\n  - script: sleep\n").unwrap();
    assert_eq!(
        load_file(&f, &LoadOptions::default()).unwrap().apps.len(),
        1
    );
}

#[test]
fn args_as_string_or_list() {
    let l = ok(
        "apps:\n  - name: a\n    script: x\n    args: \"-c 'echo hi there' --n=1\"\n  - name: b\n    script: x\n    args: [\"-c\", 1, true]\n",
    );
    assert_eq!(l.apps[0].args, ["-c", "echo hi there", "--n=1"]);
    assert_eq!(l.apps[1].args, ["-c", "1", "true"]);
}

#[test]
fn env_values_become_strings_and_env_blocks_switch() {
    let yaml = "apps:\n  - name: a\n    script: x\n    env:\n      N: 1\n      B: true\n      F: 1.5\n      E:\n      M: {k: v}\n    env_production:\n      N: 2\n      P: yes\n";
    let l = ok(yaml);
    let env = &l.apps[0].env;
    assert_eq!(
        (env["N"].as_str(), env["B"].as_str(), env["F"].as_str()),
        ("1", "true", "1.5")
    );
    assert_eq!(env["E"], "");
    assert_eq!(env["M"], r#"{"k":"v"}"#);
    assert!(!env.contains_key("P"));
    let prod = load_str(
        yaml,
        Path::new("/tmp/eco/e.yaml"),
        &LoadOptions {
            env_name: Some("production".into()),
        },
    )
    .unwrap();
    assert_eq!(prod.apps[0].env["N"], "2");
    assert_eq!(prod.apps[0].env_name.as_deref(), Some("production"));
    // A name no block has is refused (see tests/parity.rs).
    assert!(
        load_str(
            yaml,
            Path::new("/tmp/eco/e.yaml"),
            &LoadOptions {
                env_name: Some("staging".into()),
            },
        )
        .is_err()
    );
}

#[test]
fn instances_forms() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    for (v, want) in [("4", 4), ("max", cpus), ("0", cpus), ("-1", cpus)] {
        let l = ok(&format!("apps:\n  - script: x\n    instances: {v}\n"));
        assert_eq!(l.apps[0].instances, want, "{v}");
    }
    let e = err("apps:\n  - script: x\n    instances: \"4,\"\n");
    assert!(
        e.contains("ecosystem.yaml:3:16: apps[0].instances: expected a whole number, found \"4,\""),
        "{e}"
    );
}

#[test]
fn increment_var_counts_per_instance() {
    let a = &ok("apps:\n  - script: x\n    instances: 3\n    increment_var: PORT\n    env:\n      PORT: 8000\n").apps[0];
    assert_eq!(a.environment(0)["PORT"], "8000");
    assert_eq!(a.environment(2)["PORT"], "8002");
    assert_eq!(a.environment(2)["NODE_APP_INSTANCE"], "2");
}
#[test]
fn node_only_options_are_one_warning() {
    let l = ok(
        "apps:\n  - script: x\n    exec_mode: cluster\n    instances: 2\n    vizion: false\n    pmx: true\n    shutdown_with_message: true\n",
    );
    assert_eq!(l.apps[0].instances, 2);
    let w: Vec<&String> = l
        .warnings
        .iter()
        .filter(|w| w.contains("ignored PM2 options"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", l.warnings);
    for k in [
        "vizion",
        "pmx",
        "shutdown_with_message",
        "exec_mode: cluster",
    ] {
        assert!(w[0].contains(k), "{k} in {}", w[0]);
    }
}

#[test]
fn tiny_memory_limit_warns() {
    let l = ok("apps:\n  - script: x\n    max_memory_restart: 300\n");
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("under 1 MiB") && w.contains("300M")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn scripts_resolve_against_cwd_and_pick_an_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("app")).unwrap();
    std::fs::write(d.join("app/server.py"), "print('hi')\n").unwrap();
    std::fs::write(d.join("app/run.sh"), "echo hi\n").unwrap();
    std::fs::write(d.join("app/tool"), "#!/usr/bin/env python3 -u\nprint(1)\n").unwrap();
    std::fs::write(
        d.join(".env"),
        "# comment\nexport A=1\nB=\"two words\"\nC=x # note\n",
    )
    .unwrap();
    let file = d.join("eco.yaml");
    std::fs::write(
        &file,
        "apps:\n  - script: server.py\n    cwd: app\n  - script: app/run.sh\n  - script: app/tool\n  - script: ./missing.js\n  - script: sleep\n    env_file: .env\n    env:\n      A: from-env\n",
    )
    .unwrap();
    let l = load_file(&file, &LoadOptions::default()).unwrap();
    let a = &l.apps;
    assert_eq!(a[0].cwd, d.join("app"));
    assert_eq!(
        a[0].argv(),
        [
            "python3".to_string(),
            d.join("app/server.py").display().to_string()
        ]
    );
    assert_eq!(a[1].interpreter.as_deref(), Some("bash"));
    // Not executable, with a shebang: its interpreter is used.
    assert_eq!(a[2].interpreter.as_deref(), Some("/usr/bin/env"));
    assert_eq!(a[2].interpreter_args, ["python3", "-u"]);
    // A missing file is not a config error: the spawn fails and is recorded.
    assert_eq!(a[3].script, d.join("missing.js").display().to_string());
    assert_eq!(a[3].interpreter.as_deref(), Some("node"));
    assert_eq!(a[4].script, "sleep");
    assert_eq!(a[4].interpreter, None);
    let env = a[4].environment(0);
    assert_eq!(env["A"], "from-env", "env wins over env_file");
    assert_eq!(env["B"], "two words");
    assert_eq!(env["C"], "x");
    assert_eq!(a[4].env_file.as_deref(), Some(d.join(".env").as_path()));
    // The file is read again at each spawn: an edit applies at the next start.
    std::fs::write(d.join(".env"), "B=edited\nD=new\n").unwrap();
    let env = a[4].environment(0);
    assert_eq!((env["B"].as_str(), env["D"].as_str()), ("edited", "new"));
    assert!(!env.contains_key("C"));
    // A file that became unreadable: the values it had at load.
    std::fs::remove_file(d.join(".env")).unwrap();
    assert_eq!(a[4].environment(0)["B"], "two words");
}

#[test]
fn the_example_file_is_valid_and_uses_every_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ecosystem.example.yaml");
    let l = load_file(&path, &LoadOptions::default()).unwrap();
    assert_eq!(names(&l), ["ticker", "pool", "once"]);
    let text = std::fs::read_to_string(&path).unwrap();
    for field in load::known_fields() {
        assert!(
            text.contains(&format!("{field}:")) || field == "exec_mode" || field == "disable_logs",
            "ecosystem.example.yaml does not show `{field}`"
        );
    }
}
