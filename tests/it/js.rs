//! JavaScript ecosystem files against the real CLI (and a real daemon where apps start): with
//! node and without it, ES modules, files that throw, loop or print too much; and app names as
//! PM2 accepts them.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

/// Whether node is installed; says so when a test part is skipped for its absence.
fn node_installed(test: &str) -> bool {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("{test}: skipped: node not installed");
    }
    ok
}

/// The absolute path of a program found in PATH (the apps of the no-node runs need no PATH).
fn which(program: &str) -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not in PATH"))
        .display()
        .to_string()
}

/// A PATH without node: an empty folder of the home.
fn path_without_node(h: &Home) -> String {
    let dir = h.file("no-node-bin");
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

fn literal_file(h: &Home) -> String {
    h.ecosystem(
        "ecosystem.config.js",
        &format!(
            "// as `pm2 init` writes it\nmodule.exports = {{\n  apps: [\n    {{\n      name: 'lit-a',\n      script: '{sleep}',\n      args: '1000',\n    }},\n    {{\n      name: \"lit-b\",\n      script: '{sleep}',\n      args: ['1000'],\n      env: {{ MODE: 'plain', }},\n    }},\n  ],\n}};\n",
            sleep = which("sleep")
        ),
    )
}

#[test]
fn a_literal_js_file_starts_with_and_without_node() {
    let h = Home::new();
    let file = literal_file(&h);
    // Without node on PATH: read as a plain literal.
    let out = h.run(
        h.cmd(&["--no-autostart", "start", &file])
            .env("PATH", path_without_node(&h)),
    );
    h.succeeded("start without node", &out);
    h.wait_status("lit-a", 0, "online");
    h.wait_status("lit-b", 0, "online");
    h.ok(&["delete", "all"]);
    if !node_installed("a_literal_js_file_starts_with_and_without_node (with node)") {
        return;
    }
    h.ok(&["start", &file]);
    h.wait_status("lit-a", 0, "online");
    h.wait_status("lit-b", 0, "online");
}

#[test]
fn without_node_a_file_that_needs_evaluation_says_why() {
    let h = Home::empty();
    let file = h.ecosystem(
        "ecosystem.config.js",
        "const path = require('path');\nmodule.exports = { apps: [{ name: 'x', script: path.join(__dirname, 'x.sh') }] };\n",
    );
    let out = h.run(h.cmd(&["check", &file]).env("PATH", path_without_node(&h)));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "svctl: error: {file} needs node to be evaluated (it uses require at line 1); install node or convert it to YAML\n"
        )
    );
}

#[test]
fn a_js_file_with_process_env_and_dirname_starts_with_env_production() {
    if !node_installed("a_js_file_with_process_env_and_dirname_starts_with_env_production") {
        return;
    }
    let h = Home::new();
    std::fs::create_dir(h.file("work")).unwrap();
    let file = h.ecosystem(
        "ecosystem.config.js",
        "const path = require('path');\nmodule.exports = {\n  apps: [{\n    name: 'greet',\n    script: 'bash',\n    args: ['-c', 'echo \"greeting=$GREETING port=$PORT dir=$DIR pwd=$PWD\"; exec sleep 1000'],\n    cwd: path.join(__dirname, 'work'),\n    env: { GREETING: 'dev', PORT: process.env.SVCTL_TEST_PORT || 'none' },\n    env_production: { GREETING: 'prod', DIR: path.join(__dirname, 'work') },\n  }],\n};\n",
    );
    let out = h.run(
        h.cmd(&["--no-autostart", "start", &file, "--env", "production"])
            .env("SVCTL_TEST_PORT", "4242"),
    );
    h.succeeded("start --env production", &out);
    let work = h.file("work").display().to_string();
    let want = format!("greeting=prod port=4242 dir={work} pwd={work}");
    h.wait_until(&format!("the app prints {want:?}"), || {
        std::fs::read_to_string(h.file("logs/greet-out.log"))
            .is_ok_and(|t| t.lines().any(|l| l == want))
    });
}

#[test]
fn an_mjs_file_with_export_default_starts() {
    if !node_installed("an_mjs_file_with_export_default_starts") {
        return;
    }
    let h = Home::new();
    let file = h.ecosystem(
        "ecosystem.config.mjs",
        "const name = ['es', 'module'].join('-');\nexport default {\n  apps: [{ name, script: 'sleep', args: '1000' }],\n};\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("es-module", 0, "online");
}

#[test]
fn a_file_that_throws_shows_nodes_error() {
    if !node_installed("a_file_that_throws_shows_nodes_error") {
        return;
    }
    let h = Home::empty();
    let file = h.ecosystem(
        "ecosystem.config.js",
        "const apps = [];\nthrow new Error('DB_URL is not set');\n",
    );
    let out = h.svctl(&["check", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "svctl: error: {file}: node could not evaluate it (exit code 1); node said:\n"
        )),
        "{err}"
    );
    assert!(err.contains("Error: DB_URL is not set"), "{err}");
    assert!(err.contains(&format!("{file}:2")), "{err}");
    assert!(!err.contains("node:internal"), "{err}");
}

#[test]
fn a_typo_gets_the_field_path_the_suggestion_and_the_line() {
    let h = Home::empty();
    let file = h.ecosystem(
        "ecosystem.config.js",
        "module.exports = {\n  apps: [\n    { name: 'a', script: 'sleep' },\n    {\n      name: 'b',\n      script: 'sleep',\n      max_restart: 3,\n    },\n  ],\n};\n",
    );
    let want = format!(
        "svctl: error: {file}: invalid ecosystem file\n{file}:7:7: apps[1].max_restart: unknown field\n  hint: did you mean `max_restarts`?\n1 problem in {file}; nothing was started\n"
    );
    let without = h.run(h.cmd(&["check", &file]).env("PATH", path_without_node(&h)));
    assert_eq!(stderr(&without), want);
    if node_installed("a_typo_gets_the_field_path_the_suggestion_and_the_line (with node)") {
        let with = h.svctl(&["check", &file]);
        assert_eq!(with.status.code(), Some(2));
        assert_eq!(stderr(&with), want);
    }
}

#[test]
fn a_file_that_loops_forever_is_stopped_at_the_limit() {
    if !node_installed("a_file_that_loops_forever_is_stopped_at_the_limit") {
        return;
    }
    let h = Home::empty();
    let file = h.ecosystem("ecosystem.config.js", "while (true) {}\n");
    let started = std::time::Instant::now();
    let out = h.run(h.cmd(&["check", &file]).env("SVCTL_JS_TIMEOUT_MS", "400"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("node did not finish evaluating it within 400 ms")
            && err.contains("SVCTL_JS_TIMEOUT_MS"),
        "{err}"
    );
    // Ended at the limit, not after node's own end (it has none).
    assert!(
        started.elapsed() < CLI_DEADLINE / 2,
        "{:?}",
        started.elapsed()
    );
    let pid = err
        .split("ended node (pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse::<i32>().ok())
        .unwrap_or_else(|| panic!("no pid in {err}"));
    assert!(!pid_alive(pid), "node (pid {pid}) still runs");
}

#[test]
fn a_file_printing_megabytes_is_capped() {
    if !node_installed("a_file_printing_megabytes_is_capped") {
        return;
    }
    let h = Home::empty();
    let file = h.ecosystem(
        "ecosystem.config.js",
        "const chunk = 'x'.repeat(1 << 20);\nfor (let i = 0; i < 64; i++) process.stdout.write(chunk);\nmodule.exports = { apps: [] };\n",
    );
    let out = h.svctl(&["check", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("node printed more than 16 MiB on its stdout while evaluating it"),
        "{err}"
    );
    assert!(
        err.len() < 4096,
        "the output is not shown: {} bytes",
        err.len()
    );
}

#[test]
fn a_name_with_spaces_starts_is_listed_and_is_a_target() {
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: IPMI fan controller\n    script: sleep\n    args: \"1000\"\n  - name: \"@scope/pkg.v2\"\n    script: sleep\n    args: \"1000\"\n    disable_logs: true\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("IPMI fan controller", 0, "online");
    h.wait_status("@scope/pkg.v2", 0, "online");
    let out = h.ok(&["list"]);
    assert!(out.contains("IPMI fan controller"), "{out}");
    h.ok(&["stop", "IPMI fan controller"]);
    h.wait_status("IPMI fan controller", 0, "stopped");
    assert_eq!(h.status("@scope/pkg.v2", 0).as_deref(), Some("online"));
    h.ok(&["restart", "@scope/pkg.v2"]);
    h.ok(&["stop", "@scope/pkg.v2"]);
    h.wait_status("@scope/pkg.v2", 0, "stopped");
    assert!(
        Path::new(&h.file("logs/IPMI-fan-controller-out.log")).exists(),
        "the default log file of a name with spaces, made safe as PM2 does"
    );
}

#[test]
fn a_name_with_a_slash_logs_and_is_a_target() {
    // The default log path of `api.vtbs.moe/hawk` is made safe: `logs/api.vtbs.moe-hawk-out.log`.
    let h = Home::new();
    let file = h.ecosystem(
        "eco.yaml",
        "apps:\n  - name: api.vtbs.moe/hawk\n    script: bash\n    args: [\"-c\", \"echo hawk; exec sleep 1000\"]\n",
    );
    h.ok(&["start", &file]);
    h.wait_status("api.vtbs.moe/hawk", 0, "online");
    h.wait_until("the app's output is logged", || {
        std::fs::read_dir(h.file("logs")).is_ok_and(|d| {
            d.flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("hawk")))
        })
    });
    assert!(
        h.file("logs/api.vtbs.moe-hawk-out.log").exists(),
        "{:?}",
        std::fs::read_dir(h.file("logs"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    h.ok(&["stop", "api.vtbs.moe/hawk"]);
    h.wait_status("api.vtbs.moe/hawk", 0, "stopped");
}

#[test]
fn names_that_would_break_targets_are_refused() {
    let h = Home::empty();
    for (name, why) in [
        ("all", "`all` is a target word"),
        ("\"42\"", "only digits"),
        ("\"web:1\"", "reads as instance 1 of `web`"),
        ("\"a\\tb\"", "control characters"),
        ("\"\"", "cannot be empty"),
    ] {
        let file = h.ecosystem(
            "eco.yaml",
            &format!("apps:\n  - name: {name}\n    script: sleep\n"),
        );
        let out = h.svctl(&["check", &file]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{name}: {}", stderr(&out));
    }
}
