//! Loading errors as the user sees them: unknown keys, wrong types and values, YAML syntax,
//! hostile files, all with file:line:column.

use super::*;

#[test]
fn unknown_keys_get_a_suggestion_at_their_location() {
    let e = err(
        "apps:\n  - name: a\n    scripts: x\n    max_restart: 3\n    instance: 2\n    colour: red\n",
    );
    let want = "/tmp/eco/ecosystem.yaml:2:5: apps[0]: missing required field `script` (the program to run)
/tmp/eco/ecosystem.yaml:3:5: apps[0].scripts: unknown field
  hint: did you mean `script`?
/tmp/eco/ecosystem.yaml:4:5: apps[0].max_restart: unknown field
  hint: did you mean `max_restarts`?
/tmp/eco/ecosystem.yaml:5:5: apps[0].instance: unknown field
  hint: did you mean `instances`?
/tmp/eco/ecosystem.yaml:6:5: apps[0].colour: unknown field (see ecosystem.example.yaml for every supported key)
5 problems in /tmp/eco/ecosystem.yaml; nothing was started";
    assert_eq!(e, want);
}

#[test]
fn wrong_types_and_values_are_reported_all_at_once() {
    let e = err(
        "apps:\n  - name: a\n    script: x\n    max_memory_restart: 300MB\n    max_restarts: -1\n    autorestart: maybe\n    kill_signal: SIGNOPE\n    cron_restart: \"61 * * * *\"\n    min_uptime: 5 minutes\n    stop_exit_codes: [1, 300]\n",
    );
    for want in [
        "4:25: apps[0].max_memory_restart: `300MB`: write `300M`",
        "5:19: apps[0].max_restarts: -1 is out of range",
        "6:18: apps[0].autorestart: expected true or false, found \"maybe\"",
        "7:18: apps[0].kill_signal: `SIGNOPE` is not a signal",
        "8:19: apps[0].cron_restart: `61 * * * *` is not a valid cron pattern",
        "9:17: apps[0].min_uptime: `5 minutes` has an unknown unit",
        "10:26: apps[0].stop_exit_codes[1]: 300 is out of range (0 to 255)",
        "7 problems",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn cron_patterns_with_5_or_6_fields_and_0_disables() {
    assert!(load::check_cron("*/5 * * * *").is_ok());
    assert!(load::check_cron("*/10 * * * * *").is_ok());
    assert!(
        load::check_cron("* * * *")
            .unwrap_err()
            .contains("4 fields")
    );
    let a = &ok("apps:\n  - script: x\n    cron_restart: 0\n").apps[0];
    assert_eq!(a.cron_restart, None);
}

#[test]
fn names_must_be_valid_and_unique() {
    let e = err(
        "apps:\n  - name: a\n    script: x\n  - name: a\n    script: y\n  - name: all\n    script: z\n  - name: \"b:1\"\n    script: z\n",
    );
    assert!(
        e.contains("4:5: [1]: a second app named `a`")
            || e.contains("apps[1]: a second app named `a`"),
        "{e}"
    );
    assert!(e.contains("apps[2].name: `all` is a target word"), "{e}");
    assert!(
        e.contains("apps[3].name: a name cannot end in `:` and digits"),
        "{e}"
    );
}

#[test]
fn syntax_errors_and_bad_shapes() {
    let e = err("apps:\n  - name: a\n    script: [x\n");
    assert!(e.starts_with("/tmp/eco/ecosystem.yaml:3:"), "{e}");
    assert!(err("").contains("the file is empty"));
    assert!(err("apps: 3\n").contains("expected a list of apps, found a number"));
    let e = err("app:\n  - script: x\n");
    assert!(
        e.contains("app: unknown top-level key\n  hint: did you mean `apps`?"),
        "{e}"
    );
    assert!(err("42\n").contains("expected an `apps:` list"));
}

#[test]
fn hostile_files_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; 10 * 1024 * 1024]).unwrap();
    assert!(matches!(
        load_file(&big, &LoadOptions::default()),
        Err(ConfigError::TooLarge { .. })
    ));
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, b"apps:\n  - script: \xff\xfe\n").unwrap();
    let e = load_file(&bin, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bin.yaml:2:13: the file is not valid UTF-8"),
        "{e}"
    );
    let js = dir.path().join("ecosystem.config.js");
    std::fs::write(&js, "module.exports = {}").unwrap();
    let e = load_file(&js, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ecosystem.config.js") && e.contains("apps"),
        "{e}"
    );
    let missing = load_file(&dir.path().join("nope.yaml"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
    let huge = err("apps:\n  - script: x\n    max_restarts: 99999999999999999999999999\n");
    assert!(
        huge.contains("apps[0].max_restarts: expected a whole number"),
        "{huge}"
    );
}

/// Phrases meant for the parser's developers, or internal types, that a user must never see.
fn assert_clean(e: &str) {
    for bad in [
        "Options",
        "DuplicateKeyPolicy",
        "budget",
        "Budget",
        "RecordedAnchorEvents",
        "{",
        "line ",
        "column ",
    ] {
        assert!(!e.contains(bad), "{bad:?} in\n{e}");
    }
    assert_eq!(e.lines().count(), 2, "one problem and the summary:\n{e}");
}

#[test]
fn a_duplicate_key_is_one_clean_message() {
    let e = err("apps:\n  - name: a\n    script: x\n    name: b\n");
    assert_eq!(
        e,
        "/tmp/eco/ecosystem.yaml:4:5: duplicate key `name`: a key can appear once in a mapping
1 problem in /tmp/eco/ecosystem.yaml; nothing was started"
    );
    assert_clean(&e);
}

#[test]
fn too_many_aliases_is_one_clean_message() {
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        bomb.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    let e = err(&bomb);
    assert!(
        e.starts_with("/tmp/eco/ecosystem.yaml:") && e.contains(": anchors and aliases"),
        "{e}"
    );
    assert_clean(&e);
    let e = err("apps:\n  - script: *nowhere\n");
    assert!(
        e.starts_with("/tmp/eco/ecosystem.yaml:2:13: this alias (`*name`) names no anchor"),
        "{e}"
    );
    assert_clean(&e);
}

#[test]
fn a_syntax_error_is_one_clean_message() {
    let e = err("apps:\n  - name: a\n    script: [x\n");
    assert_eq!(
        e,
        "/tmp/eco/ecosystem.yaml:3:13: unclosed bracket '['
1 problem in /tmp/eco/ecosystem.yaml; nothing was started"
    );
    assert_clean(&e);
    let e = err("apps:\n  - name: a\n  script: x\n bad: 1\n");
    assert!(
        e.starts_with("/tmp/eco/ecosystem.yaml:3:3: while parsing a block collection"),
        "{e}"
    );
    assert_clean(&e);
}

#[test]
fn invalid_ignore_watch_globs_are_located_errors() {
    let e = err(
        "apps:\n  - script: x\n    watch: true\n    ignore_watch: [logs, \"[oops\", \"*.tmp\", \"{a,b\"]\n  - script: y\n    ignore_watch: \"src/[z-a]\"\n",
    );
    let want = "/tmp/eco/ecosystem.yaml:4:26: apps[0].ignore_watch[1]: `[oops` is not a valid glob: unclosed character class; missing ']'
/tmp/eco/ecosystem.yaml:4:44: apps[0].ignore_watch[3]: `{a,b` is not a valid glob: unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)
/tmp/eco/ecosystem.yaml:6:19: apps[1].ignore_watch: `src/[z-a]` is not a valid glob: invalid range; 'z' > 'a'
3 problems in /tmp/eco/ecosystem.yaml; nothing was started";
    assert_eq!(e, want);
    let a = &ok("apps:\n  - script: x\n    ignore_watch: [logs, \"*.tmp\", \"./dist/\"]\n").apps[0];
    assert_eq!(a.ignore_watch, ["logs", "*.tmp", "./dist/"]);
}

#[test]
fn probe_and_socket_settings_are_checked_where_they_are_written() {
    let e = err(
        "apps:\n  - name: a\n    script: x\n    ready:\n      http: https://x/health\n      interval: 0\n    health:\n      grpc: x:1\n    listen: [\"0.0.0.0:8000\", \"tcp://db.internal:5432\"]\n    ready_log_line: \"(unclosed\"\n    reload_signal: SIGNOPE\n    watchdog: 0\n",
    );
    for want in [
        "5:13: apps[0].ready.http: `https://x/health` is not an http:// URL",
        "6:17: apps[0].ready.interval: must be more than 0",
        "8:7: apps[0].health.grpc: unknown probe setting",
        "8:7: apps[0].health: a probe needs one of http: URL, tcp: HOST:PORT, exec: COMMAND",
        "9:14: apps[0].listen[0]: `0.0.0.0:8000` is not a socket address",
        "9:30: apps[0].listen[1]: `tcp://db.internal:5432`: the host must be an IP address",
        "10:21: apps[0].ready_log_line: `(unclosed` is not a valid regex: unclosed group\n",
        "11:20: apps[0].reload_signal: `SIGNOPE` is not a signal",
        "12:15: apps[0].watchdog: must be more than 0",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn hard_limits_are_read_and_bounded_at_their_location() {
    let a = &ok(
        "apps:\n  - script: x\n    memory_max: 256M\n    pids_max: 64\n    cpu_weight: 50\n    cpu_max: 150%\n",
    )
    .apps[0];
    assert_eq!(a.memory_max, Some(256 << 20));
    assert_eq!(a.pids_max, Some(64));
    assert_eq!(a.cpu_weight, Some(50));
    assert_eq!(a.cpu_max_percent, Some(150));
    assert_eq!(
        ok("apps:\n  - script: x\n    cpu_max: 0.5\n").apps[0].cpu_max_percent,
        Some(50)
    );
    let e = err(
        "apps:\n  - name: a\n    script: x\n    memory_max: 1000\n    pids_max: 0\n    cpu_weight: 20000\n    cpu_max: lots\n    memory_maxx: 1G\n",
    );
    for want in [
        "4:17: apps[0].memory_max: 1000 bytes is under 1 MiB — a bare number is bytes; did you mean 1000M?",
        "5:15: apps[0].pids_max: 0 is out of range (1 to 4194304)",
        "6:17: apps[0].cpu_weight: 20000 is out of range (1 to 10000)",
        "7:14: apps[0].cpu_max: `lots` is not a share of CPUs (150%, or 1.5 for one and a half)",
        "8:5: apps[0].memory_maxx: unknown field\n  hint: did you mean `memory_max`?",
        "5 problems",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn a_graceful_limit_at_or_above_the_hard_cap_is_warned_about() {
    let l = ok("apps:\n  - script: x\n    max_memory_restart: 512M\n    memory_max: 256M\n");
    assert!(
        l.warnings.iter().any(|w| w.contains(
            "4:17: apps[0].memory_max: the kernel kills at 268435456 bytes, before max_memory_restart (536870912 bytes) can restart gracefully"
        )),
        "{:?}",
        l.warnings
    );
    let l = ok("apps:\n  - script: x\n    max_memory_restart: 200M\n    memory_max: 256M\n");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}
